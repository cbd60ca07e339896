@preconcurrency import CSwiftWSGI
import Glibc
import PythonHost
import Testing
@testable import SwiftWSGI

/// What the Apache child does with a daemon's response frames (DaemonClient.relay): body
/// pieces reach Apache in order, and a frame it cannot trust ends the request with 502/500 and
/// a log line (never a trap, never a complete-looking response).
@Suite(.serialized) struct DaemonRelayTests {
    nonisolated(unsafe) static var written: [UInt8] = []
    nonisolated(unsafe) static var writes = 0
    nonisolated(unsafe) static var logged: [String] = []
    nonisolated(unsafe) static var aborted = false
    nonisolated(unsafe) static var headerCount = 0
    /// What read_body hands out (nil: it fails with status 413).
    nonisolated(unsafe) static var body: [UInt8]? = []
    nonisolated(unsafe) static var asked = 0

    static let ops = ApacheOps(swiftwsgi_ops_t(
        read_body: { _, buffer, len, status in
            DaemonRelayTests.asked = len
            guard let body = DaemonRelayTests.body, let buffer else { status?.pointee = 413; return -1 }
            let n = min(len, body.count)
            body.withUnsafeBytes { UnsafeMutableRawPointer(buffer).copyMemory(from: $0.baseAddress!, byteCount: n) }
            return n
        },
        set_response: { _, _, _, _, count in DaemonRelayTests.headerCount = count; return 0 },
        write_body: { _, data, len, _ in
            if let data, len > 0 {
                DaemonRelayTests.written.append(contentsOf: UnsafeRawBufferPointer(start: data, count: len))
                DaemonRelayTests.writes += 1
            }
            return 0
        },
        send_file: { _, _, _, _, _ in 0 },
        log: { _, _, message in if let message { DaemonRelayTests.logged.append(String(cString: message)) } },
        abort_connection: { _ in DaemonRelayTests.aborted = true },
        scoreboard: { _, _, _, _ in -1 }
    ))

    /// The relay's outcome for a daemon that sent `stream` and then closed the connection.
    /// What the relay sent back to the daemon in the last `relay` (its request frame first).
    nonisolated(unsafe) static var answered: [UInt8] = []

    static func relay(_ stream: [UInt8], headerBufferSize: Int32 = 0) -> (status: Int32, reusable: Bool)? {
        written = []; writes = 0; logged = []; aborted = false; headerCount = 0; answered = []
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer {
            var buffer = [UInt8](repeating: 0, count: 65536)
            _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
            while case let n = read(fds[1], &buffer, buffer.count), n > 0 { answered += buffer[0..<n] }
            close(fds[1])
        }
        let writer = Thread(fd: fds[1], stream)
        var req = swiftwsgi_request_t()
        req.socket_timeout = 5
        req.header_buffer_size = headerBufferSize
        let outcome = DaemonClient.relay(FrameConnection(fd: fds[0]), [0], req, ops, Unlocked.enteringFromApache())
        writer.join()
        guard case .done(let status, let reusable) = outcome else { return nil }
        return (status, reusable)
    }

    /// Writes the stream from another thread (it may be larger than the socket's buffer), then
    /// shuts the writing side.
    final class Thread: @unchecked Sendable {
        private let done = DispatchSemaphoreLike()
        init(fd: Int32, _ stream: [UInt8]) {
            spawnThread { [done] in
                stream.withUnsafeBytes { p in
                    var offset = 0
                    while offset < p.count {
                        let n = write(fd, p.baseAddress! + offset, p.count - offset)
                        if n <= 0 { break }
                        offset += n
                    }
                }
                shutdown(fd, Int32(SHUT_WR))
                done.signal()
            }
        }
        func join() { done.wait() }
    }

    static func frame(_ type: FrameType, _ payload: [UInt8]) -> [UInt8] {
        (try? Frame.header(type, length: payload.count)).map { $0 + payload } ?? []
    }

    static func headers(count: Int, value: String = "v") -> [UInt8] {
        var b = FrameBuilder()
        b.i32(200)
        b.string("200 OK")
        b.u32(UInt32(count))
        for i in 0..<count {
            b.string("X-\(i)")
            b.string(value)
        }
        return frame(.headers, b.bytes)
    }

    static let end = frame(.end, [0, 0, 0, 0])

    @Test func bodyPiecesReachApacheInOrderAndTheConnectionIsKept() throws {
        let pieces: [[UInt8]] = [Array("first ".utf8), Array(repeating: 0x78, count: 300_000), Array(" last".utf8)]
        let outcome = try #require(Self.relay(Self.headers(count: 1) + pieces.flatMap { Self.frame(.write, $0) } + Self.end))
        #expect(outcome.status == 0 && outcome.reusable)
        #expect(Self.written == pieces.flatMap { $0 } && Self.writes == 3)
        #expect(Self.headerCount == 1 && !Self.aborted)
    }

    @Test func theEndFramesStatusIsTheHandlersStatus() throws {
        var b = FrameBuilder()
        b.i32(503)
        #expect(try #require(Self.relay(Self.frame(.end, b.bytes))).status == 503)
    }

    @Test func aFrameLongerThanTheLimitBeforeTheHeadersIsA502() throws {
        let outcome = try #require(Self.relay([0x57, 0xff, 0xff, 0xff, 0xff]))
        #expect(outcome.status == 502 && !outcome.reusable)
        #expect(Self.logged.contains { $0.contains("Truncated or missing response") })
    }

    @Test func aBrokenFrameAfterTheHeadersAbortsTheConnection() throws {
        // The status line went out: the client must see a truncated response, not a 502 page.
        let outcome = try #require(Self.relay(Self.headers(count: 1) + Self.frame(.write, [1, 2]) + [0x57, 0xff, 0xff, 0xff, 0xff]))
        #expect(outcome.status == 0 && Self.aborted && Self.written == [1, 2])
        #expect(Self.logged.contains { $0.contains("Truncated or missing response") })
    }

    @Test func aDaemonThatClosesMidResponseAbortsTheConnection() throws {
        let outcome = try #require(Self.relay(Self.headers(count: 0) + Self.frame(.write, [9])))
        #expect(outcome.status == 0 && Self.aborted)
        #expect(Self.logged.contains { $0.contains("mid-response") })
    }

    @Test func aSendFileFrameWithoutItsDescriptorIsRefused() throws {
        var b = FrameBuilder()
        b.i64(0); b.i64(10); b.u8(1)
        let outcome = try #require(Self.relay(Self.frame(.sendFile, b.bytes)))
        #expect(outcome.status == 502 && !outcome.reusable)
    }

    @Test func tooManyHeadersAreRefused() throws {
        #expect(try #require(Self.relay(Self.headers(count: 10_001) + Self.end)).status == 502)
        #expect(Self.headerCount == 0)
    }

    @Test func aHeaderOverHeaderBufferSizeIsA500AndNamed() throws {
        let big = String(repeating: "v", count: 9000)
        let outcome = try #require(Self.relay(Self.headers(count: 1, value: big) + Self.end, headerBufferSize: 8192))
        #expect(outcome.status == 500)
        #expect(Self.logged.contains { $0.contains("Response header 'X-0'") && $0.contains("header-buffer-size (8192 bytes)") })
    }

    @Test func aReadIsAnsweredWithBodyBytesAtMostTheMaximum() throws {
        Self.body = Array("hello world".utf8)
        var b = FrameBuilder()
        b.u32(5)
        #expect(try #require(Self.relay(Self.frame(.read, b.bytes) + Self.end)).status == 0)
        // After the request frame ([0]): a data frame with the first five bytes.
        #expect(Array(Self.answered.suffix(10)) == [0x44, 5, 0, 0, 0] + Array("hello".utf8))
        #expect(Self.asked == 5)
    }

    @Test func aHugeReadIsClampedToOneMebibyte() throws {
        Self.body = [1]
        var b = FrameBuilder()
        b.u32(UInt32.max)
        #expect(try #require(Self.relay(Self.frame(.read, b.bytes) + Self.end)).status == 0)
        #expect(Self.asked == 1 << 20)
    }

    @Test func aFailedReadIsForwardedWithItsStatus() throws {
        Self.body = nil
        defer { Self.body = [] }
        var b = FrameBuilder()
        b.u32(100)
        #expect(try #require(Self.relay(Self.frame(.read, b.bytes) + Self.end)).status == 0)
        #expect(Array(Self.answered.suffix(9)) == [0x58, 4, 0, 0, 0, 0x9d, 0x01, 0, 0])  // 413
    }

    @Test func framesOnlyTheChildMaySendAreRefusedFromTheDaemon() throws {
        for type in [FrameType.request, .data, .readError] {
            #expect(try #require(Self.relay(Self.frame(type, [0, 0, 0, 0]))).status == 502, "\(type)")
        }
    }
}
