import Glibc
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
