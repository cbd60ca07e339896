import Glibc
import Synchronization
import Testing
@testable import Telemetry

/// mod_wsgi 6.1's telemetry datagrams (wsgi_telemetry.h; the ingester's wire.py): the header,
/// the TLV records, the histogram buckets, and what the recorder and sender put in them.
@Suite struct TelemetryTests {
    /// A decoded datagram: header and fields by id (u64, f64, bytes, i32 arrays, f64 arrays).
    struct Decoded {
        var magic = "", version = 0, kind = 0, flags = 0, pid = 0, sequence = 0, stamp = 0.0
        var u64: [Int: UInt64] = [:], f64: [Int: Double] = [:], bytes: [Int: String] = [:]
        var i32: [Int: [Int32]] = [:], f64s: [Int: [Double]] = [:]
        var order: [Int] = []

        init(_ b: [UInt8]) throws {
            func le(_ at: Int, _ n: Int) -> UInt64 { (0..<n).reduce(0) { $0 | UInt64(b[at + $1]) << (8 * $1) } }
            try #require(b.count >= 24)
            magic = String(decoding: b[0..<4], as: UTF8.self)
            version = Int(b[4]); kind = Int(b[5]); flags = Int(le(6, 2))
            pid = Int(le(8, 4)); sequence = Int(le(12, 4)); stamp = Double(bitPattern: le(16, 8))
            var at = 24
            while at < b.count {
                try #require(b.count - at >= 3)
                let id = Int(le(at, 2)), tag = b[at + 2]
                at += 3
                order.append(id)
                switch tag {
                case 1: u64[id] = le(at, 8); at += 8
                case 2: f64[id] = Double(bitPattern: le(at, 8)); at += 8
                case 4:
                    let n = Int(le(at, 2)); at += 2
                    bytes[id] = String(decoding: b[at..<at + n], as: UTF8.self); at += n
                case 5:
                    let n = Int(le(at, 2)); at += 2
                    i32[id] = (0..<n).map { Int32(bitPattern: UInt32(le(at + 4 * $0, 4))) }; at += 4 * n
                case 6:
                    let n = Int(le(at, 2)); at += 2
                    f64s[id] = (0..<n).map { Double(bitPattern: le(at + 8 * $0, 8)) }; at += 8 * n
                default:
                    Issue.record("unknown tag \(tag) at \(at - 1)"); return
                }
            }
            #expect(at == b.count)
        }
    }

    @Test func headerIsTwentyFourLittleEndianBytes() throws {
        let e = TelemetryWire.Encoder(kind: .processStarted, pid: 0x01020304, sequence: 7, stamp: 1.5)
        #expect(e.bytes.count == 24)
        #expect(Array(e.bytes[0..<8]) == [0x57, 0x53, 0x47, 0x49, 1, 5, 0, 0])
        #expect(Array(e.bytes[8..<12]) == [4, 3, 2, 1])
        let d = try Decoded(e.bytes)
        #expect(d.magic == "WSGI" && d.version == 1 && d.kind == 5 && d.pid == 0x01020304 && d.sequence == 7 && d.stamp == 1.5)
    }

    @Test func recordsAreIdTagValue() throws {
        var e = TelemetryWire.Encoder(kind: .request, pid: 1, sequence: 1, stamp: 0)
        e.u64(.requestCount, 42)
        e.f64(.samplePeriod, 0.25)
        e.string(.processGroup, "grüppe")
        e.string(.hostname, "")                       // empty strings are left out
        e.i32Array(.requestThreadsCompleted, [1, -2, Int.max])
        e.f64Array(.requestThreadsBusyTime, [0.5, 2])
        #expect(Array(e.bytes[24..<27]) == [20, 0, 1])  // request_count, u64
        let d = try Decoded(e.bytes)
        #expect(d.u64[20] == 42 && d.f64[10] == 0.25 && d.bytes[6] == "grüppe" && d.bytes[5] == nil)
        #expect(d.i32[110] == [1, -2, Int32.max])
        #expect(d.f64s[111] == [0.5, 2])
    }

    @Test func aDatagramNeverOutgrowsTheLimit() {
        var e = TelemetryWire.Encoder(kind: .request, pid: 1, sequence: 1, stamp: 0)
        for _ in 0..<10 { e.string(.slowPathInfo, String(repeating: "x", count: 3000)) }
        #expect(e.bytes.count <= TelemetryWire.maximumDatagram)
        #expect(e.overflowed)
    }

    /// mod_wsgi's index: frexp(ms) = m * 2^e, octave e - 1, sub-bucket (2m - 1) * 4; below 1 ms
    /// bucket 0, from 65536 ms the last.
    @Test func bucketsFollowModWSGI() {
        func reference(_ seconds: Double) -> Int {
            let ms = seconds * 1000
            if ms < 1 { return 0 }
            if ms >= 65536 { return 64 }
            var exponent: Int32 = 0
            let mantissa = frexp(ms, &exponent)
            return Int(exponent - 1) * 4 + min(3, Int((2 * mantissa - 1) * 4))
        }
        var value = 0.00001
        while value < 200 {
            #expect(TelemetryWire.bucket(seconds: value) == reference(value), "\(value)")
            value *= 1.07
        }
        for edge in [0.001, 0.00125, 0.0015, 0.002, 0.003, 1.0, 65.535, 65.536, -1, .infinity] {
            #expect(TelemetryWire.bucket(seconds: edge) == reference(edge), "\(edge)")
        }
        #expect(TelemetryWire.bucket(seconds: .nan) == 0)
    }

    @Test func aTickReportsTheRequestsOfItsInterval() throws {
        let recorder = TelemetryRecorder()
        let settings = TelemetrySettings(socketPath: "/nonexistent/telemetry.sock", interval: 3600, slowRequests: 0.5,
                                         captureUserAgent: false, processGroup: "g", threads: 4,
                                         serverVersion: "mod_swiftwsgi 1.2.3", pythonVersion: "3.11.2",
                                         apacheVersion: "2.4.62", mpmName: "event", switchInterval: 0.005)
        let warned = Mutex<[String]>([])
        // The identity reader gets the environ pointer a request began with: here a string.
        let sender = try #require(TelemetrySender.start(settings, recorder: recorder, identity: { raw, count in
            var identity = SlowRequest.Identity()
            identity.method = "GET"
            identity.pathInfo = String(decoding: UnsafeRawBufferPointer(start: raw, count: count), as: UTF8.self)
            return identity
        }) { m in warned.withLock { $0.append(m) } })
        defer { sender.stopped(reason: "") }
        // Sending to a missing socket is dropped and counted; PROCESS_STARTED quietly (the
        // ingester may come up after the server), samples with one warning.
        #expect(warned.withLock { $0 }.isEmpty && sender.droppedCount == 1)
        sender.tick()
        sender.tick()
        #expect(warned.withLock { $0 }.count == 1 && sender.droppedCount == 5)

        let t1 = recorder.thread(id: 1), t2 = recorder.thread(id: 2)
        let path = UnsafeMutablePointer<UInt8>.allocate(capacity: 5)
        defer { path.deallocate() }
        for (i, b) in "/slow".utf8.enumerated() { path[i] = b }
        let base = wallClock() - 10
        func run(_ t: TelemetryThread, _ seconds: Double, status: Int, slow: Bool = false) {
            let times = RequestTimes(requestStart: base, queueStart: base + 0.001, daemonStart: base + 0.002,
                                     applicationStart: base + 0.003)
            recorder.begin(t, times: times, environ: UnsafeRawPointer(path), count: 5)
            var o = RequestOutcome()
            o.finish = base + 0.003 + seconds
            o.status = status
            o.outputBytes = 5; o.outputWrites = 1
            recorder.end(t, times: times, outcome: o)
        }
        run(t1, 0.002, status: 200)
        run(t1, 0.010, status: 404)
        run(t2, 0.8, status: 200)
        run(t2, 0.004, status: 0)

        let datagrams = sender.tickDatagrams()
        try #require(datagrams.count == 2)
        let d = try Decoded(datagrams[0])
        #expect(d.kind == 2 && d.pid == Int(getpid()))
        #expect(d.bytes[1] == "mod_swiftwsgi 1.2.3" && d.bytes[6] == "g" && d.bytes[4] == "event")
        #expect(d.u64[20] == 4)
        #expect(d.u64[121] == 2 && d.u64[123] == 1 && d.u64[124] == 1 && d.u64[120] == 0 && d.u64[122] == 0)
        #expect(d.u64[102] == 20 && d.u64[103] == 4)
        #expect(d.u64[50] == 4 && d.u64[51] == 2)
        // Phases: server 1 ms, queue 1 ms, daemon 1 ms each; application as run.
        #expect(abs((d.f64[61] ?? 0) - 0.001) < 1e-4)
        #expect(abs((d.f64[83] ?? 0) - 0.8) < 1e-4 && abs((d.f64[73] ?? 0) - 0.002) < 1e-4)
        #expect(d.f64[65] == 0 && d.i32[95]?.first == 4)   // GIL wait: none here
        let histogram = try #require(d.i32[93])
        #expect(histogram.count == 65 && histogram.reduce(0, +) == 4)
        #expect(histogram[TelemetryWire.bucket(seconds: 0.8)] == 1)
        #expect(d.i32[110] == [2, 2, 0, 0])
        // The slow one, completed.
        let s = try Decoded(datagrams[1])
        #expect(s.kind == 4 && s.u64[200] == 1 && s.bytes[214] == "/slow" && s.bytes[210] == "GET")
        #expect(abs((s.f64[202] ?? 0) - 0.803) < 1e-3 && s.u64[240] == 200)
        #expect(s.sequence == d.sequence + 1)

        // The next interval starts empty.
        let next = try Decoded(try #require(sender.tickDatagrams().first))
        #expect(next.u64[20] == 0 && next.f64[73] == nil)
    }

    @Test func aRunningSlowRequestIsReportedActive() throws {
        let recorder = TelemetryRecorder()
        recorder.configure(slowRequests: 1, daemon: false, captureUserAgent: true) { _, _ in
            var identity = SlowRequest.Identity()
            identity.userAgent = "curl"
            return identity
        }
        let t = recorder.thread(id: 1)
        let start = wallClock() - 5
        var environ: UInt8 = 0
        recorder.begin(t, times: RequestTimes(requestStart: start, queueStart: 0, daemonStart: 0, applicationStart: start + 0.5),
                       environ: &environ, count: 1)
        let slow = recorder.slowRequests(now: wallClock())
        try #require(slow.active.count == 1 && slow.completed.isEmpty)
        #expect(!slow.active[0].completed && slow.active[0].duration >= 5)
        #expect(abs(slow.active[0].phases[3] - 4.5) < 0.5 && abs(slow.active[0].phases[0] - 0.5) < 1e-3)
        #expect(slow.active[0].identity.userAgent == "curl")
        let interval = recorder.drain(now: wallClock())
        #expect(interval.requests == 0 && interval.threadsActive == 1 && interval.perThread[0].elapsed > 4_000_000)
    }
}
