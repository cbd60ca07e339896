@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc

extension ProcessConfig {
    // MARK: interpreter set-up (with the GIL held, in the interpreter being set up)

    /// Installs sys.stdout/stderr/stdin and the other per-interpreter settings into the
    /// current interpreter (the `mod_wsgi` and `apache` modules: ModWSGIModule.swift).
    func installModules(name: String, types: HostTypes, settings: InterpreterSettings, _ gil: borrowing GIL) throws(HostError) {
        // print() and sys.stderr go to Apache's error log, tagged with the thread's request;
        // the streams themselves are made in the bootstrap (see StdStreams.swift).
        try installStandardStreams(types: types, restrictStdin: settings.restrictStdin,
                                   restrictStdout: settings.restrictStdout, gil)
        try runBootstrap(extraPythonPath: settings.pythonPath, restrictSignal: settings.restrictSignal, gil)
    }

    /// Python-level set-up: sys.argv, WSGIPythonPath (site.addsitedir), the interpreter's own
    /// <WSGIInterpreterOptions> WSGIPythonPath (site.addsitedir, then moved in front of sys.path
    /// in their order, as mod_wsgi 6 places them), a daemon's home= (first, as mod_wsgi puts it),
    /// WSGIRestrictSignal.
    private func runBootstrap(extraPythonPath: [String], restrictSignal: Bool, _ gil: borrowing GIL) throws(HostError) {
        let source = """
        import sys, site
        sys.argv = ['mod_wsgi']
        for _p in _python_path:
            site.addsitedir(_p)
        _before = list(sys.path)
        for _p in _front_path:
            site.addsitedir(_p)
        _added = [_p for _p in sys.path if _p not in _before]
        sys.path[:] = _added + [_p for _p in sys.path if _p in _before]
        if _daemon_home is not None:
            sys.path.insert(0, _daemon_home)
        if _restrict_signal:
            import signal, os
            def _swiftwsgi_signal(signum, handler):
                _swiftwsgi_log('\(LogID.signalRegistrationIgnored.rawValue)', \(SWIFTWSGI_LOG_ERR),
                               'Callback registration for signal %d ignored.' % signum)
                return signal.getsignal(signum)
            signal.signal = _swiftwsgi_signal
        """
        guard let globals = Py.dict(gil), let paths = Py.list(gil) else { throw HostError("out of memory") }
        globals.setItem("__builtins__", borrowed: PyEval_GetBuiltins(), gil)
        guard let front = Py.list(gil) else { throw HostError("out of memory") }
        for p in pythonPath where !p.isEmpty {
            if let s = Py.string(p, gil) { paths.append(s, gil) }
        }
        for p in extraPythonPath where !p.isEmpty {
            if let s = Py.string(p, gil) { front.append(s, gil) }
        }
        globals.setItem("_python_path", paths, gil)
        globals.setItem("_front_path", front, gil)
        if let home = daemonHome, let s = Py.string(home, gil) {
            globals.setItem("_daemon_home", s, gil)
        } else {
            globals.setItem("_daemon_home", borrowed: Py.none, gil)
        }
        globals.setItem("_restrict_signal", borrowed: restrictSignal ? Py.true : Py.false, gil)
        if let log = ModWSGIModule.hostLog(gil) { globals.setItem("_swiftwsgi_log", log, gil) }
        guard Py.succeeded(PyRun_StringFlags(source, Py_file_input, globals.pointer, globals.pointer, nil), gil)
        else {
            throw HostError("interpreter set-up failed: \(PythonRuntime.currentExceptionText(gil))")
        }
    }
}
