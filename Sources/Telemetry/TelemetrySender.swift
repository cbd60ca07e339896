import Glibc
import Synchronization

/// WSGITelemetryService's settings for one process, and who it is.
public struct TelemetrySettings: Sendable {
    /// The ingester's unix datagram socket (the path after "unix:").
    public var socketPath: String
    /// Seconds between samples (WSGITelemetryService interval=).
    public var interval: Double
    /// WSGISlowRequests in seconds; 0: not configured.
    public var slowRequests: Double
    /// WSGITelemetryOptions +CaptureUserAgent.
    public var captureUserAgent: Bool
    /// The WSGIDaemonProcess group; "" in Apache's children.
    public var processGroup: String
    /// Request threads of the process (threads= or ThreadsPerChild).
    public var threads: Int
    /// Sent where mod_wsgi sends its own version: names this module.
    public var serverVersion: String
    public var pythonVersion: String
    public var apacheVersion: String
    public var mpmName: String
    /// sys.getswitchinterval() at start; 0: unknown.
    public var switchInterval: Double

    public init(socketPath: String, interval: Double, slowRequests: Double, captureUserAgent: Bool,
                processGroup: String, threads: Int, serverVersion: String, pythonVersion: String,
                apacheVersion: String, mpmName: String, switchInterval: Double) {
        self.socketPath = socketPath
        self.interval = interval
        self.slowRequests = slowRequests
        self.captureUserAgent = captureUserAgent
        self.processGroup = processGroup
        self.threads = threads
        self.serverVersion = serverVersion
        self.pythonVersion = pythonVersion
        self.apacheVersion = apacheVersion
        self.mpmName = mpmName
        self.switchInterval = switchInterval
    }
}

/// Sends the process's telemetry: PROCESS_STARTED at start, a request sample (and the slow
/// requests) every interval from a thread of its own, PROCESS_STOPPING when the process
/// decides to stop, and a last sample and PROCESS_STOPPED at its end.
///
/// Datagrams go out on a non-blocking unix datagram socket: when the ingester is missing or
/// its queue is full the datagram is dropped and counted, never waited for. A request thread
/// never sends.
public final class TelemetrySender: Sendable {
    public let settings: TelemetrySettings
    private let recorder: TelemetryRecorder
    private let fd: Int32
    private let address: sockaddr_un
    private let pid = UInt32(truncatingIfNeeded: getpid())
    private let parentPID = UInt64(max(0, getppid()))
    private let hostname: String
    private let started: Double
    private let sequence = Atomic<UInt32>(0)
    private let dropped = Atomic<Int>(0)
    private let warned = Atomic<Bool>(false)
    private let stoppedSent = Atomic<Bool>(false)
    /// PROCESS_STARTED reached the ingester (else it is sent again before each sample until it
    /// does: an ingester started with the server, as --enable-telemetry's, comes up after us).
    private let startedSent = Atomic<Bool>(false)
    private let startedBytes = Mutex<[UInt8]>([])
    private let warn: @Sendable (String) -> Void
    /// The sender thread and the pipe that wakes it to stop.
    private let loop = Mutex<(thread: pthread_t?, wake: Int32)>((nil, -1))
    /// The previous tick: when, and the process's CPU seconds (user, system) then.
    private let previous = Mutex<(time: Double, user: Double, system: Double)>((0, 0, 0))

    /// Starts telemetry in this process (a child of Apache's or a daemon process, never
    /// Apache's parent): turns the recorder on, sends PROCESS_STARTED and starts the sender
    /// thread. nil when the socket cannot be made (warned).
    public static func start(_ settings: TelemetrySettings, recorder: TelemetryRecorder = .shared,
                             identity: TelemetryRecorder.IdentityReader? = nil,
                             warn: @escaping @Sendable (String) -> Void) -> TelemetrySender? {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = Array(settings.socketPath.utf8)
        guard !path.isEmpty, path.count < MemoryLayout.size(ofValue: address.sun_path) else {
            warn("telemetry socket path '\(settings.socketPath)' is empty or too long: no telemetry is sent")
            return nil
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, b) in path.enumerated() { raw[i] = b }
        }
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else {
            warn("cannot create the telemetry socket: \(String(cString: strerror(errno))): no telemetry is sent")
            return nil
        }
        var size: Int32 = 65536
        _ = setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        recorder.configure(slowRequests: settings.slowRequests, daemon: !settings.processGroup.isEmpty,
                           captureUserAgent: settings.captureUserAgent, identity: identity)
        let sender = TelemetrySender(settings, recorder, fd, address, warn)
        let started = sender.startedDatagram()
        sender.startedBytes.withLock { $0 = started }
        sender.startedSent.store(sender.send(started, quietly: true), ordering: .relaxed)
        sender.startThread()
        return sender
    }

    private init(_ settings: TelemetrySettings, _ recorder: TelemetryRecorder, _ fd: Int32,
                 _ address: sockaddr_un, _ warn: @escaping @Sendable (String) -> Void) {
        self.settings = settings
        self.recorder = recorder
        self.fd = fd
        self.address = address
        self.warn = warn
        var name = [CChar](repeating: 0, count: 256)
        hostname = gethostname(&name, name.count - 1) == 0
            ? String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self) : ""
        started = wallClock()
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        previous.withLock { $0 = (started, seconds(usage.ru_utime), seconds(usage.ru_stime)) }
    }

    /// Datagrams that could not be sent so far.
    public var droppedCount: Int { dropped.load(ordering: .relaxed) }

    // MARK: the thread

    private func startThread() {
        var pipeFDs: [Int32] = [-1, -1]
        guard pipe(&pipeFDs) == 0 else {
            warn("cannot create the telemetry thread's pipe: \(String(cString: strerror(errno))): no samples are sent")
            return
        }
        for fd in pipeFDs { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        final class Box {
            let sender: TelemetrySender, wake: Int32
            init(_ sender: TelemetrySender, _ wake: Int32) { self.sender = sender; self.wake = wake }
        }
        let box = Unmanaged.passRetained(Box(self, pipeFDs[0])).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, nil, { raw in
            guard let raw else { return nil }
            let box = Unmanaged<Box>.fromOpaque(raw).takeRetainedValue()
            box.sender.run(wake: box.wake)
            return nil
        }, box)
        guard rc == 0 else {
            Unmanaged<Box>.fromOpaque(box).release()
            close(pipeFDs[0]); close(pipeFDs[1])
            warn("cannot start the telemetry thread: \(String(cString: strerror(rc))): no samples are sent")
            return
        }
        loop.withLock { $0 = (thread, pipeFDs[1]) }
    }

    private func run(wake: Int32) {
        let seconds = settings.interval.isFinite ? min(max(settings.interval, 0.1), 86400) : 1
        let milliseconds = Int32(seconds * 1000)
        var waiting = pollfd(fd: wake, events: Int16(POLLIN), revents: 0)
        while true {
            let rc = poll(&waiting, 1, milliseconds)
            if rc > 0 { break }               // told to stop (or the pipe closed)
            if rc < 0 && errno != EINTR { break }
            if rc == 0 { tick() }
        }
        close(wake)
    }

    /// Stops the thread (after its current tick).
    private func stopThread() {
        let (thread, wake) = loop.withLock { state in
            let taken = state
            state = (nil, -1)
            return taken
        }
        guard let thread else { return }
        var byte: UInt8 = 1
        _ = write(wake, &byte, 1)
        pthread_join(thread, nil)
        close(wake)
    }

    // MARK: datagrams

    private func next() -> UInt32 { sequence.wrappingAdd(1, ordering: .relaxed).newValue }

    /// Sends one datagram; false when it was dropped (counted; the first drop that is not
    /// `quietly` is warned about).
    @discardableResult
    private func send(_ datagram: [UInt8], quietly: Bool = false) -> Bool {
        let rc = datagram.withUnsafeBytes { bytes in
            withUnsafePointer(to: address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                    sendto(fd, bytes.baseAddress, bytes.count, Int32(MSG_DONTWAIT), $0,
                           socklen_t(MemoryLayout<sockaddr_un>.size))
                }
            }
        }
        guard rc < 0 else { return true }
        let error = errno
        dropped.add(1, ordering: .relaxed)
        if !quietly && !warned.exchange(true, ordering: .relaxed) {
            warn("telemetry to unix:\(settings.socketPath) is being dropped (\(String(cString: strerror(error)))); "
                 + "requests are unaffected and further drops are only counted")
        }
        return false
    }

    private func identity(_ e: inout TelemetryWire.Encoder, versions: Bool) {
        if versions {
            e.string(.serverVersion, settings.serverVersion)
            e.string(.pythonVersion, settings.pythonVersion)
            e.string(.apacheVersion, settings.apacheVersion)
            e.string(.mpmName, settings.mpmName)
        }
        e.string(.hostname, hostname)
        e.string(.processGroup, settings.processGroup)
    }

    func startedDatagram() -> [UInt8] {
        var e = TelemetryWire.Encoder(kind: .processStarted, pid: pid, sequence: next(), stamp: started)
        identity(&e, versions: true)
        e.u64(.processParentPID, parentPID)
        if settings.switchInterval > 0 { e.f64(.switchInterval, settings.switchInterval) }
        return e.bytes
    }

    /// One interval's sample and its slow requests: what a tick sends.
    func tickDatagrams(now: Double = wallClock()) -> [[UInt8]] {
        let interval = recorder.drain(now: now)
        var usage = rusage()
        getrusage(Int32(RUSAGE_SELF.rawValue), &usage)
        let user = seconds(usage.ru_utime), system = seconds(usage.ru_stime)
        let before = previous.withLock { p in
            let taken = p
            p = (now, user, system)
            return taken
        }
        let period = max(1e-9, now - before.time)
        let maximum = max(1, settings.threads)

        var e = TelemetryWire.Encoder(kind: .request, pid: pid, sequence: next(), stamp: now)
        identity(&e, versions: true)
        e.u64(.processParentPID, parentPID)
        e.f64(.samplePeriod, period)
        e.f64(.telemetryInterval, settings.interval)
        e.f64(.slowRequestsThreshold, settings.slowRequests)
        if settings.switchInterval > 0 { e.f64(.switchInterval, settings.switchInterval) }
        e.u64(.requestCount, interval.requests)
        e.f64(.requestThroughput, Double(interval.requests) / period)
        e.f64(.capacityUtilization, Double(interval.busy) / 1e6 / period / Double(maximum))
        let userRate = max(0, user - before.user) / period, systemRate = max(0, system - before.system) / period
        e.f64(.cpuUserUtilization, userRate)
        e.f64(.cpuSystemUtilization, systemRate)
        e.f64(.cpuUtilization, userRate + systemRate)
        e.u64(.memoryRSS, residentBytes())
        e.u64(.memoryMaxRSS, UInt64(max(0, usage.ru_maxrss)) * 1024)
        e.count(.requestThreadsMaximum, maximum)
        e.count(.requestThreadsStarted, interval.threadsStarted)
        e.count(.requestThreadsActive, interval.threadsActive)

        typealias Phase = TelemetryWire.Phase
        // What this process measures: queue and daemon time only in a daemon.
        let measured: [Phase] = [.server, .application, .request, .gilWait, .inputRead, .outputWrite]
            + (recorder.hasDaemonTiming ? [.queue, .daemon] : [])
        let count = Double(interval.requests)
        for p in measured {
            e.f64(p.mean, interval.requests > 0 ? Double(interval.totals[p.rawValue]) / 1e6 / count : 0)
        }
        for p in measured where interval.minimums[p.rawValue] != .max {
            e.f64(p.minimum, Double(interval.minimums[p.rawValue]) / 1e6)
            e.f64(p.maximum, Double(interval.maximums[p.rawValue]) / 1e6)
        }
        for p in measured { e.i32Array(p.histogram, interval.buckets[p.rawValue]) }
        e.u64(.inputBytesTotal, interval.io[0])
        e.u64(.inputReadsTotal, interval.io[1])
        e.u64(.outputBytesTotal, interval.io[2])
        e.u64(.outputWritesTotal, interval.io[3])
        for i in 0..<5 { e.u64(TelemetryWire.Field.status1xx.rawValue + UInt16(i), interval.statuses[i]) }
        // Per request thread, as many as the process has (mod_wsgi sends at most 128).
        let slots = min(maximum, 128)
        var perThread = Array(interval.perThread.prefix(slots))
        while perThread.count < slots { perThread.append((completed: 0, busy: 0, elapsed: 0, longest: 0)) }
        e.i32Array(.requestThreadsCompleted, perThread.map { Int(clamping: $0.completed) })
        e.f64Array(.requestThreadsBusyTime, perThread.map { Double($0.busy) / 1e6 })
        e.f64Array(.requestThreadsCurrentElapsed, perThread.map { Double($0.elapsed / 1000) / 1e3 })
        e.f64Array(.requestThreadsMaxDuration, perThread.map { Double($0.longest / 1000) / 1e3 })

        var datagrams = [e.bytes]
        let slow = recorder.slowRequests(now: now)
        for record in slow.completed + slow.active {
            datagrams.append(slowDatagram(record, stamp: now))
        }
        return datagrams
    }

    func slowDatagram(_ r: SlowRequest, stamp: Double) -> [UInt8] {
        var e = TelemetryWire.Encoder(kind: .slowRequest, pid: pid, sequence: next(), stamp: stamp)
        e.u64(.slowRecordState, r.completed ? 1 : 0)
        e.f64(.slowStartStamp, r.start)
        e.f64(.slowDuration, r.duration)
        e.count(.slowThreadID, r.threadID)
        e.count(.slowServerPID, r.identity.serverPID)
        e.u64(.slowInputBytes, r.io.0)
        e.u64(.slowInputReads, r.io.1)
        e.u64(.slowOutputBytes, r.io.2)
        e.u64(.slowOutputWrites, r.io.3)
        e.f64(.slowServerTime, r.phases[0])
        e.f64(.slowQueueTime, r.phases[1])
        e.f64(.slowDaemonTime, r.phases[2])
        e.f64(.slowApplicationTime, r.phases[3])
        e.f64(.slowGILWaitTime, r.gilWaitTime)
        e.count(.slowGILWaitCount, r.gilWaitCount)
        e.f64(.slowInputReadTime, r.inputReadTime)
        e.f64(.slowOutputWriteTime, r.outputWriteTime)
        e.count(.slowActiveAtStart, r.activeAtStart)
        e.count(.slowActiveAtCompletion, r.activeAtCompletion)
        e.count(.slowStatus, r.status)
        let i = r.identity
        e.string(.slowLogID, i.logID)
        e.string(.slowMethod, i.method)
        e.string(.slowScheme, i.scheme)
        e.string(.slowHostname, i.hostname)
        e.string(.slowScriptName, i.scriptName)
        e.string(.slowPathInfo, i.pathInfo)
        e.string(.slowProtocol, i.httpProtocol)
        e.string(.slowPeerIP, i.peerIP)
        if settings.captureUserAgent { e.string(.slowUserAgent, i.userAgent) }
        return e.bytes
    }

    /// One tick: the interval's sample and the slow requests.
    func tick() {
        if !startedSent.load(ordering: .relaxed) {
            startedSent.store(send(startedBytes.withLock { $0 }, quietly: true), ordering: .relaxed)
        }
        for datagram in tickDatagrams() { send(datagram) }
    }

    // MARK: lifecycle

    /// PROCESS_STOPPING: the process decided to stop (reason: mod_wsgi's shutdown_reason, or
    /// "" when it has none) and starts finishing its running requests.
    public func stopping(reason: String) {
        var e = TelemetryWire.Encoder(kind: .processStopping, pid: pid, sequence: next(), stamp: wallClock())
        identity(&e, versions: false)
        e.string(.shutdownReason, reason)
        e.count(.activeRequestsAtDecision, recorder.running.load(ordering: .relaxed))
        send(e.bytes)
    }

    /// The end: stops the thread, sends the last partial interval and PROCESS_STOPPED (once),
    /// and closes the socket.
    public func stopped(reason: String) {
        guard !stoppedSent.exchange(true, ordering: .relaxed) else { return }
        stopThread()
        tick()
        let now = wallClock()
        let active = recorder.running.load(ordering: .relaxed)
        var e = TelemetryWire.Encoder(kind: .processStopped, pid: pid, sequence: next(), stamp: now)
        identity(&e, versions: false)
        e.string(.shutdownReason, reason)
        e.f64(.processUptime, max(0, now - started))
        e.count(.lifetimeRequestCount, recorder.lifetime.load(ordering: .relaxed))
        e.count(.activeRequestsAtExit, active)
        e.u64(.gracefulDrain, active == 0 ? 1 : 0)
        send(e.bytes)
        close(fd)
    }
}

/// CLOCK_REALTIME in seconds.
func wallClock() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

private func seconds(_ t: timeval) -> Double { Double(t.tv_sec) + Double(t.tv_usec) / 1e6 }

/// The process's resident set in bytes (/proc/self/statm), 0 when unknown.
private func residentBytes() -> UInt64 {
    let fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { return 0 }
    defer { close(fd) }
    var buffer = [UInt8](repeating: 0, count: 128)
    let n = read(fd, &buffer, buffer.count)
    guard n > 0 else { return 0 }
    let fields = buffer.prefix(n).split(separator: UInt8(ascii: " "))
    guard fields.count > 1, let pages = UInt64(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
    return pages &* UInt64(max(0, sysconf(Int32(_SC_PAGESIZE))))
}
