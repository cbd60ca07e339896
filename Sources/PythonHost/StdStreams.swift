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
    /// replaces it in the same way (both as the interpreter's settings resolve them: the
    /// server-wide directives or its <WSGIInterpreterOptions>). With the GIL held, in the
    /// interpreter being set up.
    func installStandardStreams(types: HostTypes, restrictStdin: Bool, restrictStdout: Bool,
                                _ gil: borrowing GIL) throws(HostError) {
        guard let ioModule = PyRef(owningOrNil: PyImport_ImportModule("io")) else {
            throw HostError("cannot import io: \(PythonRuntime.currentExceptionText(gil))")
        }
        guard let wrapperType = ioModule.attribute("TextIOWrapper", gil) else {
            throw HostError("io has no TextIOWrapper: \(PythonRuntime.currentExceptionText(gil))")
        }

        func textStream(_ name: String) throws(HostError) -> PyRef {
            guard let log = types.makeLog(level: SWIFTWSGI_LOG_ERR, name: name, gil),
                  let kw = Py.dict(gil), let args = Py.tuple(count: 1, gil) else { throw HostError("out of memory") }
            for (key, value) in [("encoding", "utf-8"), ("errors", "replace")] {
                if let v = Py.string(value, gil) { kw.setItem(key, v, gil) }
            }
            kw.setItem("line_buffering", borrowed: Py.true, gil)
            kw.setItem("write_through", borrowed: Py.true, gil)
            args.setTupleItem(0, log, gil)
            guard let stream = PyRef(owningOrNil: PyObject_Call(wrapperType.pointer, args.pointer, kw.pointer)) else {
                throw HostError("cannot create \(name): \(PythonRuntime.currentExceptionText(gil))")
            }
            return stream
        }

        let stderr = try textStream("<stderr>")
        PySys_SetObject("stderr", stderr.pointer)
        PySys_SetObject("__stderr__", stderr.pointer)
        if restrictStdout {
            guard let restricted = types.makeRestricted(name: "sys.stdout", gil) else { throw HostError("out of memory") }
            PySys_SetObject("stdout", restricted.pointer)
        } else {
            let stdout = try textStream("<stdout>")
            PySys_SetObject("stdout", stdout.pointer)
            PySys_SetObject("__stdout__", stdout.pointer)
        }
        if restrictStdin {
            guard let restricted = types.makeRestricted(name: "sys.stdin", gil) else { throw HostError("out of memory") }
            PySys_SetObject("stdin", restricted.pointer)
        } else if let stdin = PySys_GetObject("stdin"), stdin != Py.none {
            // Python's own stream on descriptor 0 (Apache's /dev/null).
        } else if let open = ioModule.attribute("open", gil), let path = Py.string("/dev/null", gil),
                  let devnull = PyRef(owningOrNil: PyObject_CallOneArg(open.pointer, path.pointer)) {
            // No descriptor 0: a stream on /dev/null, as an Apache child has.
            PySys_SetObject("stdin", devnull.pointer)
        } else {
            PyErr_Clear()
        }
    }
}
