/// The datagram format of mod_wsgi 6.1's telemetry (its wsgi_telemetry.h; the
/// mod_wsgi-telemetry ingester's wire.py decodes it), written from its description.
///
/// A datagram is a 24-byte little-endian header (magic "WSGI", version 1, kind, flags 0, pid,
/// sequence number, stamp as float64 seconds since the epoch) followed by TLV records: field id
/// (u16), type tag (u8), a u16 count for bytes and arrays, then the value. Times are float64
/// seconds; counts are u64.
public enum TelemetryWire {
    public static let version: UInt8 = 1
    public static let headerSize = 24
    /// The largest datagram mod_wsgi sends; ours stay below it.
    public static let maximumDatagram = 8192

    /// Datagram kinds.
    public enum Kind: UInt8 {
        case process = 1, request = 2, server = 3, slowRequest = 4
        case processStarted = 5, processStopping = 6, processStopped = 7
        case gcSnapshot = 8, gcEvent = 9
    }

    /// Value type tags.
    enum Tag: UInt8 {
        case u64 = 0x01, f64 = 0x02, i64 = 0x03, bytes = 0x04, i32Array = 0x05, f64Array = 0x06
    }

    /// Field ids (mod_wsgi 6.1's, in its blocks of ten).
    public enum Field: UInt16 {
        // identity
        case serverVersion = 1          // mod_wsgi_version: ours names mod_swiftwsgi
        case pythonVersion = 2, apacheVersion = 3, mpmName = 4, hostname = 5
        case processGroup = 6, processParentPID = 7, interpreterName = 8
        // reporter configuration
        case samplePeriod = 10, telemetryInterval = 11, slowRequestsThreshold = 12, switchInterval = 13
        // rates and capacity
        case requestCount = 20, requestThroughput = 21, capacityUtilization = 22
        // CPU and memory
        case cpuUserUtilization = 30, cpuSystemUtilization = 31, cpuUtilization = 32
        case memoryRSS = 40, memoryMaxRSS = 41
        // request threads
        case requestThreadsMaximum = 50, requestThreadsStarted = 51, requestThreadsActive = 52
        // per-request I/O totals of the interval
        case inputBytesTotal = 100, inputReadsTotal = 101, outputBytesTotal = 102, outputWritesTotal = 103
        // per-thread arrays
        case requestThreadsCompleted = 110, requestThreadsBusyTime = 111, requestThreadsCPUTime = 112
        case requestThreadsCurrentElapsed = 113, requestThreadsMaxDuration = 114
        // status classes (1xx at 120 ... 5xx at 124)
        case status1xx = 120
        // lifecycle
        case shutdownReason = 130, processUptime = 131, lifetimeRequestCount = 132
        case activeRequestsAtDecision = 133, activeRequestsAtExit = 134, gracefulDrain = 135
        // slow requests
        case slowRecordState = 200, slowStartStamp = 201, slowDuration = 202, slowThreadID = 203
        case slowLogID = 204, slowServerPID = 205
        case slowMethod = 210, slowScheme = 211, slowHostname = 212, slowScriptName = 213
        case slowPathInfo = 214, slowProtocol = 215, slowPeerIP = 216, slowUserAgent = 217
        case slowServerTime = 220, slowQueueTime = 221, slowDaemonTime = 222, slowApplicationTime = 223
        case slowGILWaitTime = 224, slowGILWaitCount = 225
        case slowInputBytes = 230, slowInputReads = 231, slowOutputBytes = 232, slowOutputWrites = 233
        case slowInputReadTime = 234, slowOutputWriteTime = 235
        case slowStatus = 240
        case slowCPUUserTime = 250, slowCPUSystemTime = 251
        case slowActiveAtStart = 260, slowActiveAtCompletion = 261
    }

    /// The request phases mod_wsgi times. Each has a mean (60 + raw), a min (70 + raw), a max
    /// (80 + raw) and a histogram (90 + raw) field.
    public enum Phase: Int, CaseIterable, Sendable {
        case server = 0, queue, daemon, application, request, gilWait, inputRead, outputWrite
        var mean: UInt16 { 60 + UInt16(rawValue) }
        var minimum: UInt16 { 70 + UInt16(rawValue) }
        var maximum: UInt16 { 80 + UInt16(rawValue) }
        var histogram: UInt16 { 90 + UInt16(rawValue) }
    }

    /// Histogram buckets per phase: 16 octaves from 1 ms to 65.536 s, four linear sub-buckets
    /// each, then one for everything longer. Below 1 ms is bucket 0.
    public static let bucketCount = 65

    /// The bucket of a duration (seconds), as mod_wsgi 6.1 places it.
    public static func bucket(seconds: Double) -> Int {
        let ms = seconds * 1000
        guard ms >= 1 else { return 0 }          // also NaN and negatives
        guard ms < 65536 else { return bucketCount - 1 }
        // ms = m * 2^e with m in [1, 2): the octave is e, the sub-bucket the quarter of m - 1.
        let octave = Int(ms.exponent)
        let sub = min(3, Int((ms.significand - 1) * 4))
        return octave * 4 + sub
    }

    /// Builds one datagram. Never traps: a field that would not fit in `maximumDatagram` is
    /// left out (and `overflowed` set); strings and arrays longer than 65535 are cut.
    public struct Encoder {
        public private(set) var bytes: [UInt8] = []
        public private(set) var overflowed = false

        public init(kind: Kind, pid: UInt32, sequence: UInt32, stamp: Double) {
            bytes.reserveCapacity(1024)
            bytes += Array("WSGI".utf8)
            bytes.append(TelemetryWire.version)
            bytes.append(kind.rawValue)
            put16(0)
            put32(pid)
            put32(sequence)
            put64(stamp.bitPattern)
        }

        private mutating func put16(_ v: UInt16) { bytes.append(UInt8(v & 0xff)); bytes.append(UInt8(v >> 8)) }
        private mutating func put32(_ v: UInt32) { for i in 0..<4 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }
        private mutating func put64(_ v: UInt64) { for i in 0..<8 { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * i))) } }

        private mutating func room(_ n: Int) -> Bool {
            if bytes.count + n <= TelemetryWire.maximumDatagram { return true }
            overflowed = true
            return false
        }

        private mutating func tag(_ id: UInt16, _ t: Tag) { put16(id); bytes.append(t.rawValue) }

        public mutating func u64(_ field: Field, _ v: UInt64) { u64(field.rawValue, v) }
        public mutating func u64(_ id: UInt16, _ v: UInt64) {
            guard room(11) else { return }
            tag(id, .u64); put64(v)
        }
        public mutating func count(_ field: Field, _ v: Int) { u64(field.rawValue, UInt64(max(0, v))) }
        public mutating func count(_ id: UInt16, _ v: Int) { u64(id, UInt64(max(0, v))) }

        public mutating func f64(_ field: Field, _ v: Double) { f64(field.rawValue, v) }
        public mutating func f64(_ id: UInt16, _ v: Double) {
            guard room(11) else { return }
            tag(id, .f64); put64(v.bitPattern)
        }

        /// A string; left out when empty (as mod_wsgi does).
        public mutating func string(_ field: Field, _ s: String) {
            guard !s.isEmpty else { return }
            let utf8 = Array(s.utf8.prefix(Int(UInt16.max)))
            guard room(5 + utf8.count) else { return }
            tag(field.rawValue, .bytes); put16(UInt16(utf8.count)); bytes += utf8
        }

        public mutating func i32Array(_ field: Field, _ values: [Int]) { i32Array(field.rawValue, values) }
        public mutating func i32Array(_ id: UInt16, _ values: [Int]) {
            let n = min(values.count, Int(UInt16.max))
            guard room(5 + 4 * n) else { return }
            tag(id, .i32Array); put16(UInt16(n))
            for v in values.prefix(n) { put32(UInt32(bitPattern: Int32(clamping: v))) }
        }

        public mutating func f64Array(_ field: Field, _ values: [Double]) {
            let n = min(values.count, Int(UInt16.max))
            guard room(5 + 8 * n) else { return }
            tag(field.rawValue, .f64Array); put16(UInt16(n))
            for v in values.prefix(n) { put64(v.bitPattern) }
        }
    }
}
