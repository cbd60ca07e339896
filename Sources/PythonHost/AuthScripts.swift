@preconcurrency public import CSwiftWSGI
@preconcurrency import CPython
import Glibc

extension PythonRuntime {
    /// Calls a WSGIAuthUserScript / WSGIAuthGroupScript / WSGIAccessScript function (see
    /// `swiftwsgi_auth`). Any failure — a script that does not load, a missing function, an
    /// exception, a result of the wrong type — is logged with its traceback and answered
    /// `SWIFTWSGI_AUTH_ERROR`, which the shim turns into a 500: never a grant.
    public func authenticate(_ request: UnsafePointer<swiftwsgi_auth_request_t>, _ unlocked: inout Unlocked) -> Int32 {
        let req = request.pointee
        // The shim fills both; a call without them is an error (500), never a trap.
        guard let handle = req.call.handle, req.call.script_filename != nil else {
            apache.log(req.call.handle, SWIFTWSGI_LOG_ERR, .requestIncomplete,
                       "request without its handle or script filename: answered with 500", unlocked)
            return Int32(SWIFTWSGI_AUTH_ERROR.rawValue)
        }
        let environ = UnsafeBufferPointer(start: req.call.environ, count: req.call.environ_count)
        let context = RequestContext(handle: handle, ops: apache)
        return inInterpreter(spec: req.application_group, hostname: req.server_hostname,
                             port: req.server_port, environ: environ, context: context,
                             failure: Int32(SWIFTWSGI_AUTH_ERROR.rawValue), &unlocked) { interpreter, gil in
            callAuth(req, environ, interpreter, context, &gil)
        }
    }

    private func callAuth(_ req: swiftwsgi_auth_request_t, _ environ: UnsafeBufferPointer<swiftwsgi_kv_t>,
                          _ interpreter: Interpreter, _ context: RequestContext, _ gil: inout GIL) -> Int32 {
        let script = req.call.script_filename.map { String(cString: $0) } ?? ""
        let failure = Int32(SWIFTWSGI_AUTH_ERROR.rawValue)
        let kind = swiftwsgi_auth_kind_t(rawValue: UInt32(req.kind))
        let functionName: String
        switch kind {
        case SWIFTWSGI_AUTH_CHECK_PASSWORD: functionName = "check_password"
        case SWIFTWSGI_AUTH_GET_REALM_HASH: functionName = "get_realm_hash"
        case SWIFTWSGI_AUTH_GROUPS_FOR_USER: functionName = "groups_for_user"
        case SWIFTWSGI_AUTH_ALLOW_ACCESS: functionName = "allow_access"
        default: return failure
        }
        // Owned: the module stays alive while its functions run, even if another thread
        // reloads the script meanwhile.
        guard let module = interpreter.script(path: script, mtime: req.script_mtime, reloading: true, &gil) else {
            apache.logException(req.handle, interpreter: interpreter, .scriptLoadFailed, intro: "Failed to exec Python script file '\(script)'.", &gil)
            return failure
        }
        guard let errors = interpreter.types.makeLog(level: SWIFTWSGI_LOG_ERR, name: "wsgi.errors", ctx: context, gil) else {
            apache.logException(req.handle, interpreter: interpreter, .requestObjectsFailed, intro: "Cannot create wsgi.errors.", &gil)
            return failure
        }
        defer {
            LogObject(errors.pointer).flush(&gil)
            swpy_host(errors.pointer).pointee.ctx = nil
        }
        guard let function = module.attribute(functionName, gil) else {
            PyErr_Clear()
            apache.log(req.handle, SWIFTWSGI_LOG_ERR, .authFunctionMissing,
                       "Target WSGI script '\(script)' does not provide '\(functionName)'.", &gil)
            return failure
        }
        guard let env = Self.baseEnviron(environ, interpreter, errors: errors.pointer, gil),
              let args = Py.tuple(count: 1 + (req.user != nil ? 1 : 0) + (req.argument != nil ? 1 : 0), gil)
        else {
            apache.logException(req.handle, interpreter: interpreter, .environFailed, intro: "Cannot build the WSGI environ.", &gil)
            return failure
        }
        args.setTupleItem(0, env, gil)
        var next = 1
        for text in [req.user, req.argument] {
            guard let text else { continue }
            guard let item = Py.latin1(text, gil) else {
                apache.logException(req.handle, interpreter: interpreter, .authArgumentsFailed, intro: "Cannot build the arguments.", &gil)
                return failure
            }
            args.setTupleItem(next, item, gil)
            next += 1
        }
        guard let result = PyRef(owningOrNil: PyObject_Call(function.pointer, args.pointer, nil)) else {
            apache.logException(req.handle, interpreter: interpreter, .authScriptFailed,
                                intro: "Exception occurred calling \(functionName)() in '\(script)'.", &gil)
            return failure
        }
        let granted = Int32(SWIFTWSGI_AUTH_GRANTED.rawValue), denied = Int32(SWIFTWSGI_AUTH_DENIED.rawValue)
        let notFound = Int32(SWIFTWSGI_AUTH_NOT_FOUND.rawValue)
        if result.pointer == Py.none { return notFound }
        switch kind {
        case SWIFTWSGI_AUTH_CHECK_PASSWORD, SWIFTWSGI_AUTH_ALLOW_ACCESS:
            if result.pointer == Py.true { return granted }
            if result.pointer == Py.false { return denied }
        case SWIFTWSGI_AUTH_GET_REALM_HASH:
            if let value = Self.textValue(result.pointer, gil) {
                gil.released { _ in req.add_value?(req.context, value) }
                return granted
            }
        default:
            guard let iterator = PyRef(owningOrNil: PyObject_GetIter(result.pointer)) else { break }
            var names: [[CChar]] = []
            while let item = PyRef(owningOrNil: PyIter_Next(iterator.pointer)) {
                guard let name = Self.textValue(item.pointer, gil) else {
                    Py.raise(PyExc_TypeError, "groups_for_user() must return str or bytes group names", gil)
                    break
                }
                names.append(name)
            }
            if PyErr_Occurred() == nil {
                gil.released { _ in for name in names { req.add_value?(req.context, name) } }
                return granted
            }
        }
        if PyErr_Occurred() == nil {
            Py.raise(PyExc_TypeError, "\(functionName)() returned a value of type \(RequestContext.typeName(result.pointer))", gil)
        }
        apache.logException(req.handle, interpreter: interpreter, .authScriptFailed,
                            intro: "Exception occurred calling \(functionName)() in '\(script)'.", &gil)
        return failure
    }

    /// A str (UTF-8) or bytes value as a NUL-terminated C string.
    static func textValue(_ o: PyPointer, _ gil: borrowing GIL) -> [CChar]? {
        if swpy_bytes_check(o) != 0 {
            return Array(UnsafeBufferPointer(start: swpy_bytes_as_string(o), count: swpy_bytes_size(o) + 1))
        }
        if swpy_unicode_check(o) != 0, let s = PyUnicode_AsUTF8(o) {
            return Array(UnsafeBufferPointer(start: s, count: strlen(s) + 1))
        }
        return nil
    }
}
