import Testing
@testable import SwiftWSGIExpress

@Suite struct ExpressConfigurationTests {
    func options() -> ServerOptions {
        ServerOptions(application: "/srv/app/app.wsgi", serverRoot: "/tmp/root", module: "/m/mod_swiftwsgi.so",
                      workingDirectory: "/srv/app")
    }

    @Test func daemonModeDefaults() {
        let conf = options().render()
        #expect(conf.contains("Listen 127.0.0.1:8000"))
        #expect(conf.contains("LoadModule wsgi_module \"/m/mod_swiftwsgi.so\""))
        #expect(conf.contains("WSGIRestrictEmbedded On"))
        #expect(conf.contains("WSGIPassAuthorization On"))
        #expect(conf.contains("WSGIDaemonProcess localhost:8000 processes=1 threads=5"))
        #expect(conf.contains("request-timeout=60 queue-timeout=45 socket-timeout=60"))
        #expect(conf.contains("WSGIScriptAlias / \"/srv/app/app.wsgi\" process-group=localhost:8000 application-group=%{GLOBAL}"))
    }

    @Test func embeddedModeAndStaticFiles() {
        var o = options()
        o.embeddedMode = true
        o.urlAliases = [("/static/", "/srv/app/static")]
        o.documentRoot = "/srv/app/htdocs"
        o.pythonHome = "/srv/venv"
        let conf = o.render()
        #expect(!conf.contains("WSGIDaemonProcess"))
        #expect(conf.contains("WSGIPythonHome \"/srv/venv\""))
        #expect(conf.contains("RewriteRule ^/static(/.*)?$ \"/srv/app/static$1\" [L]"))
        #expect(conf.contains("RewriteCond \"/srv/app/htdocs%{REQUEST_URI}\" -f"))
    }

    @Test func reloadMonitorIsImportedIntoTheApplicationProcess() {
        var o = options()
        o.reloadOnChanges = true
        #expect(o.render().contains("WSGIImportScript \"/tmp/root/monitor.py\" process-group=localhost:8000 application-group=%{GLOBAL}"))
    }
}
