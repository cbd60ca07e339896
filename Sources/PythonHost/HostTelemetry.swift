@preconcurrency import CSwiftWSGI
import Glibc
import Telemetry

/// The host's side of WSGITelemetryService: starting the process's sender once Python runs,
/// its lifecycle datagrams, and what each request hands the recorder.
extension PythonRuntime {
    /// Starts this process's telemetry when configured (a child of Apache's or a daemon
    /// process: `initialize` never runs in Apache's parent).
    func startTelemetry(_ unlocked: borrowing Unlocked) {
        guard let socket = config.telemetrySocket else { return }
        let settings = config.interpreterSettings(applicationGroup: "")
        let apache = self.apache
        let daemon = !config.processGroup.isEmpty
        let sender = TelemetrySender.start(TelemetrySettings(
            socketPath: socket, interval: config.telemetryInterval, slowRequests: config.slowRequests,
            captureUserAgent: config.telemetryCaptureUserAgent, processGroup: config.processGroup,
            threads: config.threadsPerProcess, serverVersion: "mod_swiftwsgi \(Self.versionString)",
            pythonVersion: PythonVersion.runtime, apacheVersion: "Apache/\(config.apacheVersion)",
            mpmName: config.mpmName,
            // Python's default when neither WSGISwitchInterval nor switch-interval= set it.
            switchInterval: settings.switchInterval > 0 ? settings.switchInterval : 0.005),
            identity: { raw, count in
                Self.slowIdentity(UnsafeBufferPointer(start: raw.assumingMemoryBound(to: swiftwsgi_kv_t.self), count: count),
                                  daemon: daemon)
            }) { message in
            // From the sender's thread or this one: never in Python.
            let unlocked = Unlocked.enteringFromApache()
            apache.log(nil, SWIFTWSGI_LOG_WARNING, .telemetryProblem, message, unlocked)
        }
        telemetry.withLock { $0 = sender }
    }

    /// PROCESS_STOPPING: the process decided to stop (mod_wsgi's shutdown_reason, or "").
    func telemetryStopping(reason: String) {
        telemetry.withLock { $0 }?.stopping(reason: reason)
    }

    /// The last sample and PROCESS_STOPPED, once the running requests are done (or abandoned).
    public func telemetryStopped() {
        guard let sender = telemetry.withLock({ $0 }) else { return }
        sender.stopped(reason: stoppingReason.withLock { $0 })
    }

    /// This thread's telemetry cells when telemetry is on (made at its first request).
    @inline(__always)
    static func telemetryThread(_ threadStates: ThreadStates?, id: Int) -> TelemetryThread? {
        guard TelemetryRecorder.shared.enabled, let threadStates else { return nil }
        if let cells = threadStates.telemetry { return cells }
        let cells = TelemetryRecorder.shared.thread(id: id)
        threadStates.telemetry = cells
        return cells
    }

    /// The request's instants, from its environ (one pass), and when its application was called.
    static func requestTimes(_ environ: UnsafeBufferPointer<swiftwsgi_kv_t>, applicationStart: Double) -> RequestTimes {
        var times = RequestTimes(requestStart: 0, queueStart: 0, daemonStart: 0, applicationStart: applicationStart)
        for kv in environ {
            // "mod_wsgi.request_start", "mod_wsgi.queue_start", "mod_wsgi.daemon_start"
            guard let n = kv.name, n[0] == 0x6d, let v = kv.value, strncmp(n, "mod_wsgi.", 9) == 0 else { continue }
            let rest = n + 9
            if strcmp(rest, "request_start") == 0 { times.requestStart = Double(strtoll(v, nil, 10)) / 1e6 }
            else if strcmp(rest, "queue_start") == 0 { times.queueStart = Double(strtoll(v, nil, 10)) / 1e6 }
            else if strcmp(rest, "daemon_start") == 0 { times.daemonStart = Double(strtoll(v, nil, 10)) / 1e6 }
        }
        return times
    }

    /// What a slow-request record shows of the request (read only with WSGISlowRequests).
    static func slowIdentity(_ environ: UnsafeBufferPointer<swiftwsgi_kv_t>, daemon: Bool) -> SlowRequest.Identity {
        // Read only for a slow request (when reported), so a dictionary is cheap enough.
        var wanted: [String: String] = ["REQUEST_METHOD": "", "HTTPS": "", "HTTP_HOST": "", "SERVER_NAME": "",
                                        "SCRIPT_NAME": "", "PATH_INFO": "", "SERVER_PROTOCOL": "", "REMOTE_ADDR": "",
                                        "HTTP_USER_AGENT": "", "UNIQUE_ID": "", "mod_wsgi.server_pid": ""]
        for kv in environ {
            guard let n = kv.name, let v = kv.value else { continue }
            let name = String(cString: n)
            if wanted[name] != nil { wanted[name] = String(cString: v) }
        }
        var i = SlowRequest.Identity()
        i.method = wanted["REQUEST_METHOD"] ?? ""
        let https = (wanted["HTTPS"] ?? "").lowercased()
        i.scheme = ["1", "on", "yes", "true"].contains(https) ? "https" : "http"
        // The host the client asked for, without its port (Apache's r->hostname).
        let host = wanted["HTTP_HOST"].flatMap { $0.isEmpty ? nil : $0 } ?? wanted["SERVER_NAME"] ?? ""
        i.hostname = host.hasPrefix("[") ? String(host.prefix { $0 != "]" }) + "]"
            : String(host.prefix { $0 != ":" })
        i.scriptName = wanted["SCRIPT_NAME"] ?? ""
        i.pathInfo = wanted["PATH_INFO"] ?? ""
        i.httpProtocol = wanted["SERVER_PROTOCOL"] ?? ""
        i.peerIP = wanted["REMOTE_ADDR"] ?? ""
        if TelemetryRecorder.shared.capturesUserAgent { i.userAgent = wanted["HTTP_USER_AGENT"] ?? "" }
        i.logID = wanted["UNIQUE_ID"] ?? ""
        // The Apache child that took the request: this process in embedded mode.
        i.serverPID = daemon ? Int(wanted["mod_wsgi.server_pid"] ?? "") ?? 0 : Int(getpid())
        return i
    }
}
