"""What applications see of mod_wsgi beyond PEP 3333, in embedded and daemon mode: sys.stdout,
sys.stderr and sys.stdin as text streams, the `mod_wsgi` and `apache` modules (events,
request_data, active_requests, metrics), mod_wsgi's extra environ keys and formats, and
mod_wsgi's response rules (status lines, start_response called twice, a missing callable,
HTTPS). Every test also describes Debian's mod_wsgi 4.9."""

import json
import os
import re
import time

import pytest

from harness import MOD_WSGI_VERSION, Apache, OURS

STDIO = r'''
import io, json, sys
def application(environ, start_response):
    out = {}
    for name in ('stdout', 'stderr'):
        s = getattr(sys, name)
        info = {'text': isinstance(s, io.TextIOBase), 'encoding': s.encoding, 'isatty': s.isatty(),
                'line_buffering': s.line_buffering}
        info['buffer_count'] = s.buffer.write(('%s via buffer\n' % name).encode())
        try:
            info['memoryview_count'] = s.buffer.write(memoryview(b'%s memoryview\n' % name.encode()))
        except TypeError:
            info['memoryview_count'] = 'TypeError'  # mod_wsgi takes bytes only
        try:
            s.fileno()
            info['fileno'] = 'no error'
        except OSError as e:
            info['fileno'] = 'OSError'
        s.reconfigure(errors='backslashreplace')
        info['reconfigured'] = s.errors
        s.reconfigure(errors='replace')
        out[name] = info
    print('printed to stdout')
    print('printed to stderr', file=sys.stderr)
    sys.stderr.write('unicode \u00e9 written\n')
    out['stdin_buffer'] = sys.stdin.buffer.read()
    out['stdin_text'] = sys.stdin.read()
    out['stdin'] = sys.stdin.readline()
    out['stdin_readable'] = sys.stdin.readable()
    out['stdin_buffer'] = out['stdin_buffer'].decode()
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
'''

# Fails on its first import (leaving a module it imported behind, half-used), then succeeds.
FAIL_ONCE = r'''
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import fail_once_helper
fail_once_helper.loads += 1
marker = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'state',
                      'fail-once-%s-%d' % (os.path.basename(__file__), os.getpid()))
if not os.path.exists(marker):
    open(marker, 'w').close()
    raise RuntimeError('first import fails')
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('loads=%d name_in_modules=%s' % (fail_once_helper.loads, __name__ in sys.modules)).encode()]
'''

FAIL_ONCE_HELPER = 'loads = 0\n'

API = r'''
import json, sys
import apache, mod_wsgi
def application(environ, start_response):
    out = {'version': mod_wsgi.version, 'process_group': mod_wsgi.process_group,
           'application_group': mod_wsgi.application_group,
           'maximum_processes': mod_wsgi.maximum_processes, 'threads_per_process': mod_wsgi.threads_per_process,
           'file_wrapper_is_type': mod_wsgi.FileWrapper is environ['wsgi.file_wrapper'],
           'callables': sorted(n for n in ('subscribe_events', 'subscribe_shutdown', 'request_data',
                                           'server_metrics', 'process_metrics', 'request_metrics')
                               if callable(getattr(mod_wsgi, n, None))),
           'event_callbacks': type(mod_wsgi.event_callbacks).__name__,
           'shutdown_callbacks': type(mod_wsgi.shutdown_callbacks).__name__,
           'apache': {k: getattr(apache, k, None) for k in ('version', 'mpm_name', 'maximum_processes',
                                                            'threads_per_process', 'description', 'build_date')},
           'server_metrics': mod_wsgi.server_metrics(),
           'environ_version': environ['mod_wsgi.version']}
    data = mod_wsgi.request_data()
    data['mine'] = 1
    out['request_data_same'] = mod_wsgi.request_data() is data
    out['active'] = [k == environ['mod_wsgi.request_id'] for k in mod_wsgi.active_requests]
    out['active_data'] = mod_wsgi.active_requests[environ['mod_wsgi.request_id']].get('mine')
    out['process_metrics'] = sorted(mod_wsgi.process_metrics())
    first = mod_wsgi.request_metrics()
    second = mod_wsgi.request_metrics()
    out['request_metrics'] = [type(first).__name__, sorted(second)]
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
'''

EVENTS = r'''
import json, os
import mod_wsgi
STATE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'state')

def record(name, **event):
    with open(os.path.join(STATE, 'events-%d' % os.getpid()), 'a') as f:
        f.write(json.dumps([name, sorted(event)]) + '\n')
    if name == 'request_started':
        event['request_data']['started'] = True
        app = event['application_object']
        def wrapper(environ, start_response):
            environ['wrapped'] = True
            return app(environ, start_response)
        return {'application_object': wrapper}

def failing(name, **event):
    if name == 'request_finished':
        raise ValueError('callback failure')

assert mod_wsgi.subscribe_events(record) in (record, None)
mod_wsgi.subscribe_events(failing)

def application(environ, start_response):
    if environ.get('PATH_INFO') == '/raise':
        raise KeyError('application failure')
    data = mod_wsgi.request_data()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [json.dumps({'wrapped': environ.get('wrapped', False), 'started': data.get('started')}).encode()]
'''

SHUTDOWN = r'''
import mod_wsgi, os
def first(*args, **event):
    with open(os.environ['SHUTDOWN_FILE'] + '-%d' % os.getpid(), 'a') as f:
        f.write('first:%s:%s\n' % (args[0] if args else '', sorted(event)))
def broken(*args, **event):
    raise RuntimeError('shutdown callback failure')
def second(*args, **event):
    with open(os.environ['SHUTDOWN_FILE'] + '-%d' % os.getpid(), 'a') as f:
        f.write('second\n')
mod_wsgi.subscribe_shutdown(first)
mod_wsgi.subscribe_shutdown(broken)
mod_wsgi.subscribe_shutdown(second)
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
'''

ENVIRON = r'''
import json
def application(environ, start_response):
    keys = ('apache.version', 'mod_wsgi.thread_id', 'mod_wsgi.thread_requests', 'mod_wsgi.total_requests',
            'mod_wsgi.request_start', 'mod_wsgi.queue_start', 'mod_wsgi.daemon_start', 'mod_wsgi.daemon_connects',
            'mod_wsgi.daemon_restarts', 'mod_wsgi.ignore_activity', 'mod_wsgi.request_id', 'mod_wsgi.script_start',
            'wsgi.url_scheme', 'HTTPS', 'mod_wsgi.version', 'PATH')
    out = {k: [type(environ[k]).__name__, environ[k]] for k in keys if k in environ}
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]
'''

RESPONSES = r'''
import sys
def application(environ, start_response):
    path = environ['PATH_INFO']
    if path == '/no-reason':
        start_response('200', [('Content-Type', 'text/plain')])
    elif path == '/empty-reason':
        start_response('200 ', [('Content-Type', 'text/plain')])
    elif path == '/twice':
        start_response('500 Oops', [('X-First', '1')])
        start_response('202 Accepted', [('Content-Type', 'text/plain'), ('X-Second', '1')])
    elif path == '/twice-exc':
        start_response('200 OK', [('X-First', '1')])
        try:
            raise ValueError('x')
        except ValueError:
            start_response('503 Unavailable', [('Content-Type', 'text/plain')], sys.exc_info())
    elif path == '/after-sent':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'sent ')
        try:
            start_response('500 Oops', [])
            return [b'no error']
        except RuntimeError as e:
            return [str(e).encode()]
    elif path == '/unauthorized':
        start_response('401 Unauthorized', [('Content-Type', 'text/plain'), ('WWW-Authenticate', 'Basic realm="app"')])
        return [b'application page']
    elif path == '/exc-not-tuple':
        try:
            start_response('200 OK', [], 'not a tuple')
        except RuntimeError as e:
            start_response('200 OK', [('Content-Type', 'text/plain')])
            return [str(e).encode()]
    return [b'body']
'''

OUTSIDE = r'''
import threading, mod_wsgi
def application(environ, start_response):
    result = []
    def probe():
        try:
            mod_wsgi.request_data()
            result.append(b'no error')
        except RuntimeError as e:
            result.append(str(e).encode())
    t = threading.Thread(target=probe)
    t.start()
    t.join()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return result
'''

NO_CALLABLE = 'def something_else(environ, start_response):\n    pass\n'

APPS = {
    'stdio.wsgi': STDIO, 'fail_once.wsgi': FAIL_ONCE, 'fail_once_daemon.wsgi': FAIL_ONCE,
    'fail_once_helper.py': FAIL_ONCE_HELPER, 'api.wsgi': API,
    'events.wsgi': EVENTS, 'environ.wsgi': ENVIRON, 'responses.wsgi': RESPONSES, 'outside.wsgi': OUTSIDE, 'no_callable.wsgi': NO_CALLABLE,
}

CONFIG = '''
SetEnv STATE_DIR {root}/state
WSGIDaemonProcess api processes=2 threads=4
WSGIScriptAlias /stdio {apps}/stdio.wsgi
WSGIScriptAlias /d/stdio {apps}/stdio.wsgi process-group=api
WSGIScriptAlias /fail-once {apps}/fail_once.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /d/fail-once {apps}/fail_once_daemon.wsgi process-group=api
WSGIScriptAlias /api {apps}/api.wsgi
WSGIScriptAlias /d/api {apps}/api.wsgi process-group=api
WSGIScriptAlias /events {apps}/events.wsgi
WSGIScriptAlias /d/events {apps}/events.wsgi process-group=api
WSGIScriptAlias /environ {apps}/environ.wsgi
WSGIScriptAlias /d/environ {apps}/environ.wsgi process-group=api
WSGIScriptAlias /https {apps}/environ.wsgi
WSGIScriptAlias /responses {apps}/responses.wsgi
WSGIScriptAlias /d/responses {apps}/responses.wsgi process-group=api
WSGIScriptAlias /no-callable {apps}/no_callable.wsgi
WSGIScriptAlias /outside {apps}/outside.wsgi
WSGIScriptAlias /d/no-callable {apps}/no_callable.wsgi process-group=api
<Location /https>
    SetEnv HTTPS on
</Location>
'''

MODES = ['', '/d']

LOG_PREFIX = r'mod_(swift)?wsgi \(pid=\d+[^)]*\): '


def get_json(server, path):
    r = server.get(path)
    assert r.status == 200, (r, server.log())
    return json.loads(r.body)


@pytest.mark.parametrize('mode', MODES)
def test_stdout_and_stderr_are_text_streams_over_the_log(server, mode):
    server.expect_log(r'via buffer$', r'memoryview$', r'^printed to', r'written$')
    start = server.log_size()
    out = get_json(server, mode + '/stdio')
    for name in ('stdout', 'stderr'):
        info = out[name]
        assert info['text'] is True and info['encoding'] == 'utf-8' and info['isatty'] is False
        assert info['line_buffering'] is True
        # io's write() contract: the count (mod_wsgi 4.9 returns None).
        assert info['buffer_count'] == (len('%s via buffer\n' % name) if OURS else None)
        # Mercurial's procutil writes memoryviews; mod_wsgi 4.9 takes only bytes.
        assert info['memoryview_count'] == (len('%s memoryview\n' % name) if OURS else 'TypeError')
        assert info['fileno'] == 'OSError'
        assert info['reconfigured'] == 'backslashreplace'
    for line in ('stdout via buffer', 'stderr via buffer', 'printed to stdout',
                 'printed to stderr', r'unicode \xc3\xa9 written'):
        assert server.wait_for_entry('^%s$' % re.escape(line), start), line


@pytest.mark.parametrize('mode', MODES)
def test_stdin_is_a_stream_at_end_of_file(server, mode):
    # WSGIRestrictStdin is Off by default: Python's own stdin on Apache's /dev/null.
    out = get_json(server, mode + '/stdio')
    assert out['stdin'] == '' and out['stdin_text'] == '' and out['stdin_buffer'] == ''
    assert out['stdin_readable'] is True
    server.expect_log(r'via buffer$', r'memoryview$', r'^printed to', r'written$')


@pytest.mark.parametrize('mode', MODES)
def test_failed_import_is_retried_cleanly(server, mode):
    server.expect_traceback(r'^RuntimeError: first import fails$')
    server.expect_log(LOG_PREFIX + 'Failed to exec Python script file')
    # Each process fails its first import; its next request imports the script afresh (the
    # modules the failed import loaded stay loaded, as in any Python import).
    statuses, bodies = [], set()
    for _ in range(16):
        r = server.get(mode + '/fail-once')
        statuses.append(r.status)
        if r.status == 200:
            bodies.add(r.body)
    assert statuses[0] == 500 and set(statuses) == {200, 500}, statuses
    assert b'loads=2 name_in_modules=True' in bodies, bodies
    assert bodies <= {b'loads=1 name_in_modules=True', b'loads=2 name_in_modules=True'}, bodies


@pytest.mark.parametrize('mode', MODES)
def test_modules_api(server, mode):
    out = get_json(server, mode + '/api')
    assert tuple(out['version']) >= (4, 9) and len(out['version']) == 3
    assert out['environ_version'] == out['version']
    assert out['process_group'] == ('api' if mode else '')
    assert out['file_wrapper_is_type'] is True
    assert out['callables'] == ['process_metrics', 'request_data', 'request_metrics', 'server_metrics',
                                'subscribe_events', 'subscribe_shutdown']
    assert out['event_callbacks'] == 'list' and out['shutdown_callbacks'] == 'list'
    a = out['apache']
    assert len(a['version']) == 3 and a['version'][:2] == [2, 4]
    assert a['mpm_name'] == server.mpm
    assert a['description'].startswith('Apache/2.4') and a['build_date']
    assert a['threads_per_process'] == (1 if server.mpm == 'prefork' else 10)
    if mode:
        assert (out['maximum_processes'], out['threads_per_process']) == (2, 4)
    # WSGIServerMetrics is Off by default (mod_wsgi 4.9/5 report the scoreboard in embedded
    # mode while the directive is unset: its "unset" tests as on).
    if OURS or mode:
        assert out['server_metrics'] is None
    assert out['request_data_same'] is True
    assert out['active'] == [True] and out['active_data'] == 1
    assert {'pid', 'request_count', 'request_busy_time', 'memory_rss', 'memory_max_rss', 'cpu_user_time',
            'cpu_system_time', 'restart_time', 'current_time', 'running_time', 'request_threads',
            'active_requests', 'threads'} <= set(out['process_metrics'])
    assert out['request_metrics'][0] == 'dict'
    assert {'request_count', 'request_throughput', 'capacity_utilization', 'server_time', 'application_time',
            'application_time_buckets', 'request_threads_buckets', 'sample_period'} <= set(out['request_metrics'][1])


def test_request_data_outside_a_request_raises(server):
    # At import time the module is loaded within a request; from another thread there is none.
    r = server.get('/outside')
    assert r.body == b'no active request for thread'


def recorded_events(server):
    events = []
    for name in sorted(os.listdir(server.state)):
        if name.startswith('events-'):
            with open(os.path.join(server.state, name)) as f:
                events.extend(json.loads(line) for line in f)
            os.unlink(os.path.join(server.state, name))
    return events


@pytest.mark.parametrize('mode', MODES)
def test_events(server, mode):
    server.expect_traceback(r'^ValueError: callback failure$', r'^KeyError: .application failure.$')
    server.expect_log(LOG_PREFIX + 'Exception occurred within event callback')
    recorded_events(server)
    r = server.get(mode + '/events/app')
    assert json.loads(r.body) == {'wrapped': True, 'started': True}
    time.sleep(0.2)
    names = [n for n, _ in recorded_events(server)]
    assert names == ['request_started', 'response_started', 'request_finished'], names
    assert server.get(mode + '/events/raise').status == 500
    time.sleep(0.2)
    seen = recorded_events(server)
    assert [n for n, _ in seen] == ['request_started', 'request_exception', 'request_finished'], seen
    payload = dict(seen)
    r = server.get(mode + '/events/app')
    time.sleep(0.2)
    payload.update(dict(recorded_events(server)))
    assert {'request_id', 'thread_id', 'request_start', 'application_object', 'request_environ',
            'application_start', 'request_data', 'daemon_connects', 'daemon_restarts',
            'queue_start', 'daemon_start'} <= set(payload['request_started'])
    assert {'request_id', 'response_status', 'response_headers', 'exception_info',
            'request_data'} <= set(payload['response_started'])
    assert {'request_id', 'application_time', 'application_finish', 'input_reads', 'input_length',
            'input_time', 'output_length', 'output_writes', 'output_time', 'request_data'} <= set(payload['request_finished'])
    assert {'request_id', 'exception_info', 'request_data'} <= set(payload['request_exception'])


@pytest.mark.parametrize('mode', MODES)
def test_environ_keys_and_formats(server, mode):
    e = get_json(server, mode + '/environ')
    assert e['apache.version'][0] == 'tuple'
    for key in ('mod_wsgi.thread_id', 'mod_wsgi.thread_requests', 'mod_wsgi.total_requests'):
        assert e[key][0] == 'int', key
    assert e['mod_wsgi.thread_id'][1] >= (1 if OURS else 0)  # mod_wsgi 4.9 under prefork: 0
    # mod_wsgi 6.1 gives the instants as float seconds; 4.9/5 as strings of microseconds
    # (script_start, which 6.1 dropped, stays so in ours).
    six = OURS or (MOD_WSGI_VERSION or ()) >= (6,)
    instants = ('mod_wsgi.request_start', 'mod_wsgi.queue_start', 'mod_wsgi.daemon_start')
    for key in ('mod_wsgi.request_start',) + (() if six else ('mod_wsgi.script_start',)):
        if six:
            assert e[key][0] == 'float' and e[key][1] > 1e9, key
        else:
            assert e[key][0] == 'str' and e[key][1].isdigit() and len(e[key][1]) == 16, key
    assert e['mod_wsgi.ignore_activity'] == ['str', '0']
    assert e['wsgi.url_scheme'] == ['str', 'http']
    assert 'PATH' not in e  # mod_wsgi leaves Apache's PATH out
    if mode:
        for key in ('mod_wsgi.queue_start', 'mod_wsgi.daemon_start'):
            if six:
                assert e[key][0] == 'float', key
            else:
                assert e[key][0] == 'str' and e[key][1].isdigit() and len(e[key][1]) == 16, key
        assert float(e[instants[0]][1]) <= float(e[instants[1]][1]) <= float(e[instants[2]][1])
        if OURS or not six:
            assert e['mod_wsgi.daemon_connects'] == ['str', '1'] and e['mod_wsgi.daemon_restarts'] == ['str', '0']
    elif six:
        assert e['mod_wsgi.queue_start'] == ['float', 0.0] and e['mod_wsgi.daemon_start'] == ['float', 0.0]
    else:
        assert 'mod_wsgi.queue_start' not in e and 'mod_wsgi.daemon_start' not in e
    # Counters grow: this thread's and the process's.
    later = [get_json(server, mode + '/environ') for _ in range(25)]  # more than the threads
    assert max(x['mod_wsgi.total_requests'][1] for x in later) >= 1
    assert max(x['mod_wsgi.thread_requests'][1] for x in later) >= 1


def test_setenv_https_gives_https_scheme(server):
    e = get_json(server, '/https')
    assert e['wsgi.url_scheme'] == ['str', 'https']
    assert 'HTTPS' not in e


@pytest.mark.parametrize('mode', MODES)
def test_status_line_needs_a_reason_phrase(server, mode):
    server.expect_traceback(r'^ValueError: no space following status code$')
    assert server.get(mode + '/responses/no-reason').status == 500
    r = server.get(mode + '/responses/empty-reason')
    assert r.status == 200 and r.body == b'body'


@pytest.mark.parametrize('mode', MODES)
def test_second_start_response_replaces_the_first(server, mode):
    r = server.get(mode + '/responses/twice')
    assert r.status == 202 and r.header('X-Second') == '1' and r.header('X-First') is None
    r = server.get(mode + '/responses/twice-exc')
    assert r.status == 503 and r.header('X-First') is None
    r = server.get(mode + '/responses/after-sent')
    assert r.status == 200 and r.body == b'sent headers have already been sent'
    r = server.get(mode + '/responses/exc-not-tuple')
    assert r.body == b'exception info must be a tuple'


@pytest.mark.parametrize('mode', MODES)
def test_www_authenticate_reaches_the_client(server, mode):
    r = server.get(mode + '/responses/unauthorized')
    assert r.status == 401 and r.body == b'application page'
    assert r.header('WWW-Authenticate') == 'Basic realm="app"'


@pytest.mark.parametrize('mode', MODES)
def test_missing_callable_answers_404_in_embedded_mode(server, mode):
    server.expect_log(LOG_PREFIX + "Target WSGI script '.*no_callable.wsgi' does not contain WSGI application 'application'")
    assert server.get(mode + '/no-callable').status == (500 if mode else 404)


SHUTDOWN = r'''
import mod_wsgi, os
STATE = os.path.join(os.path.dirname(os.path.dirname(__file__)), 'state')
def note(text):
    with open(os.path.join(STATE, 'shutdown-%d' % os.getpid()), 'a') as f:
        f.write(text + '\n')
@mod_wsgi.subscribe_shutdown
def first(name, **event):
    note('first %s %s' % (name, sorted(event)))
def broken(name, **event):
    raise RuntimeError('shutdown callback failure')
mod_wsgi.subscribe_shutdown(broken)
def everything(name, **event):
    if name == 'process_stopping':
        note('events %s' % name)
mod_wsgi.subscribe_events(everything)
mod_wsgi.subscribe_shutdown(lambda name, **event: note('last'))
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
'''


@pytest.mark.parametrize('daemon', [False, True], ids=['embedded', 'daemon'])
def test_shutdown_callbacks_run_in_order_at_process_stop(daemon):
    config = ('WSGIDaemonProcess stopper processes=1 threads=2\n'
              'WSGIScriptAlias /stop {apps}/shutdown.wsgi process-group=stopper application-group=%{GLOBAL}\n'
              if daemon else 'WSGIScriptAlias /stop {apps}/shutdown.wsgi application-group=%{GLOBAL}\n')
    apache = Apache(config, {'shutdown.wsgi': SHUTDOWN}, mpm='event')
    try:
        apache.start()
        pids = {apache.get('/stop').body.decode() for _ in range(4)}
        apache.stop()
        for pid in pids:
            path = os.path.join(apache.state, 'shutdown-' + pid)
            with open(path) as f:
                lines = f.read().splitlines()
            # subscribe_events callbacks first, then subscribe_shutdown's in order; a failing
            # one is logged and the next still runs.
            assert lines == ['events process_stopping', "first process_stopping ['shutdown_reason']", 'last'], lines
        log = apache.log()
        assert re.search(LOG_PREFIX + 'Exception occurred within event callback', log)
        assert 'RuntimeError: shutdown callback failure' in log
    finally:
        apache.cleanup()


def test_installed_mod_wsgi_package_stays_importable():
    # pip's mod_wsgi (mod_wsgi.server, mod_wsgi.express) stays importable: mod_wsgi 4.9/5 make
    # the package the module; mod_wsgi 6.1 (and ours) keep their own module and copy the
    # package's __path__ to it.
    app = r'''
import json, mod_wsgi
import mod_wsgi.server
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps([mod_wsgi.server.VALUE, list(mod_wsgi.version), callable(mod_wsgi.subscribe_events),
                        getattr(mod_wsgi, '__file__', '').endswith('__init__.py'), list(mod_wsgi.__path__)]).encode()]
'''
    files = {'pkgs/mod_wsgi/__init__.py': 'import pkgutil\n__path__ = pkgutil.extend_path(__path__, __name__)\n',
             'pkgs/mod_wsgi/server/__init__.py': 'VALUE = "server package"\n'}
    apache = Apache('WSGIPythonPath {root}/pkgs\nWSGIScriptAlias /pkg {apps}/pkg.wsgi application-group=%{GLOBAL}\n',
                    {'pkg.wsgi': app}, mpm='event', files=files)
    try:
        apache.start()
        r = apache.get('/pkg')
        assert r.status == 200, apache.log()
        value, version, subscribe, packaged, path = json.loads(r.body)
        assert value == 'server package' and len(version) == 3 and subscribe
        assert path == [os.path.join(apache.root, 'pkgs', 'mod_wsgi')]
        assert packaged is not (OURS or (MOD_WSGI_VERSION or ()) >= (6,))
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


def test_server_metrics_when_enabled():
    app = r'''
import json, mod_wsgi
def application(environ, start_response):
    m = mod_wsgi.server_metrics()
    start_response('200 OK', [('Content-Type', 'application/json')])
    if m is None:
        return [b'null']
    workers = [w for p in m['processes'] for w in p['workers']]
    return [json.dumps({'keys': sorted(m), 'process_keys': sorted(m['processes'][0]),
                        'worker_keys': sorted(workers[0]), 'limits': [m['server_limit'], m['thread_limit']],
                        'busy': sum(1 for w in workers if w['status'] == 'W'),
                        'pids': [p['pid'] for p in m['processes'] if p['pid']]}).encode()]
'''
    config = ('WSGIServerMetrics On\n'
              'WSGIDaemonProcess metrics processes=1 threads=2 server-metrics=On\n'
              'WSGIScriptAlias /m {apps}/m.wsgi\n'
              'WSGIScriptAlias /dm {apps}/m.wsgi process-group=metrics\n')
    apache = Apache(config, {'m.wsgi': app}, mpm='event')
    try:
        apache.start()
        m = json.loads(apache.get('/m').body)
        assert m['keys'] == ['current_time', 'processes', 'restart_time', 'running_generation', 'running_time',
                             'server_limit', 'thread_limit']
        assert m['process_keys'] == ['generation', 'pid', 'process_num', 'quiescing', 'workers']
        assert m['worker_keys'] == ['access_count', 'bytes_served', 'client', 'generation', 'last_used', 'request',
                                    'start_time', 'status', 'stop_time', 'thread_num', 'vhost']
        assert m['limits'][0] == 4 and m['limits'][1] >= 10 and m['busy'] >= 1 and m['pids']  # ServerLimit, ThreadLimit
        # A daemon forked at the first start came before Apache made its scoreboard (as
        # with mod_wsgi, whose daemons are forked at the same point): None or the same dict.
        d = json.loads(apache.get('/dm').body)
        assert d is None or d['keys'] == m['keys'], d
        print('daemon server_metrics:', 'None' if d is None else 'dict')
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


def test_new_relic_agent_is_initialised_and_wraps_the_application():
    # WSGINewRelicConfigFile / WSGINewRelicEnvironment: as mod_wsgi 5, newrelic.agent.initialize()
    # in each interpreter and the application wrapped by its WSGIApplicationWrapper. A stand-in
    # agent on WSGIPythonPath records the calls.
    agent = r'''
calls = []
def initialize(config_file=None, environment=None):
    calls.append([config_file, environment])
def WSGIApplicationWrapper(wrapped, application=None):
    def wrapper(environ, start_response):
        environ['newrelic.wrapped'] = True
        return wrapped(environ, start_response)
    return wrapper
'''
    app = r'''
import json
import newrelic.agent
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps([newrelic.agent.calls, environ.get('newrelic.wrapped', False)]).encode()]
'''
    files = {'pkgs/newrelic/__init__.py': '', 'pkgs/newrelic/agent.py': agent, 'newrelic.ini': '[newrelic]\n'}
    config = ('WSGIPythonPath {root}/pkgs\nWSGINewRelicConfigFile {root}/newrelic.ini\n'
              'WSGINewRelicEnvironment staging\n'
              'WSGIScriptAlias /nr {apps}/nr.wsgi application-group=%{GLOBAL}\n')
    apache = Apache(config, {'nr.wsgi': app}, mpm='event', files=files)
    try:
        apache.start()
        r = apache.get('/nr')
        assert r.status == 200, apache.log()
        calls, wrapped = json.loads(r.body)
        assert calls == [[apache.root + '/newrelic.ini', 'staging']] and wrapped is True
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()
