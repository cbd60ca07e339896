@preconcurrency import CPython
@preconcurrency public import CSwiftWSGI
import Glibc

extension PythonRuntime {
    /// Runs one request (see `swiftwsgi_handle_request`). Returns 0 when the response was sent
    /// (or the connection aborted), else the HTTP status for Apache to answer with.
    public func handle(_ request: UnsafePointer<swiftwsgi_request_t>) -> Int32 {
        let req = request.pointee
        let environ = UnsafeBufferPointer(start: req.environ, count: req.environ_count)
        let context = RequestContext(handle: req.handle, ops: apache, errorOverride: req.error_override != 0)
        return inInterpreter(spec: req.application_group, hostname: req.server_hostname,
                             port: req.server_port, environ: environ, context: context, failure: 500) { interpreter in
            run(req, environ, interpreter, context)
        }
    }

    /// Runs body for one request in the interpreter of its application group, holding the GIL
    /// with this thread's state for it, with context as the thread's current request.
    func inInterpreter(spec: UnsafePointer<CChar>?, hostname: UnsafePointer<CChar>?,
                       port: Int32, environ: UnsafeBufferPointer<swiftwsgi_kv_t>, context: RequestContext,
                       failure: Int32, _ body: (Interpreter) -> Int32) -> Int32 {
        let interpreter: Interpreter
        do {
            // The shim always names the group (its getters hold the defaults).
            guard let spec else { throw HostError("no application group given") }
            interpreter = try self.interpreter(spec: String(cString: spec), hostname: hostname, port: port,
                                               environ: environ)
        } catch {
            apache.log(context.handle, SWIFTWSGI_LOG_ERR, "mod_swiftwsgi (pid=\(getpid())): \(error)")
            return failure
        }
        let threadStates = ThreadStates.current()
        threadStates.currentRequest = context
        defer { threadStates.currentRequest = nil }
        return withGIL(in: interpreter) {
            let status = body(interpreter)
            context.release()
            return status
        }
    }

    private func run(_ req: swiftwsgi_request_t, _ environ: UnsafeBufferPointer<swiftwsgi_kv_t>,
                     _ interpreter: Interpreter, _ context: RequestContext) -> Int32 {
        let script = String(cString: req.script_filename)
        guard let module = interpreter.script(path: script, mtime: req.script_mtime, reloading: req.script_reloading != 0,
                                              log: { message in self.apache.log(req.handle, SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid())): \(message)") })
        else {
            apache.logException(req.handle, interpreter: interpreter,
                                intro: "Failed to exec Python script file '\(script)'.")
            return 500
        }
        // The shim always names the callable (its getter holds the default).
        let callableName = req.callable_object.map { String(cString: $0) } ?? ""
        guard var application = PyObject_GetAttrString(module, callableName) else {
            PyErr_Clear()
            withoutGIL {
                apache.log(req.handle, SWIFTWSGI_LOG_ERR,
                           "mod_swiftwsgi (pid=\(getpid())): Target WSGI script '\(script)' does not contain WSGI application '\(callableName)'.")
            }
            return config.processGroup.isEmpty ? 404 : 500  // as mod_wsgi
        }
        defer { Py_DecRef(application) }

        let types = interpreter.types
        let input = types.makeInput(context)
        let errors = types.makeLog(level: SWIFTWSGI_LOG_ERR, name: "wsgi.errors", ctx: context)
        let startResponse = types.makeStartResponse(context)
        defer {
            for o in [input, errors, startResponse] {
                if o == errors { LogObject(o).flush() }
                swpy_host(o).pointee.ctx = nil
                Py_DecRef(o)
            }
        }
        // mod_wsgi's per-thread and per-process counters.
        let threadStates = ThreadStates.existing()
        if threadStates?.counter == nil { threadStates?.counter = Metrics.shared.registerThread() }
        let counter = threadStates?.counter
        guard let env = makeEnviron(req, environ, interpreter, callableName, input: input, errors: errors,
                                    counter: counter) else {
            apache.logException(req.handle, interpreter: interpreter, intro: "Cannot build the WSGI environ.")
            return 500
        }
        defer { Py_DecRef(env) }
        context.environ = env
        counter?.requests += 1
        interpreter.running.append(context)
        Metrics.shared.requestStarted()
        let applicationStart = wallSeconds()
        defer {
            if let i = interpreter.running.lastIndex(where: { $0 === context }) { interpreter.running.remove(at: i) }
            Metrics.shared.requestFinished(threadID: counter?.id ?? 0) {
                (Self.environSeconds(environ, "mod_wsgi.request_start"), Self.environSeconds(environ, "mod_wsgi.queue_start"),
                 Self.environSeconds(environ, "mod_wsgi.daemon_start"), applicationStart, wallSeconds())
            }
        }

        // Events: built and published only when someone subscribed.
        var token: PyRef? = nil
        let events = interpreter.modWSGI!
        if events.subscribed, let data = context.requestData(),
           let started = events.publishRequestStarted(environ: env, application: application,
                                                      threadID: counter?.id ?? 0, requestData: data) {
            context.events = events
            context.input.timed = true
            Py_DecRef(application)
            application = started.application
            token = PyRef(owning: started.token)
        }
        defer {
            if let tokenPointer = token?.pointer, let data = context.requestData() {
                let i = context.input
                events.publishRequestFinished(token: tokenPointer, counters: [
                    Double(i.reads), Double(i.length), i.seconds, Double(context.outputLength),
                    Double(context.outputWrites), context.outputTime, Double(context.responseStatus),
                ], requestData: data)
            }
        }

        guard let result = swpy_call2(application, env, startResponse) else {
            return failed(req, interpreter, context, script)
        }
        var status = respond(result, req, interpreter, context, script)
        // PEP 3333: close() is called whatever happened, even after an error. Its failure is
        // logged; it fails the request only if nothing was sent yet (a complete response
        // stays complete).
        if PyObject_HasAttrString(result, "close") != 0 {
            if let r = swpy_call_method0(result, "close") {
                Py_DecRef(r)
            } else if context.headersSent && context.overriddenStatus == 0 {
                apache.logException(req.handle, interpreter: interpreter,
                                    intro: "Exception occurred closing the response of WSGI script '\(script)'.")
            } else {
                status = failed(req, interpreter, context, script, priorStatus: status)
            }
        }
        Py_DecRef(result)
        return status
    }

    /// Sends the application's result. Returns the handler status.
    private func respond(_ result: PyPointer, _ req: swiftwsgi_request_t, _ interpreter: Interpreter,
                         _ context: RequestContext, _ script: String) -> Int32 {
        if swpy_is_type(result, interpreter.types.fileWrapper) != 0,
           let sent = sendFileWrapper(result, req, context) {
            return sent ? context.overriddenStatus : failed(req, interpreter, context, script)
        }
        // A list or tuple is complete already: let Apache buffer it. An iterator's chunks are
        // flushed as they come, so streaming responses reach the client without delay.
        let sequence = swpy_list_check(result) != 0 || swpy_tuple_check(result) != 0
        if sequence {
            let n = swpy_list_check(result) != 0 ? swpy_list_size(result) : swpy_tuple_size(result)
            for i in 0..<n {
                let item = swpy_list_check(result) != 0 ? swpy_list_get_item(result, i)! : swpy_tuple_get_item(result, i)!
                switch send(item, context, flush: false) {
                case .ok: continue
                case .stop: return finish(context, req, script)
                case .error: return failed(req, interpreter, context, script)
                }
            }
        } else {
            guard let iterator = PyObject_GetIter(result) else { return failed(req, interpreter, context, script) }
            defer { Py_DecRef(iterator) }
            while let item = PyIter_Next(iterator) {
                let outcome = send(item, context, flush: true)
                Py_DecRef(item)
                switch outcome {
                case .ok: continue
                case .stop: return finish(context, req, script)
                case .error: return failed(req, interpreter, context, script)
                }
            }
            if PyErr_Occurred() != nil { return failed(req, interpreter, context, script) }
        }
        guard context.sendHeaders() else { return failed(req, interpreter, context, script) }
        return finish(context, req, script)
    }

    private enum Outcome { case ok, stop, error }

    private func send(_ item: PyPointer, _ context: RequestContext, flush: Bool) -> Outcome {
        guard swpy_bytes_check(item) != 0 else {
            Py.raise(PyExc_TypeError, "sequence of byte string values expected, value of type \(RequestContext.typeName(item)) found")
            return .error
        }
        let n = swpy_bytes_size(item)
        if n == 0 { return .ok }
        guard context.sendHeaders() else { return .error }
        guard context.writeBody(swpy_bytes_as_string(item), n, flush: flush) else { return .stop }
        return context.complete ? .stop : .ok
    }

    /// Ends a response whose sending stopped early (client gone or Content-Length reached).
    private func finish(_ context: RequestContext, _ req: swiftwsgi_request_t, _ script: String) -> Int32 {
        if context.overriddenStatus != 0 { return context.overriddenStatus }
        if context.clientGone {
            let uri = "'\(script)'"
            withoutGIL {
                apache.log(req.handle, SWIFTWSGI_LOG_INFO,
                           "mod_swiftwsgi (pid=\(getpid())): Client closed the connection while the response from \(uri) was being sent.")
            }
        }
        return 0
    }

    /// Logs the current exception; answers 500 when nothing was sent yet, else aborts the
    /// connection so the client cannot mistake a truncated response for a complete one.
    private func failed(_ req: swiftwsgi_request_t, _ interpreter: Interpreter, _ context: RequestContext,
                        _ script: String, priorStatus: Int32 = 0) -> Int32 {
        if let events = context.events, let environ = context.environ, let data = context.requestData() {
            events.publishRequestException(environ: environ, requestData: data)
        }
        apache.logException(req.handle, interpreter: interpreter,
                            intro: "Exception occurred processing WSGI script '\(script)'.")
        if context.headersSent && context.overriddenStatus == 0 {
            withoutGIL { apache.table.abort_connection?(req.handle) }
            return 0
        }
        if priorStatus != 0 { return priorStatus }
        let inputStatus = context.input.failureStatus
        return inputStatus >= 400 ? inputStatus : 500
    }

    /// The zero-copy path for a returned wsgi.file_wrapper: a regular file with fileno() and
    /// tell() goes out as an Apache file bucket. nil when the object does not qualify (then the
    /// caller iterates it); false when sending failed with an exception set.
    private func sendFileWrapper(_ wrapper: PyPointer, _ req: swiftwsgi_request_t, _ context: RequestContext) -> Bool? {
        guard let filelike = swpy_host(wrapper).pointee.first,
              PyObject_HasAttrString(filelike, "fileno") != 0, PyObject_HasAttrString(filelike, "tell") != 0
        else { return nil }
        guard let fdObject = swpy_call_method0(filelike, "fileno") else { PyErr_Clear(); return nil }
        let fd = PyLong_AsLong(fdObject)
        Py_DecRef(fdObject)
        guard let posObject = swpy_call_method0(filelike, "tell") else { PyErr_Clear(); return nil }
        let position = PyLong_AsLongLong(posObject)
        Py_DecRef(posObject)
        if PyErr_Occurred() != nil { PyErr_Clear(); return nil }
        var st = stat()
        guard fd >= 0, position >= 0, fstat(Int32(fd), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        guard context.started else { return nil }  // let iteration report the missing start_response
        let available = max(0, Int64(st.st_size) - position)
        var length = available
        if context.remaining >= 0 {
            length = min(context.remaining, available)
        } else {
            context.addHeader("Content-Length", String(available))
        }
        guard context.sendHeaders() else { return false }
        if length > 0 && req.header_only == 0 {
            if !context.sendFile(fd: Int32(fd), offset: position, length: length, sendfile: req.enable_sendfile != 0) {
                _ = finish(context, req, "")
                return true
            }
        }
        if context.remaining >= 0 && length < context.remaining {
            // The file is shorter than the declared Content-Length: do not pretend it is complete.
            withoutGIL { apache.table.abort_connection?(req.handle) }
        }
        return true
    }

    /// The WSGI environ: Apache's variables plus the per-interpreter template.
    private func makeEnviron(_ req: swiftwsgi_request_t, _ environ: UnsafeBufferPointer<swiftwsgi_kv_t>,
                             _ interpreter: Interpreter, _ callable: String,
                             input: PyPointer, errors: PyPointer, counter: Metrics.ThreadCounter?) -> PyPointer? {
        guard let env = Self.baseEnviron(environ, interpreter, errors: errors) else { return nil }
        PyDict_SetItemString(env, "wsgi.input", input)
        // mod_wsgi's counters: this thread's id and earlier requests, the process's completed ones.
        for (key, value) in [("mod_wsgi.thread_id", counter?.id ?? 0), ("mod_wsgi.thread_requests", counter?.requests ?? 0),
                             ("mod_wsgi.total_requests", Metrics.shared.totalRequests)] {
            if let v = PyLong_FromLong(value) { PyDict_SetItemString(env, key, v); Py_DecRef(v) }
        }
        if let c = Py.string(callable) {
            PyDict_SetItemString(env, "mod_wsgi.callable_object", c)
            Py_DecRef(c)
        }
        if let r = Py.string(req.script_reloading != 0 ? "1" : "0") {
            PyDict_SetItemString(env, "mod_wsgi.script_reloading", r)
            Py_DecRef(r)
        }
        if let s = Py.string(req.enable_sendfile != 0 ? "1" : "0") {
            PyDict_SetItemString(env, "mod_wsgi.enable_sendfile", s)
            Py_DecRef(s)
        }
        return env
    }

    /// The per-interpreter template, Apache's variables (latin-1 str) and wsgi.errors.
    static func baseEnviron(_ environ: UnsafeBufferPointer<swiftwsgi_kv_t>, _ interpreter: Interpreter,
                            errors: PyPointer) -> PyPointer? {
        guard let env = PyDict_Copy(interpreter.environTemplate) else { return nil }
        for kv in environ {
            guard let name = kv.name, let value = kv.value,
                  let k = Py.latin1(name), let v = Py.latin1(value) else { continue }
            PyDict_SetItem(env, k, v)
            Py_DecRef(k); Py_DecRef(v)
        }
        PyDict_SetItemString(env, "wsgi.errors", errors)
        return env
    }

    /// An environ value in microseconds (mod_wsgi.request_start, ...) as seconds, or 0.
    static func environSeconds(_ environ: UnsafeBufferPointer<swiftwsgi_kv_t>, _ name: String) -> Double {
        for kv in environ {
            guard let n = kv.name, strcmp(n, name) == 0, let v = kv.value else { continue }
            return Double(strtoll(v, nil, 10)) / 1e6
        }
        return 0
    }

    /// The interpreter for a request's application group spec.
    func interpreter(spec: String, hostname: UnsafePointer<CChar>?, port: Int32,
                     environ: UnsafeBufferPointer<swiftwsgi_kv_t>) throws(HostError) -> Interpreter {
        // The common cases need nothing from the request.
        if spec == "%{GLOBAL}" { return try interpreter(named: "") }
        if !spec.hasPrefix("%{") { return try interpreter(named: spec) }
        func lookup(_ name: String) -> String? {
            for kv in environ {
                guard let n = kv.name, strcmp(n, name) == 0 else { continue }
                return kv.value.map { String(cString: $0) }
            }
            return nil
        }
        let server = ApplicationGroup.serverName(host: hostname.map { String(cString: $0) } ?? "", port: Int(port))
        let group = ApplicationGroup.expand(spec, server: server, scriptName: lookup("SCRIPT_NAME") ?? "",
                                            environment: lookup)
        return try interpreter(named: group)
    }
}
