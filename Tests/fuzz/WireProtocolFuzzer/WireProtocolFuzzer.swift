// libFuzzer target for the daemon wire protocol (make fuzz-wire; see Tests/fuzz/README.md).
//
// One input is a mode byte and then a byte stream as the peer would send it on a daemon
// connection. The stream is written into a socket pair and the pair's other end is decoded by
// the real code:
//   mode bit 0 = 0: the daemon's side: request frames (DaemonRequest, with every string and
//                   environ pair read back through withRequest) and the body frames the
//                   daemon's read_body receives (data, readError), as DaemonServer serves them.
//   mode bit 0 = 1: the Apache child's side: DaemonClient.relay decoding response frames
//                   (read, headers, write, flush, sendFile, log, abort, end) into a stub table
//                   of Apache operations that reads every byte it is given.
//   bit 1: header-buffer-size 64 (else unlimited); bit 2: a descriptor rides with the stream
//   (for sendFile); bit 3: the stub's read_body fails with 413 (else it returns end of body);
//   bits 4-7: the daemon-side application reads 16 * n + 1 bytes at a time, so a data frame
//   larger than one read is served from the read-ahead buffer.
// The side under test never blocks: its end is non-blocking, so the frames it sends back
// fail with EAGAIN once the pair's buffer is full, as a wedged peer's would.
@preconcurrency import CSwiftWSGI
import Glibc
import PythonHost
@testable import SwiftWSGI

nonisolated(unsafe) var devNull: Int32 = -1
nonisolated(unsafe) var sink = 0  // keeps the stubs' reads from being optimised away

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    guard let data, size >= 1 else { return 0 }
    let mode = data[0]
    // Larger inputs would not fit the socket pair's buffer in one send.
    let stream = UnsafeRawBufferPointer(start: data + 1, count: min(size - 1, 60_000))
    var fds: [Int32] = [-1, -1]
    guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0 else { fatalError("socketpair: \(errno)") }
    if devNull < 0 { devNull = open("/dev/null", O_RDONLY) }
    if stream.count > 0 {
        do {
            try Sys.sendAll(fds[1], stream, passing: mode & 4 != 0 ? devNull : nil)
        } catch {
            fatalError("sending the input: \(error)")
        }
    }
    shutdown(fds[1], Int32(SHUT_WR))
    _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
    let connection = FrameConnection(fd: fds[0])
    if mode & 1 == 0 {
        daemonSide(connection, readSize: 16 * Int(mode >> 4) + 1)
    } else {
        childSide(connection, mode: mode)
    }
    close(fds[1])
    return 0
}

/// As DaemonServer.serve, request after request on one connection; the application reads
/// the whole body through the daemon's read_body.
func daemonSide(_ connection: FrameConnection, readSize: Int) {
    while let frame = try? connection.readFrame() {
        guard frame.0 == .request, let request = try? DaemonRequest(connection: connection, payload: frame.1)
        else { return }
        _ = Double(request.queueStart) / 1e6
        request.withRequest { req in
            let r = req.pointee
            for s in [r.script_filename, r.server_hostname, r.application_group, r.callable_object,
                      r.process_group, r.request_handler] {
                sink &+= s.map { strlen($0) } ?? 0
            }
            for i in 0..<r.environ_count {
                sink &+= strlen(r.environ[i].name) &+ strlen(r.environ[i].value)
            }
            var buffer = [CChar](repeating: 0, count: readSize)
            var status: Int32 = 0
            for _ in 0..<64 {
                let n = buffer.withUnsafeMutableBufferPointer {
                    DaemonOps.ops.readBody(r.handle, $0.baseAddress, $0.count, &status, Unlocked.enteringFromApache())
                }
                if n <= 0 { break }
                sink &+= Int(buffer[n - 1])
            }
        }
        if request.failed || !connection.isReusable { return }
    }
}

/// DaemonClient.relay for one request, answered by whatever the stream holds.
func childSide(_ connection: FrameConnection, mode: UInt8) {
    var req = swiftwsgi_request_t()
    req.header_buffer_size = mode & 2 != 0 ? 64 : 0
    req.socket_timeout = 1
    req.call.handle = mode & 8 != 0 ? UnsafeMutableRawPointer(bitPattern: 413) : nil
    _ = DaemonClient.relay(connection, [0, 0, 0, 0], req, stubOps, Unlocked.enteringFromApache())
}

let stubOps = ApacheOps(swiftwsgi_ops_t(
    read_body: { h, buffer, len, status in
        if h != nil { status?.pointee = 413; return -1 }
        return 0
    },
    set_response: { _, status, line, headers, count in
        sink &+= Int(status) &+ (line.map { strlen($0) } ?? 0)
        for i in 0..<count {
            sink &+= strlen(headers![i].name) &+ strlen(headers![i].value)
        }
        return 0
    },
    write_body: { _, data, len, flush in
        if len > 0 { sink &+= Int(data![0]) &+ Int(data![len - 1]) }
        return 0
    },
    send_file: { _, fd, offset, length, sendfile in
        sink &+= Int(fcntl(fd, F_GETFD)) &+ Int(truncatingIfNeeded: offset &+ length)
        return 0
    },
    log: { _, level, message in
        sink &+= Int(level) &+ (message.map { strlen($0) } ?? 0)
    },
    abort_connection: { _ in },
    scoreboard: { _, _, _, _ in -1 }
))
