/// Process-wide Python settings (the server-config WSGIPython* and WSGIRestrict* directives).
/// The shim sets every field from its getters, which hold the directives' defaults: the
/// values here are only zeroes, never a second copy of a default.
public struct ProcessConfig: Sendable {
    public var pythonHome: String?
    public var pythonPath: [String] = []
    /// A daemon group's home=: first on every interpreter's sys.path, after WSGIPythonPath and
    /// python-path= (mod_wsgi: "as when running a script with the Python interpreter").
    public var daemonHome: String?
    public var optimize = 0
    /// nil: unset; -1: "random"; else the seed.
    public var hashSeed: Int?
    public var warnings: [String] = []
    public var dontWriteBytecode = false
    public var pythonEggs: String?
    public var restrictStdin = false
    public var restrictStdout = false
    public var restrictSignal = false
    public var destroyInterpreter = false
    public var apacheVersion = ""
    public var mpmName = ""
    public var threadsPerProcess = 1
    public var maximumProcesses = 1
    public var multithread: Bool { threadsPerProcess > 1 }
    /// wsgi.multiprocess when the process's settings decide it (a daemon group given
    /// processes=, even processes=1, as mod_wsgi); else more than one process.
    public var multiprocessOverride: Bool?
    public var multiprocess: Bool { multiprocessOverride ?? (maximumProcesses > 1) }
    /// A daemon process with one thread and maximum-requests=1: each process serves one
    /// request (wsgi.run_once).
    public var runOnce = false
    /// (script path, application group) pairs to load at process start (WSGIImportScript).
    public var importScripts: [(path: String, applicationGroup: String)] = []
    /// "" in Apache's children; the WSGIDaemonProcess name in a daemon process.
    public var processGroup = ""
    /// WSGISwitchInterval / switch-interval=: sys.setswitchinterval() at start; 0: Python's default.
    public var switchInterval = 0.0
    /// WSGIServerMetrics / server-metrics=: whether the metrics functions of the `mod_wsgi`
    /// module report (mod_wsgi's default: Off, they return None).
    public var serverMetrics = false
    /// The Apache server, for Python's `apache` module (the MPM's figures even in a daemon).
    public var apacheDescription = ""
    public var apacheBuildDate = ""
    public var apacheThreadsPerProcess = 1
    public var apacheMaximumProcesses = 1
    /// WSGIPerInterpreterGIL at server scope (mod_wsgi 6): sub-interpreters get their own GIL.
    public var perInterpreterGIL = false
    /// WSGIFreeThreading as it applies to this process (mod_wsgi 6): the server-scope value,
    /// overridden by the containers without application-group= that select this process
    /// (`resolvedFreeThreading(serverScope:)`); the GIL disabled on a free-threaded build.
    public var freeThreading = false
    /// The <WSGIInterpreterOptions> containers, in configuration order.
    public var interpreterOptions: [InterpreterOptions] = []

    /// WSGITelemetryService's socket path (nil: no telemetry from this process), its interval,
    /// WSGISlowRequests (0: off) and WSGITelemetryOptions +CaptureUserAgent.
    public var telemetrySocket: String?
    public var telemetryInterval = 0.0
    public var slowRequests = 0.0
    public var telemetryCaptureUserAgent = false

    /// mod_status's counters of this Apache child (nil in daemon processes, or without mod_status).
    public var statusCounters: StatusCounters?

    public init() {}

    /// What an application group's interpreter of this process ("" for the main interpreter,
    /// else the expanded group name) is created with: the process-wide settings, overridden by
    /// the containers that select it, as mod_wsgi 6 resolves them:
    /// - WSGIPerInterpreterGIL, WSGISwitchInterval and WSGIRestrictStdin/Stdout/Signal: the
    ///   most specific container that sets it wins (specificity: how many of process-group= and application-group= it gives);
    ///   between equally specific ones, the later in the configuration.
    /// - WSGIPythonPath: every selecting container adds its directories (see
    ///   `InterpreterSettings.pythonPath` for their order).
    /// - The main interpreter always keeps the process's GIL.
    /// - A switch interval from a container with application-group= applies only to an
    ///   interpreter with its own GIL (or the main one): with a shared GIL it would change the
    ///   whole process's interval (configtest refuses such a configuration; see
    ///   `interpreterOptionsProblem(daemonGroups:)`).
    public func interpreterSettings(applicationGroup: String) -> InterpreterSettings {
        resolve(applicationGroup: applicationGroup).settings
    }

    private func resolve(applicationGroup: String) -> (settings: InterpreterSettings, scopedSwitchIntervalDropped: Bool) {
        var settings = InterpreterSettings(perInterpreterGIL: perInterpreterGIL,
                                           switchInterval: switchInterval, pythonPath: [],
                                           restrictStdin: restrictStdin, restrictStdout: restrictStdout,
                                           restrictSignal: restrictSignal)
        var gilRank = -1, switchRank = -1, stdinRank = -1, stdoutRank = -1, signalRank = -1
        var switchFromApplicationGroup = false
        var layers: [(rank: Int, index: Int, path: [String])] = []
        for (index, o) in interpreterOptions.enumerated()
        where o.matches(processGroup: processGroup, applicationGroup: applicationGroup) {
            let rank = o.specificity
            if let v = o.perInterpreterGIL, rank >= gilRank { settings.perInterpreterGIL = v; gilRank = rank }
            if let v = o.switchInterval, rank >= switchRank {
                settings.switchInterval = v
                switchRank = rank
                switchFromApplicationGroup = o.applicationGroup != nil
            }
            if let v = o.restrictStdin, rank >= stdinRank { settings.restrictStdin = v; stdinRank = rank }
            if let v = o.restrictStdout, rank >= stdoutRank { settings.restrictStdout = v; stdoutRank = rank }
            if let v = o.restrictSignal, rank >= signalRank { settings.restrictSignal = v; signalRank = rank }
            if !o.pythonPath.isEmpty { layers.append((rank, index, o.pythonPath)) }
        }
        // Most specific first; between equals, the later container first.
        layers.sort { ($0.rank, $0.index) > ($1.rank, $1.index) }
        settings.pythonPath = layers.flatMap { $0.path }
        let main = applicationGroup.isEmpty
        if main { settings.perInterpreterGIL = false }
        var dropped = false
        if switchFromApplicationGroup && !main && !settings.perInterpreterGIL {
            settings.switchInterval = switchInterval
            dropped = true
        }
        return (settings, dropped)
    }

    /// WSGIFreeThreading for this process: serverScope, overridden by the containers without
    /// application-group= whose process-group= selects this process (the most specific, then
    /// the later, wins). Free-threading is decided once per process, at Python's start.
    public func resolvedFreeThreading(serverScope: Bool) -> Bool {
        var value = serverScope, rank = -1
        for o in interpreterOptions where o.applicationGroup == nil && o.matches(processGroup: processGroup, applicationGroup: "") {
            if let v = o.freeThreading, o.specificity >= rank { value = v; rank = o.specificity }
        }
        return value
    }

    /// Why the containers cannot take effect as written, in embedded mode or in one of the
    /// daemon groups named, or nil: a WSGISwitchInterval in a container with
    /// application-group=NAME needs that interpreter to get its own GIL in every process
    /// group the container selects (mod_wsgi 6 skips it with a warning at interpreter creation).
    public func interpreterOptionsProblem(daemonGroups: [String]) -> String? {
        for group in [""] + daemonGroups {
            var config = self
            config.processGroup = group
            for o in interpreterOptions {
                guard let name = o.applicationGroup, !name.isEmpty, o.switchInterval != nil,
                      o.processGroup == nil || o.processGroup == group,
                      config.resolve(applicationGroup: name).scopedSwitchIntervalDropped else { continue }
                let place = group.isEmpty ? "in embedded mode" : "in daemon process group '\(group)'"
                return "WSGISwitchInterval inside <WSGIInterpreterOptions\(o.selectorDescription)>: "
                    + "application group '\(name)' \(place) does not get its own GIL (WSGIPerInterpreterGIL On), "
                    + "so its switch interval would be the whole process's; set it for the process instead"
            }
        }
        return nil
    }
}

/// One <WSGIInterpreterOptions [process-group=] [application-group=]> container (mod_wsgi 6).
public struct InterpreterOptions: Sendable, Equatable {
    /// nil: any; "" selects embedded mode (Apache's children).
    public var processGroup: String?
    /// nil: any; the expanded application group name ("" for %{GLOBAL}).
    public var applicationGroup: String?
    public var perInterpreterGIL: Bool?
    /// Only in a container without applicationGroup (free-threading is per process).
    public var freeThreading: Bool?
    public var switchInterval: Double?
    public var restrictStdin: Bool?
    public var restrictStdout: Bool?
    public var restrictSignal: Bool?
    public var pythonPath: [String] = []

    public init(processGroup: String? = nil, applicationGroup: String? = nil) {
        self.processGroup = processGroup
        self.applicationGroup = applicationGroup
    }

    func matches(processGroup p: String, applicationGroup a: String) -> Bool {
        (processGroup == nil || processGroup == p) && (applicationGroup == nil || applicationGroup == a)
    }

    /// How many selectors it gives: the more, the more specific.
    var specificity: Int { (processGroup == nil ? 0 : 1) + (applicationGroup == nil ? 0 : 1) }

    var selectorDescription: String {
        var out = ""
        if let p = processGroup { out += " process-group=" + (p.isEmpty ? "%{GLOBAL}" : p) }
        if let a = applicationGroup { out += " application-group=" + (a.isEmpty ? "%{GLOBAL}" : a) }
        return out
    }
}

/// The settings one interpreter is created with.
public struct InterpreterSettings: Sendable, Equatable {
    public var perInterpreterGIL: Bool
    /// Seconds; 0: Python's default.
    public var switchInterval: Double
    /// The containers' WSGIPythonPath directories for this interpreter, in the order they end
    /// up at the front of sys.path (before the process's WSGIPythonPath / python-path=): the
    /// most specific container's first (between equally specific ones, the later's first), each
    /// container's in the order written. mod_wsgi 6 gives each directory to site.addsitedir()
    /// and moves what that added (with its .pth entries) to the front of sys.path.
    public var pythonPath: [String]
    /// WSGIRestrictStdin / WSGIRestrictStdout / WSGIRestrictSignal for this interpreter (the
    /// process's, unless a container that selects it says otherwise).
    public var restrictStdin = false
    public var restrictStdout = false
    public var restrictSignal = false
}

/// The interpreter a Python home selects, as `PyConfig.program_name` / `home`.
///
/// A virtual environment (a directory holding `pyvenv.cfg`) is selected through its own
/// `bin/python3`, so CPython's path calculation finds `pyvenv.cfg` and sets `sys.prefix` to the
/// venv with the base installation's standard library; any other home is a Python prefix.
public struct PythonLocation: Equatable, Sendable {
    public var programName: String
    public var home: String?

    public static let embeddedVersion = PythonVersion.embedded

    public init(home: String?, isVirtualEnvironment: Bool) {
        guard let home else {
            programName = PythonVersion.defaultProgramName
            self.home = nil
            return
        }
        let trimmed = home.count > 1 && home.hasSuffix("/") ? String(home.dropLast()) : home
        if isVirtualEnvironment {
            programName = trimmed + "/bin/python3"
            self.home = nil
        } else {
            programName = trimmed + "/bin/python\(Self.embeddedVersion)"
            self.home = trimmed
        }
    }
}
