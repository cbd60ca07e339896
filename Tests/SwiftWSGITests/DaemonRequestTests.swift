@preconcurrency import CSwiftWSGI
import Glibc
import PythonHost
import Testing
@testable import SwiftWSGI

/// The request frame (DaemonRequest.swift): what the Apache child encodes is what the daemon's
/// host gets, and a damaged frame is refused (never read out of bounds, never a trap).
@Suite struct DaemonRequestTests {
    /// A connection nobody writes to (the request only keeps it).
    static func idleConnection() -> FrameConnection {
        var fds: [Int32] = [0, 0]
        #expect(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        close(fds[1])
        return FrameConnection(fd: fds[0])
    }

    /// Encodes a request with the given strings and environ (C strings kept alive meanwhile).
    static func encoded(environ: [(String, String)], queueStart: Int64 = 7) -> [UInt8] {
        let strings = ["/srv/app.wsgi", "example.org", "example.org|/app", "application", "group", "wsgi-script"]
            + environ.flatMap { [$0.0, $0.1] }
        let copies = strings.map { UnsafePointer(strdup($0)) }
        defer { copies.forEach { free(UnsafeMutablePointer(mutating: $0)) } }
        var kvs = (0..<environ.count).map { swiftwsgi_kv_t(name: copies[6 + 2 * $0], value: copies[7 + 2 * $0]) }
        return kvs.withUnsafeMutableBufferPointer { env in
            var req = swiftwsgi_request_t()
            req.call = swiftwsgi_script_call_t(handle: nil, environ: env.baseAddress, environ_count: env.count,
                                               script_filename: copies[0], script_mtime: 1_700_000_000,
                                               server_hostname: copies[1], server_port: 8443, application_group: copies[2])
            req.callable_object = copies[3]
            req.process_group = copies[4]
            req.request_handler = copies[5]
            req.script_reloading = 1
            req.enable_sendfile = 0
            req.header_only = 1
            req.error_override = 1
            req.ignore_activity = 1
            return DaemonRequest.encode(req, queueStart: queueStart)
        }
    }

    @Test func everyFieldCrossesTheWire() throws {
        let request = try DaemonRequest(connection: Self.idleConnection(), payload: Self.encoded(environ: [("A", "1")]))
        let seen = request.withRequest { r -> [String] in
            let q = r.pointee
            #expect(q.script_mtime == 1_700_000_000 && q.server_port == 8443)
            #expect(q.script_reloading == 1 && q.enable_sendfile == 0 && q.header_only == 1)
            #expect(q.error_override == 1 && q.ignore_activity == 1)
            return [q.script_filename, q.server_hostname, q.application_group, q.callable_object, q.process_group,
                    q.request_handler].map { $0.map { String(cString: $0) } ?? "(null)" }
        }
        #expect(seen == ["/srv/app.wsgi", "example.org", "example.org|/app", "application", "group", "wsgi-script"])
        #expect(request.ignoresActivity && request.queueStart == 7)
    }

    @Test func environPairsArriveInOrderFollowedByTheDaemonKeys() throws {
        let environ = [("REQUEST_METHOD", "GET"), ("HTTP_X_EMPTY", ""), ("PATH_INFO", "/caf\u{e9}")]
        let request = try DaemonRequest(connection: Self.idleConnection(), payload: Self.encoded(environ: environ, queueStart: 42))
        let pairs = request.withRequest { r in
            UnsafeBufferPointer(start: r.pointee.environ, count: r.pointee.environ_count).map {
                (String(cString: $0.name), String(cString: $0.value))
            }
        } ?? []
        #expect(pairs.count == environ.count + 4)
        #expect(zip(pairs, environ).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 })
        #expect(pairs.dropFirst(environ.count).map(\.0)
                == ["mod_wsgi.queue_start", "mod_wsgi.daemon_start", "mod_wsgi.daemon_connects", "mod_wsgi.daemon_restarts"])
        #expect(pairs[environ.count].1 == "42" && pairs[environ.count + 2].1 == "1")
    }

    @Test func everyTruncationOfAFrameIsRefused() {
        let frame = Self.encoded(environ: [("REQUEST_METHOD", "POST"), ("CONTENT_LENGTH", "3")])
        for n in 0..<frame.count {
            #expect(throws: FrameParser.Malformed.self) {
                _ = try DaemonRequest(connection: Self.idleConnection(), payload: Array(frame.prefix(n)))
            }
        }
    }

    @Test func aStringWithoutItsTerminatorIsRefused() {
        var frame = Self.encoded(environ: [("K", "V")])
        frame[frame.count - 1] = 0x41  // the last value's NUL
        #expect(throws: FrameParser.Malformed.self) { _ = try DaemonRequest(connection: Self.idleConnection(), payload: frame) }
    }

    @Test func anImpossibleEnvironCountIsRefusedBeforeAnythingIsAllocated() {
        var frame = Self.encoded(environ: [])
        frame.replaceSubrange(0..<4, with: [0xa1, 0x86, 0x01, 0x00])  // 100_001 pairs
        #expect(throws: FrameParser.Malformed.self) { _ = try DaemonRequest(connection: Self.idleConnection(), payload: frame) }
        frame.replaceSubrange(0..<4, with: [0xff, 0xff, 0xff, 0xff])
        #expect(throws: FrameParser.Malformed.self) { _ = try DaemonRequest(connection: Self.idleConnection(), payload: frame) }
    }
}
