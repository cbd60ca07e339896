@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc

/// One daemon worker thread's running request as request-timeout sees it from another thread
/// (mod_wsgi 6.1's interrupt-timeout): the interpreter the request runs in and the thread, so
/// that `PythonRuntime.interrupt` can raise `mod_wsgi.RequestTimeout` in it.
///
/// The worker sets the interpreter when its request enters Python and clears it when the request
/// is over, both without the GIL, under this object's lock; the interrupter takes the same lock
/// before the GIL (the host's lock order) and keeps it while it raises the exception. So an
/// exception is only ever raised while the request it was meant for runs, and the worker knows
/// afterwards whether one was raised: then it clears what the request left pending on the
/// thread, so the next request on it never sees an exception meant for this one.
public final class RequestInterrupt: @unchecked Sendable {
    struct Running {
        /// The caller's number for the request (`arm`), so that an interrupt meant for one
        /// request never reaches the next one on the same thread.
        var request: UInt64 = 0
        var interpreter: Interpreter?
        var thread: pthread_t = 0
        /// When the request entered Python (monotonic seconds).
        var started = 0.0
        /// RequestTimeout was raised in it, with what the log says about it.
        var raised: String?
    }

    let running = PlainLock(Running())

    public init() {}

    /// The worker, before `PythonRuntime.handle`: the number `interrupt` will name its next request by.
    public func arm(request: UInt64) {
        running.withLock { $0.request = request }
    }

    /// The worker: its request enters Python in interpreter. Without the GIL.
    func begin(_ interpreter: Interpreter) {
        let now = monotonicSeconds()
        running.withLock { r in
            r = Running(request: r.request, interpreter: interpreter, thread: pthread_self(), started: now, raised: nil)
        }
    }

    /// The worker: its request is over. Returns the interpreter in which RequestTimeout was
    /// raised, if it was (it may still be pending on the thread). Without the GIL.
    func end() -> Interpreter? {
        running.withLock { r in
            defer { r = Running() }
            return r.raised == nil ? nil : r.interpreter
        }
    }

    /// What the interrupter said when it raised RequestTimeout in the running request, or nil.
    var raised: String? { running.withLock { $0.raised } }

    /// Seconds with one decimal, for the log.
    public static func seconds(_ value: Double) -> String {
        let tenths = Int((max(0, value) * 10).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }

    /// Seconds since the running request entered Python.
    var elapsed: Double { monotonicSeconds() - running.withLock { $0.started } }
}

extension PythonRuntime {
    /// Readies the calling thread to `interrupt` (its main-interpreter thread state), at its
    /// start: made later, while a request runs Python in a sub-interpreter, it would wait for
    /// the GIL as long as that request runs on CPython 3.11 (see `interrupt`).
    public func prepareInterrupterThread(_ unlocked: borrowing Unlocked) {
        _ = ThreadStates.current(unlocked)
    }

    /// Raises this interpreter's `mod_wsgi.RequestTimeout` in `request` if `target`'s thread is
    /// still running it, the next time that thread runs Python bytecode (a thread blocked in C sees it
    /// only when the call returns). `note` (the timing) goes with the 504's log line. Returns
    /// false when no request is running there any more. Without the GIL; may wait for it (call
    /// it from a thread that has nothing else to do). The GIL is taken with this thread's state
    /// of the request's interpreter: on CPython 3.11 a thread running Python in a sub-interpreter
    /// only gives the GIL up to a thread asking for it from the same interpreter.
    public func interrupt(_ target: RequestInterrupt, request: UInt64, note: String, _ unlocked: inout Unlocked) -> Bool {
        target.running.withLock { r in
            guard r.request == request, let interpreter = r.interpreter, r.raised == nil else { return false }
            let thread = UInt(r.thread)
            let raised = (try? withGIL(in: interpreter, &unlocked) { _ in
                PyThreadState_SetAsyncExc(thread, interpreter.modWSGI.requestTimeout.pointer) > 0
            }) ?? false
            if raised { r.raised = note }
            return raised
        }
    }

    /// After a request in which RequestTimeout was raised: drops the exception if it is still
    /// pending on this thread (the request ended before it ran bytecode again). Without the GIL.
    func clearPendingInterrupt(in interpreter: Interpreter, _ unlocked: inout Unlocked) {
        let thread = UInt(pthread_self())
        _ = try? withGIL(in: interpreter, &unlocked) { _ in PyThreadState_SetAsyncExc(thread, nil) }
    }
}
