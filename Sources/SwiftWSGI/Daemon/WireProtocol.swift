import Glibc
import PythonHost
import Synchronization

/// The protocol between an Apache child and a daemon process, over a unix-socket connection
/// that the child keeps for its next request once a response has ended. Every frame is a type
/// byte, a little-endian UInt32 payload length (at most `Frame.maxPayload`), then the payload;
/// a body write larger than `Frame.writePiece` goes as several `write` frames. The child sends one `request` frame; from then on the daemon drives: it asks for
/// body bytes (`read`, answered by `data` or `readError`) and sends the response as `headers`,
/// `write`, `flush`, `sendFile` (the descriptor rides along as SCM_RIGHTS), `log` and `abort`
/// frames, ending with `end`. The daemon buffers output frames, so a small response is one
/// send() and one recv() on each side.
enum FrameType: UInt8 {
    case request = 0x51     // Q: fixed fields, strings, environ pairs (DaemonRequest)
    case read = 0x52        // R: UInt32 maximum
    case data = 0x44        // D: body bytes; empty = end of body
    case readError = 0x58   // X: UInt32 HTTP status
    case headers = 0x48     // H: UInt32 status, status line, UInt32 count, (name, value) pairs
    case write = 0x57       // W: body bytes
    case flush = 0x46       // F: push written bytes to the client now
    case sendFile = 0x53    // S: Int64 offset, Int64 length, UInt8 sendfile; one descriptor
    case log = 0x4c         // L: UInt32 level, message
    case abort = 0x41       // A: abort the client connection
    case end = 0x5a         // Z: Int32 handler status
}

/// Frame sizes and headers: pure functions, so the limits are unit-tested without sockets.
enum Frame {
    /// The largest payload a receiver accepts (it holds a frame in memory whole).
    static let maxPayload = 1 << 30
    /// Body writes go out in `write` frames of at most this many bytes: any size of write
    /// crosses, and the Apache child holds one piece at a time.
    static let writePiece = 1 << 24

    /// The payload ranges of the frames that carry one queued payload of `length` bytes: a
    /// `write` is cut into pieces of at most `piece` bytes; any other frame is one whole
    /// (an empty payload is one empty frame). Throws EMSGSIZE for a frame the receiver would refuse.
    static func spans(_ type: FrameType, length: Int, piece: Int = writePiece) throws(SystemError) -> [Range<Int>] {
        guard length >= 0, piece > 0, piece <= maxPayload else { throw SystemError(call: "frame", errno: EMSGSIZE) }
        if length <= piece || type != .write {
            guard length <= maxPayload else { throw SystemError(call: "frame", errno: EMSGSIZE) }
            return [0..<length]
        }
        return stride(from: 0, to: length, by: piece).map { $0..<min($0 + piece, length) }
    }

    /// A payload length as the header's UInt32; throws EMSGSIZE for a length over `maxPayload`
    /// (so over UInt32.max) instead of truncating it.
    @inline(__always)
    static func length(_ length: Int) throws(SystemError) -> UInt32 {
        guard length >= 0, length <= maxPayload, let n = UInt32(exactly: length) else {
            throw SystemError(call: "frame", errno: EMSGSIZE)
        }
        return n
    }

    /// Appends a frame's five header bytes to `out`: its type and its payload length,
    /// little-endian (see `length`).
    @inline(__always)
    static func appendHeader(_ type: FrameType, length: Int, to out: inout [UInt8]) throws(SystemError) {
        let n = try Self.length(length)
        out.append(type.rawValue)
        withUnsafeBytes(of: n.littleEndian) { out.append(contentsOf: $0) }
    }

    /// A frame's five header bytes (see `appendHeader`).
    static func header(_ type: FrameType, length: Int) throws(SystemError) -> [UInt8] {
        var out: [UInt8] = []
        try appendHeader(type, length: length, to: &out)
        return out
    }

    /// The type and payload length of a received header; throws EPROTO for an unknown type or a
    /// length over `maxPayload` (nothing is allocated for it).
    static func parseHeader(_ h: [UInt8]) throws(SystemError) -> (FrameType, Int) {
        guard h.count == 5, let type = FrameType(rawValue: h[0]) else { throw SystemError(call: "protocol", errno: EPROTO) }
        let length = Int(h[1]) | Int(h[2]) << 8 | Int(h[3]) << 16 | Int(h[4]) << 24
        guard length <= maxPayload else { throw SystemError(call: "protocol", errno: EPROTO) }
        return (type, length)
    }
}

/// Little-endian payload building.
struct FrameBuilder {
    var bytes: [UInt8] = []
    /// A string longer than a UInt32 length holds was given (written as ""): the frame must not
    /// be sent.
    private(set) var overflowed = false

    mutating func u32(_ v: UInt32) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func i32(_ v: Int32) { u32(UInt32(bitPattern: v)) }
    mutating func i64(_ v: Int64) { withUnsafeBytes(of: v.littleEndian) { bytes.append(contentsOf: $0) } }
    mutating func u8(_ v: UInt8) { bytes.append(v) }
    /// A string: UInt32 length, the bytes, then a NUL (so the receiver can use it in place).
    mutating func string(_ p: UnsafePointer<CChar>?) {
        guard let p else { u32(0); bytes.append(0); return }
        let n = strlen(p)
        guard let length = UInt32(exactly: n) else { overflowed = true; u32(0); bytes.append(0); return }
        u32(length)
        p.withMemoryRebound(to: UInt8.self, capacity: n + 1) { bytes.append(contentsOf: UnsafeBufferPointer(start: $0, count: n + 1)) }
    }
    mutating func string(_ s: String) {
        guard let length = UInt32(exactly: s.utf8.count) else { overflowed = true; u32(0); bytes.append(0); return }
        u32(length)
        bytes.append(contentsOf: s.utf8)
        bytes.append(0)
    }
}

/// Little-endian payload parsing; every read is bounds-checked (a malformed frame throws).
struct FrameParser {
    let bytes: [UInt8]
    var offset = 0

    struct Malformed: Error {}

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func take(_ n: Int) throws(Malformed) -> ArraySlice<UInt8> {
        guard n >= 0, n <= bytes.count - offset else { throw Malformed() }
        defer { offset += n }
        return bytes[offset..<(offset + n)]
    }
    /// A little-endian integer read in place, one bounds check (a request frame has some 100).
    @inline(__always)
    private mutating func little<T: FixedWidthInteger>(_: T.Type) throws(Malformed) -> T {
        let size = MemoryLayout<T>.size
        guard offset >= 0, size <= bytes.count - offset else { throw Malformed() }
        let v = bytes.withUnsafeBytes { T(littleEndian: $0.loadUnaligned(fromByteOffset: offset, as: T.self)) }
        offset += size
        return v
    }
    mutating func u32() throws(Malformed) -> UInt32 { try little(UInt32.self) }
    mutating func i32() throws(Malformed) -> Int32 { Int32(bitPattern: try u32()) }
    mutating func i64() throws(Malformed) -> Int64 { try little(Int64.self) }
    mutating func u8() throws(Malformed) -> UInt8 {
        guard let b = try take(1).first else { throw Malformed() }
        return b
    }
    /// A string as a NUL-terminated copy.
    mutating func cString() throws(Malformed) -> [CChar] {
        let start = try cStringOffset()
        return bytes[start..<offset].map { CChar(bitPattern: $0) }
    }

    /// A string left in place: the offset of its first byte in `bytes` (NUL-terminated there).
    mutating func cStringOffset() throws(Malformed) -> Int {
        let n = Int(try u32())
        let start = offset
        guard n < bytes.count - start, bytes[start + n] == 0 else { throw Malformed() }
        offset = start + n + 1
        return start
    }
}

/// One end of a connection: buffered frame output and buffered frame input (with any
/// descriptors passed alongside). One thread owns it at a time (it moves between a pool and
/// the thread serving a request); only `terminate` is called from another thread.
final class FrameConnection: @unchecked Sendable {
    let fd: Int32
    /// Whether the daemon's epoll instance watches it yet (daemon side).
    var watched = false
    private var output: [UInt8] = []
    private let input = UnsafeMutableRawBufferPointer.allocate(byteCount: 65536, alignment: 8)
    private var start = 0
    private var end = 0
    private(set) var descriptors: [Int32] = []
    /// Serialises sends, so another thread can end a wedged request with a whole frame.
    private let sending = PlainLock<Bool>(false)  // true once terminated
    /// Output beyond this is sent at once.
    private let outputLimit: Int

    init(fd: Int32, outputLimit: Int = 65536) {
        self.fd = fd
        self.outputLimit = outputLimit
        output.reserveCapacity(4096)
    }

    deinit {
        input.deallocate()
        for d in descriptors { Sys.close(d) }
        Sys.close(fd)
    }

    /// Whether queueing a frame of payloadLength bytes only copies (sends nothing).
    func buffers(_ payloadLength: Int) -> Bool {
        payloadLength <= outputLimit && output.count + 5 + payloadLength <= outputLimit
    }

    /// Queues a frame (a large `write` as several, see `Frame.spans`); sends the queue when it
    /// grows large.
    func queue(_ type: FrameType, _ payload: UnsafeRawBufferPointer) throws(SystemError) {
        if payload.count <= Frame.writePiece { return try queueFrame(type, payload) }  // the usual case
        for span in try Frame.spans(type, length: payload.count) {
            try queueFrame(type, UnsafeRawBufferPointer(rebasing: payload[span]))
        }
    }

    /// Queues one frame; a payload over the output limit is sent from where it lies.
    private func queueFrame(_ type: FrameType, _ payload: UnsafeRawBufferPointer) throws(SystemError) {
        try Frame.appendHeader(type, length: payload.count, to: &output)
        if payload.count > outputLimit {
            // The frame header (queued) and its payload go out under one lock.
            try sendLocked { () throws(SystemError) in
                try rethrowing { output.withUnsafeBytes { p in Result { () throws(SystemError) in try Sys.sendAll(fd, p) } } }
                try Sys.sendAll(fd, payload)
            }
            output.removeAll(keepingCapacity: true)
            return
        }
        output.append(contentsOf: payload)
        if output.count > outputLimit { try flush() }
    }

    func queue(_ type: FrameType, _ payload: [UInt8] = []) throws(SystemError) {
        try rethrowing { payload.withUnsafeBytes { p in Result { () throws(SystemError) in try queue(type, p) } } }
    }

    /// Sends everything queued.
    func flush() throws(SystemError) {
        guard !output.isEmpty else { return }
        try sendLocked { () throws(SystemError) in
            try rethrowing { output.withUnsafeBytes { p in Result { () throws(SystemError) in try Sys.sendAll(fd, p) } } }
        }
        output.removeAll(keepingCapacity: true)
    }

    private func sendLocked(_ body: () throws(SystemError) -> Void) throws(SystemError) {
        let result: Result<Void, SystemError> = sending.withLock { terminated in
            if terminated { return .failure(SystemError(call: "send", errno: EPIPE)) }
            return Result { () throws(SystemError) in try body() }
        }
        try result.get()
    }

    /// From another thread: sends an `end` frame with status and shuts the connection, so a
    /// request that will not finish is answered (its thread's later sends fail).
    func terminate(status: Int32) {
        sending.withLock { terminated in
            guard !terminated else { return }
            terminated = true
            var b = FrameBuilder()
            b.u8(FrameType.end.rawValue)
            b.u32(4)
            b.i32(status)
            b.bytes.withUnsafeBytes { p in _ = try? Sys.sendAll(fd, p) }
            Sys.shutdown(fd)
        }
    }

    /// Whether input arrives within `milliseconds` (or is buffered already).
    func waitForInput(milliseconds: Int32) -> Bool {
        if start < end { return true }
        var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        while true {
            let n = poll(&p, 1, milliseconds)
            if n >= 0 { return n > 0 }
            if errno != EINTR { return true }  // let the read report it
        }
    }

    /// Whether another thread ended the request (request-timeout): the connection is not reused.
    var isTerminated: Bool { sending.withLock { $0 } }

    /// Whether it can carry another request: nothing unread, no descriptor left over, not
    /// terminated.
    var isReusable: Bool { start == end && descriptors.isEmpty && !isTerminated }

    /// Sends the queue then a frame carrying a descriptor.
    func send(_ type: FrameType, _ payload: [UInt8], passing descriptor: Int32) throws(SystemError) {
        var frame: [UInt8] = []
        try Frame.appendHeader(type, length: payload.count, to: &frame)
        frame.append(contentsOf: payload)
        try flush()
        try sendLocked { () throws(SystemError) in
            try rethrowing { frame.withUnsafeBytes { p in Result { () throws(SystemError) in try Sys.sendAll(fd, p, passing: descriptor) } } }
        }
    }

    /// Takes the oldest descriptor received.
    func takeDescriptor() -> Int32? {
        descriptors.isEmpty ? nil : descriptors.removeFirst()
    }

    private func fill() throws(SystemError) -> Bool {
        if start == end { start = 0; end = 0 }
        if end == input.count {
            // Compact what is left to the front.
            let left = end - start
            if let base = input.baseAddress { base.copyMemory(from: base + start, byteCount: left) }
            start = 0
            end = left
        }
        let n = try Sys.receive(fd, into: UnsafeMutableRawBufferPointer(rebasing: input[end...]), descriptors: &descriptors)
        end += n
        return n > 0
    }

    private func readExactly(_ count: Int) throws(SystemError) -> [UInt8]? {
        var out: [UInt8] = []
        out.reserveCapacity(count)
        while out.count < count {
            if start == end, try !fill() { return nil }
            let n = min(count - out.count, end - start)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: input[start..<(start + n)]))
            start += n
        }
        return out
    }

    /// The next frame, or nil at end of stream (the peer closed).
    func readFrame() throws(SystemError) -> (FrameType, [UInt8])? {
        guard let header = try readExactly(5) else { return nil }
        let (type, length) = try Frame.parseHeader(header)
        guard let payload = try readExactly(length) else { return nil }
        return (type, payload)
    }
}

/// Unwraps a Result produced inside a non-throwing closure (withUnsafeBytes and friends).
@inline(__always)
func rethrowing(_ body: () -> Result<Void, SystemError>) throws(SystemError) {
    try body().get()
}
