@preconcurrency public import CSwiftWSGI
import Glibc
import PythonHost

// The C entry points of the Swift host (declared in swiftwsgi_abi.h). Each is called by the
// Apache shim; none may trap.

/// The shim's operations; in a daemon process, those registered in Apache's parent before the fork.
nonisolated(unsafe) var registeredOps: ApacheOps?

@_cdecl("swiftwsgi_abi_handshake")
public func swiftwsgiABIHandshake(_ version: Int32, _ sizes: UnsafePointer<Int>?, _ count: Int,
                                  _ error: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int32 {
    let given = sizes.map { pointer in (0..<max(count, 0)).map { pointer[$0] } } ?? []
    if let problem = ABIHandshake.problem(version: Int(version), sizes: given) {
        ABIHandshake.agreed = false
        return report(problem, error, length)
    }
    ABIHandshake.agreed = true
    return 0
}

@_cdecl("swiftwsgi_abi_version")
public func swiftwsgiABIVersion() -> Int32 { SWIFTWSGI_ABI_VERSION }

nonisolated(unsafe) private let versionCString = strdup(PythonRuntime.versionString)!
nonisolated(unsafe) private let pythonVersionCString = strdup(PythonLocation.embeddedVersion)!

@_cdecl("swiftwsgi_version")
public func swiftwsgiVersion() -> UnsafePointer<CChar> { UnsafePointer(versionCString) }

@_cdecl("swiftwsgi_python_version")
public func swiftwsgiPythonVersion() -> UnsafePointer<CChar> { UnsafePointer(pythonVersionCString) }

@_cdecl("swiftwsgi_register_ops")
public func swiftwsgiRegisterOps(_ ops: UnsafePointer<swiftwsgi_ops_t>?) {
    guard let ops else { return }
    registeredOps = ApacheOps(ops.pointee)
}

@_cdecl("swiftwsgi_check_python_home")
public func swiftwsgiCheckPythonHome(_ path: UnsafePointer<CChar>?, _ error: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int32 {
    guard let path else { return report("no path given", error, length) }
    if let reason = ConfigChecks.pythonHome(String(cString: path)) { return report(reason, error, length) }
    return 0
}

@_cdecl("swiftwsgi_check_application_group")
public func swiftwsgiCheckApplicationGroup(_ spec: UnsafePointer<CChar>?, _ error: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int32 {
    guard let spec else { return report("no value given", error, length) }
    if let reason = ApplicationGroup.validate(String(cString: spec)) { return report(reason, error, length) }
    return 0
}

@_cdecl("swiftwsgi_check_per_interpreter_gil")
public func swiftwsgiCheckPerInterpreterGIL(_ error: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int32 {
    ConfigChecks.perInterpreterGIL().map { report($0, error, length) } ?? 0
}

@_cdecl("swiftwsgi_check_free_threading")
public func swiftwsgiCheckFreeThreading(_ error: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int32 {
    ConfigChecks.freeThreading().map { report($0, error, length) } ?? 0
}

@_cdecl("swiftwsgi_check_interpreter_options")
public func swiftwsgiCheckInterpreterOptions(_ config: UnsafePointer<swiftwsgi_process_config_t>?,
                                             _ groups: UnsafePointer<UnsafePointer<CChar>?>?, _ count: Int,
                                             _ error: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int32 {
    guard ABIHandshake.agreed else { return report(ABIHandshake.notAgreed, error, length) }
    guard let config else { return report("no configuration given", error, length) }
    let names = (0..<count).compactMap { i in groups?[i].map { String(cString: $0) } }
    return ProcessConfig(config.pointee).interpreterOptionsProblem(daemonGroups: names).map { report($0, error, length) } ?? 0
}

private func report(_ reason: String, _ error: UnsafeMutablePointer<CChar>?, _ length: Int) -> Int32 {
    if let error, length > 0 {
        let bytes = Array(reason.utf8.prefix(length - 1))
        for (i, b) in bytes.enumerated() { error[i] = CChar(bitPattern: b) }
        error[bytes.count] = 0
    }
    return -1
}

@_cdecl("swiftwsgi_child_init")
public func swiftwsgiChildInit(_ config: UnsafePointer<swiftwsgi_process_config_t>?) -> Int32 {
    guard let config, let ops = registeredOps else { return -1 }
    var unlocked = Unlocked.enteringFromApache()
    guard ABIHandshake.agreed else {
        ops.logError(nil, .abiNotAgreed, ABIHandshake.notAgreed, unlocked)
        return -1
    }
    do {
        _ = try PythonRuntime.initialize(config: ProcessConfig(config.pointee), apache: ops, &unlocked)
        return 0
    } catch {
        ops.logError(nil, .pythonInitFailed, "\(error)", unlocked)
        return -1
    }
}

@_cdecl("swiftwsgi_child_exit")
public func swiftwsgiChildExit() {
    var unlocked = Unlocked.enteringFromApache()
    PythonRuntime.shared?.shutdown(&unlocked)
}

@_cdecl("swiftwsgi_handle_request")
public func swiftwsgiHandleRequest(_ request: UnsafePointer<swiftwsgi_request_t>?) -> Int32 {
    var unlocked = Unlocked.enteringFromApache()
    guard ABIHandshake.agreed else { return 500 }
    if let request, let socket = request.pointee.daemon_socket, let ops = registeredOps {
        return DaemonClient.proxy(request, socket: String(cString: socket), ops: ops, unlocked)
    }
    guard let request, let runtime = PythonRuntime.shared else {
        if let request { registeredOps?.logError(request.pointee.handle, .pythonNotInitialised, "Python is not initialised in this process; see the error log at its start.", unlocked) }
        return 500
    }
    return runtime.handle(request, &unlocked)
}

extension ProcessConfig {
    init(_ c: swiftwsgi_process_config_t) {
        self.init()
        pythonHome = c.python_home.map { String(cString: $0) }
        pythonPath = (0..<c.python_path_count).compactMap { c.python_path[$0].map { String(cString: $0) } }
        daemonHome = c.daemon_home.map { String(cString: $0) }
        optimize = Int(c.python_optimize)
        hashSeed = c.python_hash_seed == -1 ? nil : (c.python_hash_seed == -2 ? -1 : Int(c.python_hash_seed))
        warnings = (0..<c.python_warnings_count).compactMap { c.python_warnings[$0].map { String(cString: $0) } }
        dontWriteBytecode = c.dont_write_bytecode != 0
        pythonEggs = c.python_eggs.map { String(cString: $0) }
        restrictStdin = c.restrict_stdin != 0
        restrictStdout = c.restrict_stdout != 0
        restrictSignal = c.restrict_signal != 0
        destroyInterpreter = c.destroy_interpreter != 0
        apacheVersion = c.apache_version.map { String(cString: $0) } ?? ""
        mpmName = c.mpm_name.map { String(cString: $0) } ?? ""
        threadsPerProcess = Int(c.threads_per_process)
        maximumProcesses = Int(c.maximum_processes)
        processGroup = c.process_group.map { String(cString: $0) } ?? ""
        switchInterval = c.switch_interval
        serverMetrics = c.server_metrics != 0
        perInterpreterGIL = c.per_interpreter_gil != 0
        interpreterOptions = (0..<c.interpreter_options_count).map { InterpreterOptions(c.interpreter_options[$0]) }
        freeThreading = resolvedFreeThreading(serverScope: c.free_threading != 0)
        apacheDescription = c.apache_description.map { String(cString: $0) } ?? ""
        apacheBuildDate = c.apache_build_date.map { String(cString: $0) } ?? ""
        apacheThreadsPerProcess = Int(c.apache_threads_per_process)
        apacheMaximumProcesses = Int(c.apache_maximum_processes)
        statusCounters = StatusCounters(names: c.status_names, row: c.status_row)
        telemetrySocket = c.telemetry_socket.map { String(cString: $0) }
        telemetryInterval = c.telemetry_interval
        slowRequests = c.slow_requests
        telemetryCaptureUserAgent = c.telemetry_options & SWIFTWSGI_TELEMETRY_CAPTURE_USER_AGENT != 0
        importScripts = (0..<c.import_scripts_count).compactMap { i in
            let s = c.import_scripts[i]
            guard let path = s.path, let group = s.application_group else { return nil }
            // Only %{GLOBAL} or a name reach here (the shim refuses the others).
            return (String(cString: path), ApplicationGroup.expand(String(cString: group), server: "", scriptName: "",
                                                                   environment: { _ in nil }))
        }
    }
}

extension InterpreterOptions {
    init(_ c: swiftwsgi_interpreter_options_t) {
        self.init(processGroup: c.process_group.map { String(cString: $0) },
                  applicationGroup: c.application_group.map { String(cString: $0) })
        perInterpreterGIL = c.per_interpreter_gil < 0 ? nil : c.per_interpreter_gil != 0
        freeThreading = c.free_threading < 0 ? nil : c.free_threading != 0
        switchInterval = c.switch_interval > 0 ? c.switch_interval : nil
        restrictStdin = c.restrict_stdin < 0 ? nil : c.restrict_stdin != 0
        restrictStdout = c.restrict_stdout < 0 ? nil : c.restrict_stdout != 0
        restrictSignal = c.restrict_signal < 0 ? nil : c.restrict_signal != 0
        pythonPath = (0..<c.python_path_count).compactMap { c.python_path[$0].map { String(cString: $0) } }
    }
}

@_cdecl("swiftwsgi_auth")
public func swiftwsgiAuth(_ request: UnsafePointer<swiftwsgi_auth_request_t>?) -> Int32 {
    guard ABIHandshake.agreed, let request, let runtime = PythonRuntime.shared else { return Int32(SWIFTWSGI_AUTH_ERROR.rawValue) }
    var unlocked = Unlocked.enteringFromApache()
    return runtime.authenticate(request, &unlocked)
}

@_cdecl("swiftwsgi_dispatch")
public func swiftwsgiDispatch(_ request: UnsafePointer<swiftwsgi_dispatch_request_t>?) -> Int32 {
    guard ABIHandshake.agreed, let request, let runtime = PythonRuntime.shared else {
        return Int32(SWIFTWSGI_DISPATCH_ERROR.rawValue)
    }
    var unlocked = Unlocked.enteringFromApache()
    return runtime.dispatch(request, &unlocked)
}

@_cdecl("swiftwsgi_daemon_main")
public func swiftwsgiDaemonMain(_ config: UnsafePointer<swiftwsgi_daemon_config_t>?) -> Int32 {
    guard ABIHandshake.agreed, let config else { return 1 }
    DaemonOps.apache = registeredOps
    return DaemonServer(config.pointee).run()
}
