import FoundationEssentials
import Glibc

/// What `swiftwsgi-express` serves and how: the inputs of the generated httpd.conf. Names follow
/// mod_wsgi-express's start-server options; paths are absolute by the time they get here.
struct ServerOptions: Equatable {
    // What is served.
    var applicationType = "script"      // script | module | static
    var entryPoint: String?             // script: .wsgi file; module: dotted name; static: unused
    var callableObject = "application"
    var mountPoint = "/"
    var workingDirectory: String
    var documentRoot: String?
    var directoryIndex: String?
    var directoryListing = false
    var allowOverride: [String] = []
    var urlAliases: [(url: String, path: String)] = []
    var errorDocuments: [(status: String, url: String)] = []
    var errorOverride = false
    var mimeTypes = "/etc/mime.types"
    var rewriteRules: String?
    var compressResponses = false
    var mapHeadToGet = "Auto"
    var chunkedRequest = false
    var enableSendfile = false
    var disableReloading = false
    var orphanInterpreter = false
    var withCGI = false
    var handlerScripts: [(ext: String, script: String)] = []    // --add-handler

    // Where and how Apache listens.
    var host: String?                   // nil: every interface (mod_wsgi-express's default)
    var port = 8000
    var httpsPort: Int?
    var sslCertificateFile: String?
    var sslCertificateKeyFile: String?
    var sslCACertificateFile: String?
    var sslVerifyClient: [String] = []
    var sslCertificateChainFile: String?
    var sslEnvironment = false
    var httpsOnly = false
    var hstsPolicy: String?
    var serverName: String?
    var serverAliases: [String] = []
    var allowLocalhost = false
    var http2 = false
    var serverStatus = false
    var serverMetrics = false
    /// WSGITelemetryService's target (unix:/path), its interval, WSGISlowRequests and each
    /// WSGITelemetryOptions directive's arguments; with --enable-telemetry, the ingester's
    /// socket and service script and its web UI's port.
    var telemetryService: String?
    var telemetryInterval = 1.0
    var slowRequests: Double?
    var telemetryOptions: [String] = []
    var telemetryIngester: (socket: String, script: String)?
    var telemetryUIPort: Int?
    var serverRoot: String
    var module: String                  // mod_swiftwsgi.so
    var pythonLibrary: String?          // libpython3.X.so.1.0 loaded before it (LoadFile)
    var apacheModules = "/usr/lib/apache2/modules"
    var pidFile: String?
    var user: String?
    var group: String?

    // Processes.
    var processes: Int?                 // nil: one process, wsgi.multiprocess False (as mod_wsgi-express)
    var threads = 5
    var embeddedMode = false
    var mpm = "event"
    var maxClients: Int?
    var initialWorkers: Double?         // fractions of the most workers; nil: mod_wsgi-express's defaults
    var minimumSpareWorkers: Double?
    var maximumSpareWorkers: Double?
    var debug: DebugOptions?            // debug mode: one Apache process, the application in it
    var maximumRequests = 0
    var requestTimeout = 60
    /// --interrupt-timeout: 0 raises no mod_wsgi.RequestTimeout (mod_wsgi-express 6.1's default).
    var interruptTimeout = 0
    /// --proxy-timeout: ProxyTimeout for the proxied mount points and hosts (nil: Apache's, the Timeout).
    var proxyTimeout: Int?
    var queueTimeout = 45
    var socketTimeout = 60
    var connectTimeout = 15
    var gracefulTimeout = 15
    var startupTimeout = 15
    var inactivityTimeout = 0
    var restartInterval = 0
    var cpuTimeLimit = 0
    var shutdownTimeout = 5
    var deadlockTimeout = 60
    var evictionTimeout = 0
    var sendBufferSize = 0
    var receiveBufferSize = 0
    var headerBufferSize = 0
    var responseBufferSize = 0
    var responseSocketTimeout = 0
    var services: [(name: String, script: String, user: String?, group: String?, logFile: String?)] = []
    var socketPrefix: String?
    var daemonBacklog = 100
    var reloadOnChanges = false
    var ignoreActivity: [String] = []

    // Requests.
    var limitRequestBody = 10_485_760
    var headerTimeout = 15
    var headerMaxTimeout = 30
    var headerMinRate = 500
    var bodyTimeout = 15
    var bodyMaxTimeout = 0
    var bodyMinRate = 500
    var serverBacklog = 500
    var keepAliveTimeout = 2

    // Proxies.
    var trustProxyHeaders: [String] = []
    var trustProxies: [String] = []
    var proxyMountPoints: [(url: String, target: String)] = []
    var proxyVirtualHosts: [(host: String, target: String)] = []

    // Authentication and access.
    var authUserScript: String?
    var authType = "Basic"
    var authGroupScript: String?
    var authGroup = "wsgi"
    var hostAccessScript: String?

    // Python and the environment.
    var pythonHome: String?
    var pythonPaths: [String] = []
    var pythonEggs: String?
    var lang: String?
    var locale: String?
    var setEnv: [(name: String, value: String)] = []
    var passEnv: [String] = []
    var includeFiles: [String] = []
    var newrelicConfigFile: String?
    var newrelicEnvironment: String?
    var newrelicAgent = false           // the application wrapped by New Relic's agent

    // Logs.
    var logLevel = "warn"
    var logDirectory: String?
    var logToTerminal = false
    var accessLog = false
    var accessLogFormat: String?
    var errorLogFormat: String?
    var errorLogName = "error_log"
    var accessLogName = "access_log"
    var startupLog = false
    var startupLogName = "startup_log"
    var rotateLogs = false
    var maxLogSize = 5
    var rotatelogsExecutable = "/usr/bin/rotatelogs"
    var verboseDebugging = false

    static func == (a: ServerOptions, b: ServerOptions) -> Bool { a.render() == b.render() }

    var processGroup: String { "\(host ?? "localhost"):\(port)" }
    /// The application runs in Apache's own processes (--embedded-mode, or debug mode's one process).
    var inApache: Bool { embeddedMode || debug != nil }
    /// Served through the generated application.wsgi, which loads and wraps the application
    /// (a module or PasteDeploy entry point, New Relic's agent, or debug mode's wrappers).
    var wrapsApplication: Bool { applicationType == "module" || applicationType == "paste" || newrelicAgent || debug != nil }
    var serverHost: String { serverName ?? host ?? "localhost" }
    var withHTTPS: Bool { httpsPort != nil && sslCertificateFile != nil && sslCertificateKeyFile != nil }
    var logsOnTerminal: Bool { logToTerminal && logDirectory == nil }
    var logFolder: String { logDirectory ?? serverRoot }
    var errorLogFile: String { logsOnTerminal ? "/dev/stderr" : logFolder + "/" + errorLogName }
    var accessLogFile: String { logsOnTerminal ? "/dev/stdout" : logFolder + "/" + accessLogName }
    var startupLogFile: String? {
        guard startupLog else { return nil }
        return logsOnTerminal ? "/dev/stderr" : logFolder + "/" + startupLogName
    }
    /// The WSGI script Apache loads: the user's script, or one generated for a module entry point
    /// or the default page.
    var applicationScript: String? {
        if applicationType == "static" { return nil }
        return wrapsApplication ? serverRoot + "/application.wsgi" : entryPoint ?? serverRoot + "/default.wsgi"
    }
    var htdocs: String { documentRoot ?? serverRoot + "/htdocs" }

    /// mod_reqtimeout's RequestReadTimeout value, built as mod_wsgi-express builds it.
    var requestReadTimeout: String {
        /// "name=timeout[-maximum][,MinRate=rate]" (the maximum only with a rate), or "name=0".
        func stage(_ name: String, timeout: Int, maximum: Int, minRate: Int) -> String {
            guard timeout > 0 else { return "\(name)=0" }
            var s = "\(name)=\(timeout)"
            if maximum > 0 && minRate > 0 { s += "-\(maximum)" }
            if minRate > 0 { s += ",MinRate=\(minRate)" }
            return s
        }
        return stage("header", timeout: headerTimeout, maximum: headerMaxTimeout, minRate: headerMinRate) + " "
            + stage("body", timeout: bodyTimeout, maximum: bodyMaxTimeout, minRate: bodyMinRate)
    }

    /// The complete httpd.conf.
    func render() -> String {
        var lines: [String] = []
        func add(_ s: String) { lines.append(s) }
        func load(_ name: String, _ file: String? = nil) {
            add("<IfModule !\(name)_module>")
            add("    LoadModule \(name)_module \(apacheModules)/\(file ?? "mod_\(name).so")")
            add("</IfModule>")
        }
        func granted(_ directory: String, allowOverride: Bool = true) {
            add("<Directory \(quote(directory))>")
            if allowOverride { add("    AllowOverride \(allowOverrideValue)") }
            add("    Require all granted")
            add("</Directory>")
        }
        let threadsTotal = maxClients ?? max((processes ?? 1) * threads * (inApache ? 1 : 2), 10)
        add("# Generated by swiftwsgi-express; regenerated at every start.")
        add("ServerRoot \(quote(serverRoot))")
        add("PidFile \(quote(pidFile ?? serverRoot + "/httpd.pid"))")
        add("DefaultRuntimeDir \(quote(serverRoot))")
        add("Mutex file:\(serverRoot)")
        add("ServerName \(host ?? "localhost")")
        add("ServerTokens ProductOnly")
        add("ServerSignature Off")
        add("Listen \(listenAddress(port))")
        if withHTTPS, let httpsPort { add("Listen \(listenAddress(httpsPort))") }
        if let user { add("User \(user)") }
        if let group { add("Group \(group)") }
        add("")
        add("LoadModule mpm_\(mpm)_module \(apacheModules)/mod_mpm_\(mpm).so")
        for m in ["authz_core", "authz_host", "authn_core", "mime", "dir", "env", "rewrite", "alias", "headers",
                  "setenvif", "filter", "reqtimeout"] {
            load(m)
        }
        if directoryListing { load("autoindex") }
        if compressResponses { load("deflate") }
        if authUserScript != nil { load("auth_basic"); load("auth_digest"); load("authz_user") }
        if !proxyMountPoints.isEmpty || !proxyVirtualHosts.isEmpty { load("proxy"); load("proxy_http") }
        if serverStatus || serverMetrics { load("status") }
        if withCGI { if mpm == "prefork" { load("cgi") } else { load("cgid") } }
        if withHTTPS { load("socache_shmcb"); load("ssl") }
        if http2 { load("http2") }
        load("log_config")    // built into Debian's apache2; a module elsewhere
        if let pythonLibrary { add("LoadFile \(quote(pythonLibrary))") }
        add("LoadModule wsgi_module \(quote(module))")
        add("")
        add("TypesConfig \(quote(mimeTypes))")
        add("HostnameLookups Off")
        add("Timeout \(max(socketTimeout, 1))")
        add("ListenBacklog \(serverBacklog)")
        add("RequestReadTimeout \(requestReadTimeout)")
        add("LimitRequestBody \(limitRequestBody)")
        if keepAliveTimeout > 0 {
            add("KeepAlive On")
            add("KeepAliveTimeout \(keepAliveTimeout)")
        } else {
            add("KeepAlive Off")
        }
        if http2 { add("Protocols h2 h2c http/1.1") }
        if compressResponses {
            for type in ["text/plain", "text/html", "text/xml", "text/css", "text/javascript", "application/xhtml+xml",
                         "application/javascript", "application/json"] {
                add("AddOutputFilterByType DEFLATE \(type)")
            }
        }
        if enableSendfile {
            add("EnableSendfile On")
            add("WSGIEnableSendfile On")
        }
        add("")
        addLogging(add)
        add("")
        addWorkers(add, threadsTotal: threadsTotal)
        add("")
        add("<Directory />")
        add("    AllowOverride None")
        add("    Require all denied")
        add("</Directory>")
        add("AccessFileName .htaccess")
        add("")
        addPython(add)
        add("")
        // Static files first: URL aliases, then existing files under the document root;
        // everything else goes to the application.
        add("RewriteEngine On")
        if let rewriteRules { add("Include \(quote(rewriteRules))") }
        for alias in urlAliases {
            let url = alias.url.hasSuffix("/") && alias.url.count > 1 ? String(alias.url.dropLast()) : alias.url
            let path = alias.path.hasSuffix("/") && alias.path.count > 1 ? String(alias.path.dropLast()) : alias.path
            add("RewriteRule ^\(regexEscape(url))(/.*)?$ \(quote(path + "$1")) [L]")
            add("<Directory \(quote(path))>")
            add("    AllowOverride \(allowOverrideValue)")
            add("    Require all granted")
            add("</Directory>")
            add("<Files \(quote(path.split(separator: "/").last.map(String.init) ?? path))>")
            add("    Require all granted")
            add("</Files>")
        }
        if let proxyTimeout, !proxyMountPoints.isEmpty || !proxyVirtualHosts.isEmpty { add("ProxyTimeout \(proxyTimeout)") }
        for (url, target) in proxyMountPoints {
            add("ProxyPass \(quote(url)) \(quote(target))")
            add("ProxyPassReverse \(quote(url)) \(quote(target))")
            add("RewriteRule ^\(regexEscape(url))(/.*)?$ - [L]")
            add("<Location \(quote(url))>")
            add("    RequestHeader set X-Forwarded-Port \"expr=%{SERVER_PORT}\"")
            add("    RequestHeader set X-Forwarded-Scheme https \"expr=%{HTTPS} == 'on'\"")
            add("</Location>")
        }
        add("DocumentRoot \(quote(htdocs))")
        add("<Directory \(quote(htdocs))>")
        add("    AllowOverride \(allowOverrideValue)")
        if let directoryIndex { add("    DirectoryIndex \(directoryIndex)") }
        if directoryListing { add("    Options +Indexes") }
        if withCGI {
            add("    Options +ExecCGI")
            add("    AddHandler cgi-script .cgi")
        }
        for (ext, _) in handlerScripts { add("    AddHandler wsgi-resource \(ext)") }
        add("    Require all granted")
        add("</Directory>")
        if !handlerScripts.isEmpty {
            add("WSGIHandlerScript wsgi-resource \(quote(serverRoot + "/resource.wsgi")) \(groupOptions)")
        }
        if serverMetrics {
            add("ExtendedStatus On")
            add("WSGIServerMetrics On")
        }
        if let telemetryService {
            add("WSGITelemetryService \(telemetryService) interval=\(telemetryInterval)")
            if let slowRequests { add("WSGISlowRequests \(slowRequests)") }
            for options in telemetryOptions { add("WSGITelemetryOptions \(options)") }
        }
        for url in ignoreActivity {
            add("<Location \(quote(url))>")
            add("    WSGIIgnoreActivity On")
            add("</Location>")
        }
        if serverStatus {
            if !serverMetrics { add("ExtendedStatus On") }
            add("RewriteRule ^/server-status$ - [L]")
            add("<Location /server-status>")
            add("    SetHandler server-status")
            add("    Require local")
            add("</Location>")
        }
        if let script = applicationScript {
            // Existing files (and, with a directory index, directories) of the document root
            // are Apache's; the rest goes to the application.
            let root = htdocs
            add("RewriteCond \(quote(root + "%{REQUEST_URI}")) -f")
            add("RewriteRule ^(.*)$ \(quote(root + "$1")) [L]")
            if directoryIndex != nil {
                add("RewriteCond \(quote(root + "%{REQUEST_URI}")) -d")
                add("RewriteRule ^(.*)$ \(quote(root + "$1")) [L]")
            }
            for (status, url) in errorDocuments { add("ErrorDocument \(status) \(quote(url))") }
            if errorOverride { add("WSGIErrorOverride On") }
            if let hostAccessScript {
                add("<Location />")
                add("    WSGIAccessScript \(quote(hostAccessScript))")
                add("</Location>")
            }
            if let authUserScript {
                add("<Location />")
                add("    AuthType \(authType)")
                add("    AuthName \(quote(serverHost + ":" + String(port)))")
                add("    Auth\(authType)Provider wsgi")
                add("    WSGIAuthUserScript \(quote(authUserScript))")
                if let authGroupScript { add("    WSGIAuthGroupScript \(quote(authGroupScript))") }
                add("    <RequireAll>")
                add("        Require valid-user")
                if authGroupScript != nil { add("        Require wsgi-group \(quote(authGroup))") }
                add("    </RequireAll>")
                add("</Location>")
            }
            // Included configuration comes before the application's mount, so its own
            // WSGIScriptAlias and Alias lines take precedence over the mount point.
            for file in includeFiles { add("Include \(quote(file))") }
            let callable = wrapsApplication ? "application" : callableObject
            let mount = mountPoint.count > 1 && mountPoint.hasSuffix("/") ? String(mountPoint.dropLast()) : mountPoint
            add("WSGIScriptAlias \(mount) \(quote(script)) \(groupOptions) callable-object=\(callable)")
            let scriptDirectory = script.split(separator: "/", omittingEmptySubsequences: false).dropLast().joined(separator: "/")
            add("<Directory \(quote(scriptDirectory.isEmpty ? "/" : scriptDirectory))>")
            add("    Require all granted")
            add("</Directory>")
            if debug != nil {
                // Loaded at start, so --debugger-startup stops there and coverage sees the import.
                add("WSGIImportScript \(quote(script)) process-group=%{GLOBAL} application-group=%{GLOBAL}")
            } else if reloadOnChanges && !disableReloading {
                let target = inApache ? "%{GLOBAL}" : processGroup
                add("WSGIImportScript \(quote(serverRoot + "/monitor.py")) process-group=\(target) application-group=%{GLOBAL}")
            }
        } else {
            for (status, url) in errorDocuments { add("ErrorDocument \(status) \(quote(url))") }
            for file in includeFiles { add("Include \(quote(file))") }
        }
        for url in sslVerifyClient where sslCACertificateFile != nil {
            add("<Location \(quote(url))>")
            add("    SSLVerifyClient require")
            add("    SSLVerifyDepth 1")
            add("</Location>")
        }
        add("")
        addVirtualHosts(add)
        return lines.joined(separator: "\n") + "\n"
    }

    /// Where the application (and --add-handler's scripts) run.
    private var groupOptions: String {
        inApache ? "application-group=%{GLOBAL}" : "process-group=\(processGroup) application-group=%{GLOBAL}"
    }

    private var allowOverrideValue: String { allowOverride.isEmpty ? "None" : allowOverride.joined(separator: " ") }

    private func listenAddress(_ port: Int) -> String {
        guard let host else { return String(port) }
        return (host == "localhost" ? "127.0.0.1" : host) + ":" + String(port)
    }

    /// Apache's processes and threads. --initial-workers, --minimum-spare-workers and
    /// --maximum-spare-workers are fractions of the most there may be: of MaxRequestWorkers under
    /// prefork, of the children under event and worker (mod_wsgi-express's defaults: 0.05 and 0.1
    /// for prefork, 0.2 and 0.6 otherwise; the minimum defaults to the initial fraction).
    private func addWorkers(_ add: (String) -> Void, threadsTotal: Int) {
        let prefork = mpm == "prefork"
        let initial = initialWorkers ?? (prefork ? 0.05 : 0.2)
        let minimum = minimumSpareWorkers ?? initial
        let maximum = maximumSpareWorkers ?? (prefork ? 0.1 : 0.6)
        // Debug mode: Apache runs as one process (-DONE_PROCESS) with one worker.
        let most = debug != nil ? 1 : threadsTotal
        let perChild = prefork ? 1 : min(25, most)
        let children = (most + perChild - 1) / perChild
        let start = max(1, Int(initial * Double(children)))
        // Apache needs room between the two spare counts (it would widen the gap itself).
        let minSpare = max(1, Int(minimum * Double(children))) * perChild
        let maxSpare = max(minSpare + perChild, Int(maximum * Double(children)) * perChild)
        add("StartServers \(start)")
        if prefork {
            add("MinSpareServers \(minSpare)")
            add("MaxSpareServers \(maxSpare)")
            add("ServerLimit \(debug != nil ? 1 : children + 2)")
        } else {
            add("ThreadsPerChild \(perChild)")
            add("MinSpareThreads \(minSpare)")
            add("MaxSpareThreads \(maxSpare)")
            // One spare slot so a graceful restart has room for new children.
            add("ServerLimit \(debug != nil ? 1 : children + 1)")
        }
        add("MaxRequestWorkers \(children * perChild)")
    }

    private func rotated(_ file: String) -> String {
        quote("|\(rotatelogsExecutable) \(file).%Y-%m-%d-%H_%M_%S \(maxLogSize)M")
    }

    private func addLogging(_ add: (String) -> Void) {
        let rotate = rotateLogs && !logsOnTerminal
        add("ErrorLog \(rotate ? rotated(errorLogFile) : quote(errorLogFile))")
        add("LogLevel \(logLevel)")
        if let errorLogFormat { add("ErrorLogFormat \(quote(errorLogFormat))") }
        if accessLog {
            add("LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b\" common")
            add("LogFormat \"%h %l %u %t \\\"%r\\\" %>s %b \\\"%{Referer}i\\\" \\\"%{User-agent}i\\\"\" combined")
            var nickname = "common"
            if let accessLogFormat {
                if ["common", "combined"].contains(accessLogFormat) {
                    nickname = accessLogFormat
                } else {
                    add("LogFormat \(quote(accessLogFormat)) custom")
                    nickname = "custom"
                }
            }
            add("CustomLog \(rotate ? rotated(accessLogFile) : quote(accessLogFile)) \(nickname)")
        }
    }

    private func addPython(_ add: (String) -> Void) {
        add("WSGIPassAuthorization On")
        add("WSGIMapHEADToGET \(mapHeadToGet)")
        add("WSGISocketPrefix \(quote((socketPrefix ?? serverRoot) + "/wsgi"))")
        add("WSGIDestroyInterpreter \(orphanInterpreter ? "Off" : "On")")
        if disableReloading || inApache { add("WSGIScriptReloading Off") }
        if verboseDebugging { add("WSGIVerboseDebugging On") }
        // With --with-newrelic-agent the generated application.wsgi sets the agent's variables and
        // initialises it (as mod_wsgi-express): the directives would have the host initialise it
        // a second time and wrap the application twice.
        if !newrelicAgent, let newrelicConfigFile { add("WSGINewRelicConfigFile \(quote(newrelicConfigFile))") }
        if !newrelicAgent, let newrelicEnvironment { add("WSGINewRelicEnvironment \(quote(newrelicEnvironment))") }
        if chunkedRequest { add("WSGIChunkedRequest On") }
        if !trustProxyHeaders.isEmpty { add("WSGITrustedProxyHeaders \(trustProxyHeaders.joined(separator: " "))") }
        if !trustProxies.isEmpty { add("WSGITrustedProxies \(trustProxies.joined(separator: " "))") }
        if applicationType == "static" {
            add("WSGIRestrictEmbedded On")
        } else if inApache {
            if let pythonHome { add("WSGIPythonHome \(quote(pythonHome))") }
            let paths = [workingDirectory] + pythonPaths
            add("WSGIPythonPath \(quote(paths.joined(separator: ":")))")
            if let pythonEggs { add("WSGIPythonEggs \(quote(pythonEggs))") }
            if maximumRequests > 0 { add("MaxConnectionsPerChild \(maximumRequests)") }
        } else {
            add("WSGIRestrictEmbedded On")
            var d = "WSGIDaemonProcess \(processGroup)"
            if let processes { d += " processes=\(processes)" }
            d += " threads=\(threads) display-name=%{GROUP} " + "home=" + quote(workingDirectory)
            if let pythonHome { d += " " + "python-home=" + quote(pythonHome) }
            if !pythonPaths.isEmpty { d += " " + "python-path=" + quote(pythonPaths.joined(separator: ":")) }
            if let pythonEggs { d += " " + "python-eggs=" + quote(pythonEggs) }
            if let lang { d += " " + "lang=" + quote(lang) }
            if let locale { d += " " + "locale=" + quote(locale) }
            d += " listen-backlog=\(daemonBacklog)"
            if maximumRequests > 0 { d += " maximum-requests=\(maximumRequests)" }
            if inactivityTimeout > 0 { d += " inactivity-timeout=\(inactivityTimeout)" }
            if restartInterval > 0 { d += " restart-interval=\(restartInterval)" }
            if cpuTimeLimit > 0 { d += " cpu-time-limit=\(cpuTimeLimit)" }
            d += " request-timeout=\(requestTimeout) queue-timeout=\(queueTimeout) socket-timeout=\(socketTimeout)"
            if interruptTimeout > 0 { d += " interrupt-timeout=\(interruptTimeout)" }
            d += " connect-timeout=\(connectTimeout) graceful-timeout=\(gracefulTimeout) startup-timeout=\(startupTimeout)"
            d += " shutdown-timeout=\(shutdownTimeout) deadlock-timeout=\(deadlockTimeout)"
            if evictionTimeout > 0 { d += " eviction-timeout=\(evictionTimeout)" }
            if sendBufferSize > 0 { d += " send-buffer-size=\(sendBufferSize)" }
            if receiveBufferSize > 0 { d += " receive-buffer-size=\(receiveBufferSize)" }
            if headerBufferSize > 0 { d += " header-buffer-size=\(headerBufferSize)" }
            if responseBufferSize > 0 { d += " response-buffer-size=\(responseBufferSize)" }
            if serverMetrics { d += " server-metrics=On" }
            if !newrelicAgent, let newrelicConfigFile { d += " newrelic-config-file=" + quote(newrelicConfigFile) }
            if !newrelicAgent, let newrelicEnvironment { d += " newrelic-environment=" + quote(newrelicEnvironment) }
            if responseSocketTimeout > 0 { d += " response-socket-timeout=\(responseSocketTimeout)" }
            if let user { d += " user=\(user)" }
            if let group { d += " group=\(group)" }
            add(d)
        }
        // --service-script: a daemon process of its own with no request threads, running the script.
        for service in services {
            // --service-log-file: the group is defined in a virtual host of its own, which no
            // request reaches, for its ErrorLog (a daemon logs to the host it is defined in).
            if let logFile = service.logFile {
                let file = logFolder + "/" + logFile
                add("<VirtualHost 127.0.0.1:1>")
                add("    ErrorLog \(rotateLogs ? rotated(file) : quote(file))")
            }
            var d = "WSGIDaemonProcess \(quote("service:" + service.name)) threads=0 display-name=\(quote(service.name))"
            d += " home=" + quote(workingDirectory)
            if let pythonHome { d += " python-home=" + quote(pythonHome) }
            if !pythonPaths.isEmpty { d += " python-path=" + quote(pythonPaths.joined(separator: ":")) }
            if let pythonEggs { d += " python-eggs=" + quote(pythonEggs) }
            if let lang { d += " lang=" + quote(lang) }
            if let locale { d += " locale=" + quote(locale) }
            if let u = service.user ?? user { d += " user=\(u)" }
            if let g = service.group ?? group { d += " group=\(g)" }
            add(d)
            add("WSGIImportScript \(quote(service.script)) process-group=\(quote("service:" + service.name)) application-group=%{GLOBAL}")
            if service.logFile != nil { add("</VirtualHost>") }
        }
        for (name, value) in setEnv { add("SetEnv \(name) \(quote(value))") }
        for name in passEnv { add("PassEnv \(name)") }
    }

    /// Name-based virtual hosts when --server-name is given (a request for another name is
    /// refused, as with mod_wsgi-express), and the HTTPS listener. Everything else in the
    /// configuration is the main server's, which the virtual hosts inherit (rewrite rules
    /// through RewriteOptions Inherit).
    private func addVirtualHosts(_ add: (String) -> Void) {
        let httpsRedirect = "https://\(serverName ?? "%{SERVER_NAME}")\(httpsPort == 443 ? "" : ":" + String(httpsPort ?? 443))%{REQUEST_URI}"
        let onlyHTTPS = httpsOnly && withHTTPS
        func names() {
            if let serverName { add("    ServerName \(serverName)") }
            if !serverAliases.isEmpty { add("    ServerAlias \(serverAliases.joined(separator: " "))") }
        }
        func ssl() {
            add("    SSLEngine On")
            add("    SSLCertificateFile \(quote(sslCertificateFile!))")
            add("    SSLCertificateKeyFile \(quote(sslCertificateKeyFile!))")
            if let sslCACertificateFile {
                add("    SSLCACertificateFile \(quote(sslCACertificateFile))")
                // The whole site, or only the --ssl-verify-client URLs.
                add("    SSLVerifyClient \(sslVerifyClient.isEmpty ? "require" : "none")")
                if sslVerifyClient.isEmpty { add("    SSLVerifyDepth 1") }
            }
            if let sslCertificateChainFile { add("    SSLCertificateChainFile \(quote(sslCertificateChainFile))") }
            if sslEnvironment { add("    SSLOptions +StdEnvVars") }
        }
        func denyOthers() {
            // Its own name, not the main server's: it must not answer --server-name's requests.
            add("    ServerName default.invalid")
            add("    RewriteEngine On")
            add("    RewriteOptions Inherit")
            add("    <Location />")
            add("        <RequireAny>")
            add("            Require all denied")
            if allowLocalhost { add("            Require local") }
            add("        </RequireAny>")
            add("    </Location>")
        }
        func redirectToHTTPS() {
            add("    RewriteEngine On")
            add("    RewriteOptions Inherit")
            add("    RewriteCond %{HTTPS} off")
            add("    RewriteRule ^ \(httpsRedirect) [R,L]")
        }
        if serverName == nil && !onlyHTTPS && !proxyVirtualHosts.isEmpty {
            // The first virtual host of a port answers the names no other one has.
            add("<VirtualHost *:\(port)>")
            add("    RewriteEngine On")
            add("    RewriteOptions Inherit")
            add("</VirtualHost>")
        }
        if serverName != nil {
            add("<VirtualHost _default_:\(port)>")
            denyOthers()
            add("</VirtualHost>")
            add("<VirtualHost *:\(port)>")
            names()
            if onlyHTTPS { redirectToHTTPS() } else { add("    RewriteEngine On"); add("    RewriteOptions Inherit") }
            add("</VirtualHost>")
            if let serverName, serverName.lowercased().hasPrefix("www.") {
                add("<VirtualHost *:\(port)>")
                add("    ServerName \(serverName.dropFirst(4))")
                // mod_rewrite, not Redirect: the application's WSGIScriptAlias maps URLs before mod_alias.
                add("    RewriteEngine On")
                add("    RewriteRule ^ \(onlyHTTPS ? "https" : "http")://\(serverName):\(onlyHTTPS ? httpsPort! : port)%{REQUEST_URI} [R=301,L]")
                add("</VirtualHost>")
            }
        } else if onlyHTTPS {
            add("<VirtualHost _default_:\(port)>")
            redirectToHTTPS()
            add("</VirtualHost>")
        }
        for (name, target) in proxyVirtualHosts {
            add("<VirtualHost *:\(port)>")
            add("    ServerName \(name)")
            add("    ProxyPass / \(quote(target))")
            add("    ProxyPassReverse / \(quote(target))")
            add("    RequestHeader set X-Forwarded-Port \(port)")
            add("</VirtualHost>")
        }
        guard withHTTPS, let httpsPort else { return }
        add("SSLSessionCache \(quote("shmcb:" + serverRoot + "/ssl_scache(512000)"))")
        if serverName != nil {
            add("<VirtualHost _default_:\(httpsPort)>")
            denyOthers()
            ssl()
            add("</VirtualHost>")
        }
        add("<VirtualHost \(serverName != nil ? "*" : "_default_"):\(httpsPort)>")
        names()
        ssl()
        add("    RewriteEngine On")
        add("    RewriteOptions Inherit")
        if onlyHTTPS, let hstsPolicy { add("    Header always set Strict-Transport-Security \(quote(hstsPolicy))") }
        add("</VirtualHost>")
        if let serverName, serverName.lowercased().hasPrefix("www.") {
            add("<VirtualHost *:\(httpsPort)>")
            add("    ServerName \(serverName.dropFirst(4))")
            add("    RewriteEngine On")
            add("    RewriteRule ^ https://\(serverName):\(httpsPort)%{REQUEST_URI} [R=301,L]")
            ssl()
            add("</VirtualHost>")
        }
    }

    private func quote(_ s: String) -> String {
        "\"" + s.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"") + "\""
    }

    private func regexEscape(_ s: String) -> String {
        var out = ""
        for c in s {
            if "\\.^$|?*+()[]{}".contains(c) { out.append("\\") }
            out.append(c)
        }
        return out
    }
}

/// The Python that --reload-on-changes imports into the application's process: it restarts
/// the process (SIGTERM; Apache starts a fresh one) when any loaded module's file changes.
let reloadMonitorSource = """
import os, signal, sys, threading, time

def _swiftwsgi_files():
    for module in list(sys.modules.values()):
        path = getattr(module, '__file__', None)
        if path and os.path.isfile(path):
            yield path

def _swiftwsgi_monitor():
    seen = {}
    while True:
        for path in list(_swiftwsgi_files()):
            try:
                mtime = os.stat(path).st_mtime
            except OSError:
                continue
            if seen.setdefault(path, mtime) != mtime:
                sys.stderr.write('swiftwsgi-express: %s changed; restarting the application process\\n' % path)
                sys.stderr.flush()
                os.kill(os.getpid(), signal.SIGTERM)
                return
        time.sleep(1)

threading.Thread(target=_swiftwsgi_monitor, name='swiftwsgi-reload-monitor', daemon=True).start()
"""

/// The page served when no application is given.
let defaultApplicationSource = """
def application(environ, start_response):
    body = b'<html><body><h1>swiftwsgi-express</h1><p>It works: give a WSGI script to serve it.</p></body></html>'
    start_response('200 OK', [('Content-Type', 'text/html'), ('Content-Length', str(len(body)))])
    return [body]
"""

/// --enable-telemetry's service script: the mod_wsgi-telemetry ingester and web UI (as
/// mod_wsgi-express 6.1 generates it), in a threads=0 daemon process of the server.
func telemetryServiceSource(socket: String, port: Int) -> String {
    """
    # Generated by swiftwsgi-express --enable-telemetry: runs the mod_wsgi-telemetry ingester and
    # web UI in a service daemon process. The WSGI processes report to the unix socket below
    # (WSGITelemetryService in httpd.conf).

    from mod_wsgi.telemetry.server import main

    main([
        "--listen",    "unix:\(socket)",
        "--http-host", "127.0.0.1",
        "--http-port", "\(port)",
        "--log-level", "INFO",
    ])

    """
}
