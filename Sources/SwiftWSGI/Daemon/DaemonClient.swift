@preconcurrency import CSwiftWSGI
import Glibc
import PythonHost
import Synchronization

/// The Apache child's side of daemon mode: forwards one request to the group's daemon
/// processes and relays the response through Apache. No Python runs here. A connection whose
/// response ended cleanly goes back to a per-process pool for the next request.
enum DaemonClient {
    /// Runs request in the daemon listening on socket. Returns 0 or an HTTP status: 503 when no
    /// daemon accepts within connect-timeout, 504 when it stays silent for socket-timeout,
    /// 502 when it dies before the response headers (after them, the client connection is
    /// aborted instead).
    static func proxy(_ request: UnsafePointer<swiftwsgi_request_t>, socket: String, ops: ApacheOps,
                      _ unlocked: borrowing Unlocked) -> Int32 {
        let req = request.pointee
        let frame = DaemonRequest.encode(req, queueStart: Int64(monotonicWallSeconds() * 1e6))
        let deadline = monotonicNow() + Double(max(1, req.connect_timeout))
        var pooledAttempts = 0
        while true {
            let connection: FrameConnection
            let reused: Bool
            // Kept connections first; after a few were refused (their daemon is stopping or
            // busy), a new connection through the group's shared backlog.
            if pooledAttempts < 4, let idle = DaemonConnectionPool.shared.take(socket) {
                connection = idle
                reused = true
                pooledAttempts += 1
            } else {
                let fd: Int32
                do {
                    fd = try connect(socket, deadline: deadline)
                } catch {
                    ops.logError(req.handle, .daemonConnectFailed, "Unable to connect to WSGI daemon process on '\(socket)' within connect-timeout (\(req.connect_timeout)s): \(error)", unlocked)
                    return 503
                }
                let timeout = Double(max(0, req.socket_timeout))
                Sys.setTimeouts(fd, receive: timeout, send: timeout)
                connection = FrameConnection(fd: fd)
                reused = false
            }
            switch relay(connection, frame, req, ops, unlocked) {
            case .done(let status, let reusable):
                if reusable { DaemonConnectionPool.shared.put(socket, connection) }
                return status
            case .retry where reused || monotonicNow() < deadline:
                // The daemon process closed the connection without reading the request (it
                // is stopping, or it died while the connection was idle): nothing ran, so
                // another process can take it.
                continue
            case .retry:
                ops.logError(req.handle, .daemonNoAnswer, "WSGI daemon process on '\(socket)' closed the connection without answering", unlocked)
                return 503
            }
        }
    }

    enum Outcome { case done(Int32, reusable: Bool), retry }

    /// Connects to the group's socket; a full backlog (EAGAIN after SO_SNDTIMEO), a missing
    /// socket or a refused connection are retried until the deadline.
    private static func connect(_ path: String, deadline: Double) throws(SystemError) -> Int32 {
        while true {
            let fd = try Sys.socketUnix()
            do {
                Sys.setTimeouts(fd, receive: 0, send: max(0.01, deadline - monotonicNow()))
                try Sys.connect(fd, path: path)
                return fd
            } catch {
                Sys.close(fd)
                let transient = error.errno == ECONNREFUSED || error.errno == ENOENT || error.errno == EAGAIN
                if !transient || monotonicNow() >= deadline { throw error }
                usleep(20_000)
            }
        }
    }

    static func relay(_ connection: FrameConnection, _ frame: [UInt8], _ req: swiftwsgi_request_t,
                       _ ops: ApacheOps, _ unlocked: borrowing Unlocked) -> Outcome {
        var started = false      // a frame arrived from the daemon
        var headersSent = false
        // mod_wsgi 6.0.2's flushing: output passes on as it comes; the daemon's flush waits
        // response-flush-delay for more output (a pacing filter such as mod_ratelimit then gets
        // full-size writes), and response-buffer-size bytes without a flush force one.
        var unflushed = 0
        var pending = false      // headers or bytes passed on since the last flush
        do {
            try connection.queue(.request, frame)
            try connection.flush()
            while let (type, payload) = try connection.readFrame() {
                started = true
                var p = FrameParser(payload)
                switch type {
                case .read:
                    let maximum = Int(try p.u32())
                    var buffer = [CChar](repeating: 0, count: max(1, min(maximum, 1 << 20)))
                    var status: Int32 = 0
                    let n = buffer.withUnsafeMutableBufferPointer { ops.readBody(req.handle, $0.baseAddress, $0.count, &status, unlocked) }
                    if n < 0 {
                        var b = FrameBuilder()
                        b.u32(UInt32(max(0, status)))
                        try connection.queue(.readError, b.bytes)
                    } else {
                        try rethrowing {
                            buffer.withUnsafeBytes { raw in
                                Result { () throws(SystemError) in try connection.queue(.data, UnsafeRawBufferPointer(rebasing: raw[0..<n])) }
                            }
                        }
                    }
                    try connection.flush()
                case .headers:
                    let status = try p.i32()
                    let line = try p.cStringOffset()
                    let count = Int(try p.u32())
                    guard count <= 10_000 else { throw SystemError(call: "protocol", errno: EPROTO) }
                    var offsets: [(Int, Int)] = []
                    offsets.reserveCapacity(count)
                    for _ in 0..<count {
                        let name = try p.cStringOffset(), nameEnd = p.offset
                        let value = try p.cStringOffset()
                        // header-buffer-size: each header (name, ": ", value) must fit.
                        if req.header_buffer_size > 0 && p.offset - name > Int(req.header_buffer_size) {
                            let text = String(decoding: payload[name..<(nameEnd - 1)], as: UTF8.self)
                            ops.logError(req.handle, .daemonHeaderTooLarge, "Response header '\(text)' from the WSGI daemon process is larger than header-buffer-size (\(req.header_buffer_size) bytes)", unlocked)
                            return .done(500, reusable: false)
                        }
                        offsets.append((name, value))
                    }
                    // The strings are NUL-terminated in the payload: Apache gets pointers into it.
                    let rc = payload.withUnsafeBufferPointer { bytes -> Int32 in
                        guard let start = bytes.baseAddress else { return -1 }  // a headers frame is never empty
                        let base = UnsafeRawPointer(start).assumingMemoryBound(to: CChar.self)
                        let kvs = offsets.map { swiftwsgi_kv_t(name: base + $0.0, value: base + $0.1) }
                        return kvs.withUnsafeBufferPointer {
                            ops.setResponse(req.handle, status, base + line, $0.baseAddress, $0.count, unlocked)
                        }
                    }
                    if rc != 0 { return .done(500, reusable: false) }
                    headersSent = true
                    pending = true
                case .write:
                    let rc = payload.withUnsafeBufferPointer { b in
                        b.withMemoryRebound(to: CChar.self) { ops.writeBody(req.handle, $0.baseAddress, $0.count, flush: false, unlocked) }
                    }
                    if rc != 0 { return .done(0, reusable: false) }  // client gone: closing the socket tells the daemon
                    pending = true
                    unflushed += payload.count
                    if req.response_buffer_size > 0 && unflushed >= req.response_buffer_size {
                        if ops.writeBody(req.handle, nil, 0, flush: true, unlocked) != 0 { return .done(0, reusable: false) }
                        unflushed = 0
                        pending = false
                    }
                case .flush:
                    // More output within the delay: the transfer is still going, no flush.
                    if !pending || (req.response_flush_delay > 0 && connection.waitForInput(milliseconds: req.response_flush_delay)) {
                        continue
                    }
                    if ops.writeBody(req.handle, nil, 0, flush: true, unlocked) != 0 { return .done(0, reusable: false) }
                    unflushed = 0
                    pending = false
                case .sendFile:
                    let offset = try p.i64(), length = try p.i64(), sendfile = try p.u8()
                    guard let fd = connection.takeDescriptor() else { throw SystemError(call: "protocol", errno: EPROTO) }
                    let rc = ops.sendFile(req.handle, fd, offset, length, sendfile: sendfile != 0, unlocked)
                    Sys.close(fd)
                    if rc != 0 { return .done(0, reusable: false) }
                    unflushed = 0  // the file went out flushed, with everything before it
                    pending = false
                case .log:
                    // Apache's levels end at APLOG_TRACE8 (15): any other is a malformed frame.
                    let level = try p.u32()
                    guard level <= 15 else { throw FrameParser.Malformed() }
                    let message = try p.cString()
                    message.withUnsafeBufferPointer { ops.relay(req.handle, Int(level), line: $0.baseAddress, unlocked) }
                case .abort:
                    ops.abortConnection(req.handle, unlocked)
                case .end:
                    let status = try p.i32()
                    // An error status after the response began (request-timeout ended a request
                    // that had sent its headers): Apache would append its error page to the
                    // body, so the response is cut short instead, as a truncated one must be.
                    if headersSent && status != 0 {
                        ops.abortConnection(req.handle, unlocked)
                        return .done(0, reusable: false)
                    }
                    return .done(status, reusable: connection.isReusable)
                case .request, .data, .readError:
                    throw SystemError(call: "protocol", errno: EPROTO)
                }
            }
            // A clean end of stream before any frame: the daemon read the request, then died.
            return daemonFailed(req, ops, unlocked, headersSent, "the daemon process closed the connection "
                                + (started ? "mid-response" : "before answering"))
        } catch let error as SystemError {
            // EPIPE: it had closed before the request went out; ECONNRESET: it closed with the
            // request unread (a unix socket reports that only then). Either way nothing ran.
            if !started && (error.errno == EPIPE || error.errno == ECONNRESET) { return .retry }
            if error.errno == EAGAIN || error.errno == EWOULDBLOCK {
                if headersSent { ops.abortConnection(req.handle, unlocked); return .done(0, reusable: false) }
                ops.logError(req.handle, .daemonTimeout, "Timeout when reading response from WSGI daemon process (socket-timeout \(req.socket_timeout)s)", unlocked)
                return .done(504, reusable: false)
            }
            return daemonFailed(req, ops, unlocked, headersSent, "\(error)")
        } catch {
            return daemonFailed(req, ops, unlocked, headersSent, "malformed frame from the daemon process")
        }
    }

    private static func daemonFailed(_ req: swiftwsgi_request_t, _ ops: ApacheOps, _ unlocked: borrowing Unlocked,
                                     _ headersSent: Bool, _ why: String) -> Outcome {
        ops.logError(req.handle, .daemonTruncatedResponse, "Truncated or missing response from WSGI daemon process: \(why)", unlocked)
        if headersSent {
            ops.abortConnection(req.handle, unlocked)
            return .done(0, reusable: false)
        }
        return .done(502, reusable: false)
    }


}

func monotonicNow() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) / 1e9
}

/// The idle daemon connections of this Apache child, per group socket. Most recently used
/// first: it is the likeliest to be alive, and the pool never holds more than the child's peak
/// of concurrent daemon requests.
final class DaemonConnectionPool: Sendable {
    static let shared = DaemonConnectionPool()
    private let idle = PlainLock<[String: [FrameConnection]]>([:])

    func take(_ socket: String) -> FrameConnection? {
        idle.withLock { $0[socket]?.popLast() }
    }

    func put(_ socket: String, _ connection: FrameConnection) {
        idle.withLock { $0[socket, default: []].append(connection) }
    }
}
