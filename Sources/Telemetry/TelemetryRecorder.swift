import Glibc
import Synchronization

/// The wall-clock instants of one request (seconds since the epoch; queue and daemon start are
/// 0 in embedded mode), as mod_wsgi's environ carries them.
public struct RequestTimes: Sendable {
    public var requestStart = 0.0, queueStart = 0.0, daemonStart = 0.0, applicationStart = 0.0
    public init(requestStart: Double, queueStart: Double, daemonStart: Double, applicationStart: Double) {
        self.requestStart = requestStart
        self.queueStart = queueStart
        self.daemonStart = daemonStart
        self.applicationStart = applicationStart
    }

    /// Server, queue and daemon time (seconds, never negative): before the application ran.
    var beforeApplication: (Double, Double, Double) {
        guard queueStart > 0 else { return (max(0, applicationStart - requestStart), 0, 0) }
        return (max(0, queueStart - requestStart), max(0, daemonStart - queueStart), max(0, applicationStart - daemonStart))
    }
}

/// What one request did, at its end.
public struct RequestOutcome: Sendable {
    public var finish = 0.0
    public var inputBytes: Int64 = 0, inputReads = 0, outputBytes: Int64 = 0, outputWrites = 0
    /// Seconds inside wsgi.input reads and output writes.
    public var inputReadTime = 0.0, outputWriteTime = 0.0
    /// Seconds waiting to take the GIL back (after I/O with it released), and how many waits.
    public var gilWaitTime = 0.0, gilWaitCount = 0
    /// The HTTP status the application gave (0: none).
    public var status = 0
    public init() {}
}

/// The process's telemetry (WSGITelemetryService): what its request threads did since the
/// sender's last tick, the requests running, and the slow ones (WSGISlowRequests).
///
/// Off until `configure` (at process start, before any request): a request then pays one
/// relaxed load. On, a request pays a few dozen relaxed atomic adds into its own thread's
/// cells; with WSGISlowRequests, also a lock at its start and end.
public final class TelemetryRecorder: Sendable {
    public static let shared = TelemetryRecorder()

    private let on = Atomic<Bool>(false)
    private let slowThreshold = Atomic<UInt64>(0)   // µs, 0: off
    private let daemonTiming = Atomic<Bool>(false)
    private let userAgent = Atomic<Bool>(false)
    private let threads = Mutex<[TelemetryThread]>([])
    let running = Atomic<Int>(0)
    let lifetime = Atomic<Int>(0)
    private let slow = Mutex<SlowRegister>(SlowRegister())
    /// Reads a request's identity from its environ (set with the configuration).
    private let identityReader = Mutex<IdentityReader?>(nil)

    /// Reads what a slow-request report shows of a request from its environ (an opaque
    /// pointer and count: the host's own environ type).
    public typealias IdentityReader = @Sendable (UnsafeRawPointer, Int) -> SlowRequest.Identity

    /// The slow requests completed since the sender's last tick (running ones are in their
    /// threads' slots).
    struct SlowRegister {
        var completed: [SlowRequest] = []
        var dropped = 0
    }

    /// Completed slow requests kept between ticks (the oldest go first beyond it).
    static let completedSlowLimit = 256

    /// Whether telemetry is on in this process.
    @inline(__always) public var enabled: Bool { on.load(ordering: .relaxed) }

    /// Whether requests are to be watched for WSGISlowRequests (their identity is wanted).
    @inline(__always) public var watchesSlowRequests: Bool { slowThreshold.load(ordering: .relaxed) > 0 }

    /// Whether a slow request's User-Agent is reported (WSGITelemetryOptions +CaptureUserAgent).
    public var capturesUserAgent: Bool { userAgent.load(ordering: .relaxed) }

    /// Turns telemetry on (once, at process start). slowRequests: the threshold in seconds, 0
    /// for none; daemon: queue and daemon time are measured (a daemon process).
    func configure(slowRequests: Double, daemon: Bool, captureUserAgent: Bool, identity: IdentityReader? = nil) {
        identityReader.withLock { $0 = identity }
        slowThreshold.store(Self.micros(min(slowRequests, 1e9)), ordering: .relaxed)
        daemonTiming.store(daemon, ordering: .relaxed)
        userAgent.store(captureUserAgent, ordering: .relaxed)
        on.store(true, ordering: .releasing)
    }

    /// The cells of request thread `id` (mod_wsgi's thread_id), made at its first request.
    public func thread(id: Int) -> TelemetryThread {
        let made = TelemetryThread(id: id)
        threads.withLock { $0.append(made) }
        return made
    }

    /// A request begins on thread t. Its environ (opaque: the host's; valid until `end`) is
    /// read, by the identity reader, only for a request that turns out slow.
    public func begin(_ t: TelemetryThread, times: RequestTimes, environ: UnsafeRawPointer?, count: Int) {
        let now = Self.micros(times.applicationStart)
        t.begin(at: now)
        let active = running.add(1, ordering: .relaxed).newValue
        guard watchesSlowRequests else { return }
        let record = TelemetryThread.Running(start: times.requestStart, applicationStart: now,
                                             phases: times.beforeApplication, activeAtStart: active,
                                             environ: environ, count: count)
        t.running.withLock { $0 = record }
    }

    private func identity(_ r: TelemetryThread.Running) -> SlowRequest.Identity {
        guard let environ = r.environ else { return SlowRequest.Identity() }
        return identityReader.withLock { $0 }?(environ, r.count) ?? SlowRequest.Identity()
    }

    /// The request of thread t ended.
    public func end(_ t: TelemetryThread, times: RequestTimes, outcome o: RequestOutcome) {
        let (server, queue, daemon) = times.beforeApplication
        let application = max(0, o.finish - times.applicationStart)
        let total = max(0, o.finish - times.requestStart)
        let us = Self.micros
        // The GIL wait is not measured; queue and daemon time exist in daemon processes only.
        t.record(.server, us(server))
        if daemonTiming.load(ordering: .relaxed) {
            t.record(.queue, us(queue))
            t.record(.daemon, us(daemon))
        }
        t.record(.application, us(application))
        t.record(.request, us(total))
        t.record(.gilWait, us(o.gilWaitTime))
        t.record(.inputRead, us(o.inputReadTime))
        t.record(.outputWrite, us(o.outputWriteTime))
        let io = (UInt64(max(0, o.inputBytes)), UInt64(max(0, o.inputReads)),
                  UInt64(max(0, o.outputBytes)), UInt64(max(0, o.outputWrites)))
        t.end(at: Self.micros(o.finish), io: io, status: o.status)
        let stillRunning = running.add(-1, ordering: .relaxed).newValue
        lifetime.add(1, ordering: .relaxed)
        let threshold = slowThreshold.load(ordering: .relaxed)
        guard threshold > 0 else { return }
        // The identity is read while the environ is valid, under the slot's lock (the sender
        // reads it under that lock too, and finds the slot empty once the request has ended).
        let taken = t.running.withLock { slot -> (TelemetryThread.Running, SlowRequest.Identity)? in
            defer { slot = nil }
            guard let running = slot, us(total) >= threshold else { return nil }
            return (running, identity(running))
        }
        guard let (running, identity) = taken else { return }
        slow.withLock { register in
            var record = SlowRequest(identity: identity, threadID: t.id, start: running.start,
                                     applicationStartMicros: running.applicationStart)
            record.activeAtStart = running.activeAtStart
            record.completed = true
            record.duration = total
            record.phases = [server, queue, daemon, application]
            record.inputReadTime = o.inputReadTime
            record.gilWaitTime = o.gilWaitTime
            record.gilWaitCount = o.gilWaitCount
            record.outputWriteTime = o.outputWriteTime
            record.io = io
            record.status = o.status
            record.activeAtCompletion = stillRunning + 1
            if register.completed.count >= Self.completedSlowLimit {
                register.completed.removeFirst()
                register.dropped += 1
            }
            register.completed.append(record)
        }
    }

    /// Seconds as µs; 0 for what is not a positive finite number (never traps).
    static func micros(_ seconds: Double) -> UInt64 {
        seconds > 0 && seconds.isFinite ? UInt64(min(seconds, 1e12) * 1e6) : 0
    }

    // MARK: what the sender takes each tick

    /// Everything the threads did since the last call, summed, and per thread.
    struct Interval {
        var requests: UInt64 = 0
        var totals = [UInt64](repeating: 0, count: TelemetryThread.phases)
        var minimums = [UInt64](repeating: .max, count: TelemetryThread.phases)
        var maximums = [UInt64](repeating: 0, count: TelemetryThread.phases)
        var buckets = [[Int]](repeating: [Int](repeating: 0, count: TelemetryWire.bucketCount), count: TelemetryThread.phases)
        var io = [UInt64](repeating: 0, count: 4)
        var statuses = [UInt64](repeating: 0, count: 5)
        var busy: UInt64 = 0
        var threadsStarted = 0
        var threadsActive = 0
        /// Per thread, indexed by thread id - 1: completed, busy µs, current elapsed µs, longest µs.
        var perThread: [(completed: UInt64, busy: UInt64, elapsed: UInt64, longest: UInt64)] = []
    }

    func drain(now: Double) -> Interval {
        let nowMicros = Self.micros(now)
        var sum = Interval()
        let all = threads.withLock { $0 }
        sum.threadsStarted = all.count
        for t in all {
            let d = t.drain(now: nowMicros)
            sum.requests &+= d.requests
            for p in 0..<TelemetryThread.phases {
                sum.totals[p] &+= d.totals[p]
                sum.minimums[p] = min(sum.minimums[p], d.minimums[p])
                sum.maximums[p] = max(sum.maximums[p], d.maximums[p])
                for b in 0..<TelemetryWire.bucketCount { sum.buckets[p][b] &+= d.buckets[p][b] }
            }
            for i in 0..<4 { sum.io[i] &+= d.io[i] }
            for i in 0..<5 { sum.statuses[i] &+= d.statuses[i] }
            sum.busy &+= d.busy
            if d.requests > 0 || d.running { sum.threadsActive += 1 }
            let index = t.id - 1
            guard index >= 0 && index < 4096 else { continue }
            if sum.perThread.count <= index {
                sum.perThread += Array(repeating: (0, 0, 0, 0), count: index + 1 - sum.perThread.count)
            }
            sum.perThread[index] = (d.requests, d.busy, d.currentElapsed, d.longest)
        }
        return sum
    }

    /// Whether queue and daemon time are measured here.
    var hasDaemonTiming: Bool { daemonTiming.load(ordering: .relaxed) }

    /// The slow requests to report now: those completed since the last call, then those still
    /// running for longer than the threshold. Also the count dropped for lack of room.
    func slowRequests(now: Double) -> (completed: [SlowRequest], active: [SlowRequest], dropped: Int) {
        let threshold = slowThreshold.load(ordering: .relaxed)
        guard threshold > 0 else { return ([], [], 0) }
        let nowMicros = Self.micros(now)
        let (completed, dropped) = slow.withLock { register in
            let taken = (register.completed, register.dropped)
            register.completed.removeAll(keepingCapacity: true)
            register.dropped = 0
            return taken
        }
        let active = threads.withLock { $0 }.compactMap { t -> SlowRequest? in
            t.running.withLock { slot -> SlowRequest? in
                guard let running = slot else { return nil }
                let elapsed = now - running.start
                guard Self.micros(elapsed) >= threshold else { return nil }
                var r = SlowRequest(identity: identity(running), threadID: t.id, start: running.start,
                                    applicationStartMicros: running.applicationStart)
                r.duration = elapsed
                r.activeAtStart = running.activeAtStart
                r.phases = [running.phases.0, running.phases.1, running.phases.2,
                            nowMicros > running.applicationStart ? Double(nowMicros - running.applicationStart) / 1e6 : 0]
                return r
            }
        }
        return (completed, active, dropped)
    }
}
