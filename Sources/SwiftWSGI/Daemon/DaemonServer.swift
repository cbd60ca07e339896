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
    let processConfig: ProcessConfig
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
        processConfig = ProcessConfig(c.process)
    }

    func run() -> Int32 {
        // Signals are taken by the main thread alone (sigwait); the workers never see them.
        var signals = sigset_t()
        sigemptyset(&signals)
        for s in [SIGTERM, SIGINT, SIGHUP, SIGUSR1] { sigaddset(&signals, s) }
        pthread_sigmask(SIG_BLOCK, &signals, nil)

        let flags = fcntl(listenFD, F_GETFL)
        _ = fcntl(listenFD, F_SETFL, flags | O_NONBLOCK)
        do {
            runtime = try PythonRuntime.initialize(config: processConfig, apache: DaemonOps.ops)
        } catch {
            DaemonOps.logServer(SWIFTWSGI_LOG_ERR, "mod_swiftwsgi (pid=\(getpid()), process='\(name)'): \(error)")
            sleep(1)  // do not spin if Python can never start
            return 1
        }
        DaemonOps.logServer(SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid()), process='\(name)'): daemon process ready with \(threads) threads")
        for _ in 0..<threads { startWorker() }

        var timeout = timespec(tv_sec: 1, tv_nsec: 0)
        while !stopping.load(ordering: .acquiring) {
            let s = sigtimedwait(&signals, nil, &timeout)
            if s > 0 { stopping.store(true, ordering: .releasing) }
        }
        // Finish what is running, then tear Python down.
        let deadline = monotonicNow() + Double(gracefulTimeout)
        while active.load(ordering: .acquiring) > 0 && monotonicNow() < deadline { usleep(20_000) }
        runtime?.shutdown()
        return 0
    }

    private func startWorker() {
        var attributes = pthread_attr_t()
        pthread_attr_init(&attributes)
        if stackSize > 0 { pthread_attr_setstacksize(&attributes, stackSize) }
        var thread = pthread_t()
        let box = Unmanaged.passRetained(self).toOpaque()
        pthread_create(&thread, &attributes, { raw in
            let server = Unmanaged<DaemonServer>.fromOpaque(raw!).takeRetainedValue()
            server.acceptLoop()
            return nil
        }, box)
        pthread_detach(thread)
        pthread_attr_destroy(&attributes)
    }

    private func acceptLoop() {
        var poller = pollfd(fd: listenFD, events: Int16(POLLIN), revents: 0)
        while !stopping.load(ordering: .acquiring) {
            poller.revents = 0
            if poll(&poller, 1, 1000) <= 0 { continue }
            guard let fd = try? Sys.accept(listenFD) else { continue }
            active.add(1, ordering: .acquiringAndReleasing)
            Sys.setTimeouts(fd, seconds: socketTimeout)
            serve(FrameConnection(fd: fd))
            active.subtract(1, ordering: .acquiringAndReleasing)
            let count = served.add(1, ordering: .acquiringAndReleasing).newValue
            if maximumRequests > 0 && count >= maximumRequests {
                DaemonOps.logServer(SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid()), process='\(name)'): maximum requests reached, restarting")
                stopping.store(true, ordering: .releasing)
            }
        }
    }

    private func serve(_ connection: FrameConnection) {
        guard let runtime, let frame = try? connection.readFrame(), frame.0 == .request,
              let request = try? DaemonRequest(connection: connection, payload: frame.1)
        else { return }
        let status = request.withRequest { runtime.handle($0) }
        var b = FrameBuilder()
        b.i32(status)
        try? connection.queue(.end, b.bytes)
        try? connection.flush()
    }
}

/// One request inside a daemon: the decoded frame (kept alive while the WSGI host runs) and
/// the connection its Apache operations write to.
final class DaemonRequest {
    let connection: FrameConnection
    private var meta: [String: [CChar]] = [:]
    private var names: [UnsafeMutablePointer<CChar>] = []
    private var values: [UnsafeMutablePointer<CChar>] = []
    var failed = false

    init(connection: FrameConnection, payload: [UInt8]) throws(FrameParser.Malformed) {
        self.connection = connection
        var p = FrameParser(payload)
        let metaCount = Int(try p.u32()), environCount = Int(try p.u32())
        for _ in 0..<metaCount {
            let key = String(decoding: try p.cString().dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self)
            meta[key] = try p.cString()
        }
        for _ in 0..<environCount {
            let n = try p.cString(), v = try p.cString()
            names.append(n.withUnsafeBufferPointer { strdup($0.baseAddress!) })
            values.append(v.withUnsafeBufferPointer { strdup($0.baseAddress!) })
        }
    }

    deinit {
        names.forEach { free($0) }
        values.forEach { free($0) }
    }

    private func int(_ key: String) -> Int64 {
        meta[key].flatMap { Int64(String(cString: $0)) } ?? 0
    }

    func withRequest<R>(_ body: (UnsafePointer<swiftwsgi_request_t>) -> R) -> R {
        let kvs = zip(names, values).map { swiftwsgi_kv_t(name: UnsafePointer($0), value: UnsafePointer($1)) }
        func cstr(_ key: String) -> UnsafeMutablePointer<CChar>? { meta[key].map { $0.withUnsafeBufferPointer { strdup($0.baseAddress!) } } }
        let strings = ["script_filename", "server_hostname", "application_group", "callable_object", "process_group", "request_handler"]
            .reduce(into: [String: UnsafeMutablePointer<CChar>]()) { $0[$1] = cstr($1) }
        defer { strings.values.forEach { free($0) } }
        return kvs.withUnsafeBufferPointer { env in
            var req = swiftwsgi_request_t()
            req.handle = Unmanaged.passUnretained(self).toOpaque()
            req.environ = env.baseAddress
            req.environ_count = env.count
            req.script_filename = UnsafePointer(strings["script_filename"])
            req.script_mtime = int("script_mtime")
            req.server_hostname = UnsafePointer(strings["server_hostname"])
            req.server_port = Int32(truncatingIfNeeded: int("server_port"))
            req.application_group = UnsafePointer(strings["application_group"])
            req.callable_object = UnsafePointer(strings["callable_object"])
            req.process_group = UnsafePointer(strings["process_group"])
            req.script_reloading = Int32(truncatingIfNeeded: int("script_reloading"))
            req.enable_sendfile = Int32(truncatingIfNeeded: int("enable_sendfile"))
            req.header_only = Int32(truncatingIfNeeded: int("header_only"))
            req.request_handler = UnsafePointer(strings["request_handler"])
            req.error_override = Int32(truncatingIfNeeded: int("error_override"))
            return withUnsafePointer(to: &req, body)
        }
    }
}
