@preconcurrency import CSwiftWSGI
import Glibc
import PythonHost
import Testing
@testable import SwiftWSGI

/// The wire's size limits (WireProtocol.swift's `Frame`): a frame's 32-bit length never
/// truncates and never traps, a body write of any size goes out as frames the receiver accepts.
@Suite struct FrameLimitsTests {
    static let uint32Max = Int(UInt32.max)

    @Test func headerEncodesTheLengthLittleEndian() throws {
        #expect(try Frame.header(.write, length: 0x0102_0304) == [0x57, 0x04, 0x03, 0x02, 0x01])
        #expect(try Frame.header(.end, length: 0) == [0x5a, 0, 0, 0, 0])
    }

    @Test func headerTakesTheLargestPayloadAReceiverAccepts() throws {
        let h = try Frame.header(.write, length: Frame.maxPayload)
        #expect(try Frame.parseHeader(h) == (.write, Frame.maxPayload))
    }

    @Test func headerRefusesLengthsBeyondTheLimitInsteadOfTruncating() {
        for length in [Frame.maxPayload + 1, Self.uint32Max, Self.uint32Max + 1, Self.uint32Max + 1 + 5, -1] {
            #expect(throws: SystemError.self) { try Frame.header(.write, length: length) }
        }
    }

    @Test func lengthIsCheckedAtTheLimitAndAtUInt32Max() throws {
        #expect(try Frame.length(Frame.maxPayload) == UInt32(Frame.maxPayload))
        #expect(try Frame.length(0) == 0)
        for bad in [Frame.maxPayload + 1, Self.uint32Max, Self.uint32Max + 1, Int.max, Int.min] {
            #expect(throws: SystemError.self) { try Frame.length(bad) }
        }
    }

    @Test func parseHeaderRefusesAUInt32MaxLengthWithoutAllocating() {
        #expect(throws: SystemError.self) { try Frame.parseHeader([0x57, 0xff, 0xff, 0xff, 0xff]) }
        #expect(throws: SystemError.self) { try Frame.parseHeader([0x57, 0x01, 0x00, 0x00, 0x40]) }  // maxPayload + 1
    }

    @Test func parseHeaderRefusesAnUnknownTypeOrAShortHeader() {
        #expect(throws: SystemError.self) { try Frame.parseHeader([0x00, 0, 0, 0, 0]) }
        #expect(throws: SystemError.self) { try Frame.parseHeader([0x57, 0, 0, 0]) }
    }

    /// The pieces cover 0..<length in order, none empty and none over `piece`.
    static func covers(_ spans: [Range<Int>], _ length: Int, piece: Int) -> Bool {
        var next = 0
        for s in spans {
            guard s.lowerBound == next, !s.isEmpty, s.count <= piece else { return false }
            next = s.upperBound
        }
        return next == length
    }

    @Test func writeOfTwoGiBAnd1000BytesIsCutIntoAcceptedPieces() throws {
        let length = (2 << 30) + 1000
        let spans = try Frame.spans(.write, length: length)
        #expect(Self.covers(spans, length, piece: Frame.writePiece))
        #expect(spans.count == 129 && spans.last?.count == 1000)
    }

    @Test func writesAtTheUInt32MaxBoundaryAreCovered() throws {
        for length in [Self.uint32Max, Self.uint32Max + 1, Self.uint32Max + 2] {
            #expect(Self.covers(try Frame.spans(.write, length: length), length, piece: Frame.writePiece))
        }
    }

    @Test func writeOfExactlyOnePieceIsOneFrameAndOneMoreByteIsTwo() throws {
        #expect(try Frame.spans(.write, length: Frame.writePiece) == [0..<Frame.writePiece])
        let two = try Frame.spans(.write, length: Frame.writePiece + 1)
        #expect(two == [0..<Frame.writePiece, Frame.writePiece..<(Frame.writePiece + 1)])
    }

    @Test func anEmptyPayloadIsOneEmptyFrame() throws {
        // flush, abort and the end-of-body `data` frame carry nothing: they must still go out.
        #expect(try Frame.spans(.flush, length: 0) == [0..<0])
        #expect(try Frame.spans(.write, length: 0) == [0..<0])
    }

    @Test func otherFramesAreNeverCutAndRefusedOverTheLimit() throws {
        #expect(try Frame.spans(.headers, length: Frame.writePiece * 3) == [0..<(Frame.writePiece * 3)])
        #expect(throws: SystemError.self) { try Frame.spans(.headers, length: Frame.maxPayload + 1) }
        #expect(throws: SystemError.self) { try Frame.spans(.log, length: Self.uint32Max + 1) }
    }

    @Test func aPieceSizeTheReceiverWouldRefuseIsAnError() {
        #expect(throws: SystemError.self) { try Frame.spans(.write, length: 10, piece: 0) }
        #expect(throws: SystemError.self) { try Frame.spans(.write, length: 10, piece: Frame.maxPayload + 1) }
    }

    @Test func aLargeWriteCrossesASocketPairAsSeveralFramesInOrder() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        let a = FrameConnection(fd: fds[0]), b = FrameConnection(fd: fds[1])
        let length = 2 * Frame.writePiece + 12345
        // Marked bytes around each piece boundary show the pieces arrive whole and in order.
        let marks = [0, Frame.writePiece - 1, Frame.writePiece, 2 * Frame.writePiece - 1, 2 * Frame.writePiece, length - 1]
        var data = [UInt8](repeating: 0x61, count: length)
        for (i, at) in marks.enumerated() { data[at] = UInt8(i + 1) }
        // The reader drains on another thread (the pieces are larger than a socket's buffer).
        final class Received: @unchecked Sendable { var frames: [(FrameType, [UInt8])] = [] }
        let received = Received()
        let done = DispatchSemaphoreLike()
        spawnThread {
            while let frame = try? b.readFrame() {
                received.frames.append(frame)
                if frame.0 == .end { break }
            }
            done.signal()
        }
        try a.queue(.write, data)
        try a.queue(.end, [0, 0, 0, 0])
        try a.flush()
        done.wait()
        let writes = received.frames.filter { $0.0 == .write }
        #expect(writes.map(\.1.count) == [Frame.writePiece, Frame.writePiece, 12345])
        for (i, at) in marks.enumerated() where writes.count == 3 {
            #expect(writes[at / Frame.writePiece].1[at % Frame.writePiece] == UInt8(i + 1))
        }
        #expect(received.frames.last?.0 == .end)
    }

    @Test func readFrameRefusesAnOversizedLengthAsAProtocolError() throws {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[1]) }
        let header: [UInt8] = [0x57, 0xff, 0xff, 0xff, 0xff]
        #expect(header.withUnsafeBytes { write(fds[1], $0.baseAddress, $0.count) } == 5)
        let b = FrameConnection(fd: fds[0])
        #expect { _ = try b.readFrame() } throws: { ($0 as? SystemError)?.errno == EPROTO }
    }
}

/// A one-shot signal between two threads (a POSIX semaphore).
final class DispatchSemaphoreLike: @unchecked Sendable {
    private var s = sem_t()
    init() { sem_init(&s, 0, 0) }
    deinit { sem_destroy(&s) }
    func signal() { sem_post(&s) }
    func wait() { while sem_wait(&s) != 0 {} }
}

/// FrameBuilder's strings: lengths are checked, never truncated.
@Suite struct FrameBuilderTests {
    @Test func parserRefusesLengthsBeyondThePayloadWithoutOverflow() throws {
        var p = FrameParser([1, 2, 3])
        #expect(throws: FrameParser.Malformed.self) { try p.take(Int.max) }
        #expect(throws: FrameParser.Malformed.self) { try p.take(-1) }
        #expect(try p.take(3) == [1, 2, 3])
        #expect(throws: FrameParser.Malformed.self) { try p.take(1) }
    }

    @Test func aStringIsItsLengthItsBytesAndANul() {
        var b = FrameBuilder()
        b.string("abc")
        #expect(b.bytes == [3, 0, 0, 0, 0x61, 0x62, 0x63, 0] && !b.overflowed)
    }

    @Test func aNullCStringIsEmpty() {
        var b = FrameBuilder()
        b.string(nil as UnsafePointer<CChar>?)
        #expect(b.bytes == [0, 0, 0, 0, 0] && !b.overflowed)
    }

    @Test func aCStringKeepsItsBytesUpToTheNul() {
        var b = FrameBuilder()
        "caf\u{e9}".withCString { b.string($0) }
        var p = FrameParser(b.bytes)
        #expect((try? p.cString()) == "caf\u{e9}".utf8CString.map { $0 })
    }
}
