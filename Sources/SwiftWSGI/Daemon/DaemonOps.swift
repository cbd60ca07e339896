@preconcurrency import CSwiftWSGI
import Glibc
import PythonHost

/// The swiftwsgi_ops_t of a daemon process: each Apache operation becomes a frame to the
/// Apache child that holds the client connection. Output frames are buffered and sent when
/// the host flushes, asks for body bytes, passes a file, or finishes.
enum DaemonOps {
    private static func request(_ h: swiftwsgi_request_handle_t?) -> DaemonRequest? {
        h.map { Unmanaged<DaemonRequest>.fromOpaque($0).takeUnretainedValue() }
    }

    /// Runs a frame operation; a failure marks the request failed (the child or client is gone).
    private static func attempt(_ r: DaemonRequest, _ body: () throws(SystemError) -> Void) -> Int32 {
        if r.failed { return -1 }
        do {
            try body()
            return 0
        } catch {
            r.failed = true
            return -1
        }
    }

    static let ops = ApacheOps(swiftwsgi_ops_t(
        read_body: { h, buffer, len, status in
            guard let r = request(h), let buffer else { return -1 }
            status?.pointee = 0
            // Body bytes fetched ahead by an earlier read come first.
            if r.inputOffset < r.input.count {
                let n = min(len, r.input.count - r.inputOffset)
                r.input.withUnsafeBytes { bytes in
                    if let base = bytes.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base + r.inputOffset, byteCount: n) }
                }
                r.inputOffset += n
                return n
            }
            // Ask for at least 256 KB: one round trip to the Apache child serves several of
            // the application's usual 8-64 KB reads.
            var b = FrameBuilder()
            b.u32(UInt32(min(max(len, DaemonRequest.readAhead), 1 << 20)))
            guard attempt(r, { () throws(SystemError) in
                try r.connection.queue(.read, b.bytes)
                try r.connection.flush()
            }) == 0 else { return -1 }
            guard let frame = try? r.connection.readFrame() else { r.failed = true; return -1 }
            switch frame.0 {
            case .data:
                let n = min(frame.1.count, len)
                if n > 0 {
                    frame.1.withUnsafeBytes { bytes in
                        if let base = bytes.baseAddress { UnsafeMutableRawPointer(buffer).copyMemory(from: base, byteCount: n) }
                    }
                }
                if frame.1.count > n {
                    r.input = frame.1
                    r.inputOffset = n
                }
                return n
            case .readError:
                var p = FrameParser(frame.1)
                status?.pointee = Int32(truncatingIfNeeded: (try? p.u32()) ?? 0)
                return -1
            default:
                r.failed = true
                return -1
            }
        },
        set_response: { h, status, line, headers, count in
            guard let r = request(h) else { return -1 }
            var b = FrameBuilder()
            b.i32(status)
            b.string(line)
            // The Apache child takes at most 10,000 headers (DaemonClient.relay).
            guard count <= 10_000 else { return -1 }
            b.u32(UInt32(truncatingIfNeeded: count))
            for i in 0..<count {
                b.string(headers?[i].name)
                b.string(headers?[i].value)
            }
            guard !b.overflowed else { return -1 }
            return attempt(r) { () throws(SystemError) in try r.connection.queue(.headers, b.bytes) }
        },
        write_body: { h, data, len, flush in
            guard let r = request(h) else { return -1 }
            return attempt(r) { () throws(SystemError) in
                if len > 0, let data {
                    try r.connection.queue(.write, UnsafeRawBufferPointer(start: data, count: len))
                }
                if flush != 0 {
                    try r.connection.queue(.flush)
                    try r.connection.flush()
                }
            }
        },
        send_file: { h, fd, offset, length, sendfile in
            guard let r = request(h) else { return -1 }
            var b = FrameBuilder()
            b.i64(offset)
            b.i64(length)
            b.u8(sendfile != 0 ? 1 : 0)
            return attempt(r) { () throws(SystemError) in try r.connection.send(.sendFile, b.bytes, passing: fd) }
        },
        log: { h, level, message in
            guard let message else { return }
            guard let r = request(h), !r.failed else {
                logServer(Int(level), line: message)
                return
            }
            var b = FrameBuilder()
            b.u32(UInt32(bitPattern: level))
            b.string(message)
            _ = attempt(r) { () throws(SystemError) in try r.connection.queue(.log, b.bytes) }
        },
        abort_connection: { h in
            guard let r = request(h) else { return }
            _ = attempt(r) { () throws(SystemError) in try r.connection.queue(.abort) }
        },
        // The daemon was forked from Apache's parent: its scoreboard, when it had one then.
        scoreboard: { board, process, worker, context in
            registeredOps?.scoreboardFunction?(board, process, worker, context) ?? -1
        }
    ), buffersWrite: { h, length, flush in
        // A write without flush that fits in the output buffer is a copy.
        guard !flush, let r = request(h), !r.failed else { return false }
        return r.connection.buffers(length)
    })

    /// The shim's operations, registered in the daemon before it starts: server-level
    /// messages go through its `log` (Apache's ap_log_error, so LogLevel applies).
    nonisolated(unsafe) static var apache: ApacheOps?

    /// Logs a message of the daemon that belongs to no request. Called by the daemon's own
    /// threads, never with the GIL held.
    static func logServer(_ level: Int, _ id: LogID, _ message: String) {
        for line in LogFormat.lines(id, message) { line.withCString { logServer(level, line: $0) } }
    }

    /// Logs one line the host formatted (with its id) that belongs to no request, or whose
    /// Apache child is gone: through the shim's log, else (before it is known) to stderr.
    private static func logServer(_ level: Int, line: UnsafePointer<CChar>) {
        if let apache {
            apache.relay(nil, level, line: line, Unlocked.enteringFromApache())
        } else {
            _ = write(2, line, strlen(line))
            _ = write(2, "\n", 1)
        }
    }
}
