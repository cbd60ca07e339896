import Testing
@testable import PythonHost

/// How <WSGIInterpreterOptions> containers resolve for an interpreter (mod_wsgi 6's rules:
/// the most specific container wins, then the later; WSGIPythonPath layers add up).
@Suite struct InterpreterOptionsTests {
    private func container(_ process: String? = nil, _ application: String? = nil,
                           gil: Bool? = nil, freeThreading: Bool? = nil, switchInterval: Double? = nil,
                           path: [String] = []) -> InterpreterOptions {
        var o = InterpreterOptions(processGroup: process, applicationGroup: application)
        o.perInterpreterGIL = gil
        o.freeThreading = freeThreading
        o.switchInterval = switchInterval
        o.pythonPath = path
        return o
    }

    private func config(group: String = "", gil: Bool = false, switchInterval: Double = 0,
                        _ options: [InterpreterOptions]) -> ProcessConfig {
        var c = ProcessConfig()
        c.processGroup = group
        c.perInterpreterGIL = gil
        c.switchInterval = switchInterval
        c.interpreterOptions = options
        return c
    }

    @Test func withoutContainersTheProcessSettingsApply() {
        let c = config(gil: true, switchInterval: 0.01, [])
        #expect(c.interpreterSettings(applicationGroup: "app") ==
                InterpreterSettings(perInterpreterGIL: true, switchInterval: 0.01, pythonPath: []))
        // The main interpreter always keeps the process's GIL.
        #expect(c.interpreterSettings(applicationGroup: "").perInterpreterGIL == false)
    }

    @Test func selectors() {
        let options = [container("d", gil: true), container(nil, "a", path: ["/a"]), container("", path: ["/embedded"])]
        #expect(config(group: "d", options).interpreterSettings(applicationGroup: "x").perInterpreterGIL)
        #expect(!config(group: "", options).interpreterSettings(applicationGroup: "x").perInterpreterGIL)
        #expect(!config(group: "other", options).interpreterSettings(applicationGroup: "x").perInterpreterGIL)
        #expect(config(group: "d", options).interpreterSettings(applicationGroup: "a").pythonPath == ["/a"])
        #expect(config(group: "d", options).interpreterSettings(applicationGroup: "b").pythonPath == [])
        #expect(config(group: "", options).interpreterSettings(applicationGroup: "a").pythonPath == ["/embedded", "/a"])  // equally specific: the later first
        #expect(config(group: "", options).interpreterSettings(applicationGroup: "").pythonPath == ["/embedded"])
    }

    @Test func theMostSpecificContainerWinsWhateverItsPlace() {
        let specificFirst = [container("d", "a", gil: false, switchInterval: 0.002),
                             container(nil, "a", gil: true, switchInterval: 0.003),
                             container(gil: true, switchInterval: 0.004)]
        let s = config(group: "d", specificFirst).interpreterSettings(applicationGroup: "a")
        #expect(s.perInterpreterGIL == false)
        // 0.002 comes from an application-group= container whose interpreter has no own GIL:
        // it would change the shared interval, so the process's value stays.
        #expect(s.switchInterval == 0)
        let b = config(group: "d", specificFirst).interpreterSettings(applicationGroup: "b")
        #expect(b.perInterpreterGIL && b.switchInterval == 0.004)
        let e = config(group: "", specificFirst).interpreterSettings(applicationGroup: "a")
        #expect(e.perInterpreterGIL && e.switchInterval == 0.003)
    }

    @Test func betweenEquallySpecificContainersTheLaterWins() {
        let options = [container("d", gil: true, switchInterval: 0.002), container(nil, "a", gil: false),
                       container("d", switchInterval: 0.005)]
        let s = config(group: "d", options).interpreterSettings(applicationGroup: "a")
        #expect(s.perInterpreterGIL == false)
        #expect(s.switchInterval == 0.005)
        #expect(config(group: "d", options).interpreterSettings(applicationGroup: "b").perInterpreterGIL)
    }

    @Test func anUnsetSettingLeavesTheLessSpecificOne() {
        let options = [container(gil: true), container("d", "a", path: ["/x"])]
        #expect(config(group: "d", options).interpreterSettings(applicationGroup: "a").perInterpreterGIL)
    }

    @Test func pythonPathLayersMostSpecificFirst() {
        let options = [container("d", "a", path: ["/pa1", "/pa2"]), container(path: ["/all"]),
                       container(nil, "a", path: ["/a"]), container("d", path: ["/d"]), container(path: ["/all2"])]
        #expect(config(group: "d", options).interpreterSettings(applicationGroup: "a").pythonPath ==
                ["/pa1", "/pa2", "/d", "/a", "/all2", "/all"])
    }

    @Test func switchIntervalScopedToAnOwnGILInterpreter() {
        let options = [container(nil, "a", gil: true, switchInterval: 0.002)]
        let c = config(group: "", switchInterval: 0.01, options)
        #expect(c.interpreterSettings(applicationGroup: "a").switchInterval == 0.002)
        #expect(c.interpreterSettings(applicationGroup: "b").switchInterval == 0.01)
        #expect(c.interpreterOptionsProblem(daemonGroups: ["d"]) == nil)
    }

    @Test func switchIntervalScopedToASharedGILInterpreterIsAProblem() {
        let c = config([container(nil, "a", switchInterval: 0.002)])
        #expect(c.interpreterOptionsProblem(daemonGroups: [])?.contains("application group 'a' in embedded mode") == true)
        // Own GIL in embedded mode only: daemon group d's interpreter 'a' would share the GIL.
        let partly = config([container(nil, "a", switchInterval: 0.002), container("", gil: true)])
        #expect(partly.interpreterOptionsProblem(daemonGroups: []) == nil)
        #expect(partly.interpreterOptionsProblem(daemonGroups: ["d"])?.contains("daemon process group 'd'") == true)
        // Only the groups the container selects count.
        let scoped = config([container("", "a", switchInterval: 0.002), container("", gil: true)])
        #expect(scoped.interpreterOptionsProblem(daemonGroups: ["d"]) == nil)
        // The main interpreter's interval is the process's: allowed.
        #expect(config([container(nil, "", switchInterval: 0.002)]).interpreterOptionsProblem(daemonGroups: ["d"]) == nil)
        // A less specific container's interval under a more specific shared-GIL setting is fine:
        // it applies to every interpreter it selects.
        #expect(config([container("d", switchInterval: 0.002), container("d", "a", gil: false)])
            .interpreterOptionsProblem(daemonGroups: ["d"]) == nil)
    }

    @Test func restrictionsPerInterpreter() {
        var stdoutOff = container(nil, "a")
        stdoutOff.restrictStdout = false
        var stdinOn = container("d")
        stdinOn.restrictStdin = true
        var signalOff = container("d", "a")
        signalOff.restrictSignal = false
        var c = config(group: "d", [signalOff, stdoutOff, stdinOn])
        c.restrictStdout = true
        c.restrictSignal = true
        let a = c.interpreterSettings(applicationGroup: "a")
        #expect(!a.restrictStdout && a.restrictStdin && !a.restrictSignal)
        let b = c.interpreterSettings(applicationGroup: "b")
        #expect(b.restrictStdout && b.restrictStdin && b.restrictSignal)
        c.processGroup = ""
        let e = c.interpreterSettings(applicationGroup: "a")
        #expect(!e.restrictStdout && !e.restrictStdin && e.restrictSignal)
    }

    @Test func freeThreadingPerProcess() {
        let options = [container(freeThreading: true), container("d", freeThreading: false),
                       container(nil, "a", freeThreading: false)]
        #expect(config(group: "", options).resolvedFreeThreading(serverScope: false))
        #expect(!config(group: "d", options).resolvedFreeThreading(serverScope: true))
        #expect(config(group: "e", [container("d", freeThreading: false)]).resolvedFreeThreading(serverScope: true))
        #expect(!config(group: "e", []).resolvedFreeThreading(serverScope: false))
    }
}
