@preconcurrency import CSwiftWSGI
import Glibc
import Testing
@testable import PythonHost

/// Small pure helpers of the host whose mistakes would be silent: the MD5 behind mod_wsgi's
/// script module names (its padding at the block boundaries), the environ's microsecond
/// instants, and the application-group expansions' corner cases.
@Suite struct HostHelpersTests {
    @Test func md5IsRightAtEveryPaddingBoundary() {
        // Lengths around 56 and 64 bytes change how the length block is padded.
        let expected = [
            55: "52c0e574e1198de5fe3f8f11440dcb1b", 56: "46c9907fc908ee68b1e7b8e71286a518",
            57: "1c805dd236c35cab25fcb1bc73802c51", 63: "a62f6d59e837867693f042f5b8f5a236",
            64: "7160b8fb5e9e4023d549c3971fbaeead", 65: "70bd662e7aefbda85a0f7244167b7897",
            119: "e84905d4214f4d1ca56c2cdcc152b143", 120: "e3eb5a6c8669ea01a8c185b8abc8a5dc",
            128: "10b2da1a82f16d99a81a7203fe9f02cb",
        ]
        for (n, digest) in expected {
            let bytes = (0..<n).map { UInt8(truncatingIfNeeded: $0 * 7 + 3) }
            #expect(MD5.hex(bytes) == digest, "length \(n)")
        }
    }

    @Test func md5OfAMillionBytes() {
        #expect(MD5.hex([UInt8](repeating: 0x61, count: 1_000_000)) == "7707d6ae4e027c70eea2a935c2296f21")
    }

    /// Runs body with an environ of C strings.
    static func withEnviron<R>(_ pairs: [(String, String)], _ body: (UnsafeBufferPointer<swiftwsgi_kv_t>) -> R) -> R {
        let copies = pairs.flatMap { [strdup($0.0), strdup($0.1)] }
        defer { copies.forEach { free($0) } }
        let kvs = (0..<pairs.count).map { swiftwsgi_kv_t(name: UnsafePointer(copies[2 * $0]), value: UnsafePointer(copies[2 * $0 + 1])) }
        return kvs.withUnsafeBufferPointer(body)
    }

    @Test func environInstantsAreMicrosecondsAsSeconds() {
        let seconds = Self.withEnviron([("A", "x"), ("mod_wsgi.request_start", "1700000000250000")]) {
            PythonRuntime.environSeconds($0, "mod_wsgi.request_start")
        }
        #expect(seconds == 1_700_000_000.25)
    }

    @Test func aMissingOrMalformedInstantIsZero() {
        Self.withEnviron([("mod_wsgi.queue_start", "soon")]) { env in
            #expect(PythonRuntime.environSeconds(env, "mod_wsgi.queue_start") == 0)
            #expect(PythonRuntime.environSeconds(env, "mod_wsgi.request_start") == 0)
        }
    }

    static func expand(_ spec: String, _ env: [String: String] = [:]) -> String {
        ApplicationGroup.expand(spec, server: "example.org:8080", scriptName: "/app", environment: { env[$0] })
    }

    @Test func anEnvironmentVariableNamingAnotherExpansionIsExpandedOnce() {
        #expect(Self.expand("%{ENV:G}", ["G": "%{SERVER}"]) == "example.org:8080")
        #expect(Self.expand("%{ENV:G}", ["G": "%{RESOURCE}"]) == "example.org:8080|/app")
        // Never followed further: a variable naming %{ENV:...} is taken as a literal name.
        #expect(Self.expand("%{ENV:G}", ["G": "%{ENV:H}", "H": "x"]) == "%{ENV:H}")
    }

    @Test func anEmptyEnvironmentValueMeansTheDefaultResource() {
        #expect(Self.expand("%{ENV:G}", ["G": ""]) == "example.org:8080|/app")
    }

    @Test func malformedExpansionsAreRefusedWithTheReason() {
        #expect(ApplicationGroup.validate("%{GLOBAL") == "'%{GLOBAL' is missing its closing '}'")
        #expect(ApplicationGroup.validate("%{ENV:}")?.contains("unknown expansion") == true)
        #expect(ApplicationGroup.validate("%{RESOURCE}") == nil && ApplicationGroup.validate("plain name") == nil)
    }
}
