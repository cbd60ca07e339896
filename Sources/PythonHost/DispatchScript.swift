@preconcurrency public import CSwiftWSGI
@preconcurrency import CPython
import Glibc

extension PythonRuntime {
    /// Calls a WSGIDispatchScript (see `swiftwsgi_dispatch`): whichever of process_group(),
    /// application_group() and callable_object() the script defines, each with the environ; the
    /// str answers go to the shim as one `swiftwsgi_dispatch_answer_t`. A script that does not
    /// load has no opinion (the request goes on with the defaults, as in mod_wsgi); a function
    /// that raises or answers another type fails the request. Failures are logged with their
    /// traceback.
    public func dispatch(_ request: UnsafePointer<swiftwsgi_dispatch_request_t>, _ unlocked: inout Unlocked) -> Int32 {
        let req = request.pointee
        // The shim fills both; a call without them is an error (500), never a trap.
        guard let handle = req.call.handle, req.call.script_filename != nil else {
            apache.log(
                req.call.handle, SWIFTWSGI_LOG_ERR, .requestIncomplete,
                "request without its handle or script filename: answered with 500", unlocked)
            return Int32(SWIFTWSGI_DISPATCH_ERROR.rawValue)
        }
        let environ = UnsafeBufferPointer(start: req.call.environ, count: req.call.environ_count)
        let context = RequestContext(handle: handle, ops: apache)
        return inInterpreter(
            spec: req.application_group, hostname: req.server_hostname,
            port: req.server_port, environ: environ, context: context,
            failure: Int32(SWIFTWSGI_DISPATCH_ERROR.rawValue), &unlocked
        ) { interpreter, gil in
            Int32(callDispatch(req, environ, interpreter, context, &gil).rawValue)
        }
    }

    private func callDispatch(
        _ req: swiftwsgi_dispatch_request_t, _ environ: UnsafeBufferPointer<swiftwsgi_kv_t>,
        _ interpreter: Interpreter, _ context: RequestContext,
        _ gil: inout GIL
    ) -> swiftwsgi_dispatch_result_t {
        let script = req.call.script_filename.map { String(cString: $0) } ?? ""
        // Owned: the module stays alive while its functions run, even if another thread
        // reloads the script meanwhile.
        guard let module = interpreter.script(path: script, mtime: req.script_mtime, reloading: true, &gil) else {
            apache.logException(
                req.handle, interpreter: interpreter, .scriptLoadFailed,
                intro: "Failed to exec Python script file '\(script)'.", &gil)
            return SWIFTWSGI_DISPATCH_NO_OPINION
        }
        guard let errors = interpreter.types.makeLog(level: SWIFTWSGI_LOG_ERR, name: "wsgi.errors", ctx: context, gil)
        else {
            apache.logException(
                req.handle, interpreter: interpreter, .requestObjectsFailed, intro: "Cannot create wsgi.errors.", &gil)
            return SWIFTWSGI_DISPATCH_ERROR
        }
        defer {
            LogObject(errors.pointer).flush(&gil)
            swpy_host(errors.pointer).pointee.ctx = nil
        }
        guard let env = Self.baseEnviron(environ, interpreter, errors: errors.pointer, gil) else {
            apache.logException(
                req.handle, interpreter: interpreter, .environFailed, intro: "Cannot build the WSGI environ.", &gil)
            return SWIFTWSGI_DISPATCH_ERROR
        }
        let names = ["process_group", "application_group", "callable_object"]
        var answers: [[CChar]?] = [nil, nil, nil]
        for (index, name) in names.enumerated() {
            guard let function = module.attribute(name, gil) else {
                PyErr_Clear()
                continue
            }
            guard let result = PyRef(owningOrNil: PyObject_CallOneArg(function.pointer, env.pointer)) else {
                apache.logException(
                    req.handle, interpreter: interpreter, .authScriptFailed,
                    intro: "Exception occurred calling \(name)() in '\(script)'.", &gil)
                return SWIFTWSGI_DISPATCH_ERROR
            }
            if result.pointer == Py.none { continue }
            guard let value = Self.textValue(result.pointer, gil) else {
                Py.raise(PyExc_TypeError, "\(name)() must return a str or None", gil)
                apache.logException(
                    req.handle, interpreter: interpreter, .authScriptFailed,
                    intro: "Exception occurred calling \(name)() in '\(script)'.", &gil)
                return SWIFTWSGI_DISPATCH_ERROR
            }
            answers[index] = value
        }
        // The answer crosses as a struct; the shim copies the strings before set_answer returns.
        let copies = answers.map { $0.flatMap { strdup($0) } }
        defer { for copy in copies { free(copy) } }
        var answer = swiftwsgi_dispatch_answer_t(
            process_group: copies[0], application_group: copies[1],
            callable_object: copies[2])
        gil.released { _ in req.set_answer?(req.context, &answer) }
        return SWIFTWSGI_DISPATCH_ANSWERED
    }
}
