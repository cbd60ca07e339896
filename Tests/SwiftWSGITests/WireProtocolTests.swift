@preconcurrency import CSwiftWSGI
import Glibc
import PythonHost
import Testing
@testable import SwiftWSGI

@Suite struct WireProtocolTests {
    @Test func builderAndParserRoundTrip() throws {
        var b = FrameBuilder()
        b.u32(7)
        b.i32(-5)
        b.i64(-1 << 40)
        b.u8(9)
        b.string("héllo")
        var p = FrameParser(b.bytes)
        #expect(try p.u32() == 7)
        #expect(try p.i32() == -5)
        #expect(try p.i64() == -1 << 40)
        #expect(try p.u8() == 9)
        let s = try p.cString()
        #expect(s.last == 0)
        #expect(String(decoding: s.dropLast().map { UInt8(bitPattern: $0) }, as: UTF8.self) == "héllo")
    }

    @Test func truncatedPayloadThrowsInsteadOfTrapping() {
        var b = FrameBuilder()
        b.u32(1000)  // claims a 1000-byte string that is not there
        var p = FrameParser(b.bytes)
        #expect(throws: FrameParser.Malformed.self) { try p.cString() }
        var empty = FrameParser([])
        #expect(throws: FrameParser.Malformed.self) { try empty.u32() }
    }

    @Test func framesAndDescriptorsCrossASocketPair() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let a = FrameConnection(fd: fds[0]), b = FrameConnection(fd: fds[1])
        try a.queue(.headers, [1, 2, 3])
        try a.queue(.write, Array(repeating: 0x41, count: 200_000))  // larger than the output buffer
        try a.flush()
        let passed = open("/dev/null", O_RDONLY)
        try a.send(.sendFile, [4], passing: passed)
        close(passed)
        try a.queue(.end, [0, 0, 0, 0])
        try a.flush()
        let first = try #require(try b.readFrame())
        #expect(first.0 == .headers && first.1 == [1, 2, 3])
        let second = try #require(try b.readFrame())
        #expect(second.0 == .write && second.1.count == 200_000)
        let third = try #require(try b.readFrame())
        #expect(third.0 == .sendFile)
        let descriptor = try #require(b.takeDescriptor())
        #expect(fcntl(descriptor, F_GETFD) >= 0)
        close(descriptor)
        let last = try #require(try b.readFrame())
        #expect(last.0 == .end)
    }
}

/// What the Apache child's side makes of frames a daemon sends (DaemonClient.relay), with a
/// stub table of Apache operations. Inputs the wire-protocol fuzzer found are kept here.
@Suite(.serialized) struct RelayTests {
    nonisolated(unsafe) static var logged: [String] = []

    static let ops = ApacheOps(swiftwsgi_ops_t(
        read_body: { _, _, _, _ in 0 },
        set_response: { _, _, _, _, _ in 0 },
        write_body: { _, _, _, _ in 0 },
        send_file: { _, _, _, _, _ in 0 },
        log: { _, _, message in RelayTests.logged.append(String(cString: message!)) },
        abort_connection: { _ in },
        scoreboard: { _, _, _, _ in -1 }
    ))

    /// The relay's status for a daemon that sent `stream` and then closed the connection.
    static func relay(_ stream: [UInt8]) throws -> Int32? {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[1]) }
        #expect(stream.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) } == stream.count)
        shutdown(fds[1], Int32(SHUT_WR))
        var req = swiftwsgi_request_t()
        req.socket_timeout = 1
        guard case .done(let status, _) = DaemonClient.relay(FrameConnection(fd: fds[0]), [0], req, ops, Unlocked.enteringFromApache()) else { return nil }
        return status
    }

    static func frame(_ type: FrameType, _ payload: [UInt8]) -> [UInt8] {
        var b = FrameBuilder()
        b.u8(type.rawValue)
        b.u32(UInt32(payload.count))
        return b.bytes + payload
    }

    @Test func logFrameIsRelayed() throws {
        var log = FrameBuilder()
        log.u32(UInt32(SWIFTWSGI_LOG_ERR))
        log.string("from the daemon")
        var end = FrameBuilder()
        end.i32(404)
        Self.logged = []
        #expect(try Self.relay(Self.frame(.log, log.bytes) + Self.frame(.end, end.bytes)) == 404)
        #expect(Self.logged == ["from the daemon"])
    }

    /// Found by the fuzzer: a log level beyond Int32 trapped the Apache child (Int32(UInt32)); one
    /// beyond APLOG_TRACE8 would reach ap_log_rerror as flag bits.
    @Test func logFrameWithAnImpossibleLevelIsMalformedNotATrap() throws {
        let crash: [UInt8] = [0x4c, 0x13, 0x00, 0x00, 0x00, 0xc8, 0x01, 0x52, 0xcd, 0x00, 0x00, 0x00, 0x00, 0x00,
                              0x38, 0x74, 0x00, 0x61, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x31, 0x61,
                              0x6e, 0x01, 0x20]
        Self.logged = []
        #expect(try Self.relay(crash) == 502)
        #expect(Self.logged.contains { $0.contains("malformed frame") })
    }
}
