/// The ids of the Swift host's log messages: "SWW" and four digits, as the shim's
/// SWIFTWSGI_LOGNO(nnnn) (apache/swiftwsgi_log.h). The host's numbers are 1000 to 1999, the shim's
/// 0900 to 0999. Every message the host logs names one: `ApacheOps.log` takes it and
/// `LogFormat` puts it on every line.
///
/// Adding a message: a new case with the next free number (never reuse one: an id is what users
/// search for; the compiler refuses a duplicate), then its entry in docs/troubleshooting.md (what
/// it means, what to do; Tests/docs/test_docs.py checks that every id has one).
public enum LogID: String, CaseIterable, Sendable {
    // ---- the application's own output
    /// A line the application wrote to wsgi.errors, sys.stdout or sys.stderr (print, logging),
    /// or a record of its mod_wsgi.LogHandler.
    case applicationOutput = "SWW1000"

    // ---- the process and its interpreters
    /// Python started in this process (info).
    case pythonInitializing = "SWW1001"
    /// Python could not be started in this process (the reason follows).
    case pythonInitFailed = "SWW1002"
    /// A request reached a process whose Python did not start.
    case pythonNotInitialised = "SWW1003"
    /// The shim called the library without the ABI handshake.
    case abiNotAgreed = "SWW1004"
    /// An application group's interpreter was created (info).
    case interpreterCreated = "SWW1005"
    /// An interpreter setting that cannot apply was ignored (warning).
    case interpreterSettingIgnored = "SWW1006"
    /// A WSGIImportScript script ended by SystemExit (info).
    case importScriptExited = "SWW1007"
    /// A WSGIImportScript script raised (traceback follows).
    case importScriptFailed = "SWW1008"
    /// An application group's interpreter could not be created.
    case interpreterFailed = "SWW1009"
    /// The host's clean-up code at shutdown raised (warning).
    case shutdownFailed = "SWW1010"
    /// The application's signal.signal() call was ignored (WSGIRestrictSignal).
    case signalRegistrationIgnored = "SWW1011"
    /// The application imported the mod_wsgi module (info).
    case modWSGIImported = "SWW1012"
    /// Publishing an event to subscribers failed in the host.
    case eventPublishFailed = "SWW1013"
    /// Telemetry cannot be sent, or datagrams are being dropped (warning).
    case telemetryProblem = "SWW1057"
    /// mod_wsgi.subscribe_signals() outside a daemon process: the callback is never called (info).
    case signalsOutsideDaemon = "SWW1060"
    /// A subscriber's event callback raised (traceback follows).
    case eventCallbackFailed = "SWW1014"
    /// The New Relic agent could not be initialised (traceback follows).
    case newRelicInitFailed = "SWW1015"
    /// Wrapping the application for New Relic raised (traceback follows).
    case newRelicWrapFailed = "SWW1016"

    // ---- requests
    /// The request's interpreter could not be had.
    case requestInterpreterFailed = "SWW1020"
    /// A changed WSGI script is reloaded (info).
    case scriptReloading = "SWW1021"
    /// A WSGI, authentication or dispatch script failed to load (traceback follows).
    case scriptLoadFailed = "SWW1022"
    /// The WSGI script has no callable of the configured name.
    case applicationMissing = "SWW1023"
    /// The WSGI environ could not be built (traceback follows).
    case environFailed = "SWW1024"
    /// The response's close() raised (traceback follows).
    case responseCloseFailed = "SWW1025"
    /// The client went away while the response was being sent (info).
    case clientClosed = "SWW1026"
    /// The application raised (traceback follows).
    case applicationFailed = "SWW1027"
    /// An application group with its own GIL cannot import a C extension module.
    case extensionNeedsSharedGIL = "SWW1028"
    /// The response was longer than its Content-Length: the bytes beyond it were not sent (warning).
    case responseLongerThanDeclared = "SWW1055"
    /// This thread could not enter the request's interpreter (no Python thread state): 500.
    case threadStateUnavailable = "SWW1056"
    /// The shim passed a request without its handle or script filename (never expected): 500.
    case requestIncomplete = "SWW1066"
    /// The request's WSGI objects (wsgi.input, wsgi.errors, start_response) could not be made.
    case requestObjectsFailed = "SWW1058"
    /// Apache refused the response's status or headers (held back until the first body bytes).
    case responseRefused = "SWW1061"
    /// A daemon request unwound from mod_wsgi.RequestTimeout: answered 504 (or cut short), its
    /// thread serves on (traceback follows).
    case requestInterrupted = "SWW1062"
    /// mod_wsgi.RequestTimeout reached a complete response's close() and was dropped (info).
    case requestTimeoutInClose = "SWW1063"

    // ---- authentication, access and dispatch scripts
    /// The script lacks the function the directive calls.
    case authFunctionMissing = "SWW1030"
    /// The arguments of the script's function could not be built (traceback follows).
    case authArgumentsFailed = "SWW1031"
    /// The script's function raised (traceback follows).
    case authScriptFailed = "SWW1032"

    // ---- daemon processes
    /// A daemon process could not start (the reason follows); it is replaced.
    case daemonStartFailed = "SWW1040"
    /// A daemon process is ready (info).
    case daemonReady = "SWW1041"
    /// A daemon process was evicted (SIGUSR1) and is replaced (info).
    case daemonEvicted = "SWW1042"
    /// A daemon process is replaced (info: the reason follows).
    case daemonRestarting = "SWW1043"
    /// A request waited longer than queue-timeout for a daemon thread: 504.
    case queueTimeout = "SWW1044"
    /// A daemon's start-up took longer than startup-timeout; it is replaced.
    case startupTimeout = "SWW1045"
    /// A daemon's service scripts (threads=0) did not stop within shutdown-timeout (info).
    case serviceScriptsStuck = "SWW1059"
    /// A request over request-timeout gets mod_wsgi.RequestTimeout (info).
    case requestTimeoutRaising = "SWW1064"
    /// The request request-timeout meant to interrupt ended first (info).
    case requestTimeoutMissed = "SWW1065"

    // ---- an Apache child's side of daemon mode
    /// No daemon process accepted within connect-timeout: 503.
    case daemonConnectFailed = "SWW1050"
    /// The daemon process closed the connection without answering.
    case daemonNoAnswer = "SWW1051"
    /// A response header from the daemon is larger than header-buffer-size.
    case daemonHeaderTooLarge = "SWW1052"
    /// The daemon said nothing for socket-timeout: 504.
    case daemonTimeout = "SWW1053"
    /// The daemon's response was cut short.
    case daemonTruncatedResponse = "SWW1054"
}
