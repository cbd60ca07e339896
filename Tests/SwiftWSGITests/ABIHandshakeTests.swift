@preconcurrency import CSwiftWSGI
import Testing
@testable import SwiftWSGI

/// The handshake the shim makes before anything else crosses (swiftwsgi_abi_handshake): the
/// library accepts its own ABI version and struct sizes only.
@Suite struct ABIHandshakeTests {
    let version = Int(SWIFTWSGI_ABI_VERSION)
    var sizes: [Int] { ABIHandshake.ownSizes.map(\.size) }

    @Test func ownVersionAndSizesAreAccepted() {
        #expect(ABIHandshake.problem(version: version, sizes: sizes) == nil)
    }

    @Test func anotherVersionIsRefused() {
        let problem = ABIHandshake.problem(version: version + 1, sizes: sizes)
        #expect(problem == "the Swift host library speaks ABI \(version), this module ABI \(version + 1)")
    }

    @Test func aStructOfAnotherSizeIsRefusedByName() throws {
        var other = sizes
        let last = try #require(other.indices.last)
        other[last] += 8
        let name = ABIHandshake.ownSizes[last].name
        let problem = try #require(ABIHandshake.problem(version: version, sizes: other))
        #expect(name.hasPrefix("swiftwsgi_"))
        #expect(
            problem.hasPrefix(
                "\(name) is \(sizes[last]) bytes in the Swift host library, \(sizes[last] + 8) in this module"))
    }

    @Test func anotherNumberOfStructsIsRefused() {
        #expect(ABIHandshake.problem(version: version, sizes: Array(sizes.dropLast())) != nil)
        #expect(ABIHandshake.problem(version: version, sizes: sizes + [8]) != nil)
        #expect(ABIHandshake.problem(version: version, sizes: []) != nil)
    }

    /// The list the C header keeps names the structs Swift reads, at the sizes Swift sees them.
    @Test func theListIsTheStructsSwiftReads() {
        let own = ABIHandshake.ownSizes
        let swift: [(String, Int)] = [
            ("swiftwsgi_kv_t", MemoryLayout<swiftwsgi_kv_t>.size),
            ("swiftwsgi_ops_t", MemoryLayout<swiftwsgi_ops_t>.size),
            ("swiftwsgi_process_config_t", MemoryLayout<swiftwsgi_process_config_t>.size),
            ("swiftwsgi_daemon_config_t", MemoryLayout<swiftwsgi_daemon_config_t>.size),
            ("swiftwsgi_request_t", MemoryLayout<swiftwsgi_request_t>.size),
            ("swiftwsgi_auth_request_t", MemoryLayout<swiftwsgi_auth_request_t>.size),
        ]
        for (name, size) in swift {
            #expect(own.first { $0.name == name }?.size == size, "\(name)")
        }
    }
}
