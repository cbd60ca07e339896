@preconcurrency import CSwiftWSGI
import CSystemShims
import Glibc
import PythonHost
import Synchronization

/// A daemon process of a WSGIDaemonProcess group: Python initialised after fork, `threads`
/// threads taking connections from the group's shared socket, each running one request at a
/// time through the same WSGI host as embedded mode, with Apache's operations replaced by
/// frames to the Apache child (`DaemonOps`). It stops on SIGTERM (finishing running requests
/// within graceful-timeout) or after maximum-requests, and the Apache parent starts another.
final class DaemonServer: @unchecked Sendable {
    let name: String
    let listenFD: Int32
    let threads: Int
    let maximumRequests: Int
    let socketTimeout: Int
    let gracefulTimeout: Int
    let stackSize: Int
    let requestTimeout: Double
    let inactivityTimeout: Double
    let restartInterval: Double
    let queueTimeout: Double
    let shutdownTimeout: Double
    let startupTimeout: Int
    let responseBufferSize: Int
    let processConfig: ProcessConfig
    /// Whether Apache asked the process to stop (SIGTERM), as opposed to a recycle.
    private let terminated = Atomic<Bool>(false)
    /// What each worker thread is running: its connection and when it started (for
    /// request-timeout), guarded per slot.
    private let slots: [Slot]
    private final class Slot: Sendable {
        let running = Mutex<Running?>(nil)
    }
    struct Running: @unchecked Sendable {
        let connection: FrameConnection
        let started: Double
    }
    private let lastActivity = Atomic<Int64>(0)  // monotonic milliseconds
    private let started = monotonicNow()
    /// The Apache parent; if it dies (even by SIGKILL), the daemon must not live on.
    private let parent = getppid()
    private var mainThread: pthread_t?
    private let stopping = Atomic<Bool>(false)
    private let active = Atomic<Int>(0)
    private let served = Atomic<Int>(0)
    private var runtime: PythonRuntime?

    init(_ c: swiftwsgi_daemon_config_t) {
        name = c.name.map { String(cString: $0) } ?? ""
        listenFD = c.listen_fd
        threads = max(1, Int(c.threads))
        maximumRequests = Int(c.maximum_requests)
        socketTimeout = Int(c.socket_timeout)
        gracefulTimeout = Int(c.graceful_timeout)
        stackSize = c.stack_size
        requestTimeout = Double(c.request_timeout)
        inactivityTimeout = Double(c.inactivity_timeout)
        restartInterval = Double(c.restart_interval)
        queueTimeout = Double(c.queue_timeout)
        shutdownTimeout = Double(c.shutdown_timeout)
        startupTimeout = Int(c.startup_timeout)
        responseBufferSize = c.response_buffer_size > 0 ? Int(c.response_buffer_size) : 65536
        processConfig = ProcessConfig(c.process)
        slots = (0..<max(1, Int(c.threads))).map { _ in Slot() }
    }

    func run() -> Int32 {
        // Signals are taken by the main thread alone (sigwait); the workers never see them.
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGUSR1, SIGUSR2] { sigaddset(&signals, s) }
        mainThread = pthread_self()
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let watchdog = startupTimeout > 0 ? StartupWatchdog(seconds: startupTimeout, name: name) : nil
        defer { watchdog?.done() }
        do {
            runtime = try PythonRuntime.initialize(config: processConfig, apache: DaemonOps.ops)
        } catch {
            DaemonOps.logServer(SWIFTWSGI_LOG_ERR, "mod_swiftwsgi (pid=\(getpid()), process='\(name)'): \(error)")
            sleep(1)  // do not spin if Python can never start
            return 1
        }
        runtime?.scriptChanged = { [weak self] in self?.requestRestart("a WSGI script changed") }
        DaemonOps.logServer(SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid()), process='\(name)'): daemon process ready with \(threads) threads")
        touch()
        for slot in 0..<threads { startWorker(slot) }

        var timeout = timespec(tv_sec: 1, tv_nsec: 0)
        while !stopping.load(ordering: .acquiring) {
            let s = sigtimedwait(&signals, nil, &timeout)
            // SIGUSR2 only wakes this loop (a worker reached maximum-requests).
            if s > 0 && s != SIGUSR2 {
                terminated.store(true, ordering: .releasing)
                stopping.store(true, ordering: .releasing)
            }
            if let reason = housekeeping() {
                DaemonOps.logServer(SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid()), process='\(name)'): \(reason), restarting")
                stopping.store(true, ordering: .releasing)
            }
        }
        // Finish what is running, then tear Python down — unless a request is still running
        // (a wedged thread may hold the GIL): then the process simply exits.
        // Requests ended by request-timeout are not waited for.
        let grace = terminated.load(ordering: .acquiring) ? shutdownTimeout : Double(gracefulTimeout)
        let deadline = monotonicNow() + grace
        while busySlots() > 0 && monotonicNow() < deadline { usleep(20_000) }
        if active.load(ordering: .acquiring) == 0 { runtime?.shutdown() }
        return 0
    }

    /// Stops taking requests and wakes the main thread, which finishes the running ones and
    /// exits; the Apache parent starts a fresh process.
    private func requestRestart(_ reason: String) {
        if stopping.exchange(true, ordering: .acquiringAndReleasing) { return }
        DaemonOps.logServer(SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid()), process='\(name)'): \(reason), restarting")
        if let mainThread { pthread_kill(mainThread, SIGUSR2) }
    }

    private func busySlots() -> Int {
        slots.reduce(0) { n, slot in n + (slot.running.withLock { $0 != nil } ? 1 : 0) }
    }

    private func touch() {
        lastActivity.store(Int64(monotonicNow() * 1000), ordering: .releasing)
    }

    /// The periodic checks of the main thread: returns why the process should be replaced.
    private func housekeeping() -> String? {
        let now = monotonicNow()
        if getppid() != parent { return "the Apache parent process has gone" }
        if restartInterval > 0 && now - started >= restartInterval { return "restart-interval reached" }
        if inactivityTimeout > 0 && active.load(ordering: .acquiring) == 0
            && now - Double(lastActivity.load(ordering: .acquiring)) / 1000 >= inactivityTimeout {
            return "inactivity-timeout reached"
        }
        if requestTimeout > 0 {
            var expired = 0
            for slot in slots {
                slot.running.withLock { running in
                    guard let r = running, now - r.started >= requestTimeout else { return }
                    r.connection.terminate(status: 504)
                    running = nil
                    expired += 1
                }
            }
            if expired > 0 { return "request-timeout of \(Int(requestTimeout))s exceeded by \(expired) request(s)" }
        }
        return nil
    }

    private func startWorker(_ slot: Int) {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        if stackSize > 0 { pthread_attr_setstacksize(&attributes, stackSize) }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Worker(server: self, slot: slot)).toOpaque()
        pthread_create(&thread, &attributes, { raw in
            let worker = Unmanaged<Worker>.fromOpaque(raw!).takeRetainedValue()
            worker.server.acceptLoop(slot: worker.slot)
            return nil
        }, box)
        pthread_detach(thread)
        pthread_attr_destroy(&attributes)
    }

    private final class Worker {
        let server: DaemonServer
        let slot: Int
        init(server: DaemonServer, slot: Int) { self.server = server; self.slot = slot }
    }

    /// Each worker blocks in accept(): the kernel wakes one waiter per connection, so idle
    /// threads cost nothing (no thundering herd across threads and processes). A worker that
    /// takes a connection after the process began to stop closes it unanswered; the Apache
    /// child then retries on another daemon.
    private func acceptLoop(slot: Int) {
        while !stopping.load(ordering: .acquiring) {
            guard let fd = try? Sys.accept(listenFD) else {
                usleep(10_000)
                continue
            }
            let connection = FrameConnection(fd: fd, outputLimit: responseBufferSize)
            let admitted: Bool = slots[slot].running.withLock { running in
                running = Running(connection: connection, started: monotonicNow())
                if stopping.load(ordering: .acquiring) {
                    running = nil
                    return false
                }
                return true
            }
            guard admitted else { return }
            active.add(1, ordering: .acquiringAndReleasing)
            Sys.setTimeouts(fd, seconds: socketTimeout)
            serve(connection)
            slots[slot].running.withLock { $0 = nil }
            touch()
            active.subtract(1, ordering: .acquiringAndReleasing)
            let count = served.add(1, ordering: .acquiringAndReleasing).newValue
            if maximumRequests > 0 && count >= maximumRequests {
                requestRestart("maximum requests reached")
            }
        }
    }

    private func serve(_ connection: FrameConnection) {
        guard let runtime, let frame = try? connection.readFrame(), frame.0 == .request,
              let request = try? DaemonRequest(connection: connection, payload: frame.1)
        else { return }
        let waited = monotonicWallSeconds() - Double(request.queueStart) / 1e6
        let status: Int32
        if queueTimeout > 0 && request.queueStart > 0 && waited >= queueTimeout {
            DaemonOps.logServer(SWIFTWSGI_LOG_ERR, "mod_swiftwsgi (pid=\(getpid()), process='\(name)'): queue-timeout: request waited \(Int(waited))s for a daemon thread; answering 504")
            status = 504
        } else {
            status = request.withRequest { runtime.handle($0) }
        }
        var b = FrameBuilder()
        b.i32(status)
        try? connection.queue(.end, b.bytes)
        try? connection.flush()
    }
}

/// startup-timeout: a process whose Python start-up and preloaded scripts take longer exits,
/// and the Apache parent starts another (a wedged import must not hold the group forever).
final class StartupWatchdog: @unchecked Sendable {
    private let finished = Atomic<Bool>(false)

    init(seconds: Int, name: String) {
        var thread = pthread_t()
        let box = Unmanaged.passRetained(Box(watchdog: self, seconds: seconds, name: name)).toOpaque()
        pthread_create(&thread, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            let deadline = monotonicNow() + Double(box.seconds)
            while monotonicNow() < deadline {
                if box.watchdog.finished.load(ordering: .acquiring) { return nil }
                usleep(50_000)
            }
            if !box.watchdog.finished.load(ordering: .acquiring) {
                DaemonOps.logServer(SWIFTWSGI_LOG_ERR, "mod_swiftwsgi (pid=\(getpid()), process='\(box.name)'): start-up took longer than startup-timeout (\(box.seconds)s); restarting")
                _exit(1)
            }
            return nil
        }, box)
        pthread_detach(thread)
    }

    func done() { finished.store(true, ordering: .releasing) }

    private final class Box {
        let watchdog: StartupWatchdog
        let seconds: Int
        let name: String
        init(watchdog: StartupWatchdog, seconds: Int, name: String) {
            self.watchdog = watchdog
            self.seconds = seconds
            self.name = name
        }
    }
}

/// One request inside a daemon: the decoded frame (kept alive while the WSGI host runs) and
/// the connection its Apache operations write to.
final class DaemonRequest {
    let connection: FrameConnection
    /// The decoded strings (NUL-terminated), kept alive while the WSGI host runs.
    private var storage: [UnsafeMutablePointer<CChar>] = []
    private var meta: [UnsafeMutablePointer<CChar>?] = Array(repeating: nil, count: DaemonRequest.metaKeys.count)
    private var kvs: [swiftwsgi_kv_t] = []
    var failed = false

    /// The metadata the Apache child sends before the environ, in this order.
    static let metaKeys = ["script_filename", "script_mtime", "server_hostname", "server_port", "application_group",
                           "callable_object", "process_group", "script_reloading", "enable_sendfile", "header_only",
                           "request_handler", "error_override", "queue_start"]

    init(connection: FrameConnection, payload: [UInt8]) throws(FrameParser.Malformed) {
        self.connection = connection
        var p = FrameParser(payload)
        let metaCount = Int(try p.u32()), environCount = Int(try p.u32())
        guard metaCount <= 64, environCount <= 100_000 else { throw FrameParser.Malformed() }
        kvs.reserveCapacity(environCount)
        storage.reserveCapacity(metaCount + 2 * environCount)
        for _ in 0..<metaCount {
            let key = try p.cString(), value = try p.cString()
            let name = String(decoding: key.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if let i = Self.metaKeys.firstIndex(of: name) { meta[i] = keep(value) }
        }
        for _ in 0..<environCount {
            let n = keep(try p.cString()), v = keep(try p.cString())
            kvs.append(swiftwsgi_kv_t(name: UnsafePointer(n), value: UnsafePointer(v)))
        }
    }

    private func keep(_ bytes: [CChar]) -> UnsafeMutablePointer<CChar> {
        let p = UnsafeMutablePointer<CChar>.allocate(capacity: bytes.count)
        p.initialize(from: bytes, count: bytes.count)
        storage.append(p)
        return p
    }

    deinit { storage.forEach { $0.deallocate() } }

    private func string(_ key: String) -> UnsafePointer<CChar>? {
        Self.metaKeys.firstIndex(of: key).flatMap { meta[$0] }.map { UnsafePointer($0) }
    }

    private func int(_ key: String) -> Int64 {
        string(key).flatMap { Int64(String(cString: $0)) } ?? 0
    }

    /// When the Apache child began to wait for a daemon (wall clock, microseconds).
    var queueStart: Int64 { int("queue_start") }

    func withRequest<R>(_ body: (UnsafePointer<swiftwsgi_request_t>) -> R) -> R {
        kvs.withUnsafeBufferPointer { env in
            var req = swiftwsgi_request_t()
            req.handle = Unmanaged.passUnretained(self).toOpaque()
            req.environ = env.baseAddress
            req.environ_count = env.count
            req.script_filename = string("script_filename")
            req.script_mtime = int("script_mtime")
            req.server_hostname = string("server_hostname")
            req.server_port = Int32(truncatingIfNeeded: int("server_port"))
            req.application_group = string("application_group")
            req.callable_object = string("callable_object")
            req.process_group = string("process_group")
            req.script_reloading = Int32(truncatingIfNeeded: int("script_reloading"))
            req.enable_sendfile = Int32(truncatingIfNeeded: int("enable_sendfile"))
            req.header_only = Int32(truncatingIfNeeded: int("header_only"))
            req.request_handler = string("request_handler")
            req.error_override = Int32(truncatingIfNeeded: int("error_override"))
            return withUnsafePointer(to: &req, body)
        }
    }
}

/// Wall-clock seconds (the queue start crosses processes, so it cannot be monotonic).
func monotonicWallSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
