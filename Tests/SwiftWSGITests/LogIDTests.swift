import Foundation
import Testing
@testable import PythonHost

/// The host's log message ids (LogID) and their one formatter (LogFormat).
@Suite(.serialized) struct LogIDTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static func files(under folder: String, ending suffix: String) throws -> [URL] {
        let base = root.appendingPathComponent(folder)
        let all = FileManager.default.enumerator(at: base, includingPropertiesForKeys: nil)?.allObjects as? [URL] ?? []
        return all.filter { $0.path.hasSuffix(suffix) }
    }

    @Test func idsAreUniqueAndTheHostsOwn() {
        let ids = LogID.allCases.map(\.rawValue)
        #expect(Set(ids).count == ids.count)
        for id in ids {
            #expect(id.count == 7 && id.hasPrefix("SWW1") && id.dropFirst(3).allSatisfy(\.isNumber), "\(id)")
        }
    }

    /// The shim's ids (SWIFTWSGI_LOGNO(nnnn) in apache/) and the host's never meet.
    @Test func noIdIsAlsoTheShims() throws {
        var shim = Set<String>()
        for file in try Self.files(under: "apache", ending: ".c") {
            let text = try String(contentsOf: file, encoding: .utf8)
            for match in text.matches(of: /SWIFTWSGI_LOGNO\((\d{4})\)/) { shim.insert("SWW" + match.1) }
        }
        #expect(shim.count > 20)
        #expect(shim.isDisjoint(with: LogID.allCases.map(\.rawValue)))
    }

    /// Every message goes through LogFormat: no Swift file builds the mod_wsgi-style prefix itself.
    @Test func noHandBuiltPrefixes() throws {
        for file in try Self.files(under: "Sources", ending: ".swift") where file.lastPathComponent != "LogFormat.swift"
        {
            let text = try String(contentsOf: file, encoding: .utf8)
            #expect(
                !text.contains("mod_swiftwsgi (pid="),
                "\(file.lastPathComponent) builds a log prefix: use ApacheOps.log with a LogID")
        }
    }

    @Test func everyLineCarriesTheIdAndTheFirstSaysWhoSpeaks() {
        let lines = LogFormat.lines(
            .applicationFailed,
            "Exception occurred processing WSGI script 'x'.\nTraceback (most recent call last):\n  File \"x\"")
        #expect(
            lines == [
                "SWW1027: mod_swiftwsgi (pid=\(getpid())): Exception occurred processing WSGI script 'x'.",
                "SWW1027: Traceback (most recent call last):",
                "SWW1027:   File \"x\"",
            ])
    }

    @Test func theApplicationsOutputKeepsItsWords() {
        #expect(LogFormat.lines(.applicationOutput, "printed\n") == ["SWW1000: printed", "SWW1000: "])
    }

    @Test func aDaemonProcessNamesItsGroup() {
        LogFormat.processGroup = "api"
        defer { LogFormat.processGroup = nil }
        #expect(
            LogFormat.lines(.daemonReady, "daemon process ready with 2 threads")
                == ["SWW1041: mod_swiftwsgi (pid=\(getpid()), process='api'): daemon process ready with 2 threads"])
    }
}
