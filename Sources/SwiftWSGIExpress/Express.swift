import ArgumentParser
import Foundation

@main
struct SwiftWSGIExpress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftwsgi-express",
        abstract: "Serve a WSGI application through Apache and mod_swiftwsgi with no hand-written httpd.conf.",
        subcommands: [StartServer.self, SetupServer.self, ModuleConfig.self, InstallModule.self],
        defaultSubcommand: StartServer.self
    )
}

/// Options shared by start-server and setup-server.
struct ServerArguments: ParsableArguments {
    @Argument(help: "The WSGI script to serve (default: a built-in page).")
    var application: String?

    @Option(help: "Port to listen on.") var port = 8000
    @Option(help: "Interface to listen on.") var host = "localhost"
    @Option(help: "Daemon processes.") var processes = 1
    @Option(help: "Threads per daemon process.") var threads = 5
    @Option(name: .customLong("url-alias"), parsing: .upToNextOption, help: "URL path and file or directory to serve as static files (repeatable).")
    var urlAlias: [String] = []
    @Option(help: "Directory whose existing files Apache serves before the application.") var documentRoot: String?
    @Option(help: "Name of the WSGI callable in the script.") var callableObject = "application"
    @Option(help: "Python home or virtual environment (default: the active $VIRTUAL_ENV).") var pythonHome: String?
    @Option(help: "Directory added to sys.path (repeatable).") var pythonPath: [String] = []
    @Option(help: "User to run as (required when started as root).") var user: String?
    @Option(help: "Group to run as (required when started as root).") var group: String?
    @Flag(help: "Restart the application process when a loaded module's file changes.") var reloadOnChanges = false
    @Option(help: "Apache LogLevel.") var logLevel = "warn"
    @Flag(help: "Log requests on standard output.") var accessLog = false
    @Option(name: .customLong("setenv"), parsing: .upToNextOption, help: "Name and value added to the WSGI environ (repeatable).")
    var setenv: [String] = []
    @Option(help: "Extra Apache configuration file to include (repeatable).") var includeFile: [String] = []
    @Flag(help: "Run the application in Apache's own processes instead of a daemon process.") var embeddedMode = false
    @Option(help: "Apache MPM: event, worker or prefork.") var serverMpm = "event"
    @Option(help: "Recycle a daemon process after this many requests (0: never).") var maximumRequests = 0
    @Option(help: "Seconds before a running request is answered 504 and its process replaced.") var requestTimeout = 60
    @Option(help: "Seconds a request may wait for a daemon thread.") var queueTimeout = 45
    @Option(help: "Seconds of silence on the daemon socket before 504.") var socketTimeout = 60
    @Option(help: "Seconds to wait for a daemon process to accept.") var connectTimeout = 15
    @Option(help: "Seconds a stopping daemon process gets to finish its requests.") var gracefulTimeout = 15
    @Option(help: "Seconds a daemon process may take to start (Python and the preloaded application).") var startupTimeout = 15
    @Option(help: "Seconds of idleness after which a daemon process is replaced (0: never).") var inactivityTimeout = 0
    @Option(help: "Maximum concurrent clients Apache accepts.") var maxClients: Int?
    @Option(help: "Directory for the generated configuration (default: /tmp/swiftwsgi-express-PORT-UID).") var serverRoot: String?
    @Option(help: "Path of mod_swiftwsgi.so (default: next to this program, in the build tree, or Apache's module directory).")
    var module: String?

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be from 1 to 65535") }
        guard processes >= 1, threads >= 1 else { throw ValidationError("--processes and --threads must be at least 1") }
        guard ["event", "worker", "prefork"].contains(serverMpm) else { throw ValidationError("--server-mpm must be event, worker or prefork") }
        guard urlAlias.count % 2 == 0 else { throw ValidationError("--url-alias takes a URL path and a file or directory") }
        guard setenv.count % 2 == 0 else { throw ValidationError("--setenv takes a name and a value") }
        if getuid() == 0 && (user == nil || group == nil) {
            throw ValidationError("when started as root, give --user and --group to run the application as")
        }
    }

    /// Resolves paths and checks files, before anything is written or started.
    func options() throws -> ServerOptions {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String {
            let p = path.hasPrefix("/") ? path : cwd + "/" + path
            return URL(fileURLWithPath: p).standardizedFileURL.path
        }
        var isDirectory: ObjCBool = false
        func mustExist(_ path: String, _ what: String, directory: Bool? = nil) throws -> String {
            let p = absolute(path)
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDirectory) else {
                throw ValidationError("\(what) '\(path)' does not exist")
            }
            if let directory, directory != isDirectory.boolValue {
                throw ValidationError("\(what) '\(path)' is \(directory ? "not a directory" : "a directory")")
            }
            return p
        }
        let root = serverRoot.map(absolute) ?? "/tmp/swiftwsgi-express-\(port)-\(getuid())"
        var o = ServerOptions(serverRoot: root, module: try findModule(), workingDirectory: cwd)
        o.application = try application.map { try mustExist($0, "WSGI script", directory: false) }
        o.host = host
        o.port = port
        o.processes = processes
        o.threads = threads
        o.embeddedMode = embeddedMode
        o.mpm = serverMpm
        o.maxClients = maxClients
        o.callableObject = callableObject
        let home = pythonHome ?? ProcessInfo.processInfo.environment["VIRTUAL_ENV"]
        o.pythonHome = try home.map { try mustExist($0, "Python home", directory: true) }
        o.pythonPaths = try pythonPath.map { try mustExist($0, "Python path", directory: true) }
        o.urlAliases = try stride(from: 0, to: urlAlias.count, by: 2).map { i in
            let url = urlAlias[i]
            guard url.hasPrefix("/") else { throw ValidationError("--url-alias URL '\(url)' must begin with '/'") }
            return (url, try mustExist(urlAlias[i + 1], "--url-alias path"))
        }
        o.documentRoot = try documentRoot.map { try mustExist($0, "document root", directory: true) }
        o.user = user
        o.group = group
        o.reloadOnChanges = reloadOnChanges
        o.logLevel = logLevel
        o.accessLog = accessLog
        o.setEnv = stride(from: 0, to: setenv.count, by: 2).map { (setenv[$0], setenv[$0 + 1]) }
        o.includeFiles = try includeFile.map { try mustExist($0, "include file", directory: false) }
        o.maximumRequests = maximumRequests
        o.requestTimeout = requestTimeout
        o.queueTimeout = queueTimeout
        o.socketTimeout = socketTimeout
        o.connectTimeout = connectTimeout
        o.gracefulTimeout = gracefulTimeout
        o.startupTimeout = startupTimeout
        o.inactivityTimeout = inactivityTimeout
        return o
    }

    func findModule() throws -> String {
        if let module {
            guard FileManager.default.fileExists(atPath: module) else { throw ValidationError("module '\(module)' does not exist") }
            return URL(fileURLWithPath: module).standardizedFileURL.path
        }
        return try locateModule()
    }
}

/// mod_swiftwsgi.so: next to this program (make puts both in build/), in the build tree above
/// a SwiftPM build directory, or installed in Apache's module directory.
func locateModule() throws -> String {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let candidates = [
        exe.appendingPathComponent("mod_swiftwsgi.so").path,
        exe.appendingPathComponent("../../build/mod_swiftwsgi.so").standardizedFileURL.path,
        exe.appendingPathComponent("../../../build/mod_swiftwsgi.so").standardizedFileURL.path,
        "/usr/lib/apache2/modules/mod_swiftwsgi.so",
    ]
    guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
        throw ValidationError("cannot find mod_swiftwsgi.so (looked in \(candidates.joined(separator: ", "))); run make, or give --module")
    }
    return found
}

/// Writes the server root: httpd.conf, the default page and the reload monitor.
func writeServerRoot(_ o: ServerOptions) throws -> String {
    let fm = FileManager.default
    try fm.createDirectory(atPath: o.serverRoot, withIntermediateDirectories: true,
                           attributes: [.posixPermissions: 0o755])
    let conf = o.serverRoot + "/httpd.conf"
    try o.render().write(toFile: conf, atomically: true, encoding: .utf8)
    try defaultApplicationSource.write(toFile: o.serverRoot + "/default.wsgi", atomically: true, encoding: .utf8)
    if o.reloadOnChanges {
        try reloadMonitorSource.write(toFile: o.serverRoot + "/monitor.py", atomically: true, encoding: .utf8)
    }
    for file in ["httpd.conf", "default.wsgi", "monitor.py"] where fm.fileExists(atPath: o.serverRoot + "/" + file) {
        try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: o.serverRoot + "/" + file)
    }
    return conf
}

let apacheBinary = "/usr/sbin/apache2"
let cleanEnvironment = ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8"]

/// Runs `apache2 -t` on conf; throws with Apache's own message when it refuses it.
func configtest(_ conf: String) throws {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: apacheBinary)
    p.arguments = ["-t", "-f", conf]
    p.environment = Dictionary(uniqueKeysWithValues: cleanEnvironment.map { kv in
        let parts = kv.split(separator: "=", maxSplits: 1)
        return (String(parts[0]), String(parts[1]))
    })
    let pipe = Pipe()
    p.standardError = pipe
    p.standardOutput = pipe
    try p.run()
    let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    if p.terminationStatus != 0 {
        throw ValidationError("Apache refused the generated configuration \(conf):\n\(output.trimmingCharacters(in: .whitespacesAndNewlines))")
    }
}

struct StartServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start-server",
        abstract: "Write a private Apache configuration and run Apache in the foreground (Ctrl-C stops it).")

    @OptionGroup var server: ServerArguments

    func run() throws {
        let o = try server.options()
        let conf = try writeServerRoot(o)
        try configtest(conf)
        let shown = o.host == "localhost" ? "127.0.0.1" : o.host
        FileHandle.standardError.write(Data("swiftwsgi-express: serving \(o.application ?? "the default page") at http://\(shown):\(o.port)/ (configuration: \(conf))\n".utf8))
        // Apache replaces this process: its logs are on this terminal and the signals
        // (Ctrl-C, SIGTERM) reach it directly, so it stops cleanly with its daemon processes.
        let arguments: [String] = ["apache2", "-f", conf, "-DFOREGROUND"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { (a: String) -> UnsafeMutablePointer<CChar>? in strdup(a) } + [nil]
        var envp: [UnsafeMutablePointer<CChar>?] = cleanEnvironment.map { (e: String) -> UnsafeMutablePointer<CChar>? in strdup(e) } + [nil]
        execve(apacheBinary, &argv, &envp)
        throw ValidationError("cannot run \(apacheBinary): \(String(cString: strerror(errno)))")
    }
}

struct SetupServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup-server",
        abstract: "Write the configuration and an apachectl script to start and stop it later.")

    @OptionGroup var server: ServerArguments

    func run() throws {
        let o = try server.options()
        let conf = try writeServerRoot(o)
        try configtest(conf)
        let script = """
        #!/bin/sh
        # Generated by swiftwsgi-express: apachectl start|stop|restart|graceful|configtest
        exec env -i \(cleanEnvironment.joined(separator: " ")) \(apacheBinary) -f '\(conf)' -k "${1:-start}"
        """
        let path = o.serverRoot + "/apachectl"
        try (script + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: path)
        print("Server configuration written to \(o.serverRoot); start it with \(path) start")
    }
}

struct ModuleConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "module-config",
        abstract: "Print the LoadModule (and WSGIPythonHome) lines for a system httpd.conf.")

    @Option(help: "Path of mod_swiftwsgi.so.") var module: String?

    func run() throws {
        let path = try module ?? locateModule()
        print("LoadModule wsgi_module \(path)")
        if let venv = ProcessInfo.processInfo.environment["VIRTUAL_ENV"] { print("WSGIPythonHome \(venv)") }
    }
}

struct InstallModule: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "install-module",
        abstract: "Copy the module into Apache's module directory and write the Debian .load file.")

    @Option(help: "Apache's module directory.") var modulesDirectory = "/usr/lib/apache2/modules"
    @Option(help: "Where the .load file goes.") var loadDirectory = "/etc/apache2/mods-available"
    @Option(help: "Path of mod_swiftwsgi.so to install.") var module: String?

    func run() throws {
        let source = try module ?? locateModule()
        let fm = FileManager.default
        let directory = URL(fileURLWithPath: source).deletingLastPathComponent().path
        for file in ["mod_swiftwsgi.so", "libswiftwsgi.so"] {
            let from = directory + "/" + file, to = modulesDirectory + "/" + file
            guard fm.fileExists(atPath: from) else { throw ValidationError("'\(from)' does not exist") }
            if fm.fileExists(atPath: to) { try fm.removeItem(atPath: to) }
            try fm.copyItem(atPath: from, toPath: to)
            try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: to)
        }
        try fm.createDirectory(atPath: loadDirectory, withIntermediateDirectories: true)
        let load = loadDirectory + "/swiftwsgi.load"
        try "LoadModule wsgi_module \(modulesDirectory)/mod_swiftwsgi.so\n".write(toFile: load, atomically: true, encoding: .utf8)
        print("Installed \(modulesDirectory)/mod_swiftwsgi.so and \(load); enable it with: a2dismod wsgi; a2enmod swiftwsgi")
    }
}
