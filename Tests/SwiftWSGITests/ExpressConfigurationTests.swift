import Testing
@testable import SwiftWSGIExpress

@Suite struct ExpressConfigurationTests {
    func options() -> ServerOptions {
        var o = ServerOptions(workingDirectory: "/srv/app", serverRoot: "/tmp/root", module: "/m/mod_swiftwsgi.so")
        o.entryPoint = "/srv/app/app.wsgi"
        return o
    }

    @Test func daemonModeDefaults() {
        let conf = options().render()
        #expect(conf.contains("Listen 8000\n"))
        #expect(conf.contains("LoadModule wsgi_module \"/m/mod_swiftwsgi.so\""))
        #expect(conf.contains("WSGIRestrictEmbedded On"))
        #expect(conf.contains("WSGIPassAuthorization On"))
        #expect(conf.contains("WSGIDaemonProcess localhost:8000 threads=5"))
        #expect(!conf.contains("processes="))
        #expect(conf.contains("listen-backlog=100"))
        #expect(conf.contains("request-timeout=60 queue-timeout=45 socket-timeout=60"))
        #expect(conf.contains("shutdown-timeout=5 deadlock-timeout=60"))
        #expect(conf.contains("WSGIScriptAlias / \"/srv/app/app.wsgi\" process-group=localhost:8000 application-group=%{GLOBAL}"))
        // mod_wsgi-express's request limits.
        #expect(conf.contains("LimitRequestBody 10485760"))
        #expect(conf.contains("RequestReadTimeout header=15-30,MinRate=500 body=15,MinRate=500"))
        #expect(conf.contains("KeepAliveTimeout 2"))
        #expect(conf.contains("ListenBacklog 500"))
        #expect(conf.contains("ErrorLog \"/tmp/root/error_log\""))
    }

    /// mod_wsgi-express 6.1's telemetry options: the directives it writes, and its checks.
    @Test func telemetryOptions() throws {
        #expect(!options().render().contains("WSGITelemetry"))
        var o = options()
        o.telemetryService = "unix:/run/t.sock"
        o.telemetryInterval = 0.5
        o.slowRequests = 2
        o.telemetryOptions = ["+CaptureUserAgent", "-CaptureUserAgent"]
        let conf = o.render()
        #expect(conf.contains("WSGITelemetryService unix:/run/t.sock interval=0.5\nWSGISlowRequests 2.0\n"
                              + "WSGITelemetryOptions +CaptureUserAgent\nWSGITelemetryOptions -CaptureUserAgent\n"))
        let user = ["--user", "www-data", "--group", "www-data"]  // required when tests run as root
        func refused(_ arguments: [String]) -> Bool {
            guard let parsed = try? ServerArguments.parse(["/srv/app/app.wsgi"] + user + arguments) else { return true }
            var o = options()
            return (try? parsed.takeTelemetry(&o, root: "/tmp/root")) == nil
        }
        #expect(refused(["--telemetry-service", "udp:host:9"]))
        #expect(refused(["--slow-requests", "1"]))
        #expect(refused(["--telemetry-service", "unix:/x", "--slow-requests", "-1"]))
        #expect(refused(["--telemetry-service", "unix:/x", "--enable-telemetry"]))
        #expect(refused(["--telemetry-service", "unix:/x", "--telemetry-interval", "0.1"]))
        #expect(!refused(["--telemetry-service", "unix:/x", "--slow-requests", "0", "--telemetry-options=-CaptureUserAgent"]))
        // --enable-telemetry: the ingester as a service, its socket in a directory of its own.
        var e = options()
        try ServerArguments.parse(["/srv/app/app.wsgi", "--enable-telemetry", "--telemetry-ui-port", "8899"] + user)
            .takeTelemetry(&e, root: "/tmp/root")
        #expect(e.telemetryService == "unix:/tmp/root/telemetry/telemetry.sock" && e.telemetryUIPort == 8899)
        #expect(e.telemetryIngester?.script == "/tmp/root/telemetry-service.py")
        #expect(telemetryServiceSource(socket: "/tmp/root/telemetry/telemetry.sock", port: 8899)
            .contains("\"--listen\",    \"unix:/tmp/root/telemetry/telemetry.sock\""))
    }

    /// mod_wsgi-express 6.1's --interrupt-timeout (off by default) and --proxy-timeout (only with
    /// something proxied).
    @Test func interruptAndProxyTimeouts() {
        var o = options()
        #expect(!o.render().contains("interrupt-timeout"))
        o.interruptTimeout = 3
        o.proxyTimeout = 300
        var conf = o.render()
        #expect(conf.contains("request-timeout=60 queue-timeout=45 socket-timeout=60 interrupt-timeout=3"))
        #expect(!conf.contains("ProxyTimeout"))
        o.proxyMountPoints = [("/api", "http://127.0.0.1:9000/")]
        conf = o.render()
        #expect(conf.contains("ProxyTimeout 300\n"))
    }

    /// A wheel's module has no rpath to libpython: Apache loads the Python's library first.
    @Test func pythonLibraryIsLoadedBeforeTheModule() {
        var o = options()
        #expect(!o.render().contains("LoadFile"))
        o.pythonLibrary = "/py/lib/libpython3.12.so.1.0"
        let conf = o.render()
        let loadFile = conf.firstRange(of: "LoadFile \"/py/lib/libpython3.12.so.1.0\"\n")
        let loadModule = conf.firstRange(of: "LoadModule wsgi_module")
        #expect(loadFile != nil && loadModule != nil)
        if let loadFile, let loadModule { #expect(loadFile.upperBound <= loadModule.lowerBound) }
    }

    @Test func embeddedModeAndStaticFiles() {
        var o = options()
        o.embeddedMode = true
        o.host = "localhost"
        o.urlAliases = [("/static/", "/srv/app/static")]
        o.documentRoot = "/srv/app/htdocs"
        o.pythonHome = "/srv/venv"
        let conf = o.render()
        #expect(conf.contains("Listen 127.0.0.1:8000"))
        #expect(!conf.contains("WSGIDaemonProcess"))
        #expect(conf.contains("WSGIPythonHome \"/srv/venv\""))
        #expect(conf.contains("WSGIPythonPath \"/srv/app\""))
        #expect(conf.contains("RewriteRule ^/static(/.*)?$ \"/srv/app/static$1\" [L]"))
        #expect(conf.contains("RewriteCond \"/srv/app/htdocs%{REQUEST_URI}\" -f"))
    }

    @Test func moduleEntryPointAtAMountPoint() {
        var o = options()
        o.applicationType = "module"
        o.entryPoint = "mysite.wsgi"
        o.callableObject = "app"
        o.mountPoint = "/site/"
        #expect(o.render().contains("WSGIScriptAlias /site \"/tmp/root/application.wsgi\""))
        let source = o.applicationWrapperSource()
        #expect(source.contains("'module', 'mysite.wsgi', 'app',"))
        #expect(source.contains("sys.path.insert(0, '/srv/app')"))
    }

    @Test func workerFractionsAndDebugMode() {
        var o = options()
        o.maxClients = 100
        o.initialWorkers = 0.5
        // 4 children of 25 threads: half start; the minimum follows the initial fraction.
        #expect(o.render().contains("StartServers 2\nThreadsPerChild 25\nMinSpareThreads 50\nMaxSpareThreads 75\n"))
        o.debug = DebugOptions()
        o.mpm = "prefork"
        let conf = o.render()
        #expect(conf.contains("StartServers 1\nMinSpareServers 1\nMaxSpareServers 2\nServerLimit 1\nMaxRequestWorkers 1\n"))
        #expect(!conf.contains("WSGIDaemonProcess"))
        #expect(conf.contains("WSGIImportScript \"/tmp/root/application.wsgi\" process-group=%{GLOBAL} application-group=%{GLOBAL}"))
    }

    @Test func httpsWithServerName() {
        var o = options()
        o.httpsPort = 8443
        o.sslCertificateFile = "/c/server.crt"
        o.sslCertificateKeyFile = "/c/server.key"
        o.httpsOnly = true
        o.hstsPolicy = "max-age=600"
        o.serverName = "www.example.com"
        let conf = o.render()
        #expect(conf.contains("Listen 8443"))
        #expect(conf.contains("SSLCertificateFile \"/c/server.crt\""))
        #expect(conf.contains("RewriteRule ^ https://www.example.com:8443%{REQUEST_URI} [R,L]"))
        #expect(conf.contains("Header always set Strict-Transport-Security \"max-age=600\""))
        #expect(conf.contains("ServerName example.com"))
    }

    @Test func processAndLogOptions() {
        var o = options()
        o.processes = 2
        o.restartInterval = 30
        o.cpuTimeLimit = 10
        o.evictionTimeout = 3
        o.headerBufferSize = 65536
        o.socketPrefix = "/run/x"
        o.rotateLogs = true
        o.maxLogSize = 2
        o.accessLog = true
        o.accessLogFormat = "combined"
        let conf = o.render()
        #expect(conf.contains("processes=2"))
        #expect(conf.contains("restart-interval=30 cpu-time-limit=10"))
        #expect(conf.contains("eviction-timeout=3"))
        #expect(conf.contains("header-buffer-size=65536"))
        #expect(conf.contains("WSGISocketPrefix \"/run/x/wsgi\""))
        #expect(conf.contains("ErrorLog \"|/usr/bin/rotatelogs /tmp/root/error_log.%Y-%m-%d-%H_%M_%S 2M\""))
        #expect(conf.contains("CustomLog \"|/usr/bin/rotatelogs /tmp/root/access_log.%Y-%m-%d-%H_%M_%S 2M\" combined"))
    }

    @Test func reloadMonitorIsImportedIntoTheApplicationProcess() {
        var o = options()
        o.reloadOnChanges = true
        #expect(o.render().contains("WSGIImportScript \"/tmp/root/monitor.py\" process-group=localhost:8000 application-group=%{GLOBAL}"))
    }
}
