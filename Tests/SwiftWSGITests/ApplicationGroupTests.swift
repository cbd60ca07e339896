import Testing
@testable import PythonHost
@testable import SwiftWSGI

@Suite struct ApplicationGroupTests {
    @Test func expansions() {
        let env = ["GROUP": "tenant-a", "GLOBALIZE": "%{GLOBAL}"]
        func expand(_ spec: String) -> String {
            ApplicationGroup.expand(spec, server: "example.org:8080", scriptName: "/app", environment: { env[$0] })
        }
        #expect(expand("%{GLOBAL}") == "")
        #expect(expand("%{SERVER}") == "example.org:8080")
        #expect(expand("%{RESOURCE}") == "example.org:8080|/app")
        #expect(expand("%{ENV:GROUP}") == "tenant-a")
        #expect(expand("%{ENV:GLOBALIZE}") == "")
        #expect(expand("%{ENV:MISSING}") == "example.org:8080|/app")
        #expect(expand("literal") == "literal")
    }

    @Test func serverNames() {
        #expect(ApplicationGroup.serverName(host: "h", port: 80) == "h")
        #expect(ApplicationGroup.serverName(host: "h", port: 443) == "h")
        #expect(ApplicationGroup.serverName(host: "h", port: 8000) == "h:8000")
    }

    @Test func validation() {
        #expect(ApplicationGroup.validate("%{GLOBAL}") == nil)
        #expect(ApplicationGroup.validate("%{ENV:X}") == nil)
        #expect(ApplicationGroup.validate("%{BOGUS}") != nil)
        #expect(ApplicationGroup.validate("%{GLOBAL") != nil)
        #expect(ApplicationGroup.validate("name") == nil)
    }
}

@Suite struct ModuleNamingTests {
    @Test func md5MatchesKnownDigests() {
        #expect(MD5.hex([]) == "d41d8cd98f00b204e9800998ecf8427e")
        #expect(MD5.hex(Array("The quick brown fox jumps over the lazy dog".utf8)) == "9e107d9d372bb6826bd81d3542a419d6")
        #expect(PythonRuntime.moduleName(forScript: "/srv/app.wsgi") == "_mod_wsgi_" + MD5.hex(Array("/srv/app.wsgi".utf8)))
    }
}

@Suite struct PythonHomeTests {
    @Test func pyvenvVersions() {
        #expect(PyvenvConfig.version("home = /usr/bin\nversion = 3.11.2\n") == "3.11.2")
        #expect(PyvenvConfig.matches("3.11.2", "3.11"))
        #expect(!PyvenvConfig.matches("3.12.1", "3.11"))
        #expect(!PyvenvConfig.matches("3.1", "3.11"))
    }

    @Test func locations() {
        let venv = PythonLocation(home: "/srv/venv/", isVirtualEnvironment: true)
        #expect(venv.programName == "/srv/venv/bin/python3")
        #expect(venv.home == nil)
        let prefix = PythonLocation(home: "/opt/py", isVirtualEnvironment: false)
        #expect(prefix.home == "/opt/py")
        #expect(ConfigChecks.pythonHome("/nonexistent-dir") != nil)
        #expect(ConfigChecks.pythonHome("/usr") == nil)
    }
}
