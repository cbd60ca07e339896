@preconcurrency public import CSwiftWSGI
@preconcurrency import CPython
import Glibc

extension PythonRuntime {
    /// Calls a WSGIAuthUserScript / WSGIAuthGroupScript / WSGIAccessScript function (see
    /// `swiftwsgi_auth`). Any failure — a script that does not load, a missing function, an
    /// exception, a result of the wrong type — is logged with its traceback and answered
    /// `SWIFTWSGI_AUTH_ERROR`, which the shim turns into a 500: never a grant.
    public func authenticate(_ request: UnsafePointer<swiftwsgi_auth_request_t>) -> Int32 {
        let req = request.pointee
        let environ = UnsafeBufferPointer(start: req.environ, count: req.environ_count)
        let context = RequestContext(handle: req.handle, ops: apache)
        return inInterpreter(spec: req.application_group, hostname: req.server_hostname,
                             port: req.server_port, environ: environ, context: context,
                             failure: Int32(SWIFTWSGI_AUTH_ERROR.rawValue)) { interpreter in
            callAuth(req, environ, interpreter, context)
        }
    }

    private func callAuth(_ req: swiftwsgi_auth_request_t, _ environ: UnsafeBufferPointer<swiftwsgi_kv_t>,
                          _ interpreter: Interpreter, _ context: RequestContext) -> Int32 {
        let script = String(cString: req.script_filename)
        let failure = Int32(SWIFTWSGI_AUTH_ERROR.rawValue)
        let kind = swiftwsgi_auth_kind_t(rawValue: UInt32(req.kind))
        let functionName: String
        switch kind {
        case SWIFTWSGI_AUTH_CHECK_PASSWORD: functionName = "check_password"
        case SWIFTWSGI_AUTH_GET_REALM_HASH: functionName = "get_realm_hash"
        case SWIFTWSGI_AUTH_GROUPS_FOR_USER: functionName = "groups_for_user"
        case SWIFTWSGI_AUTH_ALLOW_ACCESS: functionName = "allow_access"
        case SWIFTWSGI_AUTH_DISPATCH: functionName = "process_group"
        default: return failure
        }
        guard let module = interpreter.script(path: script, mtime: req.script_mtime, reloading: true, log: { _ in }) else {
            apache.logException(req.handle, interpreter: interpreter, intro: "Failed to exec Python script file '\(script)'.")
            return failure
        }
        if kind == SWIFTWSGI_AUTH_DISPATCH {
            return dispatch(req, environ, interpreter, context, module, script)
        }
        guard let function = PyObject_GetAttrString(module, functionName) else {
            PyErr_Clear()
            withoutGIL {
                apache.log(req.handle, SWIFTWSGI_LOG_ERR,
                           "mod_swiftwsgi (pid=\(getpid())): Target WSGI script '\(script)' does not provide '\(functionName)'.")
            }
            return failure
        }
        defer { Py_DecRef(function) }
        let errors = interpreter.types.makeLog(level: SWIFTWSGI_LOG_ERR, name: "wsgi.errors", ctx: context)
        defer {
            LogObject(errors).flush()
            swpy_host(errors).pointee.ctx = nil
            Py_DecRef(errors)
        }
        guard let env = Self.baseEnviron(environ, interpreter, errors: errors) else { return failure }
        defer { Py_DecRef(env) }
        var args: [PyPointer?] = [env]
        if let user = req.user { args.append(Py.latin1(user)) }
        if let argument = req.argument { args.append(Py.latin1(argument)) }
        guard args.allSatisfy({ $0 != nil }) else { return failure }
        Py_IncRef(env)
        guard let tuple = Py.tuple(args) else { return failure }
        let called = PyObject_Call(function, tuple, nil)
        Py_DecRef(tuple)
        guard let result = called else {
            apache.logException(req.handle, interpreter: interpreter,
                                intro: "Exception occurred calling \(functionName)() in '\(script)'.")
            return failure
        }
        defer { Py_DecRef(result) }
        let granted = Int32(SWIFTWSGI_AUTH_GRANTED.rawValue), denied = Int32(SWIFTWSGI_AUTH_DENIED.rawValue)
        let notFound = Int32(SWIFTWSGI_AUTH_NOT_FOUND.rawValue)
        if result == Py.none { return notFound }
        switch kind {
        case SWIFTWSGI_AUTH_CHECK_PASSWORD, SWIFTWSGI_AUTH_ALLOW_ACCESS:
            if result == Py.true { return granted }
            if result == Py.false { return denied }
        case SWIFTWSGI_AUTH_GET_REALM_HASH:
            if let value = Self.textValue(result) {
                req.add_value?(req.context, value)
                return granted
            }
        default:
            guard let iterator = PyObject_GetIter(result) else { break }
            defer { Py_DecRef(iterator) }
            var names: [[CChar]] = []
            while let item = PyIter_Next(iterator) {
                defer { Py_DecRef(item) }
                guard let name = Self.textValue(item) else {
                    Py.raise(PyExc_TypeError, "groups_for_user() must return str or bytes group names")
                    break
                }
                names.append(name)
            }
            if PyErr_Occurred() == nil {
                for name in names { req.add_value?(req.context, name) }
                return granted
            }
        }
        if PyErr_Occurred() == nil {
            Py.raise(PyExc_TypeError, "\(functionName)() returned a value of type \(RequestContext.typeName(result))")
        }
        apache.logException(req.handle, interpreter: interpreter,
                            intro: "Exception occurred calling \(functionName)() in '\(script)'.")
        return failure
    }

    /// WSGIDispatchScript: calls whichever of process_group(), application_group() and
    /// callable_object() the script defines; the str answers go to the shim as one
    /// `swiftwsgi_dispatch_answer_t`.
    private func dispatch(_ req: swiftwsgi_auth_request_t, _ environ: UnsafeBufferPointer<swiftwsgi_kv_t>,
                          _ interpreter: Interpreter, _ context: RequestContext, _ module: PyPointer,
                          _ script: String) -> Int32 {
        let errors = interpreter.types.makeLog(level: SWIFTWSGI_LOG_ERR, name: "wsgi.errors", ctx: context)
        defer {
            LogObject(errors).flush()
            swpy_host(errors).pointee.ctx = nil
            Py_DecRef(errors)
        }
        guard let env = Self.baseEnviron(environ, interpreter, errors: errors) else {
            return Int32(SWIFTWSGI_AUTH_ERROR.rawValue)
        }
        defer { Py_DecRef(env) }
        let names = ["process_group", "application_group", "callable_object"]
        var answers: [[CChar]?] = [nil, nil, nil]
        for (index, name) in names.enumerated() {
            guard let function = PyObject_GetAttrString(module, name) else {
                PyErr_Clear()
                continue
            }
            let result = PyObject_CallOneArg(function, env)
            Py_DecRef(function)
            guard let result else {
                apache.logException(req.handle, interpreter: interpreter,
                                    intro: "Exception occurred calling \(name)() in '\(script)'.")
                return Int32(SWIFTWSGI_AUTH_ERROR.rawValue)
            }
            defer { Py_DecRef(result) }
            if result == Py.none { continue }
            guard let value = Self.textValue(result) else {
                Py.raise(PyExc_TypeError, "\(name)() must return a str or None")
                apache.logException(req.handle, interpreter: interpreter,
                                    intro: "Exception occurred calling \(name)() in '\(script)'.")
                return Int32(SWIFTWSGI_AUTH_ERROR.rawValue)
            }
            answers[index] = value
        }
        // The answer crosses as a struct; the shim copies the strings before set_dispatch returns.
        let copies = answers.map { $0.flatMap { strdup($0) } }
        defer { copies.forEach { free($0) } }
        var answer = swiftwsgi_dispatch_answer_t(process_group: copies[0], application_group: copies[1],
                                                 callable_object: copies[2])
        req.set_dispatch?(req.context, &answer)
        return Int32(SWIFTWSGI_AUTH_GRANTED.rawValue)
    }

    /// A str (UTF-8) or bytes value as a NUL-terminated C string.
    private static func textValue(_ o: PyPointer) -> [CChar]? {
        if swpy_bytes_check(o) != 0 {
            return Array(UnsafeBufferPointer(start: swpy_bytes_as_string(o), count: swpy_bytes_size(o) + 1))
        }
        if swpy_unicode_check(o) != 0, let s = PyUnicode_AsUTF8(o) {
            return Array(UnsafeBufferPointer(start: s, count: strlen(s) + 1))
        }
        return nil
    }
}
