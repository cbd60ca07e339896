/// Process-wide Python settings (the server-config WSGIPython* and WSGIRestrict* directives).
/// The shim sets every field from its getters, which hold the directives' defaults: the
/// values here are only zeroes, never a second copy of a default.
public struct ProcessConfig: Sendable {
    public var pythonHome: String?
    public var pythonPath: [String] = []
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
    /// WSGIFreeThreading at server scope (mod_wsgi 6): the GIL disabled on a free-threaded build.
    public var freeThreading = false
    /// The <WSGIInterpreterOptions> containers, in configuration order.
    public var interpreterOptions: [InterpreterOptions] = []

    public init() {}

    /// What an application group's interpreter of this process is created with: the
    /// process-wide settings, overridden by the containers that select it.
    public func interpreterSettings(applicationGroup: String) -> InterpreterSettings {
        var settings = InterpreterSettings(perInterpreterGIL: perInterpreterGIL,
                                           switchInterval: switchInterval, pythonPath: [])
        for o in interpreterOptions where o.matches(processGroup: processGroup, applicationGroup: applicationGroup) {
            if let v = o.perInterpreterGIL { settings.perInterpreterGIL = v }
            if let v = o.switchInterval { settings.switchInterval = v }
            settings.pythonPath += o.pythonPath
        }
        // The main interpreter always keeps the process's GIL.
        if applicationGroup.isEmpty { settings.perInterpreterGIL = false }
        return settings
    }
}

/// One <WSGIInterpreterOptions [process-group=] [application-group=]> container (mod_wsgi 6).
public struct InterpreterOptions: Sendable, Equatable {
    /// nil: any; "" selects embedded mode (Apache's children).
    public var processGroup: String?
    /// nil: any; the expanded application group name ("" for %{GLOBAL}).
    public var applicationGroup: String?
    public var perInterpreterGIL: Bool?
    public var switchInterval: Double?
    public var pythonPath: [String] = []

    public init(processGroup: String? = nil, applicationGroup: String? = nil) {
        self.processGroup = processGroup
        self.applicationGroup = applicationGroup
    }

    func matches(processGroup p: String, applicationGroup a: String) -> Bool {
        (processGroup == nil || processGroup == p) && (applicationGroup == nil || applicationGroup == a)
    }
}

/// The settings one interpreter is created with.
public struct InterpreterSettings: Sendable, Equatable {
    public var perInterpreterGIL: Bool
    /// Seconds; 0: Python's default.
    public var switchInterval: Double
    /// Directories added to this interpreter's sys.path.
    public var pythonPath: [String]
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
