import Testing
@testable import PythonHost

/// request_metrics()' accounting: mod_wsgi 6.1's histogram buckets and what one finished request
/// adds to a sample.
@Suite struct MetricsTests {
    @Test func bucketsAreMillisecondOctavesInQuarters() {
        #expect(Metrics.bucket(0) == 0)
        #expect(Metrics.bucket(0.0009) == 0)
        #expect(Metrics.bucket(0.001) == 0)      // [1, 1.25) ms
        #expect(Metrics.bucket(0.00125) == 1)    // a boundary goes to the higher bucket
        #expect(Metrics.bucket(0.0019) == 3)
        #expect(Metrics.bucket(0.002) == 4)      // the next octave
        #expect(Metrics.bucket(0.003) == 6)      // [3, 3.5) ms
        #expect(Metrics.bucket(65.535) == 63)
        #expect(Metrics.bucket(65.536) == 64)    // the overflow bucket
        #expect(Metrics.bucket(1e6) == Metrics.bucketCount - 1)
    }

    @Test func finishedRequestsAreCountedByStatusPhaseAndThread() {
        let metrics = Metrics()
        metrics.startRecording()
        let counter = metrics.registerThread()
        for (status, daemon) in [(200, false), (404, true), (0, false), (302, false)] {
            metrics.requestStarted(counter)
            metrics.requestFinished(counter) {
                Metrics.Finished(requestStart: 100, queueStart: daemon ? 100.001 : 0, daemonStart: daemon ? 100.002 : 0,
                                 applicationStart: 100.003, finish: 100.013, status: status, inputBytes: 10, inputReads: 1,
                                 outputBytes: 5, outputWrites: 1, inputTime: 0.001, outputTime: 0.002, cpu: 0.004)
            }
        }
        let (s, elapsed) = metrics.takeSample()
        #expect(s.count == 4)
        #expect(s.statuses == [0, 1, 1, 1, 1])  // no status at all counts as 5xx
        #expect(s.io == [40, 4, 20, 4])
        let application = Metrics.Phase.application.rawValue, queue = Metrics.Phase.queue.rawValue
        #expect(s.buckets[application].reduce(0, +) == 4 && s.buckets[queue].reduce(0, +) == 1)
        #expect(s.minimums[application] == 10_000 && s.maximums[application] == 10_000)
        #expect(s.buckets[Metrics.Phase.gilWait.rawValue].reduce(0, +) == 0)  // no wait recorded
        #expect(s.threads == [4] && elapsed == [0])
        #expect(abs(s.threadCPU[0] - 0.016) < 1e-9 && abs(s.threadLongest[0] - 0.01) < 1e-9)
        #expect(metrics.takeSample().sample.count == 0)  // taken: the next sample starts empty
    }
}
