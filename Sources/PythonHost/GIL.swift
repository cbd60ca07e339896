@preconcurrency import CPython
import Glibc
import Telemetry

// The two tokens of the host's locking rule: Python is touched only with the GIL held (`GIL`),
// Apache is called and a thread blocks only with the GIL released (`Unlocked`).
//
// Both are non-copyable and have no public initialiser: a function can only use one it was
// handed, never store, return or make one up. A thread has exactly one of them in hand at any
// time, and the compiler keeps it that way:
//
// - `withGIL(in:_:_:)` takes the caller's `Unlocked` inout for the length of the call, so the
//   body cannot use it (Swift's exclusivity rule: "overlapping accesses"): no Apache call and
//   no nested `withGIL` while the GIL is held.
// - `GIL.released(_:)` is mutating, so its body cannot use the `gil` it was called on: no
//   Python while the GIL is released. The body gets an `Unlocked` instead.
//
// Functions that touch Python take `_ gil: borrowing GIL`; those that may release the GIL on
// the way (to call Apache, to wait for a lock) take `_ gil: inout GIL`. Functions that call
// Apache take `_ unlocked: borrowing Unlocked`. Both tokens are empty structs: the optimiser
// removes them entirely.

/// Proof that this thread holds the GIL (in the interpreter whose thread state is current).
/// Exists only as the inout parameter of a `withGIL` body, or in a native method CPython called
/// (`GIL.cpythonCalledUs()`).
struct GIL: ~Copyable {
    @inline(__always) fileprivate init() {}

    /// CPython called us: a native method or slot of the host's types (`@convention(c)`
    /// functions in HostTypes.swift), or a C function registered with CPython. CPython calls
    /// them only with the GIL held, so we hold it. The only way to make a token outside
    /// `withGIL`; use it nowhere else.
    @inline(__always) static func cpythonCalledUs() -> GIL { GIL() }

    /// Runs body with the GIL released: around every Apache call and everything that can block
    /// (I/O, waiting for a lock). The body cannot touch `self` (it is being mutated), so it
    /// cannot touch Python either.
    @inline(__always)
    mutating func released<R: ~Copyable, E: Error>(_ body: (inout Unlocked) throws(E) -> R) throws(E) -> R {
        let tstate = PyEval_SaveThread()
        defer {
            // While metrics are recorded or telemetry is on, the wait to take the GIL back is the
            // request's gil_wait_time (mod_wsgi 6.1).
            if Metrics.shared.isRecording || TelemetryRecorder.shared.enabled {
                Self.restoreTimed(tstate)
            } else {
                PyEval_RestoreThread(tstate)
            }
        }
        var unlocked = Unlocked()
        return try body(&unlocked)
    }

    @inline(never)
    private static func restoreTimed(_ tstate: UnsafeMutablePointer<PyThreadState>?) {
        let start = monotonicSeconds()
        PyEval_RestoreThread(tstate)
        guard let counter = ThreadStates.existing()?.counter, ThreadStates.existing()?.currentRequest != nil else { return }
        counter.gilWait.add(Int((monotonicSeconds() - start) * 1e6), ordering: .relaxed)
        counter.gilWaits.add(1, ordering: .relaxed)
    }
}

/// Proof that this thread does not hold the GIL: Apache may be called, the thread may block,
/// and `withGIL` may take the GIL. Exists only as the inout parameter of a `released` body, or
/// at an entry point Apache (or a thread of our own) calls without Python.
public struct Unlocked: ~Copyable {
    @inline(__always) fileprivate init() {}

    /// Apache called us (a hook or request handler of the module, child init or exit), or a
    /// thread of our own that has never taken the GIL: this thread does not hold it. For the C
    /// entry points (SwiftWSGI/Exports.swift) and the daemon process's own threads only.
    @inline(__always) public static func enteringFromApache() -> Unlocked { Unlocked() }
}

/// Runs body holding the GIL in interpreter's thread state for this thread. The caller's
/// `Unlocked` is unusable while body runs (so body cannot call Apache or nest `withGIL`).
/// The host's own locks are always taken before the GIL, never while holding it.
@inline(__always)
func withGIL<R: ~Copyable>(in interpreter: Interpreter, _ unlocked: inout Unlocked,
                           _ body: (inout GIL) -> R) throws(HostError) -> R {
    guard let tstate = ThreadStates.current(unlocked)?.state(for: interpreter) else {
        throw HostError("cannot create a Python thread state for this thread in interpreter '\(interpreter.name)' (out of memory)")
    }
    return withGIL(threadState: tstate, &unlocked, body)
}

/// Runs body holding the GIL in the given thread state of this thread (interpreter creation and
/// shutdown, which switch states themselves).
@inline(__always)
func withGIL<R: ~Copyable, E: Error>(threadState tstate: UnsafeMutablePointer<PyThreadState>, _ unlocked: inout Unlocked,
                          _ body: (inout GIL) throws(E) -> R) throws(E) -> R {
    PyEval_RestoreThread(tstate)
    defer { PyEval_SaveThread() }
    var gil = GIL()
    return try body(&gil)
}

/// For process exit only: runs body holding the GIL in the given thread state; body returns
/// whether it finalised Python (`Py_FinalizeEx`), after which there is no GIL to release.
func withGILForExit(threadState tstate: UnsafeMutablePointer<PyThreadState>, _ unlocked: inout Unlocked,
                    _ body: (inout GIL) -> Bool) {
    PyEval_RestoreThread(tstate)
    var gil = GIL()
    if !body(&gil) { PyEval_SaveThread() }
}
