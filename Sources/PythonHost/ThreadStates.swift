@preconcurrency import CPython
import Glibc
import Synchronization
import Telemetry

/// The thread states one OS thread keeps, one per interpreter, for the life of the process.
///
/// Up to CPython 3.11 the first thread state created on a thread owns the thread's PyGILState
/// slot; if that were a sub-interpreter's, later main-interpreter code (and every C extension
/// using PyGILState_Ensure) would silently run in the sub-interpreter. So a thread's first
/// contact creates and pins its main-interpreter state, and sub-interpreter states are created
/// after it and kept, which also keeps `threading.local` data and saves creating states per
/// request. (3.12 rebinds the slot on each activation instead: see PythonVersion.swift.)
///
/// One instance per OS thread (a pthread key), read and written only by that thread, so
/// threads of different interpreters running at once (own GILs) never share one; the list of
/// every state, for process exit, is behind its own mutex. A state of an own-GIL interpreter is
/// made without any GIL (PyThreadState_New takes CPython's runtime lock) and entered by
/// PyEval_RestoreThread, which takes that interpreter's GIL.
final class ThreadStates {
    let main: UnsafeMutablePointer<PyThreadState>
    /// Indexed by `Interpreter.ordinal`; index 0 is the main interpreter.
    private var states: [UnsafeMutablePointer<PyThreadState>?]
    /// The request this thread is running, so sys.stdout/sys.stderr output is tagged with it.
    var currentRequest: RequestContext?
    /// Embedded mode: the output its requests hold back with the GIL held (made on first use).
    var heldOutput: HeldOutput?
    /// mod_wsgi.thread_id and thread_requests: set at this thread's first WSGI request.
    var counter: Metrics.ThreadCounter?
    /// This thread's telemetry cells (WSGITelemetryService): made at its first request.
    var telemetry: TelemetryThread?

    private init(main: UnsafeMutablePointer<PyThreadState>) {
        self.main = main
        self.states = [main]
    }

    private static let key: pthread_key_t = {
        var key = pthread_key_t()
        pthread_key_create(&key, nil)
        return key
    }()

    /// Every thread state created, for tearing interpreters down at process exit.
    static let all = PlainLock<ThreadStateList>(ThreadStateList())

    /// This thread's states if it has any (a thread Python itself started has none).
    static func existing() -> ThreadStates? {
        pthread_getspecific(key).map { Unmanaged<ThreadStates>.fromOpaque($0).takeUnretainedValue() }
    }

    /// This thread's states, pinning a main-interpreter state on first contact (nil if Python
    /// gave the thread no state).
    @inline(__always)
    static func current(_ unlocked: borrowing Unlocked) -> ThreadStates? {
        if let raw = pthread_getspecific(key) {
            return Unmanaged<ThreadStates>.fromOpaque(raw).takeUnretainedValue()
        }
        return pin()
    }

    @inline(never)
    private static func pin() -> ThreadStates? {
        // PyGILState_Ensure creates the thread's main-interpreter state and binds it to the
        // thread's GILState slot; never releasing that hold keeps the state alive.
        _ = PyGILState_Ensure()
        let tstate = PyGILState_GetThisThreadState()
        PyEval_SaveThread()
        return tstate.map { adopt($0) }
    }

    /// Records the state the process was initialised with, for the initialising thread.
    @discardableResult
    static func adopt(_ tstate: UnsafeMutablePointer<PyThreadState>) -> ThreadStates {
        let states = ThreadStates(main: tstate)
        pthread_setspecific(key, Unmanaged.passRetained(states).toOpaque())
        all.withLock { $0.items.append(tstate) }
        return states
    }

    /// This thread's state for an interpreter, created on first use; nil when CPython cannot
    /// create one (out of memory). Without the GIL (the caller holds an `Unlocked`).
    @inline(__always)
    func state(for interpreter: Interpreter) -> UnsafeMutablePointer<PyThreadState>? {
        let i = interpreter.ordinal
        if i < states.count, let s = states[i] { return s }
        guard let s = PyThreadState_New(interpreter.state) else { return nil }
        record(s, for: interpreter)
        return s
    }

    func record(_ s: UnsafeMutablePointer<PyThreadState>, for interpreter: Interpreter) {
        let i = interpreter.ordinal
        if i >= states.count { states.append(contentsOf: repeatElement(nil, count: i - states.count + 1)) }
        states[i] = s
        ThreadStates.all.withLock { $0.items.append(s) }
    }
}

/// Thread-state pointers, only dereferenced by CPython with the GIL held.
struct ThreadStateList: @unchecked Sendable {
    var items: [UnsafeMutablePointer<PyThreadState>] = []
}
