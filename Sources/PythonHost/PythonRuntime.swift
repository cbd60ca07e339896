@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc
import Synchronization

/// The embedded Python of one process (an Apache child): initialised once after fork, never
/// finalised and initialised again in the same process.
public final class PythonRuntime: @unchecked Sendable {
    /// The process's runtime, set by `initialize` (in the child, before any request).
    nonisolated(unsafe) public private(set) static var shared: PythonRuntime?

    public let config: ProcessConfig
    let apache: ApacheOps
    /// Called when a loaded script changed on disk (daemon processes restart themselves).
    nonisolated(unsafe) public var scriptChanged: (() -> Void)?
    private let interpreters = PlainLock<[String: Interpreter]>([:])
    private let main: Interpreter
    private let mainThreadState: UnsafeMutablePointer<PyThreadState>
    private let stoppingPublished = Atomic<Bool>(false)

    static let version = (major: 0, minor: 1, micro: 0)
    public static var versionString: String { "\(version.major).\(version.minor).\(version.micro)" }

    private init(config: ProcessConfig, apache: ApacheOps) throws(HostError) {
        self.config = config
        self.apache = apache
        try Self.initializePython(config)
        // The initialising thread is threading's main thread from here on (so shutdown does not
        // wait on a worker's stale state).
        if let threading = PyImport_ImportModule("threading") { Py_DecRef(threading) }
        PyErr_Clear()
        if config.switchInterval > 0 { Self.setSwitchInterval(config.switchInterval) }
        guard let ts = PyThreadState_Get() else { throw HostError("no thread state after initialisation") }
        mainThreadState = ts
        ThreadStates.adopt(ts)
        main = try Interpreter(name: "", ordinal: 0, config: config)
        PyEval_SaveThread()
    }

    /// Initialises Python for this process. Returns the runtime, or throws with the reason.
    public static func initialize(config: ProcessConfig, apache: ApacheOps) throws(HostError) -> PythonRuntime {
        if let shared { return shared }
        let runtime = try PythonRuntime(config: config, apache: apache)
        apache.log(nil, SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid())): Initializing Python \(PythonVersion.runtime).")
        shared = runtime
        for script in config.importScripts {
            runtime.importScript(path: script.path, applicationGroup: script.applicationGroup)
        }
        return runtime
    }

    /// sys.setswitchinterval(seconds): one setting for every interpreter of the process.
    private static func setSwitchInterval(_ seconds: Double) {
        guard let sys = PyImport_ImportModule("sys") else { PyErr_Clear(); return }
        defer { Py_DecRef(sys) }
        guard let function = PyObject_GetAttrString(sys, "setswitchinterval") else { PyErr_Clear(); return }
        defer { Py_DecRef(function) }
        guard let value = PyFloat_FromDouble(seconds) else { PyErr_Clear(); return }
        defer { Py_DecRef(value) }
        if let result = PyObject_CallOneArg(function, value) { Py_DecRef(result) } else { PyErr_Clear() }
    }

    private static func initializePython(_ config: ProcessConfig) throws(HostError) {
        if let eggs = config.pythonEggs { setenv("PYTHON_EGG_CACHE", eggs, 1) }
        let pyconfig = UnsafeMutablePointer<PyConfig>.allocate(capacity: 1)
        defer { PyConfig_Clear(pyconfig); pyconfig.deallocate() }
        PyConfig_InitPythonConfig(pyconfig)
        // Apache owns signals: Python must not install its SIGINT handler in a child.
        pyconfig.pointee.install_signal_handlers = 0
        pyconfig.pointee.parse_argv = 0
        pyconfig.pointee.optimization_level = Int32(config.optimize)
        pyconfig.pointee.write_bytecode = config.dontWriteBytecode ? 0 : 1
        if let seed = config.hashSeed {
            if seed >= 0 {
                pyconfig.pointee.use_hash_seed = 1
                pyconfig.pointee.hash_seed = UInt(seed)
            } else {
                pyconfig.pointee.use_hash_seed = 0
            }
        }
        let home = config.pythonHome
        let location = PythonLocation(home: home, isVirtualEnvironment: home.map(isVirtualEnvironment) ?? false)
        var status = swpy_config_set_program_name(pyconfig, location.programName)
        if swpy_status_is_exception(status) == 0, let h = location.home {
            status = swpy_config_set_home(pyconfig, h)
        }
        for w in config.warnings where swpy_status_is_exception(status) == 0 {
            status = swpy_config_add_warnoption(pyconfig, w)
        }
        if swpy_status_is_exception(status) == 0 {
            status = Py_InitializeFromConfig(pyconfig)
        }
        if swpy_status_is_exception(status) != 0 {
            let message = status.err_msg.map { String(cString: $0) } ?? "unknown error"
            let function = status.func.map { String(cString: $0) + ": " } ?? ""
            throw HostError("Python initialisation failed: \(function)\(message)")
        }
    }

    /// The interpreter of an application group ("" = %{GLOBAL}), created on first use.
    /// Without the GIL (the registry lock comes first in the lock order).
    func interpreter(named name: String) throws(HostError) -> Interpreter {
        if name.isEmpty { return main }
        let result: Result<Interpreter, HostError> = interpreters.withLock { table in
            if let existing = table[name] { return .success(existing) }
            let ordinal = table.count + 1
            let threadStates = ThreadStates.current()
            PyEval_RestoreThread(threadStates.main)
            defer { PyEval_SaveThread() }
            let sub: UnsafeMutablePointer<PyThreadState>
            switch PythonVersion.newSubInterpreter() {
            case .success(let s): sub = s
            case .failure(let error):
                PyErr_Clear()
                return .failure(HostError("cannot create a sub-interpreter for application group '\(name)': \(error)"))
            }
            do {
                let interpreter = try Interpreter(name: name, ordinal: ordinal, config: config)
                threadStates.record(sub, for: interpreter)
                table[name] = interpreter
                PyThreadState_Swap(threadStates.main)
                return .success(interpreter)
            } catch {
                PyThreadState_Swap(threadStates.main)
                return .failure(error as? HostError ?? HostError("\(error)"))
            }
        }
        return try result.get()
    }

    /// Runs the process's WSGIImportScript entries on the calling thread (a daemon group with
    /// threads=0 runs them on a thread of their own: mod_wsgi's service scripts, which may
    /// never return).
    public func runImportScripts(_ scripts: [(path: String, applicationGroup: String)]) {
        for script in scripts {
            importScript(path: script.path, applicationGroup: script.applicationGroup)
        }
    }

    /// Raises SystemExit in the Python thread `ident` (its pthread id) of the application
    /// group's interpreter, the next time that thread runs bytecode (how a service script is
    /// told to stop). Without the GIL.
    public func raiseSystemExit(inThread ident: UInt, applicationGroup: String) {
        guard let interpreter = try? interpreter(named: applicationGroup) else { return }
        withGIL(in: interpreter) {
            _ = PyThreadState_SetAsyncExc(ident, PyExc_SystemExit)
        }
    }

    /// Loads a script at process start (WSGIImportScript); failures are logged.
    func importScript(path: String, applicationGroup: String) {
        do {
            let interpreter = try interpreter(named: applicationGroup)
            withGIL(in: interpreter) {
                if interpreter.script(path: path, mtime: fileMTime(path), reloading: false, log: { _ in }) == nil {
                    // SystemExit ends a service script (threads=0) that was told to stop.
                    if PyErr_ExceptionMatches(PyExc_SystemExit) != 0 {
                        PyErr_Clear()
                        apache.log(nil, SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid())): script '\(path)' ended by SystemExit.")
                        return
                    }
                    apache.logException(nil, interpreter: interpreter,
                                        intro: "Failed to import WSGI script '\(path)'.")
                }
            }
        } catch {
            apache.log(nil, SWIFTWSGI_LOG_ERR, "mod_swiftwsgi (pid=\(getpid())): \(error)")
        }
    }

    /// mod_wsgi's module name for a script: `_mod_wsgi_` + the md5 hex digest of its path.
    static func moduleName(forScript path: String) -> String {
        "_mod_wsgi_" + MD5.hex(Array(path.utf8))
    }

    /// The current exception as one line (for set-up errors); clears it.
    static func currentExceptionText() -> String {
        var type: PyPointer?, value: PyPointer?, tb: PyPointer?
        PyErr_Fetch(&type, &value, &tb)
        defer { Py_XDECREF(type); Py_XDECREF(value); Py_XDECREF(tb) }
        guard let value, let s = PyObject_Str(value) else { PyErr_Clear(); return "unknown error" }
        defer { Py_DecRef(s) }
        return Py.swiftString(s) ?? "unknown error"
    }

    /// Takes the GIL and gives it back (deadlock-timeout's probe). Without the GIL; never
    /// during or after `shutdown`.
    public func probeGIL() {
        withGIL(in: main) {}
    }

    // MARK: process exit

    /// Tears Python down at child exit without ever hanging on application threads.
    ///
    /// Each interpreter first gives its non-daemon threads what is left of a short grace
    /// period, then stops CPython from waiting for them. A sub-interpreter whose application
    /// threads are still running cannot be ended (CPython aborts with "not the last
    /// thread"): its atexit callbacks run and it is left to the process exit; otherwise its
    /// other thread states are deleted and it is ended. Python is finalised only when every
    /// sub-interpreter could be ended (3.11 refuses otherwise); else the main interpreter's
    /// atexit callbacks run instead. Nothing here waits longer than the grace period.
    public func shutdown() {
        publishProcessStopping(reason: "")
        guard config.destroyInterpreter else { return }
        let deadline = monotonicSeconds() + Self.shutdownGracePeriod
        let subs = interpreters.withLock { Array($0.values) }.sorted { $0.ordinal > $1.ordinal }
        let threadStates = ThreadStates.all.withLock { $0.items }
        PyEval_RestoreThread(mainThreadState)
        var everyInterpreterEnded = true
        for interpreter in subs {
            let mine = threadStates.filter { PyThreadState_GetInterpreter($0) == interpreter.state }
            guard let keep = mine.first else { continue }
            PyThreadState_Swap(keep)
            stopWaitingForThreads(deadline: deadline)
            for ts in mine.dropFirst() {
                PyThreadState_Clear(ts)
                PyThreadState_Delete(ts)
            }
            if Self.hasOtherThreads(interpreter.state, than: keep) {
                runAtexit()
                everyInterpreterEnded = false
            } else {
                Py_EndInterpreter(keep)
            }
            PyThreadState_Swap(mainThreadState)
        }
        stopWaitingForThreads(deadline: deadline)
        for ts in threadStates where ts != mainThreadState && PyThreadState_GetInterpreter(ts) == main.state {
            PyThreadState_Clear(ts)
            PyThreadState_Delete(ts)
        }
        if everyInterpreterEnded {
            Py_FinalizeEx()
        } else {
            runAtexit()
            PyEval_SaveThread()
        }
    }

    /// mod_wsgi's process_stopping event (to subscribe_events and subscribe_shutdown
    /// callbacks) in every interpreter, once. Without the GIL.
    public func publishProcessStopping(reason: String) {
        guard !stoppingPublished.exchange(true, ordering: .relaxed) else { return }
        let all = [main] + interpreters.withLock { Array($0.values) }.sorted { $0.ordinal < $1.ordinal }
        for interpreter in all {
            withGIL(in: interpreter) { interpreter.modWSGI.publishProcessStopping(reason: reason) }
        }
    }

    /// How long, in seconds, application threads get to finish at child exit.
    static let shutdownGracePeriod = 1.5

    private static func hasOtherThreads(_ interp: OpaquePointer, than keep: UnsafeMutablePointer<PyThreadState>) -> Bool {
        var ts = PyInterpreterState_ThreadHead(interp)
        while let t = ts {
            if t != keep { return true }
            ts = PyThreadState_Next(t)
        }
        return false
    }

    /// In the current interpreter: joins non-daemon threads until the deadline, then empties
    /// threading's shutdown locks so finalisation does not wait for the rest.
    private func stopWaitingForThreads(deadline: Double) {
        let source = """
        import sys, time
        threading = sys.modules.get('threading')
        if threading is not None:
            current = threading.current_thread()
            for t in threading.enumerate():
                if t is current or t.daemon or t is threading.main_thread():
                    continue
                left = _deadline - time.monotonic()
                if left <= 0:
                    break
                t.join(left)
        \(PythonVersion.stopWaitingSource.split(separator: "\n").map { "    " + $0 }.joined(separator: "\n"))
        """
        runQuietly(source, ["_deadline": PyFloat_FromDouble(deadline)])
    }

    private func runAtexit() {
        runQuietly("import atexit\natexit._run_exitfuncs()\n", [:])
    }

    /// Runs source in a fresh namespace of the current interpreter; errors are logged.
    private func runQuietly(_ source: String, _ names: [String: PyPointer?]) {
        guard let globals = PyDict_New() else { PyErr_Clear(); return }
        defer { Py_DecRef(globals) }
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins())
        for (k, v) in names {
            if let v { PyDict_SetItemString(globals, k, v); Py_DecRef(v) }
        }
        if let r = PyRun_StringFlags(source, Py_file_input, globals, globals, nil) {
            Py_DecRef(r)
        } else {
            let text = Self.currentExceptionText()
            apache.log(nil, SWIFTWSGI_LOG_WARNING, "mod_swiftwsgi (pid=\(getpid())): at shutdown: \(text)")
        }
    }
}

/// CLOCK_MONOTONIC in seconds, comparable with Python's time.monotonic().
func monotonicSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The mtime of a file in microseconds, or 0.
func fileMTime(_ path: String) -> Int64 {
    var st = stat()
    guard stat(path, &st) == 0 else { return 0 }
    return Int64(st.st_mtim.tv_sec) * 1_000_000 + Int64(st.st_mtim.tv_nsec) / 1000
}

/// Whether directory holds a virtual environment (`pyvenv.cfg`).
public func isVirtualEnvironment(_ directory: String) -> Bool {
    access(directory + "/pyvenv.cfg", F_OK) == 0
}

extension ProcessConfig {
    // MARK: interpreter set-up (with the GIL held, in the interpreter being set up)

    /// Installs `mod_wsgi`, `apache`, sys.stdout/stderr/stdin and the other per-interpreter
    /// settings into the current interpreter.
    func installModules(name: String, types: HostTypes) throws(HostError) {
        // print() and sys.stderr go to Apache's error log, tagged with the thread's request;
        // the streams themselves are made in the bootstrap (see StdStreams.swift).
        try installStandardStreams(types: types)
        try runBootstrap()
    }

    /// Python-level set-up: sys.argv, WSGIPythonPath (site.addsitedir), WSGIRestrictSignal.
    private func runBootstrap() throws(HostError) {
        let source = """
        import sys, site
        sys.argv = ['mod_wsgi']
        for _p in _python_path:
            site.addsitedir(_p)
        if _restrict_signal:
            import signal, os
            def _swiftwsgi_signal(signum, handler):
                sys.stderr.write('mod_swiftwsgi (pid=%d): Callback registration for signal %d ignored.\\n' % (os.getpid(), signum))
                return signal.getsignal(signum)
            signal.signal = _swiftwsgi_signal
        """
        guard let globals = PyDict_New() else { throw HostError("out of memory") }
        defer { Py_DecRef(globals) }
        PyDict_SetItemString(globals, "__builtins__", PyEval_GetBuiltins())
        let paths = PyList_New(0)!
        for p in pythonPath where !p.isEmpty {
            if let s = Py.string(p) { PyList_Append(paths, s); Py_DecRef(s) }
        }
        PyDict_SetItemString(globals, "_python_path", paths)
        Py_DecRef(paths)
        PyDict_SetItemString(globals, "_restrict_signal", restrictSignal ? Py.true : Py.false)
        guard let result = PyRun_StringFlags(source, Py_file_input, globals, globals, nil) else {
            let message = PythonRuntime.currentExceptionText()
            throw HostError("interpreter set-up failed: \(message)")
        }
        Py_DecRef(result)
    }

    /// The entries of environ that do not change between requests of an interpreter.
    func makeEnvironTemplate(applicationGroup: String, types: HostTypes) throws(HostError) -> PyPointer {
        guard let d = PyDict_New() else { throw HostError("out of memory") }
        func put(_ key: String, _ value: PyPointer?, steal: Bool = true) {
            guard let value else { return }
            PyDict_SetItemString(d, key, value)
            if steal { Py_DecRef(value) }
        }
        put("wsgi.version", Py.tuple([PyLong_FromLong(1), PyLong_FromLong(0)]))
        PyDict_SetItemString(d, "wsgi.multithread", multithread ? Py.true : Py.false)
        PyDict_SetItemString(d, "wsgi.multiprocess", multiprocess ? Py.true : Py.false)
        PyDict_SetItemString(d, "wsgi.run_once", runOnce ? Py.true : Py.false)
        PyDict_SetItemString(d, "wsgi.input_terminated", Py.true)
        put("wsgi.file_wrapper", types.fileWrapper, steal: false)
        let v = ModWSGIModule.compatibleVersion
        put("mod_wsgi.version", Py.tuple([PyLong_FromLong(v.major), PyLong_FromLong(v.minor), PyLong_FromLong(v.micro)]))
        put("mod_swiftwsgi.version", versionTuple())
        put("apache.version", ModWSGIModule.apacheVersionTuple(apacheVersion))
        put("mod_wsgi.process_group", Py.string(processGroup))
        put("mod_wsgi.application_group", Py.string(applicationGroup))
        PyErr_Clear()
        return d
    }

    private func versionTuple() -> PyPointer? {
        let v = PythonRuntime.version
        return Py.tuple([PyLong_FromLong(v.major), PyLong_FromLong(v.minor), PyLong_FromLong(v.micro)])
    }


}
