@preconcurrency import CSwiftWSGI
import Glibc
import PythonHost
import Synchronization

/// mod_wsgi 6.1's application signals: SIGHUP and SIGUSR2 sent to a daemon process are
/// published as `process_signal` events (to `mod_wsgi.subscribe_events` and
/// `mod_wsgi.subscribe_signals` subscribers, in every interpreter) by a thread of their own, so
/// a slow subscriber never delays the main thread's handling of stop signals.
///
/// The main thread (which alone takes signals, by sigwait) posts them; signals arriving faster
/// than subscribers take them beyond a small backlog are dropped, as Unix signals themselves
/// are not counted.
final class DaemonSignals: @unchecked Sendable {
    private let runtime: PythonRuntime
    private let wakeFD: Int32
    private let pending = PlainLock<[Int32]>([])
    private static let backlog = 16

    init?(runtime: PythonRuntime) {
        guard let fd = try? Sys.eventFD() else { return nil }
        self.runtime = runtime
        wakeFD = fd
        spawnThread { [self] in dispatch() }
    }

    /// Queues a signal for the subscribers (the main thread, after sigwait).
    func post(_ signal: Int32) {
        let queued = pending.withLock { p -> Bool in
            guard p.count < Self.backlog else { return false }
            p.append(signal)
            return true
        }
        if queued { Sys.signal(eventFD: wakeFD) }
    }

    private func dispatch() {
        var unlocked = Unlocked.enteringFromApache()  // a thread of our own, out of Python
        while true {
            Sys.wait(eventFD: wakeFD)
            for signal in pending.withLock({ p -> [Int32] in defer { p.removeAll() }; return p }) {
                let name = signal == SIGHUP ? "SIGHUP" : signal == SIGUSR2 ? "SIGUSR2" : "SIG\(signal)"
                runtime.publishProcessSignal(number: signal, name: name, &unlocked)
            }
        }
    }

    /// Whether a SIGUSR2 came from outside (kill(2): a process_signal) rather than from this
    /// process's own pthread_kill waking the main thread (a restart was asked for).
    static func isFromOutside(_ info: siginfo_t) -> Bool {
        info.si_code != SI_TKILL
    }
}
