import ArgumentParser
import FoundationEssentials
import Glibc

@main
struct SwiftWSGIExpress: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "swiftwsgi-express",
        abstract: "Serve a WSGI application through Apache and mod_swiftwsgi with no hand-written httpd.conf.",
        subcommands: [StartServer.self, SetupServer.self, ModuleConfig.self, ModuleLocation.self, InstallModule.self],
        defaultSubcommand: StartServer.self
    )
}

/// Options shared by start-server and setup-server: mod_wsgi-express 5.0's start-server options,
/// same names, meanings and defaults (README's table lists each one and what differs).
struct ServerArguments: ParsableArguments {
    @Argument(help: "The WSGI script, module name (--application-type module), directory (static) or PasteDeploy .ini file (paste) to serve (default: a built-in page).")
    var application: String?

    // What is served.
    @Option(help: "script (a WSGI script file), module (a Python module to import), static (files only) or paste (a PasteDeploy configuration).")
    var applicationType = "script"
    @Option(help: "The script path or module name (instead of the argument).") var entryPoint: String?
    @Option(help: "Name of the WSGI callable in the script or module.") var callableObject = "application"
    @Option(help: "URL path at which the application is mounted.") var mountPoint = "/"
    @Option(help: "The application's current directory, also put on sys.path (default: this directory).") var workingDirectory: String?
    @Option(help: "Directory whose existing files Apache serves before the application.") var documentRoot: String?
    @Option(help: "File served for a request for a directory of the document root.") var directoryIndex: String?
    @Flag(help: "List directories of the document root that have no index.") var directoryListing = false
    @Option(help: "Directive classes a .htaccess file may override (repeatable; default None).") var allowOverride: [String] = []
    @Option(name: .customLong("url-alias"), parsing: .upToNextOption, help: "URL path and file or directory to serve as static files (repeatable).")
    var urlAlias: [String] = []
    @Option(name: .customLong("error-document"), parsing: .upToNextOption, help: "HTTP status and the URL path that answers it (repeatable).")
    var errorDocument: [String] = []
    @Flag(help: "Apache's error documents replace the application's own error responses.") var errorOverride = false
    @Option(help: "The MIME types file.") var mimeTypes = "/etc/mime.types"
    @Option(help: "File of mod_rewrite rules, included before the application's mount.") var rewriteRules: String?
    @Flag(help: "Compress text responses (mod_deflate).") var compressResponses = false
    @Option(help: "Off, On or Auto: run HEAD requests as GET.") var mapHeadToGet = "Auto"
    @Flag(help: "Accept request bodies with chunked transfer encoding.") var chunkedRequest = false
    @Flag(help: "Send files with sendfile().") var enableSendfile = false
    @Flag(help: "Never reload the application when its script changes.") var disableReloading = false
    @Flag(help: "Skip destroying the Python interpreter when a process exits.") var orphanInterpreter = false
    @Flag(help: "Run executable .cgi files of the document root as CGI scripts.") var withCgi = false
    @Option(name: .customLong("add-handler"), parsing: .upToNextOption,
            help: "Extension and a WSGI script whose handle_request() (or application) serves the document root's files with that extension (repeatable).")
    var addHandler: [String] = []
    @Flag(help: "Serve mod_wsgi-express's bundled documentation (not supported: there is none).") var enableDocs = false
    @Flag(help: .hidden) var withPhp5 = false

    // Debugging: one Apache process, the application embedded in it.
    @Flag(help: "Run Apache as one process (-DONE_PROCESS) with the application in it, attached to this terminal; no reloading.")
    var debugMode = false
    @Flag(help: "Enter pdb (on this terminal) when an exception leaves the application (implies --debug-mode).") var enableDebugger = false
    @Flag(help: "With --enable-debugger, also enter pdb when the application is loaded.") var debuggerStartup = false
    @Flag(help: "Measure coverage (the coverage package) and write an HTML report at exit (implies --debug-mode).") var enableCoverage = false
    @Option(help: "Directory of the coverage report (default: SERVER-ROOT/htmlcov).") var coverageDirectory: String?
    @Flag(help: "Profile each request (cProfile) into a .pstats file (implies --debug-mode).") var enableProfiler = false
    @Option(help: "Directory of the profiles (default: SERVER-ROOT/pstats).") var profilerDirectory: String?
    @Flag(help: "Record each request and response into files (implies --debug-mode).") var enableRecorder = false
    @Option(help: "Directory of the recordings (default: SERVER-ROOT/archive).") var recorderDirectory: String?
    @Flag(help: "Run Apache under gdb (implies --debug-mode).") var enableGdb = false
    @Option(help: "The gdb program.") var gdbExecutable = "gdb"

    // Listening, names, HTTPS.
    @Option(help: "Interface to listen on (default: every interface).") var host: String?
    @Option(help: "Port to listen on.") var port = 8000
    @Option(name: [.customLong("https-port"), .customLong("ssl-port")], help: "Port for HTTPS.") var httpsPort: Int?
    @Option(help: "The server certificate (PEM).") var sslCertificateFile: String?
    @Option(help: "The certificate's private key (PEM).") var sslCertificateKeyFile: String?
    @Option(help: "Common path of PATH.crt and PATH.key.") var sslCertificate: String?
    @Option(help: "CA certificates for client certificates; the whole site then requires one.") var sslCaCertificateFile: String?
    @Option(help: "URL path that requires a client certificate (repeatable; the rest of the site then does not).")
    var sslVerifyClient: [String] = []
    @Option(help: "Certificates of the server certificate's chain.") var sslCertificateChainFile: String?
    @Flag(help: "Put mod_ssl's variables (SSL_PROTOCOL, ...) in the WSGI environ.") var sslEnvironment = false
    @Flag(help: "Redirect plain HTTP requests to HTTPS.") var httpsOnly = false
    @Option(help: "Strict-Transport-Security header value sent with --https-only.") var hstsPolicy: String?
    @Option(help: "The site's host name; requests for other names are refused (www.NAME also redirects NAME).") var serverName: String?
    @Option(help: "Another host name of the site (repeatable, wildcards allowed).") var serverAlias: [String] = []
    @Flag(help: "With --server-name, still answer requests from this machine for other names.") var allowLocalhost = false
    @Flag(help: "Enable HTTP/2 (mod_http2): h2 over HTTPS, h2c over HTTP.") var http2 = false
    @Flag(help: "Serve mod_status at /server-status (to this machine only).") var serverStatus = false
    @Flag(help: "mod_wsgi.server_metrics() and process_metrics() report (WSGIServerMetrics, server-metrics=).") var serverMetrics = false
    // Telemetry (mod_wsgi 6.1): to a mod_wsgi-telemetry ingester.
    @Option(help: "Send telemetry to the mod_wsgi-telemetry ingester at unix:/path (WSGITelemetryService).")
    var telemetryService: String?
    @Flag(help: "Run the mod_wsgi-telemetry ingester and its web UI as a service of this server, and send it telemetry (the package must be installed for the application's Python).")
    var enableTelemetry = false
    @Option(help: "Port of the telemetry web UI on 127.0.0.1 (with --enable-telemetry).") var telemetryUiPort = 8888
    @Option(help: "Seconds between telemetry samples.") var telemetryInterval = 1.0
    @Option(help: "Report requests running longer than this many seconds to the telemetry as slow (WSGISlowRequests).")
    var slowRequests: Double?
    @Option(parsing: .unconditionalSingleValue, help: "Arguments of a WSGITelemetryOptions directive, e.g. +CaptureUserAgent (repeatable).")
    var telemetryOptions: [String] = []
    @Option(help: "Apache's pid file (default: SERVER-ROOT/httpd.pid).") var pidFile: String?
    @Option(help: "User to run as (required when started as root).") var user: String?
    @Option(help: "Group to run as (required when started as root).") var group: String?

    // Processes.
    @Option(help: "Daemon processes (default 1; giving it makes wsgi.multiprocess True).") var processes: Int?
    @Option(help: "Threads per process.") var threads = 5
    @Flag(help: "Run the application in Apache's own processes instead of a daemon process.") var embeddedMode = false
    @Option(help: "Apache MPM: event, worker or prefork (repeatable: the first one available).") var serverMpm: [String] = []
    @Option(help: "Maximum concurrent clients Apache accepts.") var maxClients: Int?
    @Option(help: "Apache workers started at first, a fraction (0 to 1) of the most there may be (default: 0.2, prefork 0.05).")
    var initialWorkers: Double?
    @Option(help: "Fewest idle Apache workers, a fraction (0 to 1) of the most (default: --initial-workers).")
    var minimumSpareWorkers: Double?
    @Option(help: "Most idle Apache workers, a fraction (0 to 1) of the most (default: 0.6, prefork 0.1).")
    var maximumSpareWorkers: Double?
    @Option(help: "Recycle a process after this many requests (0: never).") var maximumRequests = 0
    @Option(help: "Seconds a request may run (times 1 + ln threads) before it is interrupted (--interrupt-timeout) or answered 504 and its process replaced.")
    var requestTimeout = 60
    @Option(help: "Seconds a request over --request-timeout has to unwind from mod_wsgi.RequestTimeout (then 504, the thread serves on) before its process is replaced (0: no interrupt).")
    var interruptTimeout = 0
    @Option(help: "Seconds a request may wait for a daemon thread.") var queueTimeout = 45
    @Option(help: "Seconds of silence on a socket before the request is aborted.") var socketTimeout = 60
    @Option(help: "Seconds to wait for a daemon process to accept.") var connectTimeout = 15
    @Option(help: "Seconds a stopping daemon process keeps serving its running requests.") var gracefulTimeout = 15
    @Option(help: "Seconds a daemon process may take to start (Python and the preloaded application).") var startupTimeout = 15
    @Option(help: "Seconds of idleness after which a daemon process is replaced (0: never).") var inactivityTimeout = 0
    @Option(help: "Replace each daemon process after this many seconds (0: never).") var restartInterval = 0
    @Option(help: "Replace a daemon process after this many seconds of CPU time (0: never).") var cpuTimeLimit = 0
    @Option(help: "Seconds a daemon process gets to exit (Python's exit functions) before it is killed.") var shutdownTimeout = 5
    @Option(help: "Seconds the GIL may stay taken before the process is replaced.") var deadlockTimeout = 60
    @Option(help: "Seconds a SIGUSR1-evicted process keeps serving its requests (0: --graceful-timeout).") var evictionTimeout = 0
    @Option(help: "Socket send buffer to daemon processes (0: the system's).") var sendBufferSize = 0
    @Option(help: "Socket receive buffer from daemon processes (0: the system's).") var receiveBufferSize = 0
    @Option(help: "Largest response header from a daemon process (0: 32768).") var headerBufferSize = 0
    @Option(help: "Response bytes passed to the client without a flush before one is forced (0: 8 MB).") var responseBufferSize = 0
    @Option(help: "Seconds a write of a buffered response to the client may take (0: --socket-timeout).") var responseSocketTimeout = 0
    @Option(name: .customLong("service-script"), parsing: .upToNextOption, help: "Name and Python script run in a daemon process of its own (repeatable).")
    var serviceScript: [String] = []
    @Option(name: .customLong("service-user"), parsing: .upToNextOption, help: "Service name and the user it runs as (repeatable).")
    var serviceUser: [String] = []
    @Option(name: .customLong("service-group"), parsing: .upToNextOption, help: "Service name and the group it runs as (repeatable).")
    var serviceGroup: [String] = []
    @Option(name: .customLong("service-log-file"), parsing: .upToNextOption, help: "Service name and the file name, in the log directory, of its own log (repeatable).")
    var serviceLogFile: [String] = []
    @Option(help: "Directory for the daemon processes' sockets (default: the server root).") var socketPrefix: String?
    @Option(help: "Listen backlog of the daemon processes' socket.") var daemonBacklog = 100
    @Option(help: "Name of Apache's parent process.") var processName: String?
    @Flag(help: "Restart the application process when a loaded module's file changes.") var reloadOnChanges = false
    @Option(help: "URL path whose requests do not count as activity for --inactivity-timeout (repeatable).")
    var ignoreActivity: [String] = []

    // Requests.
    @Option(help: "Largest request body in bytes (413 beyond it).") var limitRequestBody = 10_485_760
    @Option(help: "Seconds to receive the request line and headers (mod_reqtimeout).") var headerTimeout = 15
    @Option(help: "Most seconds for the headers when --header-min-rate extends the time.") var headerMaxTimeout = 30
    @Option(help: "Bytes per second that extend --header-timeout.") var headerMinRate = 500
    @Option(help: "Seconds to receive the request body (mod_reqtimeout).") var bodyTimeout = 15
    @Option(help: "Most seconds for the body when --body-min-rate extends the time (0: no limit).") var bodyMaxTimeout = 0
    @Option(help: "Bytes per second that extend --body-timeout.") var bodyMinRate = 500
    @Option(help: "Listen backlog of Apache's port.") var serverBacklog = 500
    @Option(help: "Seconds an idle keep-alive connection stays open (0: no keep-alive).") var keepAliveTimeout = 2

    // Proxies.
    @Option(help: "Header from a trusted proxy that describes the client's request (repeatable).") var trustProxyHeader: [String] = []
    @Option(help: "Address or network of a trusted proxy (repeatable).") var trustProxy: [String] = []
    @Option(name: [.customLong("proxy-mount-point"), .customLong("proxy-url-alias")], parsing: .upToNextOption,
            help: "URL path and the URL its requests are proxied to (repeatable).")
    var proxyMountPoint: [String] = []
    @Option(help: "Seconds to wait for a proxied backend (ProxyTimeout; default: --socket-timeout).") var proxyTimeout: Int?
    @Option(name: .customLong("proxy-virtual-host"), parsing: .upToNextOption, help: "Host name and the URL its requests are proxied to (repeatable).")
    var proxyVirtualHost: [String] = []

    // Authentication and access.
    @Option(help: "Python script whose check_password() authenticates every request.") var authUserScript: String?
    @Option(help: "Basic or Digest.") var authType = "Basic"
    @Option(help: "Python script whose groups_for_user() authorises users.") var authGroupScript: String?
    @Option(help: "Group a user must be in with --auth-group-script.") var authGroup = "wsgi"
    @Option(help: "Python script whose allow_access() admits or refuses clients.") var hostAccessScript: String?

    // Python and the environment.
    @Option(help: "Python home or virtual environment (default: the active $VIRTUAL_ENV).") var pythonHome: String?
    @Option(help: "Directory added to sys.path (repeatable).") var pythonPath: [String] = []
    @Option(help: "Directory for unpacked Python eggs (default: SERVER-ROOT/python-eggs).") var pythonEggs: String?
    @Option(help: "LANG of the application's process.") var lang: String?
    @Option(help: "LC_ALL of the application's process.") var locale: String?
    @Option(name: .customLong("setenv"), parsing: .upToNextOption, help: "Name and value added to the WSGI environ (repeatable).")
    var setenv: [String] = []
    @Option(help: "Environment variable of this command passed to the WSGI environ (repeatable).") var passenv: [String] = []
    @Option(help: "Shell script sourced before Apache starts (its exported variables reach Apache).") var envvarsScript: String?
    @Option(help: "Extra Apache configuration file to include (repeatable).") var includeFile: [String] = []

    // New Relic (hidden in mod_wsgi-express's help too).
    @Option(help: .hidden) var newrelicConfigFile: String?
    @Option(help: .hidden) var newrelicEnvironment: String?
    @Flag(help: .hidden) var withNewrelic = false
    @Flag(help: .hidden) var withNewrelicAgent = false
    @Flag(help: .hidden) var withNewrelicPlatform = false

    // Logs.
    @Option(help: "Apache LogLevel.") var logLevel = "warn"
    @Flag(help: .hidden) var verboseDebugging = false
    @Option(help: "Directory of the log files (default: the server root).") var logDirectory: String?
    @Flag(help: "Log to this terminal instead of files (unless --log-directory is given).") var logToTerminal = false
    @Flag(help: "Write an access log.") var accessLog = false
    @Option(help: "common, combined, or an Apache LogFormat string.") var accessLogFormat: String?
    @Option(help: "An Apache ErrorLogFormat string.") var errorLogFormat: String?
    @Option(help: "File name of the error log.") var errorLogName = "error_log"
    @Option(help: "File name of the access log.") var accessLogName = "access_log"
    @Flag(help: "Write Apache's start-up messages to a log file too.") var startupLog = false
    @Option(help: "File name of the start-up log.") var startupLogName = "startup_log"
    @Flag(help: "Rotate the log files (rotatelogs) when they reach --max-log-size.") var rotateLogs = false
    @Option(help: "Size in MB at which a log file is rotated.") var maxLogSize = 5
    @Option(help: "The rotatelogs program.") var rotatelogsExecutable = "/usr/bin/rotatelogs"

    // Apache.
    @Option(help: "Directory for the generated configuration (default: /tmp/swiftwsgi-express-PORT-UID).") var serverRoot: String?
    @Option(help: "Apache's module directory.") var modulesDirectory = "/usr/lib/apache2/modules"
    @Option(help: "The Apache program.") var httpdExecutable = "/usr/sbin/apache2"
    @Option(help: "The shell of the generated apachectl script.") var shellExecutable = "/bin/bash"
    @Flag(help: "Write the configuration and apachectl, then exit without starting Apache.") var setupOnly = false
    @Option(help: "Path of mod_swiftwsgi.so (default: next to this program, in the build tree, or Apache's module directory).")
    var module: String?

    func validate() throws {
        guard (1...65535).contains(port) else { throw ValidationError("--port must be from 1 to 65535") }
        if let httpsPort, !(1...65535).contains(httpsPort) || httpsPort == port {
            throw ValidationError("--https-port must be from 1 to 65535 and differ from --port")
        }
        guard (processes ?? 1) >= 1, threads >= 1 else { throw ValidationError("--processes and --threads must be at least 1") }
        for m in serverMpm where !["event", "worker", "prefork"].contains(m) {
            throw ValidationError("--server-mpm must be event, worker or prefork")
        }
        guard ["script", "module", "static", "paste"].contains(applicationType) else {
            throw ValidationError("--application-type must be script, module, static or paste")
        }
        for (value, option) in [(initialWorkers, "--initial-workers"), (minimumSpareWorkers, "--minimum-spare-workers"),
                                (maximumSpareWorkers, "--maximum-spare-workers")] {
            if let value, !(0...1).contains(value) { throw ValidationError("\(option) must be from 0 to 1 (a fraction of the most workers)") }
        }
        guard addHandler.count % 2 == 0 else { throw ValidationError("--add-handler takes an extension and a script") }
        if withPhp5 {
            throw ValidationError("--with-php5 is not supported: Debian has no PHP 5 module for Apache (libapache2-mod-php is PHP 8)")
        }
        if enableDocs {
            throw ValidationError("--enable-docs is not supported: swiftwsgi-express has no bundled documentation to serve")
        }
        if withNewrelic || withNewrelicPlatform {
            throw ValidationError("--with-newrelic and --with-newrelic-platform are not supported: New Relic's platform plugin exists no more (use --with-newrelic-agent)")
        }
        guard ["on", "off", "auto"].contains(mapHeadToGet.lowercased()) else { throw ValidationError("--map-head-to-get must be On, Off or Auto") }
        guard ["Basic", "Digest"].contains(authType) else { throw ValidationError("--auth-type must be Basic or Digest") }
        guard mountPoint.hasPrefix("/") else { throw ValidationError("--mount-point must begin with '/'") }
        guard urlAlias.count % 2 == 0 else { throw ValidationError("--url-alias takes a URL path and a file or directory") }
        guard setenv.count % 2 == 0 else { throw ValidationError("--setenv takes a name and a value") }
        guard errorDocument.count % 2 == 0 else { throw ValidationError("--error-document takes a status and a URL path") }
        guard proxyMountPoint.count % 2 == 0 else { throw ValidationError("--proxy-mount-point takes a URL path and a URL") }
        for (list, option) in [(serviceScript, "--service-script"), (serviceUser, "--service-user"), (serviceGroup, "--service-group"),
                               (serviceLogFile, "--service-log-file")]
        where list.count % 2 != 0 {
            throw ValidationError("\(option) takes a service name and a value")
        }
        guard proxyVirtualHost.count % 2 == 0 else { throw ValidationError("--proxy-virtual-host takes a host name and a URL") }
        for name in passenv + stride(from: 0, to: setenv.count, by: 2).map({ setenv[$0] }) {
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "_" }) else {
                throw ValidationError("'\(name)' is not an environment variable name")
            }
        }
        for n in [limitRequestBody, headerTimeout, headerMaxTimeout, headerMinRate, bodyTimeout, bodyMaxTimeout, bodyMinRate,
                  keepAliveTimeout, restartInterval, cpuTimeLimit, shutdownTimeout, evictionTimeout, sendBufferSize,
                  receiveBufferSize, headerBufferSize, responseBufferSize, maximumRequests, inactivityTimeout] where n < 0 {
            throw ValidationError("sizes, rates and timeouts cannot be negative")
        }
        guard serverBacklog >= 1, daemonBacklog >= 1, maxLogSize >= 1, deadlockTimeout >= 1 else {
            throw ValidationError("--server-backlog, --daemon-backlog, --max-log-size and --deadlock-timeout must be at least 1")
        }
        if httpsPort != nil, (sslCertificateFile == nil || sslCertificateKeyFile == nil) && sslCertificate == nil {
            throw ValidationError("--https-port needs --ssl-certificate-file and --ssl-certificate-key-file (or --ssl-certificate)")
        }
        if httpsOnly && httpsPort == nil { throw ValidationError("--https-only needs --https-port") }
        if getuid() == 0 && (user == nil || group == nil) {
            throw ValidationError("when started as root, give --user and --group to run the application as")
        }
    }

    /// Any of the debugging options turns debug mode on (as in mod_wsgi-express).
    var debugging: Bool { debugMode || enableDebugger || enableCoverage || enableProfiler || enableRecorder || enableGdb }

    /// Resolves paths and checks files, before anything is written or started.
    func options() throws -> ServerOptions {
        let cwd = FileManager.default.currentDirectoryPath
        func absolute(_ path: String) -> String {
            let p = path.hasPrefix("/") ? path : cwd + "/" + path
            return URL(fileURLWithPath: p).standardizedFileURL.path
        }
        var isDirectory = false
        func mustExist(_ path: String, _ what: String, directory: Bool? = nil) throws -> String {
            let p = absolute(path)
            guard FileManager.default.fileExists(atPath: p, isDirectory: &isDirectory) else {
                throw ValidationError("\(what) '\(path)' does not exist")
            }
            if let directory, directory != isDirectory {
                throw ValidationError("\(what) '\(path)' is \(directory ? "not a directory" : "a directory")")
            }
            return p
        }
        func pairs(_ list: [String]) -> [(String, String)] {
            stride(from: 0, to: list.count, by: 2).map { (list[$0], list[$0 + 1]) }
        }
        let root = serverRoot.map(absolute) ?? "/tmp/swiftwsgi-express-\(port)-\(getuid())"
        let module = try findModule()
        var o = ServerOptions(workingDirectory: try workingDirectory.map { try mustExist($0, "working directory", directory: true) } ?? cwd,
                              serverRoot: root, module: module.path)
        o.pythonLibrary = module.pythonLibrary
        o.apacheModules = modulesDirectory
        o.applicationType = applicationType
        let target = entryPoint ?? application
        switch applicationType {
        case "module":
            guard let target else { throw ValidationError("--application-type module needs a module name") }
            guard target.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ part in
                !part.isEmpty && part.allSatisfy { $0.isLetter || $0.isNumber || $0 == "_" }
            }) else { throw ValidationError("'\(target)' is not a Python module name") }
            o.entryPoint = target
        case "static":
            o.documentRoot = try mustExist(documentRoot ?? target ?? cwd, "document root", directory: true)
        case "paste":
            guard let target else { throw ValidationError("--application-type paste needs a PasteDeploy .ini file") }
            o.entryPoint = try mustExist(target, "PasteDeploy configuration", directory: false)
        default:
            o.entryPoint = try target.map { try mustExist($0, "WSGI script", directory: false) }
        }
        if applicationType != "static" {
            o.documentRoot = try documentRoot.map { try mustExist($0, "document root", directory: true) }
        }
        o.callableObject = callableObject
        o.mountPoint = mountPoint
        o.directoryIndex = directoryIndex
        o.directoryListing = directoryListing
        o.allowOverride = allowOverride
        o.urlAliases = try pairs(urlAlias).map { url, path in
            guard url.hasPrefix("/") else { throw ValidationError("--url-alias URL '\(url)' must begin with '/'") }
            return (url, try mustExist(path, "--url-alias path"))
        }
        o.errorDocuments = try pairs(errorDocument).map { status, url in
            guard let code = Int(status), (400...599).contains(code) else { throw ValidationError("--error-document status '\(status)' must be from 400 to 599") }
            return (status, url)
        }
        o.errorOverride = errorOverride
        o.mimeTypes = try mustExist(mimeTypes, "MIME types file", directory: false)
        o.rewriteRules = try rewriteRules.map { try mustExist($0, "rewrite rules file", directory: false) }
        o.compressResponses = compressResponses
        o.mapHeadToGet = mapHeadToGet.prefix(1).uppercased() + mapHeadToGet.dropFirst().lowercased()
        o.chunkedRequest = chunkedRequest
        o.enableSendfile = enableSendfile
        o.disableReloading = disableReloading
        o.orphanInterpreter = orphanInterpreter
        o.withCGI = withCgi
        o.ignoreActivity = ignoreActivity
        o.serverMetrics = serverMetrics

        o.host = host
        o.port = port
        o.httpsPort = httpsPort
        if let sslCertificate {
            o.sslCertificateFile = try mustExist(sslCertificate + ".crt", "SSL certificate", directory: false)
            o.sslCertificateKeyFile = try mustExist(sslCertificate + ".key", "SSL certificate key", directory: false)
        }
        if let sslCertificateFile { o.sslCertificateFile = try mustExist(sslCertificateFile, "SSL certificate", directory: false) }
        if let sslCertificateKeyFile { o.sslCertificateKeyFile = try mustExist(sslCertificateKeyFile, "SSL certificate key", directory: false) }
        o.sslCACertificateFile = try sslCaCertificateFile.map { try mustExist($0, "SSL CA certificate file", directory: false) }
        o.sslVerifyClient = sslVerifyClient
        o.sslCertificateChainFile = try sslCertificateChainFile.map { try mustExist($0, "SSL certificate chain file", directory: false) }
        o.sslEnvironment = sslEnvironment
        o.httpsOnly = httpsOnly
        o.hstsPolicy = hstsPolicy
        o.serverName = serverName
        o.serverAliases = serverAlias
        o.allowLocalhost = allowLocalhost
        o.http2 = http2
        o.serverStatus = serverStatus
        try takeTelemetry(&o, root: root)
        o.pidFile = pidFile.map(absolute)
        o.user = user
        o.group = group

        o.processes = processes
        o.threads = threads
        o.embeddedMode = embeddedMode
        // Debug mode: prefork first, whose one process serves requests on the thread that loaded
        // the application (mod_wsgi-express: worker, then prefork).
        let mpms = debugging ? ["prefork", "worker"] : serverMpm
        o.mpm = mpms.first { FileManager.default.fileExists(atPath: "\(modulesDirectory)/mod_mpm_\($0).so") } ?? mpms.first ?? "event"
        o.maxClients = maxClients
        o.maximumRequests = maximumRequests
        o.requestTimeout = requestTimeout
        o.interruptTimeout = interruptTimeout
        o.proxyTimeout = proxyTimeout
        o.queueTimeout = queueTimeout
        o.socketTimeout = socketTimeout
        o.connectTimeout = connectTimeout
        o.gracefulTimeout = gracefulTimeout
        o.startupTimeout = startupTimeout
        o.inactivityTimeout = inactivityTimeout
        o.restartInterval = restartInterval
        o.cpuTimeLimit = cpuTimeLimit
        o.shutdownTimeout = shutdownTimeout
        o.deadlockTimeout = deadlockTimeout
        o.evictionTimeout = evictionTimeout
        o.sendBufferSize = sendBufferSize
        o.receiveBufferSize = receiveBufferSize
        o.headerBufferSize = headerBufferSize
        o.responseBufferSize = responseBufferSize
        o.responseSocketTimeout = responseSocketTimeout
        let users = Dictionary(pairs(serviceUser), uniquingKeysWith: { $1 })
        let groupsByService = Dictionary(pairs(serviceGroup), uniquingKeysWith: { $1 })
        let logFiles = Dictionary(pairs(serviceLogFile), uniquingKeysWith: { $1 })
        o.services = try pairs(serviceScript).map { name, script in
            guard !name.isEmpty, name.allSatisfy({ $0.isLetter || $0.isNumber || "-_.".contains($0) }) else {
                throw ValidationError("--service-script name '\(name)' must be letters, digits, '-', '_' or '.'")
            }
            return (name, try mustExist(script, "service script", directory: false), users[name], groupsByService[name], logFiles[name])
        }
        // --enable-telemetry: the ingester runs as a service of its own.
        if let ingester = o.telemetryIngester { o.services.append(("telemetry", ingester.script, nil, nil, nil)) }
        o.initialWorkers = initialWorkers
        o.minimumSpareWorkers = minimumSpareWorkers
        o.maximumSpareWorkers = maximumSpareWorkers
        o.handlerScripts = try pairs(addHandler).map { ext, script in
            guard !ext.isEmpty, !ext.contains(where: { $0 == " " || $0 == "/" }) else { throw ValidationError("--add-handler extension '\(ext)' is not a file extension") }
            return (ext, try mustExist(script, "--add-handler script", directory: false))
        }
        if debugging {
            var d = DebugOptions()
            d.debugger = enableDebugger
            d.debuggerStartup = enableDebugger && debuggerStartup
            d.coverageDirectory = enableCoverage ? absolute(coverageDirectory ?? root + "/htmlcov") : nil
            d.profilerDirectory = enableProfiler ? absolute(profilerDirectory ?? root + "/pstats") : nil
            d.recorderDirectory = enableRecorder ? absolute(recorderDirectory ?? root + "/archive") : nil
            d.gdbExecutable = enableGdb ? gdbExecutable : nil
            o.debug = d
        }
        o.newrelicConfigFile = try newrelicConfigFile.map { try mustExist($0, "New Relic config file", directory: false) }
        o.newrelicEnvironment = newrelicEnvironment
        o.newrelicAgent = withNewrelicAgent
        o.verboseDebugging = verboseDebugging
        o.socketPrefix = try socketPrefix.map { try mustExist($0, "socket prefix directory", directory: true) }
        o.daemonBacklog = daemonBacklog
        o.reloadOnChanges = reloadOnChanges

        o.limitRequestBody = limitRequestBody
        o.headerTimeout = headerTimeout
        o.headerMaxTimeout = headerMaxTimeout
        o.headerMinRate = headerMinRate
        o.bodyTimeout = bodyTimeout
        o.bodyMaxTimeout = bodyMaxTimeout
        o.bodyMinRate = bodyMinRate
        o.serverBacklog = serverBacklog
        o.keepAliveTimeout = keepAliveTimeout

        o.trustProxyHeaders = trustProxyHeader
        o.trustProxies = trustProxy
        o.proxyMountPoints = try pairs(proxyMountPoint).map { url, target in
            guard url.hasPrefix("/") else { throw ValidationError("--proxy-mount-point URL path '\(url)' must begin with '/'") }
            guard target.hasPrefix("http://") || target.hasPrefix("https://") else { throw ValidationError("--proxy-mount-point target '\(target)' must be an http(s) URL") }
            return (url, target)
        }
        o.proxyVirtualHosts = try pairs(proxyVirtualHost).map { name, target in
            guard target.hasPrefix("http://") || target.hasPrefix("https://") else { throw ValidationError("--proxy-virtual-host target '\(target)' must be an http(s) URL") }
            return (name, target)
        }

        o.authUserScript = try authUserScript.map { try mustExist($0, "auth user script", directory: false) }
        o.authType = authType
        o.authGroupScript = try authGroupScript.map { try mustExist($0, "auth group script", directory: false) }
        o.authGroup = authGroup
        o.hostAccessScript = try hostAccessScript.map { try mustExist($0, "host access script", directory: false) }

        let home = pythonHome ?? ProcessInfo.processInfo.environment["VIRTUAL_ENV"]
        o.pythonHome = try home.map { try mustExist($0, "Python home", directory: true) }
        o.pythonPaths = try pythonPath.map { try mustExist($0, "Python path", directory: true) }
        o.pythonEggs = absolute(pythonEggs ?? root + "/python-eggs")
        o.lang = lang ?? locale
        o.locale = locale ?? lang
        o.setEnv = pairs(setenv)
        o.passEnv = passenv
        o.includeFiles = try includeFile.map { try mustExist($0, "include file", directory: false) }

        o.logLevel = logLevel
        o.logDirectory = logDirectory.map(absolute)
        o.logToTerminal = logToTerminal
        o.accessLog = accessLog
        o.accessLogFormat = accessLogFormat
        o.errorLogFormat = errorLogFormat
        o.errorLogName = errorLogName
        o.accessLogName = accessLogName
        o.startupLog = startupLog
        o.startupLogName = startupLogName
        o.rotateLogs = rotateLogs
        o.maxLogSize = maxLogSize
        o.rotatelogsExecutable = rotatelogsExecutable
        return o
    }

    func findModule() throws -> LocatedModule {
        if let module {
            guard FileManager.default.fileExists(atPath: module) else { throw ValidationError("module '\(module)' does not exist") }
            return LocatedModule(path: URL(fileURLWithPath: module).standardizedFileURL.path, pythonLibrary: nil)
        }
        return try locateModule()
    }
}

/// A mod_swiftwsgi build, and the shared libpython of the Python it was chosen for (nil when the
/// module was named with --module: it finds its own libpython through its rpath).
struct LocatedModule {
    var path: String
    var pythonLibrary: String?

    /// The lines that load it into an httpd.conf: libpython first (LoadFile), then the module.
    var configurationLines: [String] {
        (pythonLibrary.map { ["LoadFile \($0)"] } ?? []) + ["LoadModule wsgi_module \(path)"]
    }
}

/// The mod_swiftwsgi build for the Python running express (see ModuleChoice): next to this
/// program (make puts both in build/; the wheel, in the package's server directory), in the
/// build tree above a SwiftPM build directory, or installed in Apache's module directory.
func locateModule() throws -> LocatedModule {
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let directories = [
        exe.path,
        exe.appendingPathComponent("../../build").standardizedFileURL.path,
        exe.appendingPathComponent("../../../build").standardizedFileURL.path,
        "/usr/lib/apache2/modules",
    ]
    let python = ModuleChoice.activePythonFacts()
    let names = ModuleChoice.moduleNames(forPythonVersion: python?.version)
    let candidates = names.flatMap { name in directories.map { $0 + "/" + name } }
    guard let found = candidates.first(where: { FileManager.default.fileExists(atPath: $0) }) else {
        let which = python.map { " for Python \($0.version)" } ?? ""
        throw ValidationError("cannot find \(names.joined(separator: " or "))\(which) (looked in \(directories.joined(separator: ", "))); run make (make PYTHON=/path/to/python3.X for another Python), or give --module")
    }
    // The unversioned module is the default build's, for the system's Python (its libpython is
    // where the loader looks); a versioned one is for the Python asking (a wheel's has no rpath).
    let versioned = !found.hasSuffix("/mod_swiftwsgi.so")
    return LocatedModule(path: found, pythonLibrary: versioned ? python?.library : nil)
}

extension ServerArguments {
    /// The telemetry options, checked as mod_wsgi-express 6.1 checks them.
    func takeTelemetry(_ o: inout ServerOptions, root: String) throws {
        var service = telemetryService
        if enableTelemetry {
            if telemetryService != nil {
                throw ValidationError("--enable-telemetry and --telemetry-service are mutually exclusive: --enable-telemetry runs an ingester and points the WSGI processes at it")
            }
            if stride(from: 0, to: serviceScript.count, by: 2).contains(where: { serviceScript[$0] == "telemetry" }) {
                throw ValidationError("--enable-telemetry adds a service named 'telemetry': rename the --service-script of that name")
            }
            guard (1...65535).contains(telemetryUiPort) else { throw ValidationError("--telemetry-ui-port must be a port number") }
            // In a directory of its own, which the service's user may write to (as root, it
            // creates its socket as the application's user).
            let socket = root + "/telemetry/telemetry.sock"
            service = "unix:" + socket
            o.telemetryIngester = (socket: socket, script: root + "/telemetry-service.py")
            o.telemetryUIPort = telemetryUiPort
        }
        if let service {
            guard service.hasPrefix("unix:"), service.count > 5 else {
                throw ValidationError("--telemetry-service must be 'unix:/path' (remote 'udp:host:port' targets are not supported)")
            }
            guard telemetryInterval >= 0.5 else { throw ValidationError("--telemetry-interval must be at least 0.5 seconds") }
        }
        if let slowRequests {
            guard slowRequests >= 0 else { throw ValidationError("--slow-requests threshold must be non-negative") }
            guard service != nil else { throw ValidationError("--slow-requests requires --telemetry-service (or --enable-telemetry)") }
        }
        o.telemetryService = service
        o.telemetryInterval = telemetryInterval
        o.slowRequests = slowRequests
        o.telemetryOptions = telemetryOptions
    }
}

/// Writes the server root: httpd.conf, apachectl, the generated scripts, and the directories
/// the configuration names (document root, logs, Python eggs).
func writeServerRoot(_ o: ServerOptions, arguments: ServerArguments) throws -> (conf: String, apachectl: String) {
    let fm = FileManager.default
    try fm.createDirectory(atPath: o.serverRoot, withIntermediateDirectories: true,
                           attributes: [.posixPermissions: 0o755])
    var files: [(name: String, text: String)] = [("httpd.conf", o.render()), ("default.wsgi", defaultApplicationSource)]
    if o.wrapsApplication || !o.handlerScripts.isEmpty { files.append(("swiftwsgi_express.py", expressHelperSource)) }
    if o.wrapsApplication { files.append(("application.wsgi", o.applicationWrapperSource())) }
    if !o.handlerScripts.isEmpty { files.append(("resource.wsgi", o.resourceHandlerSource())) }
    if o.reloadOnChanges { files.append(("monitor.py", reloadMonitorSource)) }
    if let ingester = o.telemetryIngester, let port = o.telemetryUIPort {
        files.append((URL(fileURLWithPath: ingester.script).lastPathComponent, telemetryServiceSource(socket: ingester.socket, port: port)))
    }
    if let script = arguments.envvarsScript {
        let path = script.hasPrefix("/") ? script : fm.currentDirectoryPath + "/" + script
        guard fm.fileExists(atPath: path) else { throw ValidationError("envvars script '\(script)' does not exist") }
        files.append(("envvars", ". \(shellQuote(path))\n"))
    } else if !fm.fileExists(atPath: o.serverRoot + "/envvars") {
        files.append(("envvars", ""))
    }
    for (name, text) in files {
        let path = o.serverRoot + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
    }
    let apachectl = o.serverRoot + "/apachectl"
    try apachectlSource(o, arguments: arguments).write(toFile: apachectl, atomically: true, encoding: .utf8)
    try fm.setAttributes([.posixPermissions: 0o755], ofItemAtPath: apachectl)
    for directory in [o.htdocs, o.logFolder] where !fm.fileExists(atPath: directory) {
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
    }
    // The application's user unpacks eggs there, and writes the debugging tools' output.
    let socketDirectory = o.telemetryIngester.map { URL(fileURLWithPath: $0.socket).deletingLastPathComponent().path }
    for directory in [o.pythonEggs, socketDirectory].compactMap({ $0 }) + (o.debug?.outputDirectories ?? [])
    where !fm.fileExists(atPath: directory) {
        try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o755])
        if getuid() == 0, let user = o.user, let pw = getpwnam(user) {
            let gid = o.group.flatMap { getgrnam($0) }.map { $0.pointee.gr_gid } ?? pw.pointee.pw_gid
            chown(directory, pw.pointee.pw_uid, gid)
        }
    }
    return (o.serverRoot + "/httpd.conf", apachectl)
}

func shellQuote(_ s: String) -> String { "'" + s.replacing("'", with: "'\\''") + "'" }

let cleanPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

/// The apachectl script, as mod_wsgi-express writes one: it starts Apache in a clean
/// environment (PATH, LANG, and the --passenv variables), sources the envvars file, changes to
/// the working directory and names Apache's parent process.
func apachectlSource(_ o: ServerOptions, arguments: ServerArguments) -> String {
    let httpd = shellQuote(arguments.httpdExecutable)
    let conf = shellQuote(o.serverRoot + "/httpd.conf")
    let name = shellQuote(arguments.processName ?? "apache2 (swiftwsgi-express)")
    // Debug mode: Apache as one process (its -X without -DNO_DETACH; -DFOREGROUND keeps it here).
    let startup = (o.startupLogFile.map { " -E " + shellQuote($0) } ?? "") + (o.debug != nil ? " -DONE_PROCESS" : "")
    var start = "    exec -a \(name) \(httpd) -f \(conf)\(startup) -k \"$command\" \"$@\" ;;"
    if let gdb = o.debug?.gdbExecutable {
        // --enable-gdb: gdb runs Apache with these arguments (its run command passes them through a shell).
        let commands = shellQuote(o.serverRoot + "/gdb.cmds")
        start = """
            printf 'run -f %s%s -k %s\\n' \(shellQuote(shellQuote(o.serverRoot + "/httpd.conf"))) \(shellQuote(startup)) "$command $*" > \(commands)
            exec \(shellQuote(gdb)) -x \(commands) \(httpd) ;;
        """
    }
    var s = """
    #!\(arguments.shellExecutable)
    # Generated by swiftwsgi-express: apachectl start|stop|restart|graceful|graceful-stop|configtest
    if [ -z "${SWIFTWSGI_EXPRESS_CLEAN-}" ]; then
        keep=(PATH=\(cleanPath) LANG=C.UTF-8 SWIFTWSGI_EXPRESS_CLEAN=1)
        for name in \(o.passEnv.joined(separator: " ")); do
            if [ -n "${!name+x}" ]; then keep+=("$name=${!name}"); fi
        done
        exec env -i "${keep[@]}" "$0" "$@"
    fi
    unset SWIFTWSGI_EXPRESS_CLEAN

    """
    if let lang = o.lang { s += "export LANG=\(shellQuote(lang))\n" }
    if let locale = o.locale { s += "export LC_ALL=\(shellQuote(locale))\n" }
    s += """
    . \(shellQuote(o.serverRoot + "/envvars"))
    cd \(shellQuote(o.workingDirectory)) || exit 1
    case "$1" in
    start|stop|restart|graceful|graceful-stop)
        command=$1; shift
    \(start)
    configtest)
        exec \(httpd) -f \(conf) -t ;;
    *)
        exec \(httpd) -f \(conf) "$@" ;;
    esac

    """
    return s
}

/// Runs `apachectl configtest`; throws with Apache's own message when it refuses the configuration.
func configtest(_ apachectl: String, _ conf: String) throws {
    let result = try ChildProgram.run(apachectl, ["configtest"], mergeStandardError: true)
    if result.status != 0 {
        throw ValidationError("Apache refused the generated configuration \(conf):\n\(result.output.trimmingWhiteSpace)")
    }
}

/// What mod_wsgi-express prints before it starts: where the site is and where its files are.
func summary(_ o: ServerOptions, conf: String) -> String {
    let shown = o.host.map { $0 == "localhost" ? "127.0.0.1" : $0 } ?? o.serverHost
    var lines = ["swiftwsgi-express: serving \(o.applicationType == "static" ? o.htdocs : o.entryPoint ?? "the default page")"]
    lines.append("Server URL         : http://\(o.serverName ?? shown):\(o.port)\(o.mountPoint)")
    if o.withHTTPS, let httpsPort = o.httpsPort { lines.append("Server URL (HTTPS) : https://\(o.serverName ?? shown):\(httpsPort)\(o.mountPoint)") }
    if o.serverStatus { lines.append("Server Status      : http://\(shown):\(o.port)/server-status") }
    if let port = o.telemetryUIPort { lines.append("Telemetry UI       : http://127.0.0.1:\(port)/") }
    lines.append("Server Root        : \(o.serverRoot)")
    lines.append("Server Conf        : \(conf)")
    lines.append("Error Log File     : \(o.errorLogFile)\(o.rotateLogs && !o.logsOnTerminal ? ".* (rotated)" : "")")
    if o.accessLog { lines.append("Access Log File    : \(o.accessLogFile)\(o.rotateLogs && !o.logsOnTerminal ? ".* (rotated)" : "")") }
    if let startup = o.startupLogFile { lines.append("Startup Log File   : \(startup)") }
    if let directory = o.debug?.coverageDirectory { lines.append("Coverage Output    : \(directory)/index.html") }
    if let directory = o.debug?.profilerDirectory { lines.append("Profiler Output    : \(directory)") }
    if let directory = o.debug?.recorderDirectory { lines.append("Recorder Output    : \(directory)") }
    lines.append("Operating Mode     : \(o.debug != nil ? "debug" : o.embeddedMode ? "embedded" : "daemon")")
    return lines.joined(separator: "\n") + "\n"
}

struct StartServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start-server",
        abstract: "Write a private Apache configuration and run Apache in the foreground (Ctrl-C stops it).")

    @OptionGroup var server: ServerArguments

    func run() throws {
        let o = try server.options()
        let (conf, apachectl) = try writeServerRoot(o, arguments: server)
        try configtest(apachectl, conf)
        if server.setupOnly {
            print("Server configuration written to \(o.serverRoot); start it with \(apachectl) start")
            return
        }
        writeToStandardError(summary(o, conf: conf))
        // Apache replaces this process (through apachectl): its signals (Ctrl-C, SIGTERM) reach
        // it directly, so it stops cleanly with its daemon processes.
        let arguments = [apachectl, "start", "-DFOREGROUND"]
        var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { (a: String) -> UnsafeMutablePointer<CChar>? in strdup(a) } + [nil]
        execv(apachectl, &argv)
        throw ValidationError("cannot run \(apachectl): \(String(cString: strerror(errno)))")
    }
}

struct SetupServer: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "setup-server",
        abstract: "Write the configuration and an apachectl script to start and stop it later.")

    @OptionGroup var server: ServerArguments

    func run() throws {
        let o = try server.options()
        let (conf, apachectl) = try writeServerRoot(o, arguments: server)
        try configtest(apachectl, conf)
        print("Server configuration written to \(o.serverRoot); start it with \(apachectl) start")
    }
}

struct ModuleLocation: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "module-location",
        abstract: "Print the path of mod_swiftwsgi.so.")

    func run() throws { print(try locateModule().path) }
}

struct ModuleConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "module-config",
        abstract: "Print the lines for a system httpd.conf: LoadFile (the Python's libpython), LoadModule and, in a virtual environment, WSGIPythonHome.")

    @Option(help: "Path of mod_swiftwsgi.so.") var module: String?

    func run() throws {
        let located = try module.map { LocatedModule(path: $0, pythonLibrary: nil) } ?? locateModule()
        for line in located.configurationLines { print(line) }
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
        let located = try module.map { LocatedModule(path: $0, pythonLibrary: nil) } ?? locateModule()
        let source = located.path
        let fm = FileManager.default
        let directory = URL(fileURLWithPath: source).deletingLastPathComponent().path
        let moduleName = URL(fileURLWithPath: source).lastPathComponent
        for file in [moduleName, ModuleChoice.hostLibrary(forModule: moduleName)] {
            let from = directory + "/" + file, to = modulesDirectory + "/" + file
            guard fm.fileExists(atPath: from) else { throw ValidationError("'\(from)' does not exist") }
            if fm.fileExists(atPath: to) { try fm.removeItem(atPath: to) }
            try fm.copyItem(atPath: from, toPath: to)
            try fm.setAttributes([.posixPermissions: 0o644], ofItemAtPath: to)
        }
        try fm.createDirectory(atPath: loadDirectory, withIntermediateDirectories: true)
        let load = loadDirectory + "/swiftwsgi.load"
        // debian/swiftwsgi.load's text (test_express checks they agree): its "Conflicts" line
        // makes a2enmod refuse while mod_wsgi (the other wsgi_module) is enabled.
        let text = """
            # Conflicts: wsgi
            # mod_swiftwsgi registers itself as wsgi_module, like mod_wsgi: enable only one of them
            # (a2dismod wsgi; a2enmod swiftwsgi).
            \(LocatedModule(path: modulesDirectory + "/" + moduleName, pythonLibrary: located.pythonLibrary).configurationLines.joined(separator: "\n"))

            """
        try text.write(toFile: load, atomically: true, encoding: .utf8)
        print("Installed \(modulesDirectory)/\(moduleName) and \(load); enable it with: a2dismod wsgi; a2enmod swiftwsgi")
    }
}
