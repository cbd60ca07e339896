"""mod_wsgi 6.1's Python API, by name and by behaviour, in embedded and daemon mode.

The probe compares dir(mod_wsgi), dir(apache), the environ's `mod_wsgi.*` (and `apache.*`)
keys and the keys of process_metrics() and request_metrics() with mod_wsgi 6.1.1's, listed
below as mod_wsgi 6.1.1 from PyPI gives them (test_the_lists_are_mod_wsgi_6_1_1s checks that,
against the cached venv test_mod_wsgi_express.py builds). mod_swiftwsgi must give exactly these
names, except the ones in OURS_EXTRA and OURS_MISSING, each with its reason.

The behaviour tests (LogHandler, subscribe_signals, start_recording_metrics, the environ's
instants) describe mod_wsgi 6.1.1 too: they pass against it (SWIFTWSGI_MODULE=its .so)."""

import glob
import http.client
import json
import os
import re
import signal
import time

import pytest

from harness import Apache, DEBIAN_PYTHON, MOD_WSGI_VERSION, OURS, SANITIZED, mod_wsgi_versions, wait_for_file

# Debian's mod_wsgi 4.9 has none of this.
pytestmark = mod_wsgi_versions(minimum=(6, 1))

SINGLE_MPM = True
# One Apache child, so that embedded requests on connections Apache closes (after a 500 or
# 503) still reach the process whose metrics are read (prefork keeps its usual children: one
# would serve one connection at a time).
MPM_SETTINGS = {
    'event': 'StartServers 1\nServerLimit 1\nThreadsPerChild 8\nMaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8',
    'worker': 'StartServers 1\nServerLimit 1\nThreadsPerChild 8\nMaxRequestWorkers 8\nMinSpareThreads 1\nMaxSpareThreads 8',
}

# mod_wsgi 6.1.1's names (the same in embedded and daemon mode).
MOD_WSGI = [
    'FileWrapper', 'LogHandler', 'RequestTimeout', '__doc__', '__loader__', '__name__', '__package__', '__spec__',
    'active_requests', 'application_group', 'event_callbacks', 'maximum_processes', 'process_group',
    'process_metrics', 'request_data', 'request_metrics', 'server_metrics', 'shutdown_callbacks', 'signal_callbacks',
    'start_recording_metrics', 'subscribe_events', 'subscribe_shutdown', 'subscribe_signals', 'threads_per_process',
    'version',
]
APACHE = ['__doc__', '__loader__', '__name__', '__package__', '__spec__', 'build_date', 'description',
          'maximum_processes', 'mpm_name', 'threads_per_process', 'version']
ENVIRON = [
    'apache.version', 'mod_wsgi.application_group', 'mod_wsgi.application_start', 'mod_wsgi.callable_object',
    'mod_wsgi.daemon_start', 'mod_wsgi.handler_script', 'mod_wsgi.listener_host', 'mod_wsgi.listener_port',
    'mod_wsgi.path_info', 'mod_wsgi.process_group', 'mod_wsgi.queue_start', 'mod_wsgi.request_handler',
    'mod_wsgi.request_id', 'mod_wsgi.request_start', 'mod_wsgi.script_name', 'mod_wsgi.server_pid',
    'mod_wsgi.thread_id', 'mod_wsgi.version',
]
PROCESS_METRICS = ['active_requests', 'cpu_system_time', 'cpu_time', 'cpu_user_time', 'current_time',
                   'memory_max_rss', 'memory_rss', 'pid', 'request_busy_time', 'request_count', 'request_threads',
                   'restart_time', 'running_time', 'threads']
PHASES = ['server_time', 'queue_time', 'daemon_time', 'application_time', 'request_time', 'gil_wait_time',
          'input_read_time', 'output_write_time']
REQUEST_METRICS = sorted(
    [p + s for p in PHASES for s in ('', '_buckets', '_min_us', '_max_us')]
    + ['capacity_utilization', 'cpu_system_time', 'cpu_system_utilization', 'cpu_time', 'cpu_user_time',
       'cpu_user_utilization', 'cpu_utilization', 'gil_wait_count', 'input_bytes', 'input_reads', 'memory_max_rss',
       'memory_rss', 'output_bytes', 'output_writes', 'pid', 'request_count', 'request_threads_active',
       'request_threads_buckets', 'request_threads_busy_time', 'request_threads_completed',
       'request_threads_cpu_time', 'request_threads_current_elapsed', 'request_threads_max_duration',
       'request_threads_maximum', 'request_threads_started', 'request_throughput', 'sample_period', 'start_time',
       'status_1xx', 'status_2xx', 'status_3xx', 'status_4xx', 'status_5xx', 'stop_time'])

# What mod_swiftwsgi has beyond mod_wsgi 6.1.1, and why (README's "The mod_wsgi API" says so too).
# mod_wsgi 4.9 and 5 pass these environ keys, and 6.1 dropped them (6.1 carries some as internal
# 'mod_wsgi.x-*' keys it strips): kept, so that applications written for 4.9/5 keep working.
MOD_WSGI_5_ENVIRON = {'mod_wsgi.enable_sendfile', 'mod_wsgi.ignore_activity', 'mod_wsgi.script_reloading',
                      'mod_wsgi.script_start', 'mod_wsgi.thread_requests', 'mod_wsgi.total_requests'}
OURS_EXTRA = {
    'mod_wsgi': {'server_software'},        # our own name and version: mod_swiftwsgi/x.y.z
    'apache': set(),
    'environ': MOD_WSGI_5_ENVIRON | {'mod_swiftwsgi.version'},  # our own version, a tuple
    'environ_daemon': {'mod_wsgi.daemon_connects', 'mod_wsgi.daemon_restarts'},  # mod_wsgi 4.9/5's, as above
    'process_metrics': set(),
    'request_metrics': set(),
}
# What mod_swiftwsgi lacks of mod_wsgi 6.1.1's names, and why.
OURS_MISSING = {}
# Names that may be present or not yet (none now).
OURS_PENDING = {}

PROBE = r'''
import importlib.machinery, json, os
import apache, mod_wsgi

def application(environ, start_response):
    mod_wsgi.start_recording_metrics()
    out = {'mod_wsgi': dir(mod_wsgi), 'apache': dir(apache),
           'environ': sorted(k for k in environ if k.startswith(('mod_wsgi.', 'mod_swiftwsgi.', 'apache.'))),
           'process_metrics': sorted(mod_wsgi.process_metrics() or ()),
           # mod_wsgi 6.1 copies __path__ from pip's mod_wsgi package when that is importable.
           'package': importlib.machinery.PathFinder.find_spec('mod_wsgi') is not None}
    mod_wsgi.request_metrics()
    out['request_metrics'] = sorted(mod_wsgi.request_metrics() or ())
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]
'''

LOGGING = r'''
import logging, os, sys, threading
import mod_wsgi

log = logging.getLogger('probe')
log.setLevel(logging.DEBUG)
handler = mod_wsgi.LogHandler()
handler.setFormatter(logging.Formatter('%(name)s %(levelname)s %(message)s'))
log.addHandler(handler)
log.propagate = False

def application(environ, start_response):
    tag = environ['QUERY_STRING']
    log.debug('debug %s', tag)
    log.info('info %s', tag)
    log.warning('warning %s', tag)
    log.error('error %s\nsecond line %s', tag, tag)
    log.critical('critical %s', tag)
    outside = threading.Thread(target=log.warning, args=('thread %s', tag))
    outside.start()
    outside.join()
    body = ('%s %s %s' % (isinstance(handler, logging.Handler), type(handler).__module__, environ['SCRIPT_FILENAME'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
'''

SIGNALS = r'''
import json, os
import mod_wsgi

STATE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'state')

def record(kind):
    def callback(name, **event):
        with open(os.path.join(STATE, 'signals-%d' % os.getpid()), 'a') as f:
            f.write(json.dumps([kind, name, event.get('signame'), event.get('signum')]) + '\n')
    return callback

returned = mod_wsgi.subscribe_signals(record('signal'))
mod_wsgi.subscribe_events(lambda name, **event: name == 'process_signal' and record('event')(name, **event))

def application(environ, start_response):
    body = json.dumps({'pid': os.getpid(), 'returned': callable(returned),
                       'registered': len(mod_wsgi.signal_callbacks)}).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
'''

SERVICE = r'''
import json, os, time
import mod_wsgi

STATE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'state')

@mod_wsgi.subscribe_signals
def received(name, **event):
    with open(os.path.join(STATE, 'signals-%d' % os.getpid()), 'a') as f:
        f.write(json.dumps(['service', name, event.get('signame'), event.get('signum')]) + '\n')

with open(os.path.join(STATE, 'service-pid'), 'w') as f:
    f.write(str(os.getpid()))
while True:
    time.sleep(0.1)
'''

METRICS = r'''
import json, os
import mod_wsgi

def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/start':
        mod_wsgi.start_recording_metrics()
        mod_wsgi.request_metrics()  # a fresh interval from here
        body = b'started'
    elif path == '/read':
        body = json.dumps({'request': mod_wsgi.request_metrics(), 'process': mod_wsgi.process_metrics(), 'pid': os.getpid()}).encode()
    elif path == '/raise':
        raise ValueError('metrics failure')
    elif path == '/read-body':
        body = environ['wsgi.input'].read()
    else:
        status = path.strip('/')
        headers = [('Content-Type', 'text/plain')] + ([('Location', '/x')] if status.startswith('3') else [])
        start_response(status + ' Status', headers)
        return [b'answer ' + status.encode()]
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
'''

ENVIRON_VALUES = r'''
import json, os, time
def application(environ, start_response):
    keys = ('mod_wsgi.request_start', 'mod_wsgi.queue_start', 'mod_wsgi.daemon_start',
            'mod_wsgi.application_start', 'mod_wsgi.server_pid', 'mod_wsgi.version')
    out = {k: [type(environ[k]).__name__, environ[k]] for k in keys}
    out['now'] = time.time()
    out['pid'] = os.getpid()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]
'''

APPS = {'probe.wsgi': PROBE, 'logging.wsgi': LOGGING, 'signals.wsgi': SIGNALS, 'metrics.wsgi': METRICS,
        'environ.wsgi': ENVIRON_VALUES, 'service.py': SERVICE}

# A PyPI reference runs with its venv as WSGIPythonHome, as `mod_wsgi-express module-config` says.
_REFERENCE_SITE = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.environ.get('SWIFTWSGI_MODULE', '/x/x/x/x/x/x')))))))
REFERENCE_HOME = ('WSGIPythonHome %s\n' % _REFERENCE_SITE
                  if not OURS and os.path.exists(os.path.join(_REFERENCE_SITE, 'pyvenv.cfg')) else '')

CONFIG_BODY = '''
WSGIDaemonProcess api processes=1 threads=4
WSGIDaemonProcess service threads=0
WSGIImportScript {apps}/service.py process-group=service application-group=%{GLOBAL}
WSGIScriptAlias /probe {apps}/probe.wsgi
WSGIScriptAlias /d/probe {apps}/probe.wsgi process-group=api
WSGIScriptAlias /logging {apps}/logging.wsgi
WSGIScriptAlias /d/logging {apps}/logging.wsgi process-group=api
WSGIScriptAlias /signals {apps}/signals.wsgi
WSGIScriptAlias /d/signals {apps}/signals.wsgi process-group=api
WSGIScriptAlias /metrics {apps}/metrics.wsgi
WSGIScriptAlias /d/metrics {apps}/metrics.wsgi process-group=api
WSGIScriptAlias /environ {apps}/environ.wsgi
WSGIScriptAlias /d/environ {apps}/environ.wsgi process-group=api
'''
CONFIG = REFERENCE_HOME + CONFIG_BODY

MODES = ['', '/d']


def get_json(server, path):
    r = server.get(path)
    assert r.status == 200, (r, server.log())
    return json.loads(r.body)


def expected_names(mode, package):
    """mod_wsgi 6.1.1's names for the module under test (ours: with the documented differences)."""
    lists = {'mod_wsgi': set(MOD_WSGI) | ({'__path__'} if package else set()), 'apache': set(APACHE),
             'environ': set(ENVIRON), 'process_metrics': set(PROCESS_METRICS), 'request_metrics': set(REQUEST_METRICS)}
    if OURS:
        for key, names in lists.items():
            names |= OURS_EXTRA[key] | (OURS_EXTRA['environ_daemon'] if key == 'environ' and mode else set())
            names -= OURS_MISSING.get(key, set())
    return lists


@pytest.mark.parametrize('mode', MODES)
def test_names_match_mod_wsgi_6_1_1(server, mode):
    out = get_json(server, mode + '/probe')
    for key, names in expected_names(mode, out['package']).items():
        pending = OURS_PENDING.get(key, set()) if OURS else set()
        got = set(out[key]) - pending
        assert sorted(got) == sorted(names - pending), (key, sorted(got - names), sorted(names - pending - got))


@pytest.mark.skipif(not OURS or SANITIZED or not DEBIAN_PYTHON,
                    reason="checks the lists against mod_wsgi 6.1.1 from PyPI, built for Debian's Python 3.11")
def test_the_lists_are_mod_wsgi_6_1_1s():
    from test_mod_wsgi_express import express
    venv = os.path.dirname(os.path.dirname(express('6')))
    found = glob.glob(os.path.join(venv, 'lib', 'python3.11', 'site-packages', 'mod_wsgi-*-info'))
    if not any(os.path.basename(f).startswith('mod_wsgi-6.1.1.') for f in found):
        pytest.skip('the cached venv holds %s, not mod_wsgi 6.1.1' % found)
    module = glob.glob(os.path.join(venv, 'lib', 'python3.11', 'site-packages', 'mod_wsgi', 'server', 'mod_wsgi-*.so'))[0]
    reference = Apache('WSGIPythonHome %s\n' % venv + CONFIG_BODY, APPS, module=module)
    try:
        reference.start()
        for mode in MODES:
            out = get_json(reference, mode + '/probe')
            assert out['package'] is True
            lists = {'mod_wsgi': set(MOD_WSGI) | {'__path__'}, 'apache': set(APACHE), 'environ': set(ENVIRON),
                     'process_metrics': set(PROCESS_METRICS), 'request_metrics': set(REQUEST_METRICS)}
            for key, names in lists.items():
                assert sorted(out[key]) == sorted(names), (mode, key)
    finally:
        reference.stop()
        reference.cleanup()


@pytest.mark.parametrize('mode', MODES)
def test_log_handler_writes_to_the_error_log_with_the_request(server, mode):
    server.expect_log(r'^(\[script [^\]]*\] )?probe (ERROR|CRITICAL) ', r'^(\[script [^\]]*\] )?second line ')
    tag = 'tag%d' % time.time_ns()
    start = server.log_size()
    r = server.get('%s/logging?%s' % (mode, tag))
    assert r.status == 200
    is_handler, module, script = r.body.decode().split(' ', 2)
    assert is_handler == 'True' and module == 'mod_wsgi'
    assert server.wait_for_entry('thread %s' % tag, start)
    entries = {e['message'].split('] ', 1)[-1] if e['message'].startswith('[script') else e['message']: e
               for e in server.log_entries(start) if tag in e['message']}
    expected = {'probe INFO info %s' % tag: 'info', 'probe WARNING warning %s' % tag: 'warn',
                'probe ERROR error %s' % tag: 'error', 'second line %s' % tag: 'error',
                'probe CRITICAL critical %s' % tag: 'crit', 'probe WARNING thread %s' % tag: 'warn'}
    assert set(entries) == set(expected), sorted(entries)  # no DEBUG: LogLevel info filters it
    for message, level in expected.items():
        e = entries[message]
        assert (e['module'], e['level']) == ('wsgi', level), e
        if 'thread' in message:
            # No request on that thread: a server-level line.
            assert e['client'] is None and '[script' not in e['message'], e
        else:
            assert e['client'] and e['client'].startswith('127.0.0.1:'), e
            assert e['message'] == '[script %s] %s' % (script, message), e


def signal_records(server, pid):
    path = os.path.join(server.state, 'signals-%d' % pid)
    try:
        with open(path) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def test_signal_callbacks_get_sighup_and_sigusr2_in_daemon_mode(server):
    first = get_json(server, '/d/signals')
    pid = first['pid']
    assert first['returned'] is True and first['registered'] == 1
    for signum in (signal.SIGHUP, signal.SIGUSR2):
        os.kill(pid, signum)
        deadline = time.time() + 10
        while len([r for r in signal_records(server, pid) if r[3] == signum]) < 2 and time.time() < deadline:
            time.sleep(0.05)
    time.sleep(0.3)
    records = signal_records(server, pid)
    # Each once to each subscriber (mod_wsgi 6.1.1 calls each one twice per signal: seen from
    # the same thread, interpreter and list).
    if not OURS:
        records = [list(r) for r in sorted(set(map(tuple, records)))]
    assert sorted(records) == sorted([
        ['event', 'process_signal', 'SIGHUP', 1], ['signal', 'process_signal', 'SIGHUP', 1],
        ['event', 'process_signal', 'SIGUSR2', 12], ['signal', 'process_signal', 'SIGUSR2', 12]]), records
    # The process carries on serving.
    assert get_json(server, '/d/signals')['pid'] == pid


@pytest.mark.ours_only
def test_a_service_script_gets_signals_too(server):
    # A threads=0 daemon process (WSGIImportScript service scripts) publishes them as well
    # (mod_wsgi 6.1.1 starts no signal dispatcher there: the callback is registered, never called).
    pid = int(wait_for_file(os.path.join(server.state, 'service-pid')))
    os.kill(pid, signal.SIGHUP)
    deadline = time.time() + 10
    while not signal_records(server, pid) and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    records = {tuple(r) for r in signal_records(server, pid)}
    assert records == {('service', 'process_signal', 'SIGHUP', 1)}, records
    assert server.alive(pid)


def test_subscribe_signals_in_embedded_mode_says_it_is_never_called(server):
    start = server.log_size()
    out = get_json(server, '/signals')
    # The callback is returned (a decorator) but not registered; the log says why.
    assert out['returned'] is True and out['registered'] == 0
    assert server.wait_for_entry(r'subscribe_signals\(\) called outside daemon mode', start)


@pytest.mark.parametrize('mode', MODES)
def test_start_recording_metrics_then_request_metrics_count_statuses(server, mode):
    if not mode and server.mpm == 'prefork':
        pytest.skip("embedded requests on a new connection may reach another of prefork's children")
    server.expect_traceback(r'^ValueError: metrics failure$', r'ValueError exception raised processing WSGI script')
    # One keep-alive connection, so every request reaches the same Apache child (embedded).
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=20)

    def get(path, body=None):
        conn.request('POST' if body else 'GET', mode + '/metrics' + path, body=body)
        r = conn.getresponse()
        return r.status, r.read()

    try:
        assert get('/start') == (200, b'started')
        statuses = [200, 201, 302, 304, 404, 404, 410, 503]
        for status in statuses:
            assert get('/%d' % status)[0] == status
        assert get('/raise')[0] == 500
        assert get('/read-body', b'x' * 1000) == (200, b'x' * 1000)
        status, body = get('/read')
        assert status == 200
        metrics = json.loads(body)
    finally:
        conn.close()
    m, p = metrics['request'], metrics['process']
    # /start (ended after its request_metrics()), the statuses, /raise and /read-body.
    assert (m['status_1xx'], m['status_2xx'], m['status_3xx'], m['status_4xx'], m['status_5xx']) == (0, 4, 2, 3, 2), m
    assert m['request_count'] == 11
    assert m['input_bytes'] >= 1000 and m['input_reads'] >= 1 and m['output_bytes'] > 0 and m['output_writes'] >= 1
    for key in ('cpu_user_utilization', 'cpu_system_utilization', 'cpu_utilization', 'cpu_time', 'capacity_utilization'):
        assert isinstance(m[key], float) and m[key] >= 0, key
    assert abs(m['cpu_utilization'] - m['cpu_user_utilization'] - m['cpu_system_utilization']) < 1e-6
    n = m['request_threads_maximum']
    for key in ('request_threads_completed', 'request_threads_buckets', 'request_threads_busy_time',
                'request_threads_cpu_time', 'request_threads_current_elapsed', 'request_threads_max_duration'):
        assert len(m[key]) == n, key
    assert sum(m['request_threads_completed']) == 11
    assert max(m['request_threads_current_elapsed']) > 0  # /read itself is running
    for phase in ('server_time', 'application_time', 'request_time'):
        assert len(m[phase + '_buckets']) == 65 and sum(m[phase + '_buckets']) == 11, phase
        assert 0 <= m[phase + '_min_us'] <= m[phase + '_max_us'], phase
        assert m[phase] >= 0
    assert sum(m['input_read_time_buckets']) >= 1
    if mode:
        assert sum(m['queue_time_buckets']) == 11 and m['queue_time'] is not None
    else:
        assert m['queue_time'] is None and m['daemon_time'] is None and m['queue_time_min_us'] is None
    assert p['cpu_time'] == pytest.approx(p['cpu_user_time'] + p['cpu_system_time'])


@pytest.mark.parametrize('mode', MODES)
def test_environ_instants_and_server_pid(server, mode):
    e = get_json(server, mode + '/environ')
    for key in ('mod_wsgi.request_start', 'mod_wsgi.queue_start', 'mod_wsgi.daemon_start', 'mod_wsgi.application_start'):
        assert e[key][0] == 'float', key
    request, queue, daemon, application = (e['mod_wsgi.%s_start' % k][1] for k in ('request', 'queue', 'daemon', 'application'))
    assert e['now'] - 60 < request <= application <= e['now']
    if mode:
        assert request <= queue <= daemon <= application
    else:
        assert queue == 0.0 and daemon == 0.0
    # The Apache child that took the request: in daemon mode not the daemon process.
    assert e['mod_wsgi.server_pid'][0] == 'str'
    server_pid = int(e['mod_wsgi.server_pid'][1])
    assert server_pid in server.children()
    assert (server_pid != e['pid']) if mode else (server_pid == e['pid'])
    assert e['mod_wsgi.version'][0] == 'tuple' and tuple(e['mod_wsgi.version'][1]) == (6, 1, 1)
