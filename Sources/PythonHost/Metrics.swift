import Glibc
import Synchronization

/// Process-wide request counters behind `mod_wsgi.process_metrics()`, `request_metrics()` and
/// the environ's `mod_wsgi.total_requests`.
///
/// One for the process, used by every interpreter's request threads, which (own-GIL
/// interpreters) run at the same time: only atomics and the `state` mutex, never the GIL,
/// guard it; it holds no Python object.
///
/// Always kept: the completed-request count, the running count and each request thread's id
/// and count (a few atomic adds per request). Busy time (the integral of running requests over
/// time) and the per-sample timings start only once an application asks for metrics: until
/// then a request pays one atomic load for them.
final class Metrics: Sendable {
    static let shared = Metrics()

    /// Wall-clock time the process's Python started (process_metrics' restart_time).
    let started = wallSeconds()
    private let completed = Atomic<Int>(0)
    private let running = Atomic<Int>(0)
    private let nextThreadID = Atomic<Int>(0)
    /// Busy-time and sampling are on (an application called a metrics function).
    private let recording = Atomic<Bool>(false)
    private let state = Mutex<State>(State())

    private struct State {
        var busy = 0.0
        var last = 0.0
        var threads: [ThreadCounter] = []
        var sample = Sample()
    }

    struct Sample {
        var count = 0
        /// server, queue, daemon, application time totals (seconds).
        var totals = [0.0, 0.0, 0.0, 0.0]
        var buckets = [[Int]](repeating: [Int](repeating: 0, count: 16), count: 4)
        /// Requests finished per request thread (index thread_id - 1).
        var threads: [Int] = []
    }

    /// A request thread's id (1-based, in order of first request) and its request count.
    final class ThreadCounter: Sendable {
        let id: Int
        /// Requests this thread started. Written by its thread only, but read by
        /// process_metrics() from any interpreter's thread, which with own-GIL interpreters
        /// runs at the same time: atomic, not "guarded by the GIL".
        let requests = Atomic<Int>(0)
        init(id: Int) { self.id = id }
    }

    /// Requests completed so far by this process.
    var totalRequests: Int { completed.load(ordering: .relaxed) }

    /// A new request thread's counter.
    func registerThread() -> ThreadCounter {
        let counter = ThreadCounter(id: nextThreadID.add(1, ordering: .relaxed).newValue)
        state.withLock { $0.threads.append(counter) }
        return counter
    }

    /// A request begins.
    @inline(__always)
    func requestStarted() {
        if recording.load(ordering: .relaxed) {
            state.withLock { s in accrue(&s, now: monotonicSeconds()) }
        }
        running.add(1, ordering: .relaxed)
    }

    /// A request ended; `times` (request start, queue start, daemon start, application start,
    /// application finish; wall-clock seconds, queue and daemon 0 in embedded mode) is asked
    /// for only while sampling.
    @inline(__always)
    func requestFinished(threadID: Int, times: () -> (Double, Double, Double, Double, Double)) {
        if recording.load(ordering: .relaxed) {
            let t = times()
            state.withLock { s in
                accrue(&s, now: monotonicSeconds())
                record(&s.sample, threadID: threadID, t)
            }
        }
        running.add(-1, ordering: .relaxed)
        completed.add(1, ordering: .relaxed)
    }

    private func accrue(_ s: inout State, now: Double) {
        if s.last > 0 { s.busy += Double(running.load(ordering: .relaxed)) * max(0, now - s.last) }
        s.last = now
    }

    private func record(_ sample: inout Sample, threadID: Int, _ t: (Double, Double, Double, Double, Double)) {
        let (requestStart, queueStart, daemonStart, applicationStart, finish) = t
        let server: Double, queue: Double, daemon: Double
        if queueStart > 0 {
            server = queueStart - requestStart
            queue = daemonStart - queueStart
            daemon = applicationStart - daemonStart
        } else {
            server = applicationStart - requestStart
            queue = 0
            daemon = 0
        }
        let durations = [server, queue, daemon, finish - applicationStart].map { max(0, $0) }
        sample.count += 1
        for i in 0..<4 {
            sample.totals[i] += durations[i]
            if i == 0 || i == 3 || queueStart > 0 { sample.buckets[i][Self.bucket(durations[i])] += 1 }
        }
        if threadID > 0 {
            if sample.threads.count < threadID { sample.threads += [Int](repeating: 0, count: threadID - sample.threads.count) }
            sample.threads[threadID - 1] += 1
        }
    }

    /// mod_wsgi's buckets: up to 5 ms, then doubling, the last one open-ended.
    static func bucket(_ seconds: Double) -> Int {
        var threshold = 0.005
        for i in 0..<14 {
            if seconds <= threshold { return i }
            threshold *= 2
        }
        return 14
    }

    /// The counters process_metrics() reports; turns busy-time accounting on.
    func processCounters() -> (requests: Int, busy: Double, active: Int, threads: [(Int, Int)], started: Double) {
        startRecording()
        return state.withLock { s in
            accrue(&s, now: monotonicSeconds())
            return (completed.load(ordering: .relaxed), s.busy, running.load(ordering: .relaxed),
                    s.threads.map { ($0.id, $0.requests.load(ordering: .relaxed)) }, started)
        }
    }

    /// The sample since the last call (which starts a new one); turns sampling on.
    func takeSample() -> Sample {
        startRecording()
        return state.withLock { s in
            var taken = s.sample
            s.sample = Sample()
            let threads = s.threads.count
            if taken.threads.count < threads { taken.threads += [Int](repeating: 0, count: threads - taken.threads.count) }
            return taken
        }
    }

    private func startRecording() {
        if !recording.exchange(true, ordering: .relaxed) {
            state.withLock { $0.last = monotonicSeconds() }
        }
    }
}

/// CLOCK_REALTIME in seconds.
func wallSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
