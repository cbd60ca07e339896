import Glibc
import Synchronization

/// One request thread's telemetry for the current interval: request count, per-phase totals,
/// minimums, maximums and histograms, I/O totals, status classes, busy time.
///
/// Written only by its own thread (relaxed atomic adds, so the cache line stays with it); the
/// sender drains it with atomic exchanges, so a request is counted in exactly one interval.
public final class TelemetryThread: @unchecked Sendable {
    /// mod_wsgi's thread_id: 1-based, in order of first request.
    public let id: Int
    private let cells: UnsafeMutablePointer<Atomic<UInt64>>
    /// With WSGISlowRequests, the thread's running request: the sender reads it (and its
    /// environ) under this lock, and the request empties it under the lock before it ends.
    let running = Mutex<Running?>(nil)

    /// A running request: when it began and where its environ is (valid while in the slot).
    struct Running: @unchecked Sendable {  // environ: read only under the slot's lock
        var start: Double
        var applicationStart: UInt64
        var phases: (Double, Double, Double)
        var activeAtStart: Int
        var environ: UnsafeRawPointer?
        var count: Int
    }

    // Cell layout.
    static let phases = TelemetryWire.Phase.allCases.count
    static let requests = 0
    static let totals = 1                                  // µs, per phase
    static let minimums = totals + phases                  // µs, UInt64.max: none
    static let maximums = minimums + phases                // µs
    static let io = maximums + phases                      // input bytes, reads; output bytes, writes
    static let statuses = io + 4                           // 1xx ... 5xx
    static let busy = statuses + 5                         // µs busy in the interval
    static let busySince = busy + 1                        // wall-clock µs the busy tail starts, 0 idle
    static let started = busySince + 1                     // wall-clock µs the running request began, 0 idle
    static let longest = started + 1                       // µs, longest request ended in the interval
    static let buckets = longest + 1                       // phases x bucketCount
    static let cellCount = buckets + phases * TelemetryWire.bucketCount

    init(id: Int) {
        self.id = id
        cells = .allocate(capacity: Self.cellCount)
        for i in 0..<Self.cellCount { (cells + i).initialize(to: Atomic(0)) }
        for p in 0..<Self.phases { cells[Self.minimums + p].store(.max, ordering: .relaxed) }
    }

    deinit { cells.deallocate() }  // never: threads are registered for the life of the process

    @inline(__always) private func add(_ i: Int, _ v: UInt64) { cells[i].wrappingAdd(v, ordering: .relaxed) }

    /// A request begins (wall-clock µs: the phases are wall-clock differences, as mod_wsgi's).
    @inline(__always) func begin(at now: UInt64) {
        cells[Self.started].store(now, ordering: .relaxed)
        cells[Self.busySince].store(now, ordering: .relaxed)
    }

    /// One phase of the ending request took `us` µs.
    @inline(__always) func record(_ phase: TelemetryWire.Phase, _ us: UInt64) {
        let p = phase.rawValue
        add(Self.totals + p, us)
        lower(Self.minimums + p, us)
        raise(Self.maximums + p, us)
        add(Self.buckets + p * TelemetryWire.bucketCount + TelemetryWire.bucket(seconds: Double(us) / 1e6), 1)
    }

    /// The request ended (after its phases were recorded): its I/O and status.
    func end(at now: UInt64, io: (UInt64, UInt64, UInt64, UInt64), status: Int) {
        let since = cells[Self.busySince].exchange(0, ordering: .relaxed)
        if since > 0 && now > since { add(Self.busy, now - since) }
        let started = cells[Self.started].exchange(0, ordering: .relaxed)
        if started > 0 && now > started { raise(Self.longest, now - started) }
        add(Self.io, io.0); add(Self.io + 1, io.1); add(Self.io + 2, io.2); add(Self.io + 3, io.3)
        // 0 (no start_response: a 500 went out) and anything outside 100-599 count as 5xx,
        // as mod_wsgi folds them.
        let cls = (100..<600).contains(status) ? status / 100 - 1 : 4
        add(Self.statuses + cls, 1)
        add(Self.requests, 1)
    }

    private func lower(_ i: Int, _ v: UInt64) {
        var current = cells[i].load(ordering: .relaxed)
        while v < current {
            let (done, now) = cells[i].compareExchange(expected: current, desired: v, ordering: .relaxed)
            if done { return }
            current = now
        }
    }

    private func raise(_ i: Int, _ v: UInt64) {
        var current = cells[i].load(ordering: .relaxed)
        while v > current {
            let (done, now) = cells[i].compareExchange(expected: current, desired: v, ordering: .relaxed)
            if done { return }
            current = now
        }
    }

    /// What this thread did since the last drain (which this starts anew).
    struct Drained {
        var requests: UInt64 = 0
        var totals: [UInt64]
        var minimums: [UInt64]
        var maximums: [UInt64]
        var buckets: [[Int]]
        var io: [UInt64]
        var statuses: [UInt64]
        var busy: UInt64 = 0
        var currentElapsed: UInt64 = 0
        var longest: UInt64 = 0
        var running = false
    }

    func drain(now: UInt64) -> Drained {
        let take = { (i: Int) in self.cells[i].exchange(0, ordering: .relaxed) }
        var d = Drained(totals: [], minimums: [], maximums: [], buckets: [], io: [], statuses: [])
        d.requests = take(Self.requests)
        d.totals = (0..<Self.phases).map { take(Self.totals + $0) }
        d.minimums = (0..<Self.phases).map { cells[Self.minimums + $0].exchange(.max, ordering: .relaxed) }
        d.maximums = (0..<Self.phases).map { take(Self.maximums + $0) }
        d.buckets = (0..<Self.phases).map { p in
            (0..<TelemetryWire.bucketCount).map { Int(clamping: take(Self.buckets + p * TelemetryWire.bucketCount + $0)) }
        }
        d.io = (0..<4).map { take(Self.io + $0) }
        d.statuses = (0..<5).map { take(Self.statuses + $0) }
        d.busy = take(Self.busy)
        // A running request's busy time so far belongs to this interval: move its tail start
        // to now (unless it ends meanwhile, and counts its own tail).
        let since = cells[Self.busySince].load(ordering: .relaxed)
        if since > 0 && now > since,
           cells[Self.busySince].compareExchange(expected: since, desired: now, ordering: .relaxed).exchanged {
            d.busy &+= now - since
        }
        let started = cells[Self.started].load(ordering: .relaxed)
        if started > 0 {
            d.running = true
            d.currentElapsed = now > started ? now - started : 0
        }
        d.longest = take(Self.longest)
        return d
    }
}

/// A slow request as the sender reports it (mod_wsgi 6.1's slow-request record).
public struct SlowRequest: Sendable {
    /// What identifies the request, read once at its start (only with WSGISlowRequests).
    public struct Identity: Sendable {
        public var method = "", scheme = "", hostname = "", scriptName = "", pathInfo = ""
        public var httpProtocol = "", peerIP = "", userAgent = "", logID = ""
        public var serverPID = 0
        public init() {}
    }
    public var identity: Identity
    public var threadID: Int
    /// Wall-clock seconds the request began (mod_wsgi.request_start).
    public var start: Double
    /// Wall-clock µs the application was called.
    var applicationStartMicros: UInt64
    public var duration = 0.0
    public var completed = false
    /// Seconds: server, queue, daemon, application.
    public var phases = [0.0, 0.0, 0.0, 0.0]
    public var inputReadTime = 0.0, outputWriteTime = 0.0
    public var gilWaitTime = 0.0, gilWaitCount = 0
    public var io: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
    public var status = 0
    public var activeAtStart = 0
    public var activeAtCompletion = 0
}
