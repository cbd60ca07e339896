@preconcurrency import CSwiftWSGI
import Glibc
import Synchronization

/// Starts a detached thread (stackSize 0: the default size).
func spawnThread(stackSize: Int = 0, _ body: @escaping @Sendable () -> Void) {
    final class Box {
        let body: @Sendable () -> Void
        init(_ body: @escaping @Sendable () -> Void) { self.body = body }
    }
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    if stackSize > 0 { pthread_attr_setstacksize(&attributes, stackSize) }
    var thread = pthread_t()
    let box = Unmanaged.passRetained(Box(body)).toOpaque()
    if pthread_create(&thread, &attributes, { raw in
        if let raw { Unmanaged<Box>.fromOpaque(raw).takeRetainedValue().body() }
        return nil
    }, box) == 0 {
        pthread_detach(thread)
    } else {
        Unmanaged<Box>.fromOpaque(box).release()
    }
    pthread_attr_destroy(&attributes)
}

/// startup-timeout: a process whose Python start-up and preloaded scripts take longer exits,
/// and the Apache parent starts another (a wedged import must not hold the group forever).
final class StartupWatchdog: Sendable {
    private let finished = Atomic<Bool>(false)

    /// onTimeout runs just before the process exits (it records the reason for mod_status).
    init(seconds: Int, onTimeout: @escaping @Sendable () -> Void = {}) {
        spawnThread { [self] in
            let deadline = monotonicNow() + Double(seconds)
            while monotonicNow() < deadline {
                if finished.load(ordering: .acquiring) { return }
                usleep(50_000)
            }
            if !finished.load(ordering: .acquiring) {
                DaemonOps.logServer(SWIFTWSGI_LOG_ERR, .startupTimeout, "start-up took longer than startup-timeout (\(seconds)s); restarting")
                onTimeout()
                _exit(1)
            }
        }
    }

    func done() { finished.store(true, ordering: .releasing) }
}
