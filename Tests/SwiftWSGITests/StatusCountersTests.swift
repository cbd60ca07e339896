@preconcurrency import CSwiftWSGI
import Glibc
import Testing
@testable import PythonHost
@testable import SwiftWSGI

/// mod_status's shared counters (swiftwsgi_abi.h): the group-name table every Apache child
/// claims names in, the per-child rows, and the queue cells of requests waiting for a daemon.
@Suite struct StatusCountersTests {
    /// A names table and one row, zeroed as the parent's fresh mapping is.
    final class Memory {
        let names = UnsafeMutablePointer<swiftwsgi_status_name_t>.allocate(capacity: Int(SWIFTWSGI_STATUS_GROUPS))
        let row = UnsafeMutablePointer<swiftwsgi_child_counters_t>.allocate(capacity: 1)
        init() {
            UnsafeMutableRawPointer(names).initializeMemory(as: UInt8.self, repeating: 0,
                count: MemoryLayout<swiftwsgi_status_name_t>.stride * Int(SWIFTWSGI_STATUS_GROUPS))
            UnsafeMutableRawPointer(row).initializeMemory(as: UInt8.self, repeating: 0,
                count: MemoryLayout<swiftwsgi_child_counters_t>.stride)
        }
        deinit { names.deallocate(); row.deallocate() }
        var counters: StatusCounters { StatusCounters(names: names, row: row)! }
        func name(_ i: Int) -> String {
            withUnsafeBytes(of: names[i].name) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        }
    }

    @Test func groupsAreNamedOnceAndTheRestAreOtherGroups() {
        let m = Memory()
        let global = m.counters.counters(forGroup: "")
        let a = m.counters.counters(forGroup: "localhost|/a")
        #expect(global != a)
        #expect(m.counters.counters(forGroup: "localhost|/a") == a)  // found again, not claimed twice
        #expect(m.names[0].state == 2 && m.name(0) == "" && m.name(1) == "localhost|/a")
        for i in 2..<Int(SWIFTWSGI_STATUS_GROUPS) { _ = m.counters.counters(forGroup: "group \(i)") }
        let other = swiftwsgi_child_group_counters(m.row, SWIFTWSGI_STATUS_GROUPS)
        #expect(m.counters.counters(forGroup: "one too many") == other)
        #expect(m.counters.counters(forGroup: "and another") == other)
        #expect(m.counters.counters(forGroup: "group 7") == swiftwsgi_child_group_counters(m.row, 7))
    }

    @Test func longNamesAreCutAndMatchByWhatIsKept() {
        let m = Memory()
        let long = String(repeating: "x", count: 300)
        let first = m.counters.counters(forGroup: long + "1")
        #expect(m.counters.counters(forGroup: long + "2") == first)  // the same first 255 bytes
        #expect(m.name(0).utf8.count == Int(SWIFTWSGI_STATUS_NAME_SIZE) - 1)
        #expect(m.counters.counters(forGroup: String(repeating: "x", count: 254)) != first)
    }

    @Test func requestsBegunAndEnded() {
        let m = Memory()
        let c = m.counters.counters(forGroup: "")
        swiftwsgi_interpreter_begun(c)
        swiftwsgi_interpreter_begun(c)
        swiftwsgi_interpreter_ended(c)
        #expect(c.pointee.begun == 2 && c.pointee.ended == 1)
        let local = StatusCounters.local()
        #expect(local.pointee.begun == 0 && local.pointee.ended == 0)
    }

    @Test func aDaemonClearsOnlyTheMarkItWasSent() {
        var cells = [UInt64](repeating: 0, count: 4)
        let mark = swiftwsgi_queue_mark(2, 123_456)
        #expect(mark >> UInt64(SWIFTWSGI_QUEUE_TIME_BITS) == 3 && mark & 0xffff_ffff_ffff == 123_456)
        #expect(swiftwsgi_queue_mark(0, 1 << 48) & 0xffff_ffff_ffff != 0)  // never a zero time
        cells.withUnsafeMutableBufferPointer { c in
            c[1] = mark
            swiftwsgi_queue_taken(c.baseAddress, 4, 1, mark &+ 1)   // another request's: kept
            #expect(c[1] == mark)
            swiftwsgi_queue_taken(c.baseAddress, 4, 4, mark)        // beyond the cells: ignored
            swiftwsgi_queue_taken(c.baseAddress, 4, -1, mark)
            swiftwsgi_queue_taken(c.baseAddress, 4, 1, mark)
            #expect(c[1] == 0)
        }
        swiftwsgi_queue_taken(nil, 0, 1, mark)  // without mod_status
    }

    @Test func theRequestFrameCarriesTheQueueCell() throws {
        var req = swiftwsgi_request_t()
        req.queue_cell = 17
        req.queue_mark = swiftwsgi_queue_mark(1, 99)
        let frame = DaemonRequest.encode(req, queueStart: 5)
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        defer { close(fds[1]) }
        let request = try DaemonRequest(connection: FrameConnection(fd: fds[0]), payload: frame)
        #expect(request.queueCell == 17 && request.queueMark == req.queue_mark && request.queueStart == 5)
    }
}
