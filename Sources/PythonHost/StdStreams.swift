@preconcurrency import CPython
@preconcurrency import CSwiftWSGI

extension ProcessConfig {
    /// sys.stdout, sys.stderr and sys.stdin as mod_wsgi sets them up.
    ///
    /// stdout and stderr are text streams, `io.TextIOWrapper(log, encoding='utf-8',
    /// errors='replace', line_buffering=True, write_through=True)`, over a `Log` that writes
    /// each complete line to Apache's error log, tagged with the request the writing thread
    /// runs: so `.buffer` (bytes, returns the count), `.encoding`, `.isatty()`, `.fileno()`
    /// (io.UnsupportedOperation: no descriptor) and `reconfigure()` behave as on any text
    /// stream. WSGIRestrictStdout On replaces stdout by an object whose use raises OSError.
    /// stdin is Python's own (Apache's /dev/null) unless WSGIRestrictStdin On, which
    /// replaces it in the same way. With the GIL held, in the interpreter being set up.
    func installStandardStreams(types: HostTypes) throws(HostError) {
        guard let io = PyImport_ImportModule("io") else {
            throw HostError("cannot import io: \(PythonRuntime.currentExceptionText())")
        }
        let ioModule = PyRef(owning: io)
        guard let textWrapper = PyObject_GetAttrString(ioModule.pointer, "TextIOWrapper") else {
            throw HostError("io has no TextIOWrapper: \(PythonRuntime.currentExceptionText())")
        }
        let wrapperType = PyRef(owning: textWrapper)

        func textStream(_ name: String) throws(HostError) -> PyRef {
            let log = PyRef(owning: types.makeLog(level: SWIFTWSGI_LOG_ERR, name: name))
            guard let kwargs = PyDict_New() else { throw HostError("out of memory") }
            let kw = PyRef(owning: kwargs)
            for (key, value) in [("encoding", "utf-8"), ("errors", "replace")] {
                if let v = Py.string(value) { PyDict_SetItemString(kw.pointer, key, v); Py_DecRef(v) }
            }
            PyDict_SetItemString(kw.pointer, "line_buffering", Py.true)
            PyDict_SetItemString(kw.pointer, "write_through", Py.true)
            guard let args = Py.tuple([PyRef(retaining: log.pointer).release()]),
                  let stream = PyObject_Call(wrapperType.pointer, args, kw.pointer)
            else {
                throw HostError("cannot create \(name): \(PythonRuntime.currentExceptionText())")
            }
            Py_DecRef(args)
            return PyRef(owning: stream)
        }

        let stderr = try textStream("<stderr>")
        PySys_SetObject("stderr", stderr.pointer)
        PySys_SetObject("__stderr__", stderr.pointer)
        if restrictStdout {
            let restricted = PyRef(owning: types.makeRestricted(name: "sys.stdout"))
            PySys_SetObject("stdout", restricted.pointer)
        } else {
            let stdout = try textStream("<stdout>")
            PySys_SetObject("stdout", stdout.pointer)
            PySys_SetObject("__stdout__", stdout.pointer)
        }
        if restrictStdin {
            let restricted = PyRef(owning: types.makeRestricted(name: "sys.stdin"))
            PySys_SetObject("stdin", restricted.pointer)
        } else if let stdin = PySys_GetObject("stdin"), stdin != Py.none {
            // Python's own stream on descriptor 0 (Apache's /dev/null).
        } else if let devnull = callWithString(ioModule.pointer, "open", "/dev/null") {
            // No descriptor 0: a stream on /dev/null, as an Apache child has.
            PySys_SetObject("stdin", devnull)
            Py_DecRef(devnull)
        } else {
            PyErr_Clear()
        }
    }
}

/// io.open(path) and the like: a method call with one str argument. A new reference, or nil
/// with an exception set.
private func callWithString(_ o: PyPointer, _ name: String, _ argument: String) -> PyPointer? {
    guard let method = PyObject_GetAttrString(o, name) else { return nil }
    defer { Py_DecRef(method) }
    guard let arg = Py.string(argument) else { return nil }
    defer { Py_DecRef(arg) }
    return PyObject_CallOneArg(method, arg)
}
