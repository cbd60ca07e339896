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
///
/// One per interpreter, and so per GIL: its subscriber lists and helpers are that
/// interpreter's objects, used only with its thread states; `active_requests` reads that
/// interpreter's `running` list. What the functions read across interpreters (Metrics.shared,
/// the scoreboard) holds no Python object and has its own locking. Both modules are plain
/// module objects (PyModule_New), not created from a PyModuleDef, so CPython's
/// multi-interpreter check (Py_mod_multiple_interpreters) does not apply to them; the native
/// functions' PyMethodDefs are process-wide read-only C data, bound to a per-interpreter capsule.
final class ModWSGIModule {
    /// mod_wsgi.event_callbacks and mod_wsgi.shutdown_callbacks.
    let eventCallbacks: PyRef
    let shutdownCallbacks: PyRef
    let requestStarted: PyRef
    let responseStarted: PyRef
    let requestFinished: PyRef
    let requestException: PyRef
    let processStopping: PyRef
    /// mod_wsgi.signal_callbacks and the helper publishing process_signal (daemon processes).
    let signalCallbacks: PyRef
    let processSignal: PyRef
    /// newrelic.agent.WSGIApplicationWrapper when the New Relic agent is configured, else None.
    let newRelicWrapper: PyRef
    /// mod_wsgi.RequestTimeout (mod_wsgi 6.1): this interpreter's class, raised in a daemon
    /// request that outran request-timeout when interrupt-timeout is set (RequestInterrupt.swift).
    let requestTimeout: PyRef

    /// The version of mod_wsgi whose behaviour and API this host implements: what
    /// `mod_wsgi.version` and `environ['mod_wsgi.version']` report, so an application's
    /// `mod_wsgi.version >= (4, x)` checks pass. Our own version is `mod_wsgi.server_software`.
    static let compatibleVersion = (major: 6, minor: 1, micro: 1)
    static var compatibleVersionString: String {
        "\(compatibleVersion.major).\(compatibleVersion.minor).\(compatibleVersion.micro)"
    }

    /// mod_wsgi.RequestTimeout's docstring.
    private static let requestTimeoutDoc = "Raised in a daemon process request that ran longer than the group's "
        + "request-timeout when interrupt-timeout is set. Derives from BaseException so that "
        + "'except Exception:' does not catch it. It may be caught for clean-up, but should be re-raised "
        + "so that the request is answered 504 and the thread returns to the pool."

    /// Whether any event subscriber is registered (one list-size read).
    @inline(__always)
    var subscribed: Bool { swpy_list_size(eventCallbacks.pointer) > 0 }

    /// Creates the modules in the current interpreter.
    init(config: ProcessConfig, applicationGroup name: String, types: HostTypes,
         interpreter: UnsafeMutableRawPointer, _ gil: inout GIL) throws(HostError) {
        guard let modules = PyImport_GetModuleDict() else { throw HostError("the interpreter has no sys.modules") }
        // As mod_wsgi 6.1: the module is always our own; when pip's `mod_wsgi` package (with
        // mod_wsgi.server and mod_wsgi.express) is importable, its __path__ is copied across so
        // its sub-packages stay importable.
        var packagePath: PyRef? = nil
        if let package = PyRef(owningOrNil: PyImport_ImportModule("mod_wsgi")) {
            packagePath = PyRef(owningOrNil: PyObject_GetAttrString(package.pointer, "__path__"))
            PyErr_Clear()
            if name.isEmpty, let ops = PythonRuntime.shared?.apache {
                ops.log(nil, SWIFTWSGI_LOG_INFO, .modWSGIImported, "Imported 'mod_wsgi'.", &gil)
            }
        } else {
            PyErr_Clear()
        }
        guard let owned = PyRef(owningOrNil: PyModule_New("mod_wsgi")) else {
            throw HostError("cannot create the mod_wsgi module")
        }
        PyDict_SetItemString(modules, "mod_wsgi", owned.pointer)
        guard let dict = PyModule_GetDict(owned.pointer) else { throw HostError("the mod_wsgi module has no dict") }
        if let path = packagePath { PyDict_SetItemString(dict, "__path__", path.pointer) }
        // The helpers below run in a namespace of their own, so that dir(mod_wsgi) holds
        // mod_wsgi's names only; the public ones are copied into the module afterwards.
        guard let helpers = PyRef(owningOrNil: PyDict_New()) else { throw HostError("cannot create the mod_wsgi helpers") }
        PyDict_SetItemString(helpers.pointer, "__builtins__", PyEval_GetBuiltins())
        PyDict_SetItemString(helpers.pointer, "__name__", PyDict_GetItemString(dict, "__name__"))
        func set(_ key: String, _ value: consuming PyRef?) {
            guard let value else { PyErr_Clear(); return }
            PyDict_SetItemString(dict, key, value.pointer)
        }
        func helper(_ key: String, _ value: consuming PyRef?) {
            guard let value else { PyErr_Clear(); return }
            PyDict_SetItemString(helpers.pointer, key, value.pointer)
        }
        let v = Self.compatibleVersion
        set("version", Py.tuple(ints: [v.major, v.minor, v.micro], gil))
        set("server_software", Py.string("mod_swiftwsgi/\(PythonRuntime.versionString)", gil))
        set("process_group", Py.string(config.processGroup, gil))
        set("application_group", Py.string(name, gil))
        set("maximum_processes", Py.int(config.maximumProcesses, gil))
        set("threads_per_process", Py.int(config.threadsPerProcess, gil))
        set("FileWrapper", types.fileWrapper.retained())
        // A BaseException, as mod_wsgi 6.1's: `except Exception:` in the application does not
        // swallow it.
        guard let timeoutClass = PyRef(owningOrNil: PyErr_NewExceptionWithDoc(
            "mod_wsgi.RequestTimeout", Self.requestTimeoutDoc, PyExc_BaseException, nil))
        else { throw HostError("cannot create mod_wsgi.RequestTimeout: \(PythonRuntime.currentExceptionText(gil))") }
        PyDict_SetItemString(dict, "RequestTimeout", timeoutClass.pointer)
        requestTimeout = timeoutClass
        helper("_swiftwsgi_threads_maximum", Py.int(config.threadsPerProcess, gil))
        helper("_swiftwsgi_daemon", PyRef(owning: Py.bool(!config.processGroup.isEmpty)))
        helper("_swiftwsgi_server_metrics", PyRef(owning: Py.bool(config.serverMetrics)))
        let capsule = PyRef(owningOrNil: PyCapsule_New(interpreter, nil, nil))
        set("request_data", PyRef(owningOrNil: PyCMethod_New(NativeFunctions.requestData, capsule.pointer, nil, nil)))
        for (key, def) in [("_swiftwsgi_active", NativeFunctions.active), ("_swiftwsgi_process", NativeFunctions.process),
                           ("_swiftwsgi_sample", NativeFunctions.sample), ("_swiftwsgi_scoreboard", NativeFunctions.scoreboard),
                           ("_swiftwsgi_start_recording", NativeFunctions.startRecording),
                           ("_swiftwsgi_log_record", NativeFunctions.logRecord), ("_swiftwsgi_log", NativeFunctions.log)] {
            helper(key, PyRef(owningOrNil: PyCMethod_New(def, capsule.pointer, nil, nil)))
        }

        helper("_swiftwsgi_module", owned.retained())
        guard Py.succeeded(PyRun_StringFlags(Self.source, Py_file_input, helpers.pointer, helpers.pointer, nil), gil) else {
            throw HostError("mod_wsgi module set-up failed: \(PythonRuntime.currentExceptionText(gil))")
        }
        for key in Self.publicNames {
            guard let o = PyDict_GetItemString(helpers.pointer, key) else { throw HostError("mod_wsgi module set-up: no \(key)") }
            PyDict_SetItemString(dict, key, o)
        }
        // LogHandler comes from the module's __getattr__ (PEP 562), made on first use.
        for (key, name) in [("__getattr__", "_swiftwsgi_module_getattr"), ("__dir__", "_swiftwsgi_module_dir")] {
            guard let o = PyDict_GetItemString(helpers.pointer, name) else { throw HostError("mod_wsgi module set-up: no \(name)") }
            PyDict_SetItemString(dict, key, o)
        }
        func get(_ key: String) throws(HostError) -> PyRef {
            guard let o = PyDict_GetItemString(helpers.pointer, key) else { throw HostError("mod_wsgi module set-up: no \(key)") }
            return PyRef(retaining: o)
        }
        eventCallbacks = try get("event_callbacks")
        shutdownCallbacks = try get("shutdown_callbacks")
        requestStarted = try get("_swiftwsgi_request_started")
        responseStarted = try get("_swiftwsgi_response_started")
        requestFinished = try get("_swiftwsgi_request_finished")
        requestException = try get("_swiftwsgi_request_exception")
        processStopping = try get("_swiftwsgi_process_stopping")
        signalCallbacks = try get("signal_callbacks")
        processSignal = try get("_swiftwsgi_process_signal")
        newRelicWrapper = PyRef(retaining: PyDict_GetItemString(helpers.pointer, "_swiftwsgi_newrelic_wrapper") ?? Py.none)

        try Self.installApache(config: config, modules: modules, gil)
    }

    /// The `apache` module: version, mpm_name, maximum_processes, threads_per_process,
    /// description, build_date.
    private static func installApache(config: ProcessConfig, modules: PyPointer, _ gil: borrowing GIL) throws(HostError) {
        guard let module = PyRef(owningOrNil: PyModule_New("apache")) else { throw HostError("cannot create the apache module") }
        func set(_ key: String, _ value: consuming PyRef?) {
            guard let value else { PyErr_Clear(); return }
            PyObject_SetAttrString(module.pointer, key, value.pointer)
        }
        set("version", apacheVersionTuple(config.apacheVersion, gil))
        set("mpm_name", Py.string(config.mpmName, gil))
        set("maximum_processes", Py.int(config.apacheMaximumProcesses, gil))
        set("threads_per_process", Py.int(config.apacheThreadsPerProcess, gil))
        set("description", Py.string(config.apacheDescription, gil))
        set("build_date", Py.string(config.apacheBuildDate, gil))
        PyDict_SetItemString(modules, "apache", module.pointer)
    }

    static func apacheVersionTuple(_ version: String, _ gil: borrowing GIL) -> PyRef? {
        var parts = version.split(separator: ".").map { Int($0.prefix(while: \.isNumber)) ?? 0 }
        while parts.count < 3 { parts.append(0) }
        return Py.tuple(ints: Array(parts.prefix(3)), gil)
    }

    // MARK: events (called only when `subscribed`, with the GIL held)

    /// What request_started hands back: the application to call (a subscriber may wrap it)
    /// and the token request_finished needs.
    struct StartedRequest: ~Copyable {
        let application: PyRef
        let token: PyRef
    }

    /// request_started; nil on an internal failure (logged).
    func publishRequestStarted(environ: PyPointer, application: PyPointer, threadID: Int,
                               requestData: PyPointer, _ gil: inout GIL) -> StartedRequest? {
        guard let tid = Py.int(threadID, gil) else { PyErr_Clear(); return nil }
        var args: [PyPointer?] = [environ, application, tid.pointer, requestData]
        guard let r = PyRef(owningOrNil: args.withUnsafeMutableBufferPointer({
            PyObject_Vectorcall(requestStarted.pointer, $0.baseAddress, 4, nil)
        })) else { logFailure(&gil); return nil }
        guard swpy_tuple_check(r.pointer) != 0, swpy_tuple_size(r.pointer) == 2,
              let application = swpy_tuple_get_item(r.pointer, 0), let token = swpy_tuple_get_item(r.pointer, 1)
        else { return nil }
        return StartedRequest(application: PyRef(retaining: application), token: PyRef(retaining: token))
    }

    func publishResponseStarted(environ: PyPointer, status: PyPointer, headers: PyPointer, excInfo: PyPointer?,
                                requestData: PyPointer, _ gil: inout GIL) {
        var args: [PyPointer?] = [environ, status, headers, excInfo ?? Py.none, requestData]
        if !call(responseStarted.pointer, &args, gil) { logFailure(&gil) }
    }

    func publishRequestFinished(token: PyPointer, counters: [Double], requestData: PyPointer, _ gil: inout GIL) {
        guard let list = Py.list(gil) else { PyErr_Clear(); return }
        for c in counters {
            if let f = PyRef(owningOrNil: PyFloat_FromDouble(c)) { list.append(f, gil) }
        }
        var args: [PyPointer?] = [token, list.pointer, requestData]
        if !call(requestFinished.pointer, &args, gil) { logFailure(&gil) }
    }

    /// request_exception with the current exception, which is left set for the caller to log.
    func publishRequestException(environ: PyPointer, requestData: PyPointer, _ gil: inout GIL) {
        guard let exc = Py.fetchException(gil) else { return }
        var args: [PyPointer?] = [environ, exc.type.pointer, exc.value.pointer ?? Py.none,
                                  exc.traceback.pointer ?? Py.none, requestData]
        if !call(requestException.pointer, &args, gil) { PyErr_Clear() }
        exc.restore(gil)
    }

    /// process_stopping to both subscriber lists, when either has one.
    func publishProcessStopping(reason: String, _ gil: inout GIL) {
        guard subscribed || swpy_list_size(shutdownCallbacks.pointer) > 0, let r = Py.string(reason, gil) else { return }
        var args: [PyPointer?] = [r.pointer]
        if !call(processStopping.pointer, &args, gil) { logFailure(&gil) }
    }

    /// process_signal (a daemon process got SIGHUP or SIGUSR2) to event_callbacks and
    /// signal_callbacks, when either has one.
    func publishProcessSignal(number: Int32, name: String, _ gil: inout GIL) {
        guard subscribed || swpy_list_size(signalCallbacks.pointer) > 0,
              let n = Py.int(Int(number), gil), let s = Py.string(name, gil) else { return }
        var args: [PyPointer?] = [n.pointer, s.pointer]
        if !call(processSignal.pointer, &args, gil) { logFailure(&gil) }
    }

    /// Calls f(*args); false with an exception set when it raised.
    private func call(_ f: PyPointer, _ args: inout [PyPointer?], _ gil: borrowing GIL) -> Bool {
        let n = args.count
        return Py.succeeded(args.withUnsafeMutableBufferPointer({ PyObject_Vectorcall(f, $0.baseAddress, n, nil) }), gil)
    }

    /// The helpers log subscribers' exceptions themselves; anything escaping is a host bug.
    private func logFailure(_ gil: inout GIL) {
        let text = PythonRuntime.currentExceptionText(gil)
        PythonRuntime.shared?.apache.log(nil, SWIFTWSGI_LOG_ERR, .eventPublishFailed,
                                         "publishing an event failed: \(text)", &gil)
    }

    /// The names of the bootstrap source's namespace that are mod_wsgi's API (the rest are
    /// its private helpers); LogHandler is made on first use by the module's __getattr__.
    static let publicNames = [
        "event_callbacks", "shutdown_callbacks", "signal_callbacks", "subscribe_events", "subscribe_shutdown",
        "subscribe_signals", "active_requests", "process_metrics", "request_metrics", "start_recording_metrics",
        "server_metrics",
    ]

    // MARK: the Python side

    static let source = """
import sys as _sys, os as _os, time as _time
import _collections_abc

event_callbacks = []
shutdown_callbacks = []
signal_callbacks = []

def subscribe_events(callback):
    event_callbacks.append(callback)
    return callback

def subscribe_shutdown(callback):
    shutdown_callbacks.append(callback)
    return callback

def subscribe_signals(callback):
    if _swiftwsgi_daemon:
        signal_callbacks.append(callback)
    else:
        # As mod_wsgi 6.1: only daemon processes deliver signals; say so, and where from.
        import traceback
        _swiftwsgi_log('\(LogID.signalsOutsideDaemon.rawValue)', \(SWIFTWSGI_LOG_INFO),
                       'mod_wsgi.subscribe_signals() called outside daemon mode; the callback will not be invoked. '
                       'Signal callbacks are only delivered in daemon mode processes.\\n'
                       + ''.join(traceback.format_stack()[:-1]).rstrip('\\n'))
    return callback

def _swiftwsgi_module_getattr(name):
    # mod_wsgi.__getattr__. LogHandler subclasses logging.Handler: made on first use, so an
    # interpreter that never asks for it does not import logging (with warnings, weakref,
    # string...: about 0.2 MB in every sub-interpreter).
    if name == 'LogHandler':
        import logging

        class LogHandler(logging.Handler):
            '''A logging handler writing to Apache's error log: within a request tagged with it (the
            client, "[script ...]"), else at server level; Python's levels map to Apache's, and
            LogLevel wsgi:LEVEL filters the records.'''
            def emit(self, record):
                level = record.levelno
                level = 2 if level >= 50 else 3 if level >= 40 else 4 if level >= 30 else 6 if level >= 20 else 7
                try:
                    message = self.format(record)
                except Exception:
                    self.handleError(record)
                    return
                _swiftwsgi_log_record(level, message, True)

        LogHandler.__qualname__ = 'LogHandler'
        LogHandler.__module__ = 'mod_wsgi'
        # The import may have let another thread make it first: there is only ever one class.
        return _swiftwsgi_module.__dict__.setdefault('LogHandler', LogHandler)
    raise AttributeError("module 'mod_wsgi' has no attribute %r" % (name,))

def _swiftwsgi_module_dir():
    # mod_wsgi.__dir__: its names, LogHandler among them even before it is made.
    return sorted((set(_swiftwsgi_module.__dict__) | {'LogHandler'}) - {'__getattr__', '__dir__'})

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

def _swiftwsgi_call(name, callbacks, event):
    for callback in list(callbacks):
        try:
            result = callback(name, **event)
        except BaseException:
            import traceback
            _swiftwsgi_log('\(LogID.eventCallbackFailed.rawValue)', \(SWIFTWSGI_LOG_ERR),
                           'Exception occurred within event callback.\\n' + traceback.format_exc().rstrip('\\n'))
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
    value = environ.get(key)
    return value if isinstance(value, float) else 0.0

def _swiftwsgi_int(environ, key):
    try:
        return int(environ.get(key) or 0)
    except ValueError:
        return 0

def _swiftwsgi_request_started(environ, application, thread_id, request_data):
    usage = _swiftwsgi_usage()
    start = _swiftwsgi_seconds(environ, 'mod_wsgi.application_start') or _time.time()
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

def _swiftwsgi_process_signal(signum, signame):
    event = {'signum': signum, 'signame': signame}
    _swiftwsgi_call('process_signal', event_callbacks, event)
    _swiftwsgi_call('process_signal', signal_callbacks, event)

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
            'cpu_user_time': times.user, 'cpu_system_time': times.system, 'cpu_time': times.user + times.system,
            'restart_time': restart_time, 'current_time': now, 'running_time': int(now - restart_time),
            'request_threads': request_threads, 'active_requests': active,
            'threads': [{'thread_id': i, 'request_count': n} for i, n in threads]}

_swiftwsgi_sample_start = None

def start_recording_metrics():
    _swiftwsgi_start_recording()
    if _swiftwsgi_sample_start is None:
        request_metrics()

_swiftwsgi_phases = ('server_time', 'queue_time', 'daemon_time', 'application_time', 'request_time',
                     'gil_wait_time', 'input_read_time', 'output_write_time')

def request_metrics():
    global _swiftwsgi_sample_start
    request_count, busy, request_threads, active, threads, restart_time = _swiftwsgi_process()
    now = _time.time()
    times = _os.times()
    (samples, totals, minimums, maximums, buckets, gil_waits, statuses, io,
     per_thread, elapsed) = _swiftwsgi_sample()
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
    user = (times.user - start_user) / period if period else 0.0
    system = (times.system - start_system) / period if period else 0.0
    def slots(values, zero):
        values = list(values)[:max(maximum, len(values))]
        return values + [zero] * (maximum - len(values))
    completed, busy_times, cpu_times, longest = per_thread
    result = {'pid': _os.getpid(), 'start_time': start, 'stop_time': now, 'sample_period': period,
              'cpu_user_utilization': user, 'cpu_user_time': user,
              'cpu_system_utilization': system, 'cpu_system_time': system,
              'cpu_utilization': user + system, 'cpu_time': user + system,
              'memory_max_rss': peak, 'memory_rss': current,
              'request_threads_maximum': maximum, 'request_threads_started': request_threads,
              'request_threads_active': sum(1 for n, e in zip(slots(completed, 0), slots(elapsed, 0.0)) if n or e),
              'capacity_utilization': (busy - start_busy) / period / maximum if period else 0.0,
              'request_count': count, 'request_throughput': count / period if period else 0.0,
              'status_1xx': statuses[0], 'status_2xx': statuses[1], 'status_3xx': statuses[2],
              'status_4xx': statuses[3], 'status_5xx': statuses[4],
              'input_bytes': io[0], 'input_reads': io[1], 'output_bytes': io[2], 'output_writes': io[3],
              'request_threads_completed': slots(completed, 0), 'request_threads_buckets': slots(completed, 0),
              'request_threads_busy_time': slots(busy_times, 0.0), 'request_threads_cpu_time': slots(cpu_times, 0.0),
              'request_threads_current_elapsed': slots(elapsed, 0.0),
              'request_threads_max_duration': slots(longest, 0.0),
              'gil_wait_count': gil_waits}
    for i, phase in enumerate(_swiftwsgi_phases):
        timed = daemon or phase not in ('queue_time', 'daemon_time')
        result[phase + '_buckets'] = buckets[i]
        result[phase] = (totals[i] / samples if samples else 0.0) if timed else None
        recorded = timed and minimums[i] is not None
        result[phase + '_min_us'] = minimums[i] if recorded else None
        result[phase + '_max_us'] = maximums[i] if recorded else None
    return result

# WSGINewRelicConfigFile / newrelic-config-file= (the shim sets the agent's variables): as
# mod_wsgi 5, the agent is initialised in each interpreter and wraps the application.
_swiftwsgi_newrelic_wrapper = None
if _os.environ.get('NEW_RELIC_CONFIG_FILE'):
    try:
        import newrelic.agent as _swiftwsgi_newrelic
    except ImportError:
        pass
    else:
        try:
            _swiftwsgi_newrelic.initialize(_os.environ['NEW_RELIC_CONFIG_FILE'],
                                           _os.environ.get('NEW_RELIC_ENVIRONMENT') or None)
        except Exception:
            import traceback
            _swiftwsgi_log('\(LogID.newRelicInitFailed.rawValue)', \(SWIFTWSGI_LOG_ERR),
                           "Unable to initialise New Relic agent with config '%s'.\\n%s"
                           % (_os.environ['NEW_RELIC_CONFIG_FILE'], traceback.format_exc().rstrip('\\n')))
        _swiftwsgi_newrelic_wrapper = getattr(_swiftwsgi_newrelic, 'WSGIApplicationWrapper', None)

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

/// server_metrics()' dict from a scoreboard read (ApacheOps.readScoreboard, without the GIL).
private enum ScoreboardDict {
    static func make(_ board: Scoreboard, _ gil: borrowing GIL) -> PyRef? {
        guard let d = Py.dict(gil), let processes = Py.list(gil) else { return nil }
        put(d, "server_limit", Py.int(Int(board.server.server_limit), gil), gil)
        put(d, "thread_limit", Py.int(Int(board.server.thread_limit), gil), gil)
        put(d, "running_generation", Py.int(Int(board.server.running_generation), gil), gil)
        put(d, "restart_time", PyRef(owningOrNil: PyFloat_FromDouble(Double(board.server.restart_time) / 1e6)), gil)
        for process in board.processes {
            guard let p = Py.dict(gil), let workers = Py.list(gil) else { return nil }
            put(p, "process_num", Py.int(Int(process.info.process_num), gil), gil)
            put(p, "pid", Py.int(Int(process.info.pid), gil), gil)
            put(p, "generation", Py.int(Int(process.info.generation), gil), gil)
            put(p, "quiescing", PyRef(owning: Py.bool(process.info.quiescing != 0)), gil)
            for w in process.workers {
                guard let wd = Py.dict(gil) else { return nil }
                put(wd, "thread_num", Py.int(Int(w.thread_num), gil), gil)
                put(wd, "generation", Py.int(Int(w.generation), gil), gil)
                put(wd, "status", Py.string(String(UnicodeScalar(UInt8(bitPattern: w.status))), gil), gil)
                put(wd, "access_count", PyRef(owningOrNil: PyLong_FromUnsignedLong(w.access_count)), gil)
                put(wd, "bytes_served", PyRef(owningOrNil: PyLong_FromUnsignedLongLong(w.bytes_served)), gil)
                put(wd, "start_time", PyRef(owningOrNil: PyFloat_FromDouble(Double(w.start_time) / 1e6)), gil)
                put(wd, "stop_time", PyRef(owningOrNil: PyFloat_FromDouble(Double(w.stop_time) / 1e6)), gil)
                put(wd, "last_used", PyRef(owningOrNil: PyFloat_FromDouble(Double(w.last_used) / 1e6)), gil)
                put(wd, "client", text(w.client, gil), gil)
                put(wd, "request", text(w.request, gil), gil)
                put(wd, "vhost", text(w.vhost, gil), gil)
                workers.append(wd, gil)
            }
            p.setItem("workers", workers, gil)
            processes.append(p, gil)
        }
        d.setItem("processes", processes, gil)
        return d
    }

    private static func put(_ d: borrowing PyRef, _ key: String, _ value: consuming PyRef?, _ gil: borrowing GIL) {
        guard let value else { PyErr_Clear(); return }
        d.setItem(key, value, gil)
    }

    private static func text(_ s: [CChar], _ gil: borrowing GIL) -> PyRef? {
        let decoded = s.withUnsafeBufferPointer { p -> PyPointer? in
            guard let base = p.baseAddress else { return nil }
            return PyUnicode_DecodeLatin1(base, strlen(base), nil)
        }
        return PyRef(owningOrNil: decoded)
    }
}

extension ModWSGIModule {
    /// `_swiftwsgi_log(id, level, text)` for the host's Python code outside the mod_wsgi module.
    static func hostLog(_ gil: borrowing GIL) -> PyRef? {
        PyRef(owningOrNil: PyCMethod_New(NativeFunctions.log, nil, nil, nil))
    }
}

/// The native functions of the mod_wsgi module; self is a capsule holding the Interpreter.
private enum NativeFunctions {
    /// _swiftwsgi_log(id, level, text): the host's messages that its Python code writes (an
    /// event callback's traceback, ...), under their `LogID` and with the running request.
    nonisolated(unsafe) static let log = def("_swiftwsgi_log") { _, args, count in
        var gil = GIL.cpythonCalledUs()
        guard count == 3, let args, let a0 = args[0], let a1 = args[1], let a2 = args[2],
              let name = Py.swiftString(a0, gil), let id = LogID(rawValue: name),
              let text = Py.swiftString(a2, gil)
        else {
            PyErr_Clear()
            Py.raise(PyExc_TypeError, "_swiftwsgi_log(id, level, text): a host log id, a level and a str", gil)
            return nil
        }
        let level = PyLong_AsLong(a1)
        if level == -1, PyErr_Occurred() != nil { return nil }
        if let ops = PythonRuntime.shared?.apache {
            ops.log(ThreadStates.existing()?.currentRequest?.handle, level, id, text, &gil)
        }
        return Py.returnNone()
    }

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
        let gil = GIL.cpythonCalledUs()
        guard let ctx = ThreadStates.existing()?.currentRequest, let d = ctx.requestData(gil) else {
            Py.raise(PyExc_RuntimeError, "no active request for thread", gil)
            return nil
        }
        return PyRef(retaining: d).release()
    }

    /// start_recording_metrics(): turns busy-time and per-request accounting on.
    nonisolated(unsafe) static let startRecording = def("_swiftwsgi_start_recording") { _, _, _ in
        Metrics.shared.startRecording()
        return Py.returnNone()
    }

    /// (level, text, in_request): logs text line by line at Apache's level, tagged with the
    /// running request and "[script <file>]" (as mod_wsgi 6.1's LogHandler) when in_request
    /// and this thread runs one, else at server level.
    nonisolated(unsafe) static let logRecord = def("_swiftwsgi_log_record") { _, args, count in
        var gil = GIL.cpythonCalledUs()
        guard count == 3, let args, let levelObject = args[0], let textObject = args[1], let inRequest = args[2] else {
            Py.raise(PyExc_TypeError, "_swiftwsgi_log_record(level, text, in_request)", gil)
            return nil
        }
        let level = PyLong_AsLong(levelObject)
        guard level != -1 || PyErr_Occurred() == nil, let text = Py.swiftString(textObject, gil) else { return nil }
        var handle: swiftwsgi_request_handle_t? = nil
        var prefix = ""
        if PyObject_IsTrue(inRequest) == 1, let context = ThreadStates.existing()?.currentRequest {
            handle = context.handle
            if let environ = context.environ, let file = PyDict_GetItemString(environ, "SCRIPT_FILENAME"),
               let path = Py.swiftString(file, gil) {
                prefix = "[script \(path)] "
            }
        }
        PyErr_Clear()
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.count > 1, lines.last?.isEmpty == true { lines.removeLast() }
        let message = lines.map { prefix + $0 }.joined(separator: "\n")
        if let ops = PythonRuntime.shared?.apache { ops.log(handle, Int(level), .applicationOutput, message, &gil) }
        return Py.returnNone()
    }

    /// {request id: request_data()} of the requests this interpreter is running.
    nonisolated(unsafe) static let active = def("_swiftwsgi_active") { capsule, _, _ in
        let gil = GIL.cpythonCalledUs()
        guard let interpreter = interpreter(capsule), let d = Py.dict(gil) else { return nil }
        for ctx in interpreter.running {
            guard let environ = ctx.environ, let id = PyDict_GetItemString(environ, "mod_wsgi.request_id"),
                  let data = ctx.requestData(gil) else { continue }
            PyDict_SetItem(d.pointer, id, data)
        }
        return d.release()
    }

    /// (request_count, request_busy_time, request_threads, active_requests,
    ///  [(thread_id, request_count)], restart_time); turns busy-time accounting on.
    nonisolated(unsafe) static let process = def("_swiftwsgi_process") { _, _, _ in
        let gil = GIL.cpythonCalledUs()
        let m = Metrics.shared.processCounters()
        guard let threads = Py.list(gil), let result = Py.tuple(count: 6, gil) else { return nil }
        for (id, count) in m.threads {
            guard let t = Py.tuple(ints: [id, count], gil) else { return nil }
            threads.append(t, gil)
        }
        guard let requests = Py.int(m.requests, gil), let busy = PyRef(owningOrNil: PyFloat_FromDouble(m.busy)),
              let count = Py.int(m.threads.count, gil), let active = Py.int(m.active, gil),
              let started = PyRef(owningOrNil: PyFloat_FromDouble(m.started))
        else { return nil }
        result.setTupleItem(0, requests, gil)
        result.setTupleItem(1, busy, gil)
        result.setTupleItem(2, count, gil)
        result.setTupleItem(3, active, gil)
        result.setTupleItem(4, threads, gil)
        result.setTupleItem(5, started, gil)
        return result.release()
    }

    /// Apache's scoreboard as mod_wsgi's server_metrics() reports it (without current_time and
    /// running_time, added in Python), or None when this process has none.
    nonisolated(unsafe) static let scoreboard = def("_swiftwsgi_scoreboard") { _, _, _ in
        var gil = GIL.cpythonCalledUs()
        guard let ops = PythonRuntime.shared?.apache,
              let board = gil.released({ ops.readScoreboard($0) }),
              let d = ScoreboardDict.make(board, gil)
        else {
            PyErr_Clear()
            return Py.returnNone()
        }
        return d.release()
    }

    /// (samples, totals, minimums, maximums, buckets, gil_wait_count, statuses, io,
    ///  (per-thread completed, busy, cpu, longest), per-thread running elapsed) since the last
    /// call, which resets them; per phase (Metrics.Phase order) the totals are seconds, the
    /// minimums and maximums microseconds (None when none was recorded). Turns recording on.
    nonisolated(unsafe) static let sample = def("_swiftwsgi_sample") { _, _, _ in
        let gil = GIL.cpythonCalledUs()
        let (s, elapsed) = Metrics.shared.takeSample()
        func ints(_ values: [Int], noneAt none: Int? = nil) -> PyRef? {
            guard let l = Py.list(gil) else { return nil }
            for v in values {
                if let none, v == none { l.append(PyRef(retaining: Py.none), gil); continue }
                guard let i = Py.int(v, gil) else { return nil }
                l.append(i, gil)
            }
            return l
        }
        func floats(_ values: [Double]) -> PyRef? {
            guard let l = Py.list(gil) else { return nil }
            for v in values {
                guard let f = PyRef(owningOrNil: PyFloat_FromDouble(v)) else { return nil }
                l.append(f, gil)
            }
            return l
        }
        guard let buckets = Py.list(gil) else { return nil }
        for b in s.buckets {
            guard let l = ints(b) else { return nil }
            buckets.append(l, gil)
        }
        guard let count = Py.int(s.count, gil), let totals = floats(s.totals),
              let minimums = ints(s.minimums, noneAt: .max), let maximums = ints(zip(s.maximums, s.minimums).map { $1 == .max ? -1 : $0 }, noneAt: -1),
              let gilWaits = Py.int(s.gilWaits, gil), let statuses = ints(s.statuses), let io = ints(s.io),
              let completed = ints(s.threads), let busy = floats(s.threadBusy), let cpu = floats(s.threadCPU),
              let longest = floats(s.threadLongest), let running = floats(elapsed),
              let perThread = Py.tuple(count: 4, gil), let result = Py.tuple(count: 10, gil)
        else { return nil }
        perThread.setTupleItem(0, completed, gil)
        perThread.setTupleItem(1, busy, gil)
        perThread.setTupleItem(2, cpu, gil)
        perThread.setTupleItem(3, longest, gil)
        result.setTupleItem(0, count, gil)
        result.setTupleItem(1, totals, gil)
        result.setTupleItem(2, minimums, gil)
        result.setTupleItem(3, maximums, gil)
        result.setTupleItem(4, buckets, gil)
        result.setTupleItem(5, gilWaits, gil)
        result.setTupleItem(6, statuses, gil)
        result.setTupleItem(7, io, gil)
        result.setTupleItem(8, perThread, gil)
        result.setTupleItem(9, running, gil)
        return result.release()
    }
}
