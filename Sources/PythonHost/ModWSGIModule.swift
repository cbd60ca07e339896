@preconcurrency import CPython
@preconcurrency import CSwiftWSGI
import Glibc

/// The `mod_wsgi` and `apache` modules of one interpreter, as mod_wsgi 5 installs them, and
/// the handles the request path needs: the event subscriber lists (checked before any event
/// is built, so nothing is paid while nobody subscribed) and the Python helpers that build and
/// publish the events.
///
/// The Python-level parts (subscriptions, `active_requests`, the metrics dicts, event payloads)
/// are the bootstrap source below, run in the module's namespace; they are called only when
/// someone subscribed or asked for metrics.
final class ModWSGIModule {
    /// mod_wsgi.event_callbacks and mod_wsgi.shutdown_callbacks.
    let eventCallbacks: PyRef
    let shutdownCallbacks: PyRef
    let requestStarted: PyRef
    let responseStarted: PyRef
    let requestFinished: PyRef
    let requestException: PyRef
    let processStopping: PyRef

    /// The version of mod_wsgi whose behaviour and API this host implements: what
    /// `mod_wsgi.version` and `environ['mod_wsgi.version']` report, so an application's
    /// `mod_wsgi.version >= (4, x)` checks pass. Our own version is `mod_wsgi.server_software`.
    static let compatibleVersion = (major: 5, minor: 0, micro: 2)

    /// Whether any event subscriber is registered (one list-size read).
    @inline(__always)
    var subscribed: Bool { swpy_list_size(eventCallbacks.pointer) > 0 }

    /// Creates the modules in the current interpreter. With the GIL held.
    init(config: ProcessConfig, applicationGroup name: String, types: HostTypes,
         interpreter: UnsafeMutableRawPointer) throws(HostError) {
        let modules = PyImport_GetModuleDict()!
        // Like mod_wsgi: an importable `mod_wsgi` package (pip's, with mod_wsgi.server and
        // mod_wsgi.express) becomes the module, so its sub-packages stay importable.
        var module = PyImport_ImportModule("mod_wsgi")
        if module == nil {
            PyErr_Clear()
            if PyDict_GetItemString(modules, "mod_wsgi") != nil { PyDict_DelItemString(modules, "mod_wsgi") }
            PyErr_Clear()
            module = PyModule_New("mod_wsgi")
            if let module { PyDict_SetItemString(modules, "mod_wsgi", module) }
        } else if name.isEmpty {
            let ops = PythonRuntime.shared?.apache
            withoutGIL { ops?.log(nil, SWIFTWSGI_LOG_INFO, "mod_swiftwsgi (pid=\(getpid())): Imported 'mod_wsgi'.") }
        }
        guard let module else { throw HostError("cannot create the mod_wsgi module") }
        let owned = PyRef(owning: module)
        let dict = PyModule_GetDict(owned.pointer)!
        func set(_ key: String, _ value: PyPointer?) {
            guard let value else { PyErr_Clear(); return }
            PyDict_SetItemString(dict, key, value)
            Py_DecRef(value)
        }
        let v = Self.compatibleVersion
        set("version", Py.tuple([PyLong_FromLong(v.major), PyLong_FromLong(v.minor), PyLong_FromLong(v.micro)]))
        set("server_software", Py.string("mod_swiftwsgi/\(PythonRuntime.versionString)"))
        set("process_group", Py.string(config.processGroup))
        set("application_group", Py.string(name))
        set("maximum_processes", PyLong_FromLong(config.maximumProcesses))
        set("threads_per_process", PyLong_FromLong(config.threadsPerProcess))
        Py_IncRef(types.fileWrapper)
        set("FileWrapper", types.fileWrapper)
        set("_swiftwsgi_threads_maximum", PyLong_FromLong(config.threadsPerProcess))
        set("_swiftwsgi_daemon", Py.bool(!config.processGroup.isEmpty))
        set("_swiftwsgi_server_metrics", Py.bool(config.serverMetrics))
        let capsule = PyCapsule_New(interpreter, nil, nil)
        for (key, def) in [("request_data", NativeFunctions.requestData), ("_swiftwsgi_active", NativeFunctions.active),
                           ("_swiftwsgi_process", NativeFunctions.process), ("_swiftwsgi_sample", NativeFunctions.sample),
                           ("_swiftwsgi_scoreboard", NativeFunctions.scoreboard)] {
            set(key, PyCMethod_New(def, capsule, nil, nil))
        }
        Py_XDECREF(capsule)

        guard let result = PyRun_StringFlags(Self.source, Py_file_input, dict, dict, nil) else {
            throw HostError("mod_wsgi module set-up failed: \(PythonRuntime.currentExceptionText())")
        }
        Py_DecRef(result)
        func get(_ key: String) throws(HostError) -> PyRef {
            guard let o = PyDict_GetItemString(dict, key) else { throw HostError("mod_wsgi module set-up: no \(key)") }
            return PyRef(retaining: o)
        }
        eventCallbacks = try get("event_callbacks")
        shutdownCallbacks = try get("shutdown_callbacks")
        requestStarted = try get("_swiftwsgi_request_started")
        responseStarted = try get("_swiftwsgi_response_started")
        requestFinished = try get("_swiftwsgi_request_finished")
        requestException = try get("_swiftwsgi_request_exception")
        processStopping = try get("_swiftwsgi_process_stopping")

        try Self.installApache(config: config, modules: modules)
    }

    /// The `apache` module: version, mpm_name, maximum_processes, threads_per_process,
    /// description, build_date.
    private static func installApache(config: ProcessConfig, modules: PyPointer) throws(HostError) {
        guard let module = PyModule_New("apache") else { throw HostError("cannot create the apache module") }
        defer { Py_DecRef(module) }
        func set(_ key: String, _ value: PyPointer?) {
            if let value { PyModule_AddObject(module, key, value) } else { PyErr_Clear() }
        }
        set("version", apacheVersionTuple(config.apacheVersion))
        set("mpm_name", Py.string(config.mpmName))
        set("maximum_processes", PyLong_FromLong(config.apacheMaximumProcesses))
        set("threads_per_process", PyLong_FromLong(config.apacheThreadsPerProcess))
        set("description", Py.string(config.apacheDescription))
        set("build_date", Py.string(config.apacheBuildDate))
        PyDict_SetItemString(modules, "apache", module)
    }

    static func apacheVersionTuple(_ version: String) -> PyPointer? {
        var parts = version.split(separator: ".").map { Int($0.prefix(while: \.isNumber)) ?? 0 }
        while parts.count < 3 { parts.append(0) }
        return Py.tuple(parts.prefix(3).map { PyLong_FromLong($0) })
    }

    // MARK: events (called only when `subscribed`, with the GIL held)

    /// request_started: returns new references to the application to call (a subscriber may
    /// wrap it) and to the token request_finished needs; nil on an internal failure (logged).
    func publishRequestStarted(environ: PyPointer, application: PyPointer, threadID: Int,
                               requestData: PyPointer) -> (application: PyPointer, token: PyPointer)? {
        guard let tid = PyLong_FromLong(threadID) else { PyErr_Clear(); return nil }
        defer { Py_DecRef(tid) }
        var args: [PyPointer?] = [environ, application, tid, requestData]
        guard let r = args.withUnsafeMutableBufferPointer({ PyObject_Vectorcall(requestStarted.pointer, $0.baseAddress, 4, nil) })
        else { logFailure(); return nil }
        defer { Py_DecRef(r) }
        guard swpy_tuple_check(r) != 0, swpy_tuple_size(r) == 2 else { return nil }
        let wrapped = swpy_tuple_get_item(r, 0)!, token = swpy_tuple_get_item(r, 1)!
        Py_IncRef(wrapped)
        Py_IncRef(token)
        return (wrapped, token)
    }

    func publishResponseStarted(environ: PyPointer, status: PyPointer, headers: PyPointer, excInfo: PyPointer?,
                                requestData: PyPointer) {
        var args: [PyPointer?] = [environ, status, headers, excInfo ?? Py.none, requestData]
        call(responseStarted.pointer, &args)
    }

    func publishRequestFinished(token: PyPointer, counters: [Double], requestData: PyPointer) {
        guard let list = PyList_New(0) else { PyErr_Clear(); return }
        defer { Py_DecRef(list) }
        for c in counters {
            if let f = PyFloat_FromDouble(c) { PyList_Append(list, f); Py_DecRef(f) }
        }
        var args: [PyPointer?] = [token, list, requestData]
        call(requestFinished.pointer, &args)
    }

    /// request_exception with the current exception, which is left set for the caller to log.
    func publishRequestException(environ: PyPointer, requestData: PyPointer) {
        var type: PyPointer?, value: PyPointer?, tb: PyPointer?
        PyErr_Fetch(&type, &value, &tb)
        guard type != nil else { return }
        PyErr_NormalizeException(&type, &value, &tb)
        if let value, let tb { PyException_SetTraceback(value, tb) }
        var args: [PyPointer?] = [environ, type, value ?? Py.none, tb ?? Py.none, requestData]
        call(requestException.pointer, &args)
        PyErr_Restore(type, value, tb)
    }

    /// process_stopping to both subscriber lists, when either has one.
    func publishProcessStopping(reason: String) {
        guard subscribed || swpy_list_size(shutdownCallbacks.pointer) > 0, let r = Py.string(reason) else { return }
        defer { Py_DecRef(r) }
        var args: [PyPointer?] = [r]
        call(processStopping.pointer, &args)
    }

    private func call(_ f: PyPointer, _ args: inout [PyPointer?]) {
        let n = args.count
        if let r = args.withUnsafeMutableBufferPointer({ PyObject_Vectorcall(f, $0.baseAddress, n, nil) }) {
            Py_DecRef(r)
        } else {
            logFailure()
        }
    }

    /// The helpers log subscribers' exceptions themselves; anything escaping is a host bug.
    private func logFailure() {
        let text = PythonRuntime.currentExceptionText()
        let ops = PythonRuntime.shared?.apache
        withoutGIL { ops?.log(nil, SWIFTWSGI_LOG_ERR, "mod_swiftwsgi (pid=\(getpid())): publishing an event failed: \(text)") }
    }

    // MARK: the Python side

    static let source = """
import sys as _sys, os as _os, time as _time
import _collections_abc

event_callbacks = []
shutdown_callbacks = []

def subscribe_events(callback):
    event_callbacks.append(callback)
    return callback

def subscribe_shutdown(callback):
    shutdown_callbacks.append(callback)
    return callback

class _ActiveRequests(_collections_abc.Mapping):
    '''The requests this interpreter is running: request id -> request_data() dict.'''
    __slots__ = ()
    def __getitem__(self, key):
        return _swiftwsgi_active()[key]
    def __iter__(self):
        return iter(_swiftwsgi_active())
    def __len__(self):
        return len(_swiftwsgi_active())
    def __repr__(self):
        return repr(_swiftwsgi_active())

active_requests = _ActiveRequests()

_swiftwsgi_log = _sys.stderr

def _swiftwsgi_call(name, callbacks, event):
    for callback in list(callbacks):
        try:
            result = callback(name, **event)
        except BaseException:
            import traceback
            _swiftwsgi_log.write('mod_swiftwsgi (pid=%d): Exception occurred within event callback.\\n' % _os.getpid())
            traceback.print_exc(file=_swiftwsgi_log)
        else:
            if isinstance(result, dict):
                event.update(result)

def _swiftwsgi_publish(name, event):
    _swiftwsgi_call(name, event_callbacks, event)
    if name == 'process_stopping':
        _swiftwsgi_call(name, shutdown_callbacks, event)

def _swiftwsgi_usage():
    try:
        import resource
        u = resource.getrusage(resource.RUSAGE_THREAD)
        return u.ru_utime, u.ru_stime
    except Exception:
        return None

def _swiftwsgi_seconds(environ, key):
    try:
        return int(environ.get(key) or 0) / 1000000.0
    except ValueError:
        return 0.0

def _swiftwsgi_int(environ, key):
    try:
        return int(environ.get(key) or 0)
    except ValueError:
        return 0

def _swiftwsgi_request_started(environ, application, thread_id, request_data):
    usage = _swiftwsgi_usage()
    start = _time.time()
    request_id = environ.get('mod_wsgi.request_id')
    event = {'request_id': request_id, 'thread_id': thread_id,
             'daemon_connects': _swiftwsgi_int(environ, 'mod_wsgi.daemon_connects'),
             'daemon_restarts': _swiftwsgi_int(environ, 'mod_wsgi.daemon_restarts'),
             'request_start': _swiftwsgi_seconds(environ, 'mod_wsgi.request_start'),
             'queue_start': _swiftwsgi_seconds(environ, 'mod_wsgi.queue_start'),
             'daemon_start': _swiftwsgi_seconds(environ, 'mod_wsgi.daemon_start'),
             'application_object': application, 'request_environ': environ,
             'application_start': start, 'request_data': request_data}
    _swiftwsgi_publish('request_started', event)
    wrapped = event.get('application_object')
    return (application if wrapped is None else wrapped), (start, usage, request_id)

def _swiftwsgi_response_started(environ, status, headers, exc_info, request_data):
    _swiftwsgi_publish('response_started', {
        'request_id': environ.get('mod_wsgi.request_id'), 'response_status': status,
        'response_headers': headers, 'exception_info': exc_info, 'request_data': request_data})

def _swiftwsgi_request_finished(token, counters, request_data):
    start, usage, request_id = token
    input_reads, input_length, input_time, output_length, output_writes, output_time, status = counters
    finish = _time.time()
    application_time = max(0.0, finish - start)
    event = {'request_id': request_id, 'input_reads': int(input_reads), 'input_length': int(input_length),
             'input_time': input_time, 'output_length': int(output_length), 'output_writes': int(output_writes),
             'output_time': output_time, 'status': int(status), 'application_finish': finish,
             'application_time': application_time, 'request_data': request_data}
    end = _swiftwsgi_usage()
    if usage and end:
        user = max(0.0, end[0] - usage[0])
        system = max(0.0, end[1] - usage[1])
        total = user + system
        if total and total > application_time:
            user = user / total * application_time
            system = application_time - user
        event['cpu_user_time'] = user
        event['cpu_system_time'] = system
    _swiftwsgi_publish('request_finished', event)

def _swiftwsgi_request_exception(environ, type, value, traceback, request_data):
    _swiftwsgi_publish('request_exception', {
        'request_id': environ.get('mod_wsgi.request_id'),
        'exception_info': (type, value, traceback), 'request_data': request_data})

def _swiftwsgi_process_stopping(reason):
    _swiftwsgi_publish('process_stopping', {'shutdown_reason': reason})

def _swiftwsgi_memory():
    import resource
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    try:
        with open('/proc/self/statm') as f:
            current = int(f.read().split()[1]) * _os.sysconf('SC_PAGE_SIZE')
    except (OSError, ValueError, IndexError):
        current = 0
    return peak, current

def process_metrics():
    request_count, busy, request_threads, active, threads, restart_time = _swiftwsgi_process()
    peak, current = _swiftwsgi_memory()
    times = _os.times()
    now = _time.time()
    return {'pid': _os.getpid(), 'request_busy_time': busy, 'request_count': request_count,
            'memory_max_rss': peak, 'memory_rss': current,
            'cpu_user_time': times.user, 'cpu_system_time': times.system,
            'restart_time': restart_time, 'current_time': now, 'running_time': int(now - restart_time),
            'request_threads': request_threads, 'active_requests': active,
            'threads': [{'thread_id': i, 'request_count': n} for i, n in threads]}

_swiftwsgi_sample_start = None

def request_metrics():
    global _swiftwsgi_sample_start
    request_count, busy, request_threads, active, threads, restart_time = _swiftwsgi_process()
    now = _time.time()
    times = _os.times()
    (samples, totals, buckets, thread_buckets) = _swiftwsgi_sample()
    if _swiftwsgi_sample_start is None:
        _swiftwsgi_sample_start = (now, busy, request_count, times.user, times.system)
        return {}
    start, start_busy, start_count, start_user, start_system = _swiftwsgi_sample_start
    _swiftwsgi_sample_start = (now, busy, request_count, times.user, times.system)
    period = now - start
    maximum = max(1, _swiftwsgi_threads_maximum)
    peak, current = _swiftwsgi_memory()
    count = request_count - start_count
    daemon = _swiftwsgi_daemon
    def average(i):
        return totals[i] / samples if samples else 0.0
    return {'pid': _os.getpid(), 'start_time': start, 'stop_time': now, 'sample_period': period,
            'cpu_user_time': (times.user - start_user) / period if period else 0.0,
            'cpu_system_time': (times.system - start_system) / period if period else 0.0,
            'memory_max_rss': peak, 'memory_rss': current,
            'request_threads_maximum': maximum, 'request_threads_started': request_threads,
            'capacity_utilization': (busy - start_busy) / period / maximum if period else 0.0,
            'request_count': count, 'request_throughput': count / period if period else 0.0,
            'server_time_buckets': buckets[0], 'queue_time_buckets': buckets[1],
            'daemon_time_buckets': buckets[2], 'application_time_buckets': buckets[3],
            'request_threads_buckets': thread_buckets,
            'request_threads_active': sum(1 for n in thread_buckets if n),
            'server_time': average(0), 'queue_time': average(1) if daemon else None,
            'daemon_time': average(2) if daemon else None, 'application_time': average(3)}

def server_metrics():
    if not _swiftwsgi_server_metrics:
        return None
    board = _swiftwsgi_scoreboard()
    if board is None:
        return None
    now = _time.time()
    board['current_time'] = now
    board['running_time'] = int(now - board['restart_time'])
    return board
"""
}

/// Builds server_metrics()' dict from the shim's scoreboard callbacks. With the GIL held.
private final class ScoreboardBuilder {
    let processes = PyList_New(0)!
    var workers: PyPointer?

    deinit { Py_DecRef(processes) }

    static func put(_ d: PyPointer, _ key: String, _ value: PyPointer?) {
        guard let value else { PyErr_Clear(); return }
        PyDict_SetItemString(d, key, value)
        Py_DecRef(value)
    }

    static func text(_ s: UnsafePointer<CChar>?) -> PyPointer? {
        guard let s else { return Py.string("") }
        return PyUnicode_DecodeLatin1(s, strlen(s), nil)
    }

    static let process: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<swiftwsgi_scoreboard_process_t>?) -> Void = { context, p in
        guard let context, let p = p?.pointee, let d = PyDict_New(), let workers = PyList_New(0) else { return }
        let b = Unmanaged<ScoreboardBuilder>.fromOpaque(context).takeUnretainedValue()
        put(d, "process_num", PyLong_FromLong(Int(p.process_num)))
        put(d, "pid", PyLong_FromLong(Int(p.pid)))
        put(d, "generation", PyLong_FromLong(Int(p.generation)))
        put(d, "quiescing", Py.bool(p.quiescing != 0))
        PyDict_SetItemString(d, "workers", workers)
        b.workers = workers
        Py_DecRef(workers)  // the process dict keeps it
        PyList_Append(b.processes, d)
        Py_DecRef(d)
    }

    static let worker: @convention(c) (UnsafeMutableRawPointer?, UnsafePointer<swiftwsgi_scoreboard_worker_t>?) -> Void = { context, w in
        guard let context, let w = w?.pointee, let d = PyDict_New() else { return }
        let b = Unmanaged<ScoreboardBuilder>.fromOpaque(context).takeUnretainedValue()
        put(d, "thread_num", PyLong_FromLong(Int(w.thread_num)))
        put(d, "generation", PyLong_FromLong(Int(w.generation)))
        put(d, "status", Py.string(String(UnicodeScalar(UInt8(bitPattern: w.status)))))
        put(d, "access_count", PyLong_FromUnsignedLong(w.access_count))
        put(d, "bytes_served", PyLong_FromUnsignedLongLong(w.bytes_served))
        put(d, "start_time", PyFloat_FromDouble(Double(w.start_time) / 1e6))
        put(d, "stop_time", PyFloat_FromDouble(Double(w.stop_time) / 1e6))
        put(d, "last_used", PyFloat_FromDouble(Double(w.last_used) / 1e6))
        put(d, "client", text(w.client))
        put(d, "request", text(w.request))
        put(d, "vhost", text(w.vhost))
        if let workers = b.workers { PyList_Append(workers, d) }
        Py_DecRef(d)
    }
}

/// The native functions of the mod_wsgi module; self is a capsule holding the Interpreter.
private enum NativeFunctions {
    static func def(_ name: String, _ f: FastMethod) -> UnsafeMutablePointer<PyMethodDef> {
        let d = UnsafeMutablePointer<PyMethodDef>.allocate(capacity: 1)
        d.pointee = PyMethodDef(ml_name: strdup(name), ml_meth: unsafeBitCast(f, to: PyCFunction.self),
                                ml_flags: METH_FASTCALL, ml_doc: nil)
        return d
    }

    static func interpreter(_ capsule: PyPointer?) -> Interpreter? {
        guard let capsule, let p = PyCapsule_GetPointer(capsule, nil) else { PyErr_Clear(); return nil }
        return Unmanaged<Interpreter>.fromOpaque(p).takeUnretainedValue()
    }

    /// request_data(): the running request's scratchpad dict (the one events carry).
    nonisolated(unsafe) static let requestData = def("request_data") { _, _, _ in
        guard let ctx = ThreadStates.existing()?.currentRequest, let d = ctx.requestData() else {
            Py.raise(PyExc_RuntimeError, "no active request for thread")
            return nil
        }
        Py_IncRef(d)
        return d
    }

    /// {request id: request_data()} of the requests this interpreter is running.
    nonisolated(unsafe) static let active = def("_swiftwsgi_active") { capsule, _, _ in
        guard let interpreter = interpreter(capsule), let d = PyDict_New() else { return nil }
        for ctx in interpreter.running {
            guard let environ = ctx.environ, let id = PyDict_GetItemString(environ, "mod_wsgi.request_id"),
                  let data = ctx.requestData() else { continue }
            PyDict_SetItem(d, id, data)
        }
        return d
    }

    /// (request_count, request_busy_time, request_threads, active_requests,
    ///  [(thread_id, request_count)], restart_time); turns busy-time accounting on.
    nonisolated(unsafe) static let process = def("_swiftwsgi_process") { _, _, _ in
        let m = Metrics.shared.processCounters()
        let threads = PyList_New(0)!
        for (id, count) in m.threads {
            if let t = Py.tuple([PyLong_FromLong(id), PyLong_FromLong(count)]) { PyList_Append(threads, t); Py_DecRef(t) }
        }
        return Py.tuple([PyLong_FromLong(m.requests), PyFloat_FromDouble(m.busy), PyLong_FromLong(m.threads.count),
                         PyLong_FromLong(m.active), threads, PyFloat_FromDouble(m.started)])
    }

    /// Apache's scoreboard as mod_wsgi's server_metrics() reports it (without current_time and
    /// running_time, added in Python), or None when this process has none.
    nonisolated(unsafe) static let scoreboard = def("_swiftwsgi_scoreboard") { _, _, _ in
        guard let read = PythonRuntime.shared?.apache.table.scoreboard else { return Py.returnNone() }
        let builder = ScoreboardBuilder()
        var board = swiftwsgi_scoreboard_t()
        let rc = read(&board, ScoreboardBuilder.process, ScoreboardBuilder.worker,
                      Unmanaged.passUnretained(builder).toOpaque())
        guard rc == 0, let d = PyDict_New() else { return Py.returnNone() }
        ScoreboardBuilder.put(d, "server_limit", PyLong_FromLong(Int(board.server_limit)))
        ScoreboardBuilder.put(d, "thread_limit", PyLong_FromLong(Int(board.thread_limit)))
        ScoreboardBuilder.put(d, "running_generation", PyLong_FromLong(Int(board.running_generation)))
        ScoreboardBuilder.put(d, "restart_time", PyFloat_FromDouble(Double(board.restart_time) / 1e6))
        PyDict_SetItemString(d, "processes", builder.processes)
        return d
    }

    /// (samples, [server, queue, daemon, application totals], [4 x 16 buckets],
    ///  per-thread counts) since the last call, which resets them; turns sampling on.
    nonisolated(unsafe) static let sample = def("_swiftwsgi_sample") { _, _, _ in
        let s = Metrics.shared.takeSample()
        func list(_ values: [Int]) -> PyPointer? {
            let l = PyList_New(0)!
            for v in values { if let i = PyLong_FromLong(v) { PyList_Append(l, i); Py_DecRef(i) } }
            return l
        }
        let totals = PyList_New(0)!
        for t in s.totals { if let f = PyFloat_FromDouble(t) { PyList_Append(totals, f); Py_DecRef(f) } }
        let buckets = PyList_New(0)!
        for b in s.buckets { if let l = list(b) { PyList_Append(buckets, l); Py_DecRef(l) } }
        return Py.tuple([PyLong_FromLong(s.count), totals, buckets, list(s.threads)])
    }
}
