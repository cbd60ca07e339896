@preconcurrency import CPython
@preconcurrency public import CSwiftWSGI
import Glibc
import Telemetry

extension PythonRuntime {
    /// Runs one request (see `swiftwsgi_handle_request`). Returns 0 when the response was sent
    /// (or the connection aborted), else the HTTP status for Apache to answer with.
    /// `interrupt`: a daemon worker's handle for request-timeout's RequestTimeout (nil in
    /// embedded mode, where mod_wsgi 6.1 raises none).
    public func handle(_ request: UnsafePointer<swiftwsgi_request_t>, interrupt: RequestInterrupt? = nil,
                       _ unlocked: inout Unlocked) -> Int32 {
        let req = request.pointee
        // The shim fills both; a request without them is refused, never a trap.
        guard let handle = req.call.handle, req.call.script_filename != nil else {
            apache.log(req.call.handle, SWIFTWSGI_LOG_ERR, .requestIncomplete,
                       "request without its handle or script filename: answered with 500", unlocked)
            return 500
        }
        let environ = UnsafeBufferPointer(start: req.call.environ, count: req.call.environ_count)
        let context = RequestContext(handle: handle, ops: apache, errorOverride: req.error_override != 0)
        context.interrupt = interrupt
        return inInterpreter(spec: req.application_group, hostname: req.server_hostname,
                             port: req.server_port, environ: environ, context: context, failure: 500,
                             &unlocked) { interpreter, gil in
            run(req, environ, interpreter, context, &gil)
        }
    }

    /// Runs body for one request in the interpreter of its application group, holding the GIL
    /// with this thread's state for it, with context as the thread's current request.
    func inInterpreter(spec: UnsafePointer<CChar>?, hostname: UnsafePointer<CChar>?,
                       port: Int32, environ: UnsafeBufferPointer<swiftwsgi_kv_t>, context: RequestContext,
                       failure: Int32, _ unlocked: inout Unlocked,
                       _ body: (Interpreter, inout GIL) -> Int32) -> Int32 {
        let interpreter: Interpreter
        do {
            // The shim always names the group (its getters hold the defaults).
            guard let spec else { throw HostError("no application group given") }
            interpreter = try self.interpreter(spec: String(cString: spec), hostname: hostname, port: port,
                                               environ: environ, &unlocked)
        } catch {
            apache.logError(context.handle, .requestInterpreterFailed, "\(error)", unlocked)
            return failure
        }
        guard let threadStates = ThreadStates.current(unlocked) else {
            apache.logError(context.handle, .threadStateUnavailable, "this thread has no Python thread state", unlocked)
            return failure
        }
        threadStates.currentRequest = context
        defer { threadStates.currentRequest = nil }
        context.interrupt?.begin(interpreter)
        let status: Int32?
        do {
            status = try withGIL(in: interpreter, &unlocked) { gil in
                let status = body(interpreter, &gil)
                context.release(gil)
                return status
            }
        } catch {
            apache.logError(context.handle, .threadStateUnavailable, "\(error)", unlocked)
            status = nil
        }
        // RequestTimeout came, perhaps too late to be raised: it must not reach the next request.
        if let interrupted = context.interrupt?.end() { clearPendingInterrupt(in: interrupted, &unlocked) }
        guard let status else { return failure }
        // The GIL is released: what the response held back goes to Apache now.
        return context.deliverHeldOutput(status, unlocked)
    }

    private func run(_ req: swiftwsgi_request_t, _ environ: UnsafeBufferPointer<swiftwsgi_kv_t>,
                     _ interpreter: Interpreter, _ context: RequestContext, _ gil: inout GIL) -> Int32 {
        let script = req.call.script_filename.map { String(cString: $0) } ?? ""
        let module = interpreter.script(path: script, mtime: req.script_mtime, reloading: req.script_reloading != 0, &gil) {
            // Before the changed script runs again, without the GIL.
            apache.log(req.handle, SWIFTWSGI_LOG_INFO, .scriptReloading, "Reloading WSGI script '\(script)'.", $0)
        }
        guard let module else {
            apache.logException(req.handle, interpreter: interpreter, .scriptLoadFailed,
                                intro: "Failed to exec Python script file '\(script)'.", &gil)
            return 500
        }
        // The shim always names the callable (its getter holds the default).
        let callableName = req.callable_object.map { String(cString: $0) } ?? ""
        guard var application = module.attribute(callableName, gil) else {
            PyErr_Clear()
            apache.log(req.handle, SWIFTWSGI_LOG_ERR, .applicationMissing,
                       "Target WSGI script '\(script)' does not contain WSGI application '\(callableName)'.", &gil)
            return config.processGroup.isEmpty ? 404 : 500  // as mod_wsgi
        }

        let types = interpreter.types
        guard let input = types.makeInput(context, gil),
              let errors = types.makeLog(level: SWIFTWSGI_LOG_ERR, name: "wsgi.errors", ctx: context, gil),
              let startResponse = types.makeStartResponse(context, gil)
        else {
            apache.logException(req.handle, interpreter: interpreter, .requestObjectsFailed, intro: "Cannot create the request's WSGI objects.", &gil)
            return 500
        }
        defer {
            // The objects may outlive the request (an application can keep them): they must
            // not reach its context any more.
            LogObject(errors.pointer).flush(&gil)
            for o in [input.pointer, errors.pointer, startResponse.pointer] { swpy_host(o).pointee.ctx = nil }
        }
        // mod_wsgi's per-thread and per-process counters.
        let threadStates = ThreadStates.existing()
        if threadStates?.counter == nil { threadStates?.counter = Metrics.shared.registerThread() }
        let counter = threadStates?.counter
        let times = Self.requestTimes(environ, applicationStart: wallSeconds())
        guard let env = makeEnviron(req, environ, interpreter, callableName, input: input.pointer,
                                    errors: errors.pointer, counter: counter, times: times, gil)
        else {
            apache.logException(req.handle, interpreter: interpreter, .environFailed, intro: "Cannot build the WSGI environ.", &gil)
            return 500
        }
        context.environ = env.pointer
        counter?.requests.add(1, ordering: .relaxed)
        interpreter.running.append(context)
        swiftwsgi_interpreter_begun(interpreter.counters)
        Metrics.shared.requestStarted(counter)
        // WSGITelemetryService: this thread's cells, when on (one relaxed load when off).
        let telemetryCells = Self.telemetryThread(threadStates, id: counter?.id ?? 0)
        if let cells = telemetryCells {
            context.input.timed = true
            context.timesOutput = true
            // The environ stays valid until this request ends (and leaves the slow register).
            let raw: UnsafeRawPointer? = environ.baseAddress.map { UnsafeRawPointer($0) }
            TelemetryRecorder.shared.begin(cells, times: times, environ: raw, count: environ.count)
        }
        // start_recording_metrics(): request_metrics()' figures.
        let recording = Metrics.shared.isRecording
        let cpuStart = recording ? threadCPUSeconds() : 0
        if recording {
            context.input.timed = true
            context.timesOutput = true
        }
        defer {
            // The waits to take the GIL back (timed while metrics are recorded or telemetry is on).
            let gilWaits = (telemetryCells != nil || recording ? counter?.takeGILWaits() : nil) ?? (seconds: 0, count: 0)
            if let cells = telemetryCells {
                var outcome = RequestOutcome()
                outcome.gilWaitTime = gilWaits.seconds
                outcome.gilWaitCount = gilWaits.count
                outcome.finish = wallSeconds()
                outcome.inputBytes = context.input.length
                outcome.inputReads = context.input.reads
                outcome.inputReadTime = context.input.seconds
                outcome.outputBytes = context.outputLength
                outcome.outputWrites = context.outputWrites
                outcome.outputWriteTime = context.outputTime
                outcome.status = Int(context.responseStatus)
                TelemetryRecorder.shared.end(cells, times: times, outcome: outcome)
            }
            if let i = interpreter.running.lastIndex(where: { $0 === context }) { interpreter.running.remove(at: i) }
            context.environ = nil  // env is dropped when run returns
            swiftwsgi_interpreter_ended(interpreter.counters)
            Metrics.shared.requestFinished(counter) {
                let input = context.input
                return Metrics.Finished(
                    requestStart: times.requestStart, queueStart: times.queueStart, daemonStart: times.daemonStart,
                    applicationStart: times.applicationStart, finish: wallSeconds(), status: Int(context.responseStatus),
                    inputBytes: Int(input.length), inputReads: input.reads, outputBytes: Int(context.outputLength),
                    outputWrites: context.outputWrites, inputTime: input.seconds, outputTime: context.outputTime,
                    gilWait: gilWaits.seconds, gilWaits: gilWaits.count, cpu: recording ? threadCPUSeconds() - cpuStart : 0)
            }
        }

        // The New Relic agent's wrapper, per request as mod_wsgi 5 applies it, when configured.
        if let modWSGI = interpreter.modWSGI, modWSGI.newRelicWrapper.pointer != Py.none {
            if let wrapped = PyRef(owningOrNil: swpy_call2(modWSGI.newRelicWrapper.pointer,
                                                           application.pointer, Py.none)) {
                application = wrapped
            } else {
                apache.logException(req.handle, interpreter: interpreter, .newRelicWrapFailed,
                                    intro: "Exception occurred wrapping WSGI script '\(script)' for New Relic.", &gil)
            }
        }

        // Events: built and published only when someone subscribed.
        var token: PyRef? = nil
        let events: ModWSGIModule? = interpreter.modWSGI
        if let events, events.subscribed, let data = context.requestData(gil),
           let started = events.publishRequestStarted(environ: env.pointer, application: application.pointer,
                                                      threadID: counter?.id ?? 0, requestData: data, &gil) {
            context.events = events
            context.input.timed = true
            application = started.application.retained()
            token = started.token.retained()
        }
        defer {
            if let events, let tokenPointer = token.pointer, let data = context.requestData(gil) {
                let i = context.input
                events.publishRequestFinished(token: tokenPointer, counters: [
                    Double(i.reads), Double(i.length), i.seconds, Double(context.outputLength),
                    Double(context.outputWrites), context.outputTime, Double(context.responseStatus),
                ], requestData: data, &gil)
            }
        }

        guard let result = PyRef(owningOrNil: swpy_call2(application.pointer, env.pointer, startResponse.pointer)) else {
            return failed(req, interpreter, context, script, &gil)
        }
        var status = respond(result.pointer, req, interpreter, context, script, &gil)
        if context.declaredLength >= 0 && context.outputLength > context.declaredLength {
            // As mod_wsgi (which logs it at debug level): the response was cut to its length.
            apache.log(req.handle, SWIFTWSGI_LOG_WARNING, .responseLongerThanDeclared,
                       "Content length mismatch, expected \(context.declaredLength), response generated \(context.outputLength): \(script): the bytes beyond it were not sent.", &gil)
        }
        // PEP 3333: close() is called whatever happened, even after an error. Its failure is
        // logged; it fails the request only if nothing was sent yet (a complete response
        // stays complete). A plain list or tuple has none (asking would raise and clear an
        // AttributeError each time).
        if swpy_list_or_tuple_check_exact(result.pointer) == 0 && PyObject_HasAttrString(result.pointer, "close") != 0 {
            if Py.succeeded(swpy_call_method0(result.pointer, "close"), gil) {
                // closed
            } else if context.headersSent && context.overriddenStatus == 0 && context.interrupt?.raised != nil
                        && PyErr_ExceptionMatches(interpreter.modWSGI.requestTimeout.pointer) != 0 {
                // The response is complete: RequestTimeout arrived as it was being closed.
                PyErr_Clear()
                apache.log(req.handle, SWIFTWSGI_LOG_INFO, .requestTimeoutInClose, "mod_wsgi.RequestTimeout "
                           + "raised while the response of WSGI script '\(script)' was being closed; ignored.", &gil)
            } else if context.headersSent && context.overriddenStatus == 0 {
                apache.logException(req.handle, interpreter: interpreter, .responseCloseFailed,
                                    intro: "Exception occurred closing the response of WSGI script '\(script)'.", &gil)
            } else {
                status = failed(req, interpreter, context, script, priorStatus: status, &gil)
            }
        }
        return status
    }

    /// Sends the application's result. Returns the handler status.
    private func respond(_ result: PyPointer, _ req: swiftwsgi_request_t, _ interpreter: Interpreter,
                         _ context: RequestContext, _ script: String, _ gil: inout GIL) -> Int32 {
        if swpy_is_type(result, interpreter.types.fileWrapper.pointer) != 0,
           let sent = sendFileWrapper(result, req, context, &gil) {
            return sent ? context.overriddenStatus : failed(req, interpreter, context, script, &gil)
        }
        // A list or tuple is complete already: let Apache buffer it. An iterator's chunks are
        // flushed as they come, so streaming responses reach the client without delay.
        let isList = swpy_list_check(result) != 0
        if isList || swpy_tuple_check(result) != 0 {
            let n = isList ? swpy_list_size(result) : swpy_tuple_size(result)
            var i = 0
            while i < (isList ? swpy_list_size(result) : n) {
                // Borrowed from the sequence, which the application may change while a write
                // has the GIL released: hold the item.
                guard let borrowed = isList ? swpy_list_get_item(result, i) : swpy_tuple_get_item(result, i) else {
                    Py.raise(PyExc_RuntimeError, "response sequence item \(i) is missing", gil)
                    return failed(req, interpreter, context, script, &gil)
                }
                let item = PyRef(retaining: borrowed)
                i += 1
                switch send(item.pointer, context, flush: false, &gil) {
                case .ok: continue
                case .stop: return finish(context, req, script, &gil)
                case .error: return failed(req, interpreter, context, script, &gil)
                }
            }
        } else {
            guard let iterator = PyRef(owningOrNil: PyObject_GetIter(result)) else {
                return failed(req, interpreter, context, script, &gil)
            }
            while let item = PyRef(owningOrNil: PyIter_Next(iterator.pointer)) {
                switch send(item.pointer, context, flush: true, &gil) {
                case .ok: continue
                case .stop: return finish(context, req, script, &gil)
                case .error: return failed(req, interpreter, context, script, &gil)
                }
            }
            if PyErr_Occurred() != nil { return failed(req, interpreter, context, script, &gil) }
        }
        guard context.sendHeaders(gil), context.deliverHeaders(&gil) else {
            return failed(req, interpreter, context, script, &gil)
        }
        return finish(context, req, script, &gil)
    }

    private enum Outcome { case ok, stop, error }

    private func send(_ item: PyPointer, _ context: RequestContext, flush: Bool, _ gil: inout GIL) -> Outcome {
        guard swpy_bytes_check(item) != 0 else {
            Py.raise(PyExc_TypeError, "sequence of byte string values expected, value of type \(RequestContext.typeName(item)) found", gil)
            return .error
        }
        let n = swpy_bytes_size(item)
        if n == 0 { return .ok }
        guard context.sendHeaders(gil) else { return .error }
        switch context.writeBody(swpy_bytes_as_string(item), n, flush: flush, &gil) {
        case .ok: return context.complete ? .stop : .ok
        case .clientGone: return .stop
        case .refused: return .error
        }
    }

    /// Ends a response whose sending stopped early (client gone or Content-Length reached).
    private func finish(_ context: RequestContext, _ req: swiftwsgi_request_t, _ script: String, _ gil: inout GIL) -> Int32 {
        if context.overriddenStatus != 0 { return context.overriddenStatus }
        if context.clientGone {
            apache.log(req.handle, SWIFTWSGI_LOG_INFO, .clientClosed,
                       "Client closed the connection while the response from '\(script)' was being sent.", &gil)
        }
        return 0
    }

    /// Logs the current exception; answers 500 when nothing was sent yet, else aborts the
    /// connection so the client cannot mistake a truncated response for a complete one.
    private func failed(_ req: swiftwsgi_request_t, _ interpreter: Interpreter, _ context: RequestContext,
                        _ script: String, priorStatus: Int32 = 0, _ gil: inout GIL) -> Int32 {
        if let note = context.interrupt?.raised,
           PyErr_ExceptionMatches(interpreter.modWSGI.requestTimeout.pointer) != 0 {
            return timedOut(req, interpreter, context, script, note, &gil)
        }
        if let events = context.events, let environ = context.environ, let data = context.requestData(gil) {
            events.publishRequestException(environ: environ, requestData: data, &gil)
        }
        apache.logException(req.handle, interpreter: interpreter, .applicationFailed,
                            intro: "Exception occurred processing WSGI script '\(script)'.", &gil)
        if context.headersSent && context.overriddenStatus == 0 {
            context.abortConnection(&gil)
            return 0
        }
        if priorStatus != 0 { return priorStatus }
        let inputStatus = context.input.failureStatus
        return inputStatus >= 400 ? inputStatus : 500
    }

    /// The request unwound from the RequestTimeout request-timeout raised in it (mod_wsgi 6.1's
    /// interrupt-timeout): 504 when nothing was sent yet, else the connection is aborted; the
    /// thread goes back to the pool. Logged with the timing and where the request was.
    private func timedOut(_ req: swiftwsgi_request_t, _ interpreter: Interpreter, _ context: RequestContext,
                          _ script: String, _ note: String, _ gil: inout GIL) -> Int32 {
        let sent = context.headersSent && context.overriddenStatus == 0
        let elapsed = RequestInterrupt.seconds(context.interrupt?.elapsed ?? 0)
        apache.logException(req.handle, interpreter: interpreter, .requestInterrupted,
                            intro: "Request to WSGI script '\(script)' interrupted by mod_wsgi.RequestTimeout after \(elapsed) s (\(note)); "
                                + (sent ? "response truncated" : "answering 504") + ", thread recovered.", &gil)
        if sent {
            context.abortConnection(&gil)
            return 0
        }
        return 504
    }

    /// The zero-copy path for a returned wsgi.file_wrapper: a regular file with fileno() and
    /// tell() goes out as an Apache file bucket. nil when the object does not qualify (then the
    /// caller iterates it); false when sending failed with an exception set.
    private func sendFileWrapper(_ wrapper: PyPointer, _ req: swiftwsgi_request_t, _ context: RequestContext,
                                 _ gil: inout GIL) -> Bool? {
        guard let filelike = swpy_host(wrapper).pointee.first,
              PyObject_HasAttrString(filelike, "fileno") != 0, PyObject_HasAttrString(filelike, "tell") != 0
        else { return nil }
        guard let fdObject = PyRef(owningOrNil: swpy_call_method0(filelike, "fileno")) else { PyErr_Clear(); return nil }
        let fd = PyLong_AsLong(fdObject.pointer)
        guard let posObject = PyRef(owningOrNil: swpy_call_method0(filelike, "tell")) else { PyErr_Clear(); return nil }
        let position = PyLong_AsLongLong(posObject.pointer)
        if PyErr_Occurred() != nil { PyErr_Clear(); return nil }
        var st = stat()
        guard fd >= 0, position >= 0, fstat(Int32(fd), &st) == 0, (st.st_mode & S_IFMT) == S_IFREG else { return nil }
        guard context.started else { return nil }  // let iteration report the missing start_response
        let available = max(0, Int64(st.st_size) - position)
        var length = available
        if context.remaining >= 0 {
            length = min(context.remaining, available)
        } else {
            context.addHeader("Content-Length", String(available), gil)
        }
        guard context.sendHeaders(gil) else { return false }
        if length > 0 && req.header_only == 0 {
            if !context.sendFile(fd: Int32(fd), offset: position, length: length, sendfile: req.enable_sendfile != 0, &gil) {
                _ = finish(context, req, "", &gil)
                return true
            }
        }
        // A file shorter than the declared Content-Length: the shim aborts the connection after
        // it and logs why (a short response must not look complete).
        return context.deliverHeaders(&gil)
    }

    /// The interpreter for a request's application group spec.
    func interpreter(spec: String, hostname: UnsafePointer<CChar>?, port: Int32,
                     environ: UnsafeBufferPointer<swiftwsgi_kv_t>, _ unlocked: inout Unlocked) throws(HostError) -> Interpreter {
        // The common cases need nothing from the request.
        if spec == "%{GLOBAL}" { return try interpreter(named: "", &unlocked) }
        if !spec.hasPrefix("%{") { return try interpreter(named: spec, &unlocked) }
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
        return try interpreter(named: group, &unlocked)
    }
}

/// CPU seconds (user and system) this thread has used.
func threadCPUSeconds() -> Double {
    var usage = rusage()
    let thread: Int32 = 1  // RUSAGE_THREAD (Linux), which Glibc's module does not export
    guard getrusage(__rusage_who_t(thread), &usage) == 0 else { return 0 }
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
