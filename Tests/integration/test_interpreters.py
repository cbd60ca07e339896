"""Interpreters: %{GLOBAL} is the main interpreter, every other application group its own
sub-interpreter; worker threads keep their thread state; the GIL is released while Apache blocks;
script modules are named like mod_wsgi's and reloaded when their mtime changes; every
interpreter has the `mod_wsgi` and `apache` modules."""

import hashlib
import http.client
import json
import os
import threading
import time

import pytest

INFO = r'''
import json, os, sys, threading
import mod_wsgi, apache
try:
    import _interpreters as _si  # 3.13: get_current() is (id, whence)
    def _interp_id(i):
        return int(i[0])
except ImportError:
    import _xxsubinterpreters as _si  # 3.10 to 3.12: get_current() is an InterpreterID
    def _interp_id(i):
        return int(i)
counter = [0]
local = threading.local()
def application(environ, start_response):
    counter[0] += 1
    local.count = getattr(local, 'count', 0) + 1
    body = json.dumps({
        'group': mod_wsgi.application_group,
        'environ_group': environ['mod_wsgi.application_group'],
        'process_group': mod_wsgi.process_group,
        'interp': _interp_id(_si.get_current()),
        'main': _interp_id(_si.get_current()) == _interp_id(_si.get_main()),
        'shared': getattr(sys, '_swiftwsgi_shared', None),
        'pid': os.getpid(),
        'thread': threading.get_ident(),
        'local_count': local.count,
        'module': __name__,
        'in_sys_modules': sys.modules.get(__name__) is not None and sys.modules[__name__].__dict__ is globals(),
        'file': __file__,
        'apache_version': list(apache.version),
        'mpm': apache.mpm_name,
        'threads': mod_wsgi.threads_per_process,
        'processes': mod_wsgi.maximum_processes,
        'mod_wsgi_version': list(mod_wsgi.version),
        'counter': counter[0],
        'version': VERSION,
    }).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
VERSION = 1
'''

SETTER = r'''
import sys
sys._swiftwsgi_shared = 'set by setter.wsgi'
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'set']
'''

BLOCKER = r'''
import os
def application(environ, start_response):
    state = environ['QUERY_STRING']
    with open(state, 'w') as f:
        f.write(str(os.getpid()))
    if environ['REQUEST_METHOD'] == 'POST':
        data = environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'read %d' % len(data)]
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return (b'b' * 65536 for _ in range(4000))
'''

APPS = {'info.wsgi': INFO, 'reload.wsgi': INFO, 'noreload.wsgi': INFO, 'other.wsgi': INFO,
        'setter.wsgi': SETTER, 'blocker.wsgi': BLOCKER}

CONFIG = '''
WSGIScriptAlias /global {apps}/info.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /named {apps}/info.wsgi application-group=tenant-a
WSGIScriptAlias /other {apps}/info.wsgi application-group=tenant-b
WSGIScriptAlias /server {apps}/info.wsgi application-group=%{SERVER}
WSGIScriptAlias /resource {apps}/info.wsgi
WSGIScriptAlias /resource2 {apps}/info.wsgi
WSGIScriptAlias /envgroup {apps}/info.wsgi application-group=%{ENV:TENANT}
WSGIScriptAlias /directive {apps}/info.wsgi
WSGIScriptAlias /shared-set {apps}/setter.wsgi application-group=shared
WSGIScriptAlias /shared-get {apps}/other.wsgi application-group=shared
WSGIScriptAlias /other-script {apps}/other.wsgi application-group=tenant-a
WSGIScriptAlias /reload {apps}/reload.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /noreload {apps}/noreload.wsgi application-group=noreload
WSGIScriptAlias /blocker {apps}/blocker.wsgi application-group=%{GLOBAL}
SetEnvIf Request_URI "^/envgroup" TENANT=from-env
<Location /directive>
    WSGIApplicationGroup set-by-directive
</Location>
<Location /noreload>
    WSGIScriptReloading Off
</Location>
'''


def info(server, path, **kw):
    r = server.get(path, **kw)
    assert r.status == 200, r
    return json.loads(r.body)


def test_groups_name_their_interpreters(server):
    assert info(server, '/global')['group'] == ''
    assert info(server, '/named')['group'] == 'tenant-a'
    assert info(server, '/server')['group'] == '127.0.0.1:%d' % server.port
    assert info(server, '/resource')['group'] == '127.0.0.1:%d|/resource' % server.port
    assert info(server, '/envgroup')['group'] == 'from-env'
    assert info(server, '/directive')['group'] == 'set-by-directive'
    for path in ('/global', '/named', '/resource', '/directive'):
        i = info(server, path)
        assert i['group'] == i['environ_group']


def test_global_is_main_interpreter_and_groups_are_separate(server):
    seen = {}
    for path in ('/global', '/named', '/other', '/resource', '/resource2'):
        for _ in range(6):  # several requests, possibly on several threads and children
            i = info(server, path)
            seen.setdefault(path, set()).add((i['pid'], i['interp'], i['main']))
    assert {main for pid, interp, main in seen['/global']} == {True}
    for path in ('/named', '/other', '/resource', '/resource2'):
        assert {main for pid, interp, main in seen[path]} == {False}, path
    # Within one process, two groups never share an interpreter, and a group is one
    # interpreter whichever thread serves it.
    by_process = {}
    for path, entries in seen.items():
        for pid, interp, main in entries:
            by_process.setdefault((pid, path), set()).add(interp)
    assert all(len(interps) == 1 for interps in by_process.values()), by_process
    for pid in {pid for pid, _ in by_process}:
        interps = [by_process[(p, path)] for p, path in by_process if p == pid]
        flat = [next(iter(i)) for i in interps]
        assert len(flat) == len(set(flat)), (pid, by_process)


def test_scripts_in_one_group_share_its_interpreter(server):
    # setter.wsgi sets an attribute on sys at import; other.wsgi, in the same group, sees it
    # in every process where the group's interpreter imported setter.wsgi.
    # Both requests go over one keep-alive connection, so they reach the same child (separate
    # connections may land on different children every time on a loaded machine).
    pids_with_setter = set()
    for _ in range(3):
        conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=20)
        try:
            conn.request('GET', '/shared-set')
            r = conn.getresponse()
            assert r.read() == b'set'
            conn.request('GET', '/shared-get')
            r = conn.getresponse()
            assert r.status == 200
            i = json.loads(r.read())
        finally:
            conn.close()
        assert i['shared'] == 'set by setter.wsgi'
        pids_with_setter.add(i['pid'])
    assert pids_with_setter
    assert info(server, '/other-script')['shared'] is None


def test_module_name_is_mod_wsgi_style(server):
    for path in ('/global', '/named'):
        i = info(server, path)
        assert i['module'] == '_mod_wsgi_' + hashlib.md5(i['file'].encode()).hexdigest()
        assert i['file'] == os.path.join(server.apps, 'info.wsgi')
        assert i['in_sys_modules']
    other = info(server, '/other-script')
    assert other['module'] == '_mod_wsgi_' + hashlib.md5(os.path.join(server.apps, 'other.wsgi').encode()).hexdigest()


@pytest.mark.parametrize('path', ['/global', '/named'])
def test_mod_wsgi_and_apache_modules_in_every_interpreter(server, path):
    i = info(server, path)
    assert i['process_group'] == ''
    assert i['apache_version'][:2] == [2, 4]
    assert i['mpm'] == server.mpm
    assert i['threads'] == (1 if server.mpm == 'prefork' else 10)
    # mod_wsgi reports the MPM's highest process slot used so far (AP_MPMQ_MAX_DAEMON_USED).
    assert 1 <= i['processes'] <= (12 if server.mpm == 'prefork' else 4)
    assert len(i['mod_wsgi_version']) == 3


def test_worker_threads_keep_their_thread_state(server):
    # threading.local() survives between requests served by the same Apache thread: the
    # thread state is kept per thread and interpreter, not made per request.
    counts = {}
    for _ in range(40):
        i = info(server, '/named')
        counts.setdefault((i['pid'], i['thread']), []).append(i['local_count'])
    assert max(len(c) for c in counts.values()) >= 2, counts
    for key, c in counts.items():
        assert c == list(range(c[0], c[0] + len(c))), (key, c)


@pytest.mark.threaded_mpm
@pytest.mark.parametrize('blocked_in', ['body-read', 'client-write'])
def test_gil_is_released_while_apache_blocks(server, blocked_in):
    """One request blocks inside Apache (reading a body that does not come, or writing to a
    client that does not read); other requests to the same process and interpreter go on."""
    server.expect_errors(r'(?i)(broken pipe|connection reset|Failed to write|timed out|timeout|'
                         r'Apache/mod_wsgi failed to write response data|client closed)')
    state = os.path.join(server.state, 'blocked-%d' % time.time_ns())
    blocked = server.connect(timeout=30)
    if blocked_in == 'body-read':
        blocked.send(('POST /blocker?%s HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab' % state).encode())
    else:
        blocked.send(('GET /blocker?%s HTTP/1.1\r\nHost: x\r\n\r\n' % state).encode())
        blocked.read_until(b'bbbb')
    try:
        deadline = time.time() + 5
        while not os.path.exists(state) or not open(state).read():
            assert time.time() < deadline
            time.sleep(0.02)
        blocked_pid = int(open(state).read())
        time.sleep(0.5)  # let it block
        same_process = 0
        for _ in range(200):
            started = time.time()
            i = info(server, '/global', timeout=5)
            assert time.time() - started < 3
            if i['pid'] == blocked_pid:
                same_process += 1
                if same_process == 3:
                    break
        assert same_process == 3, 'no request reached the blocked process %d' % blocked_pid
        if blocked_in == 'body-read':
            blocked.send(b'cdefghij')
            blocked.read_until(b'read 10')
    finally:
        blocked.close()


def test_script_reloads_when_mtime_changes(server):
    assert info(server, '/reload')['version'] == 1
    path = os.path.join(server.apps, 'reload.wsgi')
    server.write_app('reload.wsgi', INFO.replace('VERSION = 1', 'VERSION = 2'))
    later = time.time() + 5
    os.utime(path, (later, later))
    # Every child picks the new version up, with fresh module state, under the same name.
    for _ in range(10):
        i = info(server, '/reload')
        assert i['version'] == 2
        assert i['module'] == '_mod_wsgi_' + hashlib.md5(path.encode()).hexdigest()


def test_no_reload_when_reloading_off(server):
    loaded = set()
    for _ in range(20):
        i = info(server, '/noreload')
        assert i['version'] == 1
        loaded.add(i['pid'])
    path = os.path.join(server.apps, 'noreload.wsgi')
    server.write_app('noreload.wsgi', INFO.replace('VERSION = 1', 'VERSION = 3'))
    later = time.time() + 10
    os.utime(path, (later, later))
    # A process that had loaded the script keeps the old module; only new ones load version 3.
    checked = 0
    for _ in range(20):
        i = info(server, '/noreload')
        if i['pid'] in loaded:
            assert i['version'] == 1
            checked += 1
        else:
            assert i['version'] == 3
    assert checked
