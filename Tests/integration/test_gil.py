"""Sub-interpreters with their own GIL (WSGIPerInterpreterGIL, PEP 684; Python 3.12+).

Each test runs against two servers that differ only in the directive: `On` (two application
groups, each its own GIL) and `Off` (the process's one GIL). Both have one Apache child (event
MPM) and one daemon process (threads=4), and a 5 s switch interval, so that with a shared GIL a
CPU-bound request keeps the GIL until it returns: overlapping requests prove parallel
interpreters, and with `Off` the same requests provably run one after the other. Timestamps come
from the applications (time.monotonic()), not from speed, so a loaded machine does not decide
the outcome: two runnable threads overlap in wall time even on one free core.
"""

import json
import os
import subprocess
import sys
import sysconfig
import threading
import time

import pytest

from harness import Apache, OURS, PYTHON, mod_wsgi_versions

# mod_wsgi 6 from PyPI built for the same Python runs these too (Debian's 4.9 has no
# per-interpreter GIL); what only mod_swiftwsgi writes is checked for it alone.
pytestmark = mod_wsgi_versions(minimum=(6,))

# A PyPI reference runs with its venv as WSGIPythonHome, as `mod_wsgi-express module-config` says.
_site = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.environ.get('SWIFTWSGI_MODULE', '/x/x/x/x/x/x')))))))
REFERENCE_HOME = ('WSGIPythonHome %s\n' % _site
                  if not OURS and os.path.exists(os.path.join(_site, 'pyvenv.cfg')) else '')


def _python_version():
    out = subprocess.run([PYTHON, '-c', 'import sys; print("%d.%d" % sys.version_info[:2])'],
                         capture_output=True, text=True, check=True).stdout.strip()
    return tuple(int(p) for p in out.split('.'))


if _python_version() < (3, 12):
    pytest.skip('a per-interpreter GIL needs Python 3.12 or later (the module embeds %s)' % PYTHON,
                allow_module_level=True)

SINGLE_MPM = True

ONE_EVENT_CHILD = ('StartServers 1\nServerLimit 1\nThreadsPerChild 8\nMaxRequestWorkers 8\n'
                   'MinSpareThreads 1\nMaxSpareThreads 8')

# The groups of each mode (the interpreters are named after them).
GROUPS = {'on': ('gil-a', 'gil-b'), 'off': ('gil-a', 'gil-b')}

CONFIG = """
WSGISwitchInterval 5
WSGIServerMetrics On
{directive}
WSGIDaemonProcess gild processes=1 threads=4 switch-interval=5 server-metrics=On
WSGIScriptAlias /a {apps}/app.wsgi application-group={a}
WSGIScriptAlias /b {apps}/app.wsgi application-group={b}
WSGIScriptAlias /reload {apps}/reload.wsgi application-group={a}
WSGIScriptAlias /d/a {apps}/app.wsgi process-group=gild application-group={a}
WSGIScriptAlias /d/b {apps}/app.wsgi process-group=gild application-group={b}
WSGIScriptAlias /d/reload {apps}/reload.wsgi process-group=gild application-group={b}
"""

APP = r'''
import hashlib, json, os, sys, threading, time
import mod_wsgi

events = []

@mod_wsgi.subscribe_events
def record(name, **event):
    events.append(name)
    if name == 'request_started':
        event['request_data']['seen_by_subscriber'] = True

def cpu(seconds):
    # Pure Python on the CPU until `seconds` passed: never releases the GIL by itself.
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        n = (n * 31 + 7) % 1000003
    return n

def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/cpu':
        start = time.monotonic()
        cpu(float(environ.get('QUERY_STRING') or 0.4))
        end = time.monotonic()
        body = {'start': start, 'end': end, 'pid': os.getpid(), 'thread': threading.get_ident(),
                'group': mod_wsgi.application_group}
    elif path == '/input':
        data = environ['wsgi.input'].read()
        body = {'length': len(data), 'md5': hashlib.md5(data).hexdigest()}
    elif path == '/file':
        start_response('200 OK', [('Content-Type', 'application/octet-stream')])
        return environ['wsgi.file_wrapper'](open(os.path.join(os.path.dirname(__file__), 'payload.bin'), 'rb'), 65536)
    elif path == '/api':
        data = mod_wsgi.request_data()
        rid = environ['mod_wsgi.request_id']
        body = {'request_data': sorted(data), 'active': rid in mod_wsgi.active_requests,
                'active_data_is_ours': mod_wsgi.active_requests.get(rid) is data,
                'events': list(events[-4:]),
                'metrics_requests': (mod_wsgi.process_metrics() or {}).get('request_count'),
                'group': mod_wsgi.application_group, 'environ_group': environ['mod_wsgi.application_group']}
    elif path == '/ext':
        sys.path.insert(0, environ['GIL_EXT_DIR'])
        try:
            import singlephase
        finally:
            sys.path.remove(environ['GIL_EXT_DIR'])
        body = {'value': singlephase.value()}
    else:
        body = {'group': mod_wsgi.application_group}
    out = json.dumps(body).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(out)))])
    return [out]
'''

RELOAD = '''
import mod_wsgi
VERSION = %d
def application(environ, start_response):
    out = ('%%d %%s' %% (VERSION, mod_wsgi.application_group)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [out]
'''

# A C extension with single-phase initialisation (PyModule_Create, no PEP 489 slots): it cannot
# be imported by an interpreter that has its own GIL.
SINGLE_PHASE = r'''
#include <Python.h>
static PyObject *value(PyObject *self, PyObject *unused) { return PyLong_FromLong(42); }
static PyMethodDef methods[] = {{"value", value, METH_NOARGS, NULL}, {NULL, NULL, 0, NULL}};
static struct PyModuleDef def = {PyModuleDef_HEAD_INIT, "singlephase", NULL, -1, methods};
PyMODINIT_FUNC PyInit_singlephase(void) { return PyModule_Create(&def); }
'''

PAYLOAD = bytes(range(256)) * 4096 + b'tail'


def build_extension(directory):
    """Compiles SINGLE_PHASE with gcc against the headers of the Python the module embeds."""
    info = subprocess.run([PYTHON, '-c', 'import sysconfig; print(sysconfig.get_paths()["include"]); '
                           'print(sysconfig.get_config_var("EXT_SUFFIX"))'],
                          capture_output=True, text=True, check=True).stdout.split()
    include, suffix = info[0], info[1]
    source = os.path.join(directory, 'singlephase.c')
    with open(source, 'w') as f:
        f.write(SINGLE_PHASE)
    target = os.path.join(directory, 'singlephase' + suffix)
    subprocess.run(['gcc', '-shared', '-fPIC', '-O1', '-I' + include, '-o', target, source], check=True)
    os.chmod(target, 0o755)
    return target


@pytest.fixture(scope='module', params=['on', 'off'])
def server(request, mpm):
    mode = request.param
    a, b = GROUPS[mode]
    directive = 'WSGIPerInterpreterGIL On' if mode == 'on' else 'WSGIPerInterpreterGIL Off'
    apache = Apache(REFERENCE_HOME + CONFIG.replace('{directive}', directive).replace('{a}', a).replace('{b}', b),
                    {'app.wsgi': APP, 'reload.wsgi': RELOAD % 1}, mpm='event',
                    mpm_settings=ONE_EVENT_CHILD, files={'apps/payload.bin': PAYLOAD})
    ext = os.path.join(apache.root, 'ext')
    os.makedirs(ext)
    os.chmod(ext, 0o755)
    build_extension(ext)
    with open(apache.conf, 'a') as f:
        f.write('SetEnv GIL_EXT_DIR %s\n' % ext)
    apache.mode = mode
    apache.groups = (a, b)
    apache.start()
    yield apache
    apache.stop()
    tail = apache.log()
    apache.cleanup()
    bad = [line for line in tail.splitlines() if 'still did not exit' in line or 'AH00046' in line]
    assert not bad or not OURS, 'Apache had to kill children at stop:\n' + '\n'.join(bad)


def get_json(server, path, **kw):
    r = server.get(path, **kw)
    assert r.status == 200, (r, server.log()[-3000:])
    return json.loads(r.body)


def concurrent_cpu(server, prefix, seconds=0.4):
    """Requests prefix/a/cpu and prefix/b/cpu at the same time: their two answers."""
    results = [None, None]
    barrier = threading.Barrier(2)

    def run(i, path):
        barrier.wait()
        results[i] = get_json(server, path + '/cpu?%s' % seconds, timeout=60)

    threads = [threading.Thread(target=run, args=(i, prefix + p)) for i, p in enumerate(('/a', '/b'))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def overlap(x, y):
    """Seconds the two [start, end] intervals share, and the shorter one's length."""
    return min(x['end'], y['end']) - max(x['start'], y['start']), min(x['end'] - x['start'], y['end'] - y['start'])


@pytest.mark.parametrize('prefix', ['', '/d'], ids=['embedded', 'daemon'])
def test_cpu_bound_groups_run_in_parallel_only_with_their_own_gil(server, prefix):
    # Warm up: both interpreters exist and have loaded the script before the measurement.
    for group in ('/a', '/b'):
        get_json(server, prefix + group + '/cpu?0.01')
    attempts = []
    for _ in range(5 if server.mode == 'on' else 2):
        x, y = concurrent_cpu(server, prefix)
        assert x['pid'] == y['pid'], 'both requests must run in one process'
        assert x['thread'] != y['thread']
        assert (x['group'], y['group']) == server.groups
        shared, shorter = overlap(x, y)
        attempts.append((round(shared, 3), round(shorter, 3)))
        if server.mode == 'on' and shared > shorter / 2:
            break
        if server.mode == 'off':
            # One GIL, held by a CPU-bound request until it returns (5 s switch interval).
            assert shared <= 0, 'requests overlapped under a shared GIL: %r' % attempts
    if server.mode == 'on':
        assert attempts[-1][0] > attempts[-1][1] / 2, 'no overlap of own-GIL requests in %r' % attempts


@pytest.mark.ours_only  # mod_wsgi 6 words it "Creating ... with own GIL."
def test_creation_log_line_notes_the_own_gil(server):
    get_json(server, '/a/')
    get_json(server, '/d/b/')
    a, b = server.groups
    log = server.log()
    for group in (a, b):
        lines = [l for l in log.splitlines() if "Create interpreter '%s'" % group in l]
        assert lines, log[-3000:]
        for line in lines:
            assert line.endswith(" with its own GIL.") == (server.mode == 'on'), line


@pytest.mark.parametrize('prefix', ['', '/d'], ids=['embedded', 'daemon'])
def test_wsgi_input(server, prefix):
    body = os.urandom(300000)
    r = server.post(prefix + '/b/input', body)
    assert r.status == 200, r
    got = json.loads(r.body)
    import hashlib
    assert got == {'length': len(body), 'md5': hashlib.md5(body).hexdigest()}


@pytest.mark.parametrize('prefix', ['', '/d'], ids=['embedded', 'daemon'])
def test_file_wrapper(server, prefix):
    r = server.get(prefix + '/a/file')
    assert r.status == 200, r
    assert r.body == PAYLOAD


@pytest.mark.parametrize('prefix', ['', '/d'], ids=['embedded', 'daemon'])
def test_mod_wsgi_api(server, prefix):
    first = get_json(server, prefix + '/b/api')
    second = get_json(server, prefix + '/b/api')
    for got in (first, second):
        assert got['request_data'] == ['seen_by_subscriber']
        assert got['active'] and got['active_data_is_ours']
        assert got['group'] == got['environ_group'] == server.groups[1]
    # The subscriber saw the first request run to its end.
    assert second['events'] == ['request_started', 'response_started', 'request_finished', 'request_started']
    if OURS:  # mod_wsgi 6's process_metrics() answers None here
        assert second['metrics_requests'] >= first['metrics_requests'] + 1


@pytest.mark.parametrize('prefix', ['', '/d'], ids=['embedded', 'daemon'])
def test_reload(server, prefix):
    group = server.groups[0] if prefix == '' else server.groups[1]
    r = server.get(prefix + '/reload')
    assert r.status == 200 and r.text == '1 %s' % group, r
    path = os.path.join(server.apps, 'reload.wsgi')
    server.write_app('reload.wsgi', RELOAD % 2)
    later = time.time() + 2
    os.utime(path, (later, later))
    deadline = time.time() + 20
    while True:
        r = server.get(prefix + '/reload')
        assert r.status == 200, r
        if r.text == '2 %s' % group or time.time() > deadline:
            break
        time.sleep(0.2)
    assert r.text == '2 %s' % group
    server.write_app('reload.wsgi', RELOAD % 1)
    os.utime(path, (later + 2, later + 2))


@pytest.mark.ours_only  # mod_wsgi 6 words its traceback lines differently (harness.TRACEBACK)
@pytest.mark.parametrize('prefix', ['', '/d'], ids=['embedded', 'daemon'])
def test_single_phase_extension(server, prefix):
    group = server.groups[0]
    if server.mode == 'off':
        # A shared GIL imports it as always.
        assert get_json(server, prefix + '/a/ext') == {'value': 42}
        return
    r = server.get(prefix + '/a/ext')
    assert r.status == 500, r
    server.expect_traceback(r"^ImportError: module singlephase does not support loading in subinterpreters$")
    if OURS:
        server.expect_log(r"C extension module 'singlephase' cannot be imported in application group '%s'" % group)
        entry = server.wait_for_entry(r"C extension module 'singlephase' cannot be imported")
        assert entry and entry['level'] == 'error', server.log()[-3000:]
        assert 'WSGIPerInterpreterGIL Off' in entry['message'] and '%{GLOBAL}' in entry['message'], entry
    # The process keeps serving, the other group too.
    assert get_json(server, prefix + '/b/')['group'] == server.groups[1]
    assert get_json(server, prefix + '/a/')['group'] == group


def test_many_requests_across_own_gil_interpreters(server):
    """The host's shared state (interpreter table, thread states, metrics, events, logs) under
    requests running in both interpreters at once, embedded and daemon."""
    errors = []

    def run(paths):
        try:
            for _ in range(15):
                for p in paths:
                    r = server.get(p)
                    if r.status != 200:
                        errors.append((p, r.status))
        except Exception as e:  # noqa: BLE001
            errors.append(repr(e))

    sets = [['/a/api', '/b/input'], ['/b/api', '/a/cpu?0.01'], ['/d/a/api', '/d/b/cpu?0.01'], ['/d/b/api', '/d/a/']]
    threads = [threading.Thread(target=run, args=(s,)) for s in sets]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
