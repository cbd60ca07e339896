@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc
import Synchronization
import Telemetry

/// The embedded Python of one process (an Apache child): initialised once after fork, never
/// finalised and initialised again in the same process.
///
/// Shared by every request thread, of every interpreter. With sub-interpreters that have their
/// own GIL (WSGIPerInterpreterGIL) threads run Python at the same time, so no state here relies
/// on "the GIL" to serialise it: `config` and `apache` are immutable, `shared` and
/// `scriptChanged` are written once before request threads start, the interpreter table is
/// behind its lock (taken before any GIL), `stoppingPublished` is atomic, and what belongs to
/// one interpreter lives in its `Interpreter` (see there). Python objects never cross
/// interpreters: the few process-wide objects the host uses directly (None, True, False, the
/// built-in exception types such as PyExc_RuntimeError) are static and immortal since 3.12,
/// which is what makes them valid in every interpreter; everything else is created per
/// interpreter.
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
    /// WSGITelemetryService's sender (HostTelemetry.swift), and the reason the process stops.
    let telemetry = PlainLock<TelemetrySender?>(nil)
    let stoppingReason = PlainLock<String>("")

    static let version = (major: 0, minor: 1, micro: 0)
    public static var versionString: String { "\(version.major).\(version.minor).\(version.micro)" }

    private init(config: ProcessConfig, apache: ApacheOps, _ unlocked: inout Unlocked) throws(HostError) {
        self.config = config
        self.apache = apache
        try Self.initializePython(config)
        guard let ts = PyThreadState_Get() else { throw HostError("no thread state after initialisation") }
        mainThreadState = ts
        ThreadStates.adopt(ts)
        // Initialisation left the GIL with this thread: give it back, to take it as every
        // other Python call does.
        PyEval_SaveThread()
        main = try withGIL(threadState: ts, &unlocked) { gil throws(HostError) in
            // The initialising thread is threading's main thread from here on (so shutdown
            // does not wait on a worker's stale state).
            _ = PyRef(owningOrNil: PyImport_ImportModule("threading"))
            PyErr_Clear()
            // The main interpreter's settings (its containers' WSGIPythonPath and switch
            // interval: the process's GIL's, so the process-wide one).
            let settings = config.interpreterSettings(applicationGroup: "")
            if settings.switchInterval > 0 { Self.setSwitchInterval(settings.switchInterval, gil) }
            return try Interpreter(name: "", ordinal: 0, config: config, settings: settings, &gil)
        }
    }

    /// Initialises Python for this process. Returns the runtime, or throws with the reason.
    public static func initialize(config: ProcessConfig, apache: ApacheOps,
                                  _ unlocked: inout Unlocked) throws(HostError) -> PythonRuntime {
        if let shared { return shared }
        let runtime = try PythonRuntime(config: config, apache: apache, &unlocked)
        apache.log(nil, SWIFTWSGI_LOG_INFO, .pythonInitializing, "Initializing Python \(PythonVersion.runtime) "
                   + "(mod_swiftwsgi \(versionString), the Python API of mod_wsgi \(ModWSGIModule.compatibleVersionString)).", unlocked)
        shared = runtime
        runtime.startTelemetry(unlocked)
        for script in config.importScripts {
            runtime.importScript(path: script.path, applicationGroup: script.applicationGroup, &unlocked)
        }
        return runtime
    }

    /// sys.setswitchinterval(seconds): one setting for every interpreter of the process.
    private static func setSwitchInterval(_ seconds: Double, _ gil: borrowing GIL) {
        guard let sys = PyRef(owningOrNil: PyImport_ImportModule("sys")),
              let function = sys.attribute("setswitchinterval", gil),
              let value = PyRef(owningOrNil: PyFloat_FromDouble(seconds)),
              Py.succeeded(PyObject_CallOneArg(function.pointer, value.pointer), gil)
        else { PyErr_Clear(); return }
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
    @inline(__always)
    func interpreter(named name: String, _ unlocked: inout Unlocked) throws(HostError) -> Interpreter {
        if name.isEmpty { return main }
        return try subInterpreter(named: name, &unlocked)
    }

    /// Creates an application group's interpreter on first use, under the table's lock (taken
    /// without the GIL: the lock order), with the settings its <WSGIInterpreterOptions> select.
    ///
    /// With an own GIL (PEP 684), CPython releases the main GIL while it makes the new one and
    /// returns holding only the new one; the set-up runs there, then this thread goes back to its
    /// main-interpreter state by releasing the new GIL and taking the main one again
    /// (`switchBack`). With a shared GIL it is one GIL throughout and a PyThreadState_Swap.
    private func subInterpreter(named name: String, _ unlocked: inout Unlocked) throws(HostError) -> Interpreter {
        let result: Result<(Interpreter, [String]), HostError> = interpreters.withLock { table in
            if let existing = table[name] { return .success((existing, [])) }
            let ordinal = table.count + 1
            let settings = config.interpreterSettings(applicationGroup: name)
            let ownGIL = settings.perInterpreterGIL && PythonVersion.supportsOwnGIL
            var notes: [String] = []
            if settings.perInterpreterGIL && !ownGIL {
                notes.append("WSGIPerInterpreterGIL ignored for application group '\(name)': Python \(PythonVersion.embedded) has no per-interpreter GIL (3.12 or later).")
            }
            if !ownGIL && settings.switchInterval > 0
                && settings.switchInterval != config.interpreterSettings(applicationGroup: "").switchInterval {
                notes.append("WSGISwitchInterval \(settings.switchInterval) for application group '\(name)' not applied: "
                             + "it shares the process's GIL, whose interval is the process-wide one.")
            }
            guard let threadStates = ThreadStates.current(unlocked) else {
                return .failure(HostError("cannot create a sub-interpreter for application group '\(name)': this thread has no Python thread state"))
            }
            return withGIL(threadState: threadStates.main, &unlocked) { gil in
                let sub: UnsafeMutablePointer<PyThreadState>
                switch PythonVersion.newSubInterpreter(ownGIL: ownGIL) {
                case .success(let s): sub = s
                case .failure(let error):
                    PyErr_Clear()
                    return .failure(HostError("cannot create a sub-interpreter for application group '\(name)': \(error)"))
                }
                // The new interpreter's thread state is current, with its GIL: set it up there.
                do throws(HostError) {
                    let interpreter = try Interpreter(name: name, ordinal: ordinal, config: config, settings: settings,
                                                      ownGIL: ownGIL, &gil)
                    // With its own GIL the switch interval is this interpreter's alone; a shared
                    // GIL keeps the process-wide one set at initialisation.
                    if ownGIL && settings.switchInterval > 0 { Self.setSwitchInterval(settings.switchInterval, gil) }
                    threadStates.record(sub, for: interpreter)
                    table[name] = interpreter
                    Self.switchBack(from: ownGIL, to: threadStates.main, ended: false)
                    // As mod_wsgi, which notes an own GIL in this line.
                    notes.append("Create interpreter '\(name)'" + (ownGIL ? " with its own GIL." : "."))
                    return .success((interpreter, notes))
                } catch {
                    // Not kept half set up: ended now (Python would refuse to finalise later).
                    PyErr_Clear()
                    Py_EndInterpreter(sub)
                    Self.switchBack(from: ownGIL, to: threadStates.main, ended: true)
                    return .failure(error)
                }
            }
        }
        let (interpreter, notes) = try result.get()
        for note in notes {
            if note.hasPrefix("Create") {
                apache.log(nil, SWIFTWSGI_LOG_INFO, .interpreterCreated, note, unlocked)
            } else {
                apache.log(nil, SWIFTWSGI_LOG_WARNING, .interpreterSettingIgnored, note, unlocked)
            }
        }
        return interpreter
    }

    /// From a sub-interpreter's thread state of this thread (current, holding that interpreter's
    /// GIL; or none when `ended` by Py_EndInterpreter) back to `main`, this thread's
    /// main-interpreter state, holding the main GIL. Across two GILs: release one, take the
    /// other (3.12's PyThreadState_Swap would move no GIL). One shared GIL: swap states.
    private static func switchBack(from ownGIL: Bool, to main: UnsafeMutablePointer<PyThreadState>, ended: Bool) {
        if ownGIL {
            if !ended { PyEval_SaveThread() }
            PyEval_RestoreThread(main)
        } else {
            PyThreadState_Swap(main)
        }
    }

    /// From this thread's main-interpreter state (current, holding the main GIL) to `state`, a
    /// thread state of a sub-interpreter, holding its GIL.
    private static func switchTo(_ state: UnsafeMutablePointer<PyThreadState>, ownGIL: Bool) {
        if ownGIL {
            PyEval_SaveThread()
            PyEval_RestoreThread(state)
        } else {
            PyThreadState_Swap(state)
        }
    }

    /// Runs the process's WSGIImportScript entries on the calling thread (a daemon group with
    /// threads=0 runs them on a thread of their own: mod_wsgi's service scripts, which may
    /// never return).
    public func runImportScripts(_ scripts: [(path: String, applicationGroup: String)], _ unlocked: inout Unlocked) {
        for script in scripts {
            importScript(path: script.path, applicationGroup: script.applicationGroup, &unlocked)
        }
    }

    /// Raises SystemExit in the Python thread `ident` (its pthread id) of the application
    /// group's interpreter, the next time that thread runs bytecode (how a service script is
    /// told to stop). Without the GIL.
    public func raiseSystemExit(inThread ident: UInt, applicationGroup: String, _ unlocked: inout Unlocked) {
        guard let interpreter = try? interpreter(named: applicationGroup, &unlocked) else { return }
        _ = try? withGIL(in: interpreter, &unlocked) { _ in
            _ = PyThreadState_SetAsyncExc(ident, PyExc_SystemExit)
        }
    }

    /// Loads a script at process start (WSGIImportScript); failures are logged.
    func importScript(path: String, applicationGroup: String, _ unlocked: inout Unlocked) {
        do {
            let interpreter = try interpreter(named: applicationGroup, &unlocked)
            try withGIL(in: interpreter, &unlocked) { gil in
                guard let module = interpreter.script(path: path, mtime: fileMTime(path), reloading: false, &gil) else {
                    // SystemExit ends a service script (threads=0) that was told to stop.
                    if PyErr_ExceptionMatches(PyExc_SystemExit) != 0 {
                        PyErr_Clear()
                        apache.log(nil, SWIFTWSGI_LOG_INFO, .importScriptExited, "script '\(path)' ended by SystemExit.", &gil)
                        return
                    }
                    apache.logException(nil, interpreter: interpreter, .importScriptFailed,
                                        intro: "Failed to import WSGI script '\(path)'.", &gil)
                    return
                }
                _ = consume module
            }
        } catch {
            apache.logError(nil, .interpreterFailed, "\(error)", unlocked)
        }
    }

    /// mod_wsgi's module name for a script: `_mod_wsgi_` + the md5 hex digest of its path.
    static func moduleName(forScript path: String) -> String {
        "_mod_wsgi_" + MD5.hex(Array(path.utf8))
    }

    /// Takes the GIL and gives it back (deadlock-timeout's probe). Never during or after
    /// `shutdown`.
    /// Every GIL of the process is probed: the main one and each own-GIL interpreter's (an
    /// extension blocking while holding one stops that interpreter's threads).
    public func probeGIL(_ unlocked: inout Unlocked) {
        _ = try? withGIL(in: main, &unlocked) { _ in }
        for interpreter in interpreters.withLock({ $0.values.filter(\.ownGIL) }) {
            _ = try? withGIL(in: interpreter, &unlocked) { _ in }
        }
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
    public func shutdown(_ unlocked: inout Unlocked) {
        publishProcessStopping(reason: "", &unlocked)
        telemetryStopped()
        guard config.destroyInterpreter else { return }
        let deadline = monotonicSeconds() + Self.shutdownGracePeriod
        let subs = interpreters.withLock { Array($0.values) }.sorted { $0.ordinal > $1.ordinal }
        let threadStates = ThreadStates.all.withLock { $0.items }
        withGILForExit(threadState: mainThreadState, &unlocked) { gil in
            tearDown(subs, threadStates, deadline: deadline, &gil)
        }
    }

    /// Ends the sub-interpreters and finalises Python; returns whether Python was finalised.
    private func tearDown(_ subs: [Interpreter], _ threadStates: [UnsafeMutablePointer<PyThreadState>],
                          deadline: Double, _ gil: inout GIL) -> Bool {
        // Sorted by interpreter before any is deleted (a deleted state must not be read: ending
        // one interpreter frees its states, so the next one's cannot be picked out afterwards).
        let mainStates = threadStates.filter { PyThreadState_GetInterpreter($0) == main.state }
        let statesOf = subs.map { interpreter in threadStates.filter { PyThreadState_GetInterpreter($0) == interpreter.state } }
        var everyInterpreterEnded = true
        for (interpreter, mine) in zip(subs, statesOf) {
            guard let first = mine.first else { continue }
            // An own-GIL interpreter is entered by taking its GIL (and left by releasing it or
            // ending the interpreter, which destroys it); every state of it is cleared and
            // deleted, and Py_EndInterpreter runs, holding that GIL.
            Self.switchTo(first, ownGIL: interpreter.ownGIL)
            stopWaitingForThreads(deadline: deadline, &gil)
            // 3.12+: atexit callbacks run now, in a state bound to this thread (PythonVersion.swift).
            let keep = swpy_gilstate_bound_sub_state(first) ?? first
            if PythonVersion.gilStateFollowsActivation { runAtexit(&gil) }
            for ts in mine where ts != keep {
                PyThreadState_Clear(ts)
                PyThreadState_Delete(ts)
            }
            if Self.hasOtherThreads(interpreter.state, than: keep) {
                runAtexit(&gil)
                everyInterpreterEnded = false
                Self.switchBack(from: interpreter.ownGIL, to: mainThreadState, ended: false)
            } else {
                Py_EndInterpreter(keep)
                Self.switchBack(from: interpreter.ownGIL, to: mainThreadState, ended: true)
            }
        }
        stopWaitingForThreads(deadline: deadline, &gil)
        if PythonVersion.gilStateFollowsActivation {
            // 3.12+: threading's shutdown and the atexit callbacks run now, in a state bound to
            // this thread, before deleting the workers' states can unbind it (PythonVersion.swift);
            // finalisation then finds both done.
            _ = swpy_gilstate_bound_state(mainThreadState)
            runQuietly("import threading\nthreading._shutdown()\n", deadline: nil, &gil)
            runAtexit(&gil)
        }
        for ts in mainStates where ts != mainThreadState {
            PyThreadState_Clear(ts)
            PyThreadState_Delete(ts)
        }
        if everyInterpreterEnded && (PythonVersion.finalizesAfterOwnGIL || !subs.contains(where: \.ownGIL)) {
            Py_FinalizeEx()
            return true
        }
        runAtexit(&gil)
        return false
    }

    /// mod_wsgi's process_stopping event (to subscribe_events and subscribe_shutdown
    /// callbacks) in every interpreter, once.
    public func publishProcessStopping(reason: String, _ unlocked: inout Unlocked) {
        guard !stoppingPublished.exchange(true, ordering: .relaxed) else { return }
        stoppingReason.withLock { $0 = reason }
        telemetryStopping(reason: reason)
        let all = [main] + interpreters.withLock { Array($0.values) }.sorted { $0.ordinal < $1.ordinal }
        for interpreter in all {
            _ = try? withGIL(in: interpreter, &unlocked) { gil in interpreter.modWSGI?.publishProcessStopping(reason: reason, &gil) }
        }
    }

    /// mod_wsgi 6.1's process_signal (a daemon process got SIGHUP or SIGUSR2): published in
    /// every interpreter to its event and signal subscribers, unless the process is stopping.
    public func publishProcessSignal(number: Int32, name: String, _ unlocked: inout Unlocked) {
        guard !stoppingPublished.load(ordering: .relaxed) else { return }
        let all = [main] + interpreters.withLock { Array($0.values) }.sorted { $0.ordinal < $1.ordinal }
        for interpreter in all {
            _ = try? withGIL(in: interpreter, &unlocked) { gil in
                interpreter.modWSGI?.publishProcessSignal(number: number, name: name, &gil)
            }
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
    private func stopWaitingForThreads(deadline: Double, _ gil: inout GIL) {
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
        runQuietly(source, deadline: deadline, &gil)
    }

    private func runAtexit(_ gil: inout GIL) {
        runQuietly("import atexit\natexit._run_exitfuncs()\n", deadline: nil, &gil)
    }

    /// Runs source in a fresh namespace of the current interpreter (with `_deadline` set when
    /// given); errors are logged.
    private func runQuietly(_ source: String, deadline: Double?, _ gil: inout GIL) {
        guard let globals = Py.dict(gil) else { PyErr_Clear(); return }
        globals.setItem("__builtins__", borrowed: PyEval_GetBuiltins(), gil)
        if let deadline, let d = PyRef(owningOrNil: PyFloat_FromDouble(deadline)) {
            globals.setItem("_deadline", d, gil)
        }
        if !Py.succeeded(PyRun_StringFlags(source, Py_file_input, globals.pointer, globals.pointer, nil), gil) {
            let text = Self.currentExceptionText(gil)
            apache.log(nil, SWIFTWSGI_LOG_WARNING, .shutdownFailed, "at shutdown: \(text)", &gil)
        }
    }
}
