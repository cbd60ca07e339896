@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc
import Telemetry

// The WSGI environ on the Swift side, built here only: the per-interpreter template, then per
// request a copy of it with the shim's variables (swiftwsgi_environ.c builds those) and the
// request's own entries.

extension ProcessConfig {
    /// The entries of environ that do not change between requests of an interpreter. Its hash
    /// table is made large enough for a whole request's environ: PyDict_Copy clones the table
    /// as it is, so each request's copy takes Apache's variables without growing (rehashing)
    /// several times.
    func makeEnvironTemplate(applicationGroup: String, types: HostTypes, _ gil: borrowing GIL) throws(HostError) -> PyRef {
        guard let d = PyRef(owningOrNil: _PyDict_NewPresized(Self.environSizeHint)) else { throw HostError("out of memory") }
        func put(_ key: String, _ value: consuming PyRef?, _ d: borrowing PyRef) {
            guard let value else { return }
            d.setItem(key, value, gil)
        }
        put("wsgi.version", Py.tuple(ints: [1, 0], gil), d)
        d.setItem("wsgi.multithread", borrowed: multithread ? Py.true : Py.false, gil)
        d.setItem("wsgi.multiprocess", borrowed: multiprocess ? Py.true : Py.false, gil)
        d.setItem("wsgi.run_once", borrowed: runOnce ? Py.true : Py.false, gil)
        d.setItem("wsgi.input_terminated", borrowed: Py.true, gil)
        d.setItem("wsgi.file_wrapper", borrowed: types.fileWrapper.pointer, gil)
        let v = ModWSGIModule.compatibleVersion
        put("mod_wsgi.version", Py.tuple(ints: [v.major, v.minor, v.micro], gil), d)
        put("mod_swiftwsgi.version", versionTuple(gil), d)
        put("apache.version", ModWSGIModule.apacheVersionTuple(apacheVersion, gil), d)
        put("mod_wsgi.process_group", Py.string(processGroup, gil), d)
        put("mod_wsgi.application_group", Py.string(applicationGroup, gil), d)
        PyErr_Clear()
        return d
    }

    /// Entries a request's environ is sized for (the template's, Apache's variables, headers).
    static let environSizeHint = 80

    private func versionTuple(_ gil: borrowing GIL) -> PyRef? {
        let v = PythonRuntime.version
        return Py.tuple(ints: [v.major, v.minor, v.micro], gil)
    }
}

extension PythonRuntime {
    /// The WSGI environ: Apache's variables plus the per-interpreter template.
    func makeEnviron(_ req: swiftwsgi_request_t, _ environ: UnsafeBufferPointer<swiftwsgi_kv_t>,
                             _ interpreter: Interpreter, _ callable: String,
                             input: PyPointer, errors: PyPointer, counter: Metrics.ThreadCounter?,
                             times: RequestTimes, _ gil: borrowing GIL) -> PyRef? {
        guard let env = Self.baseEnviron(environ, interpreter, errors: errors, gil) else { return nil }
        let d = env.pointer
        let strings = interpreter.environStrings
        // The helpers reach the dict through its pointer: a nested function capturing the
        // noncopyable `env` could not return it afterwards (debug builds refuse that). Keys are
        // literals (StaticString: NUL-terminated, passed as they are, no String conversion).
        func cKey(_ key: StaticString) -> UnsafePointer<CChar> {
            UnsafeRawPointer(key.utf8Start).assumingMemoryBound(to: CChar.self)
        }
        func put(_ key: StaticString, _ object: PyPointer) {
            if let strings, let k = strings.key(cKey(key), gil) {
                PyDict_SetItem(d, k, object)
            } else {
                PyErr_Clear()
                PyDict_SetItemString(d, cKey(key), object)
            }
        }
        func put(_ key: StaticString, _ value: UnsafePointer<CChar>) {
            if let strings {
                if !strings.set(d, name: cKey(key), value: value, gil) { PyErr_Clear() }
            } else if let v = Py.latin1(value, gil) {
                PyDict_SetItemString(d, cKey(key), v.pointer)
            }
        }
        func put(_ key: StaticString, double value: Double) {
            if let f = PyRef(owningOrNil: PyFloat_FromDouble(value)) { put(key, f.pointer) } else { PyErr_Clear() }
        }
        func put(_ key: StaticString, int value: Int) {
            if let v = Py.int(value, gil) { put(key, v.pointer) } else { PyErr_Clear() }
        }
        put("wsgi.input", input)
        // mod_wsgi 6.1's instants, as floats in seconds since the epoch (mod_wsgi 5 passed
        // microseconds as strings); queue and daemon start are 0.0 in embedded mode.
        put("mod_wsgi.request_start", double: times.requestStart)
        put("mod_wsgi.queue_start", double: times.queueStart)
        put("mod_wsgi.daemon_start", double: times.daemonStart)
        put("mod_wsgi.application_start", double: times.applicationStart)
        // mod_wsgi's counters: this thread's id and earlier requests, the process's completed ones.
        put("mod_wsgi.thread_id", int: counter?.id ?? 0)
        put("mod_wsgi.thread_requests", int: counter?.requests.load(ordering: .relaxed) ?? 0)
        put("mod_wsgi.total_requests", int: Metrics.shared.totalRequests)
        // The shim always names the callable (its getter holds the default).
        put("mod_wsgi.callable_object", req.callable_object ?? cKey(""))
        put("mod_wsgi.script_reloading", cKey(req.script_reloading != 0 ? "1" : "0"))
        put("mod_wsgi.enable_sendfile", cKey(req.enable_sendfile != 0 ? "1" : "0"))
        return env
    }

    /// The per-interpreter template, Apache's variables (latin-1 str) and wsgi.errors.
    static func baseEnviron(_ environ: UnsafeBufferPointer<swiftwsgi_kv_t>, _ interpreter: Interpreter,
                            errors: PyPointer, _ gil: borrowing GIL) -> PyRef? {
        // The template is sized for a whole environ: its copies take the rest without growing.
        guard let env = PyRef(owningOrNil: PyDict_Copy(interpreter.environTemplate.pointer)) else { return nil }
        if let strings = interpreter.environStrings {
            for kv in environ {
                guard let name = kv.name, let value = kv.value else { continue }
                if !strings.set(env.pointer, name: name, value: value, gil) { PyErr_Clear() }
            }
            if !strings.set(env.pointer, name: "wsgi.errors", object: errors, gil) { PyErr_Clear() }
            return env
        }
        for kv in environ {
            guard let name = kv.name, let value = kv.value,
                  let k = Py.latin1(name, gil), let v = Py.latin1(value, gil) else { continue }
            env.setItem(k, v, gil)
        }
        env.setItem("wsgi.errors", borrowed: errors, gil)
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
}
