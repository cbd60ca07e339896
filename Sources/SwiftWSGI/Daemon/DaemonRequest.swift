@preconcurrency import CSwiftWSGI
import Glibc

/// One request inside a daemon: the request frame, decoded in place (its strings are
/// NUL-terminated on the wire, so the environ points into the payload), and the connection
/// its Apache operations write to.
///
/// The frame: UInt32 environ count; Int64 script mtime, Int64 queue start; Int32 server
/// port, script reloading, sendfile, header only, error override, ignore activity; Int32 queue
/// cell, UInt64 queue mark (mod_status's record of the wait, 0: none); the strings script
/// filename, server hostname, application group, callable object, process group, request
/// handler; then the environ's (name, value) strings.
final class DaemonRequest {
    let connection: FrameConnection
    private let payload: [UInt8]
    private let offsets: [Int]  // the six strings, then name and value of each environ pair
    private let scriptMTime: Int64
    /// When the Apache child began to wait for a daemon (wall clock, microseconds).
    let queueStart: Int64
    /// When this daemon picked the request up (wall clock, microseconds).
    let daemonStart = Int64(monotonicWallSeconds() * 1_000_000)
    private let numbers: (Int32, Int32, Int32, Int32, Int32, Int32)
    /// The Apache child's queue cell and its mark, which the daemon clears as it takes the
    /// request (mod_status's queue length).
    let queueCell: Int32
    let queueMark: UInt64
    /// WSGIIgnoreActivity: the request does not reset the inactivity-timeout.
    var ignoresActivity: Bool { numbers.5 != 0 }
    var failed = false
    /// Body bytes received beyond what the application asked for, served to its next reads.
    var input: [UInt8] = []
    var inputOffset = 0
    /// The least a body read asks the Apache child for.
    static let readAhead = 256 * 1024

    static let stringCount = 6
    /// Static C strings (a StaticString's bytes are NUL-terminated constants).
    nonisolated(unsafe) private static let daemonKeys: [UnsafePointer<CChar>] = ([
        "mod_wsgi.queue_start", "mod_wsgi.daemon_start", "mod_wsgi.daemon_connects", "mod_wsgi.daemon_restarts",
    ] as [StaticString]).map { UnsafeRawPointer($0.utf8Start).assumingMemoryBound(to: CChar.self) }

    init(connection: FrameConnection, payload: [UInt8]) throws(FrameParser.Malformed) {
        self.connection = connection
        var p = FrameParser(payload)
        let environCount = Int(try p.u32())
        guard environCount <= 100_000 else { throw FrameParser.Malformed() }
        scriptMTime = try p.i64()
        queueStart = try p.i64()
        numbers = (try p.i32(), try p.i32(), try p.i32(), try p.i32(), try p.i32(), try p.i32())
        queueCell = try p.i32()
        queueMark = UInt64(bitPattern: try p.i64())
        var offsets: [Int] = []
        offsets.reserveCapacity(Self.stringCount + 2 * environCount)
        for _ in 0..<(Self.stringCount + 2 * environCount) {
            offsets.append(try p.cStringOffset())
        }
        self.offsets = offsets
        self.payload = p.bytes
    }

    /// The frame for a request (the Apache child's side).
    static func encode(_ req: swiftwsgi_request_t, queueStart: Int64) -> [UInt8] {
        let environ = UnsafeBufferPointer(start: req.environ, count: req.environ == nil ? 0 : req.environ_count)
        // The shim fills every string (its getters hold the defaults); NULL would go as "".
        let strings = [req.script_filename, req.server_hostname, req.application_group, req.callable_object,
                       req.process_group, req.request_handler]
        let numbers = [req.server_port, req.script_reloading, req.enable_sendfile, req.header_only, req.error_override,
                       req.ignore_activity, req.queue_cell]
        // The size first, then one allocation written in place: appending piece by piece to a
        // growing array was a quarter of the Apache child's work for a daemon request.
        func size(_ p: UnsafePointer<CChar>?) -> Int { 5 + (p.map { strlen($0) } ?? 0) }
        var total = 4 + 8 + 8 + 4 * numbers.count + 8
        var fits = true
        for p in strings { total += size(p) }
        for i in environ.indices {
            let n = size(environ[i].name), v = size(environ[i].value)
            total += n + v
            if n > Int(UInt32.max) || v > Int(UInt32.max) { fits = false }
        }
        guard fits else { return encodeByPieces(req, queueStart: queueStart) }
        return [UInt8](unsafeUninitializedCapacity: total) { buffer, count in
            guard let base = buffer.baseAddress else { return }
            var at = 0
            func put<T: FixedWidthInteger>(_ v: T) {
                withUnsafeBytes(of: v.littleEndian) { UnsafeMutableRawPointer(base + at).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
                at += MemoryLayout<T>.size
            }
            func put(_ p: UnsafePointer<CChar>?) {
                let n = p.map { strlen($0) } ?? 0
                put(UInt32(truncatingIfNeeded: n))
                if let p, n > 0 { UnsafeMutableRawPointer(base + at).copyMemory(from: p, byteCount: n) }
                base[at + n] = 0
                at += n + 1
            }
            put(UInt32(clamping: environ.count))  // the daemon refuses over 100,000 pairs
            put(req.script_mtime)
            put(queueStart)
            for n in numbers.prefix(6) { put(n) }
            put(req.queue_cell)
            put(Int64(bitPattern: req.queue_mark))
            for p in strings { put(p) }
            for i in environ.indices {
                put(environ[i].name)
                put(environ[i].value)
            }
            count = at
        }
    }

    /// The same frame built piece by piece (a string too long for its length word is sent as "").
    static func encodeByPieces(_ req: swiftwsgi_request_t, queueStart: Int64) -> [UInt8] {
        let environ = UnsafeBufferPointer(start: req.environ, count: req.environ == nil ? 0 : req.environ_count)
        var b = FrameBuilder()
        b.bytes.reserveCapacity(4096)
        b.u32(UInt32(clamping: environ.count))  // the daemon refuses over 100,000 pairs
        b.i64(req.script_mtime)
        b.i64(queueStart)
        for n in [req.server_port, req.script_reloading, req.enable_sendfile, req.header_only, req.error_override,
                  req.ignore_activity] {
            b.i32(n)
        }
        b.i32(req.queue_cell)
        b.i64(Int64(bitPattern: req.queue_mark))
        func string(_ value: UnsafePointer<CChar>?) {
            if let value { b.string(value) } else { b.string("") }
        }
        string(req.script_filename)
        string(req.server_hostname)
        string(req.application_group)
        string(req.callable_object)
        string(req.process_group)
        string(req.request_handler)
        for i in environ.indices {
            b.string(environ[i].name)
            b.string(environ[i].value)
        }
        return b.bytes
    }

    /// Runs body with the request as the host takes it (pointers into the payload); nil when
    /// the payload is empty (a parsed request never is).
    func withRequest<R>(_ body: (UnsafePointer<swiftwsgi_request_t>) -> R) -> R? {
        // Everything on the stack or in the payload: no array is made per request.
        payload.withUnsafeBufferPointer { bytes -> R? in
            guard let start = bytes.baseAddress, offsets.count >= Self.stringCount else { return nil }
            let base = UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self)
            func string(_ i: Int) -> UnsafePointer<CChar> { base + offsets[i] }
            let environCount = (offsets.count - Self.stringCount) / 2
            let keys = Self.daemonKeys
            // mod_wsgi's daemon-mode keys: when the Apache child queued the request, when this
            // daemon took it, and the child's connects and daemon restarts seen (one kept
            // connection: 1 and 0). Two decimal numbers of at most 20 digits, NUL-terminated.
            return withUnsafeTemporaryAllocation(of: CChar.self, capacity: 48) { text -> R? in
                guard let textBase = text.baseAddress else { return nil }
                let queueText = textBase, daemonText = textBase + 24
                Self.writeDecimal(queueStart, into: queueText)
                Self.writeDecimal(daemonStart, into: daemonText)
                let values = (UnsafePointer(queueText), UnsafePointer(daemonText), Self.one, Self.zero)
                let count = environCount + (keys.count == 4 ? 4 : 0)
                return withUnsafeTemporaryAllocation(of: swiftwsgi_kv_t.self, capacity: max(1, count)) { kvs -> R? in
                    guard let env = kvs.baseAddress else { return nil }
                    for i in 0..<environCount {
                        env[i] = swiftwsgi_kv_t(name: string(Self.stringCount + 2 * i), value: string(Self.stringCount + 2 * i + 1))
                    }
                    if keys.count == 4 {
                        env[environCount] = swiftwsgi_kv_t(name: keys[0], value: values.0)
                        env[environCount + 1] = swiftwsgi_kv_t(name: keys[1], value: values.1)
                        env[environCount + 2] = swiftwsgi_kv_t(name: keys[2], value: values.2)
                        env[environCount + 3] = swiftwsgi_kv_t(name: keys[3], value: values.3)
                    }
                    var req = swiftwsgi_request_t()
                    req.call = swiftwsgi_script_call_t(
                        handle: Unmanaged.passUnretained(self).toOpaque(), environ: env,
                        environ_count: count, script_filename: string(0), script_mtime: scriptMTime,
                        server_hostname: string(1), server_port: numbers.0, application_group: string(2))
                    req.callable_object = string(3)
                    req.process_group = string(4)
                    req.script_reloading = numbers.1
                    req.enable_sendfile = numbers.2
                    req.header_only = numbers.3
                    req.request_handler = string(5)
                    req.error_override = numbers.4
                    req.ignore_activity = numbers.5
                    return withUnsafePointer(to: &req, body)
                }
            }
        }
    }

    nonisolated(unsafe) private static let one = UnsafeRawPointer(("1" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)
    nonisolated(unsafe) private static let zero = UnsafeRawPointer(("0" as StaticString).utf8Start).assumingMemoryBound(to: CChar.self)

    /// v in decimal, NUL-terminated, into at least 21 bytes (a negative v is written as 0).
    static func writeDecimal(_ v: Int64, into p: UnsafeMutablePointer<CChar>) {
        var n = UInt64(max(0, v))
        var length = 0
        repeat {
            p[length] = CChar(UInt8(ascii: "0") + UInt8(n % 10))
            n /= 10
            length += 1
        } while n > 0
        // The digits came least significant first.
        var i = 0, j = length - 1
        while i < j {
            let t = p[i]; p[i] = p[j]; p[j] = t
            i += 1; j -= 1
        }
        p[length] = 0
    }
}

/// Wall-clock seconds (the queue start crosses processes, so it cannot be monotonic).
func monotonicWallSeconds() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_REALTIME, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}
