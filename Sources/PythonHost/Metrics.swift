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
/// time) and the per-request figures (phases, statuses, I/O, GIL waits, thread CPU) start only
/// once an application calls start_recording_metrics() or a metrics function: until then a
/// request pays one atomic load for them.
final class Metrics: Sendable {
    static let shared = Metrics()

    /// Wall-clock time the process's Python started (process_metrics' restart_time).
    let started = wallSeconds()
    private let completed = Atomic<Int>(0)
    private let running = Atomic<Int>(0)
    private let nextThreadID = Atomic<Int>(0)
    /// Busy-time and sampling are on (an application called a metrics function).
    private let recording = Atomic<Bool>(false)
    private let state = PlainLock<State>(State())

    private struct State {
        var busy = 0.0
        var last = 0.0
        var threads: [ThreadCounter] = []
        var sample = Sample()
    }

    /// mod_wsgi 6.1's request phases, in the order request_metrics() names them.
    enum Phase: Int, CaseIterable {
        case server, queue, daemon, application, request, gilWait, inputRead, outputWrite
        var key: String {
            ["server_time", "queue_time", "daemon_time", "application_time", "request_time", "gil_wait_time",
             "input_read_time", "output_write_time"][rawValue]
        }
    }

    /// What request_metrics() reports of the requests finished since its last call.
    struct Sample {
        var count = 0
        /// Per phase: the total (seconds), the least and most (microseconds; min is Int.max
        /// while none was recorded) and mod_wsgi 6.1's 65 histogram buckets.
        var totals = [Double](repeating: 0, count: Phase.allCases.count)
        var minimums = [Int](repeating: .max, count: Phase.allCases.count)
        var maximums = [Int](repeating: 0, count: Phase.allCases.count)
        var buckets = [[Int]](repeating: [Int](repeating: 0, count: Metrics.bucketCount), count: Phase.allCases.count)
        var gilWaits = 0
        /// Responses by class: 1xx ... 5xx (a request with no status counts as 5xx).
        var statuses = [0, 0, 0, 0, 0]
        /// Input bytes, input reads, output bytes, output writes.
        var io = [0, 0, 0, 0]
        /// Per request thread (index thread_id - 1): requests finished, busy seconds, CPU
        /// seconds, and the longest request (seconds).
        var threads: [Int] = []
        var threadBusy: [Double] = []
        var threadCPU: [Double] = []
        var threadLongest: [Double] = []
    }

    /// One finished request, as request_metrics() accounts it (wall-clock seconds; queue and
    /// daemon start 0 in embedded mode).
    struct Finished {
        var requestStart = 0.0, queueStart = 0.0, daemonStart = 0.0, applicationStart = 0.0, finish = 0.0
        var status = 0
        var inputBytes = 0, inputReads = 0, outputBytes = 0, outputWrites = 0
        var inputTime = 0.0, outputTime = 0.0
        var gilWait = 0.0, gilWaits = 0
        var cpu = 0.0
    }

    /// A request thread's id (1-based, in order of first request) and its request count.
    final class ThreadCounter: Sendable {
        let id: Int
        /// Requests this thread started. Written by its thread only, but read by
        /// process_metrics() from any interpreter's thread, which with own-GIL interpreters
        /// runs at the same time: atomic, not "guarded by the GIL".
        let requests = Atomic<Int>(0)
        /// When its running request began (wall-clock microseconds), 0 while idle: for
        /// request_threads_current_elapsed.
        let runningSince = Atomic<Int64>(0)
        /// The GIL waits of its running request (microseconds, count), while recording.
        let gilWait = Atomic<Int>(0)
        let gilWaits = Atomic<Int>(0)
        init(id: Int) { self.id = id }

        /// Takes the running request's GIL waits, leaving them at zero.
        func takeGILWaits() -> (seconds: Double, count: Int) {
            (Double(gilWait.exchange(0, ordering: .relaxed)) / 1e6, gilWaits.exchange(0, ordering: .relaxed))
        }
    }

    /// Requests completed so far by this process.
    var totalRequests: Int { completed.load(ordering: .relaxed) }

    /// Whether busy time and per-request figures are being recorded.
    @inline(__always)
    var isRecording: Bool { recording.load(ordering: .relaxed) }

    /// A new request thread's counter.
    func registerThread() -> ThreadCounter {
        let counter = ThreadCounter(id: nextThreadID.add(1, ordering: .relaxed).newValue)
        state.withLock { $0.threads.append(counter) }
        return counter
    }

    /// A request begins on the thread of `counter`.
    @inline(__always)
    func requestStarted(_ counter: ThreadCounter?) {
        if recording.load(ordering: .relaxed) {
            counter?.runningSince.store(Int64(wallSeconds() * 1e6), ordering: .relaxed)
            _ = counter?.takeGILWaits()
            state.withLock { s in accrue(&s, now: monotonicSeconds()) }
        }
        running.add(1, ordering: .relaxed)
    }

    /// A request ended; `finished` is asked for only while recording.
    @inline(__always)
    func requestFinished(_ counter: ThreadCounter?, finished: () -> Finished) {
        if recording.load(ordering: .relaxed) {
            counter?.runningSince.store(0, ordering: .relaxed)
            let f = finished()
            state.withLock { s in
                accrue(&s, now: monotonicSeconds())
                record(&s.sample, threadID: counter?.id ?? 0, f)
            }
        }
        running.add(-1, ordering: .relaxed)
        completed.add(1, ordering: .relaxed)
    }

    private func accrue(_ s: inout State, now: Double) {
        if s.last > 0 { s.busy += Double(running.load(ordering: .relaxed)) * max(0, now - s.last) }
        s.last = now
    }

    private func record(_ sample: inout Sample, threadID: Int, _ f: Finished) {
        let daemon = f.queueStart > 0
        var durations: [Double?] = [
            (daemon ? f.queueStart : f.applicationStart) - f.requestStart,
            daemon ? f.daemonStart - f.queueStart : nil,
            daemon ? f.applicationStart - f.daemonStart : nil,
            f.finish - f.applicationStart,
            f.finish - f.requestStart,
            f.gilWait, f.inputTime, f.outputTime,
        ]
        if f.gilWaits == 0 { durations[Phase.gilWait.rawValue] = nil }
        if f.inputReads == 0 { durations[Phase.inputRead.rawValue] = nil }
        if f.outputWrites == 0 { durations[Phase.outputWrite.rawValue] = nil }
        sample.count += 1
        for (i, d) in durations.enumerated() {
            guard let d else { continue }
            let seconds = max(0, d)
            let us = Int(seconds * 1e6)
            sample.totals[i] += seconds
            sample.minimums[i] = min(sample.minimums[i], us)
            sample.maximums[i] = max(sample.maximums[i], us)
            sample.buckets[i][Self.bucket(seconds)] += 1
        }
        sample.gilWaits += f.gilWaits
        sample.statuses[(100..<600).contains(f.status) ? f.status / 100 - 1 : 4] += 1
        for (i, n) in [f.inputBytes, f.inputReads, f.outputBytes, f.outputWrites].enumerated() { sample.io[i] += n }
        if threadID > 0 {
            Self.grow(&sample, to: threadID)
            let i = threadID - 1
            let duration = max(0, f.finish - f.applicationStart)
            sample.threads[i] += 1
            sample.threadBusy[i] += duration
            sample.threadCPU[i] += max(0, f.cpu)
            sample.threadLongest[i] = max(sample.threadLongest[i], duration)
        }
    }

    private static func grow(_ sample: inout Sample, to count: Int) {
        let n = count - sample.threads.count
        guard n > 0 else { return }
        sample.threads += [Int](repeating: 0, count: n)
        sample.threadBusy += [Double](repeating: 0, count: n)
        sample.threadCPU += [Double](repeating: 0, count: n)
        sample.threadLongest += [Double](repeating: 0, count: n)
    }

    /// mod_wsgi 6.1's histogram: below 1 ms, then 16 octaves up to 65.536 s of four linear
    /// sub-buckets each, then one for everything longer.
    static let bucketCount = 65
    static func bucket(_ seconds: Double) -> Int {
        let ms = seconds * 1000
        if ms < 1 { return 0 }
        if ms >= 65536 { return bucketCount - 1 }
        var exponent: Int32 = 0
        let mantissa = frexp(ms, &exponent)
        return Int(exponent - 1) * 4 + min(3, Int((2 * mantissa - 1) * 4))
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

    /// The sample since the last call (which starts a new one) and, per request thread, how
    /// long its running request has been running (seconds, 0 idle); turns recording on.
    func takeSample() -> (sample: Sample, elapsed: [Double]) {
        startRecording()
        let now = Int64(wallSeconds() * 1e6)
        return state.withLock { s in
            var taken = s.sample
            s.sample = Sample()
            Self.grow(&taken, to: s.threads.count)
            let elapsed = s.threads.map { t -> Double in
                let since = t.runningSince.load(ordering: .relaxed)
                return since > 0 ? Double(max(0, now - since)) / 1e6 : 0
            }
            return (taken, elapsed)
        }
    }

    /// start_recording_metrics(): busy time and per-request figures are recorded from now on.
    func startRecording() {
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
