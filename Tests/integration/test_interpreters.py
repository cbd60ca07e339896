"""Interpreters: %{GLOBAL} is the main interpreter, every other application group its own
sub-interpreter; script modules named like mod_wsgi's; reloading; mod_wsgi/apache modules."""

import hashlib
import json
import os
import time

from harness import OURS

INFO = r'''
import json, sys, threading
import mod_wsgi, apache
try:
    import _xxsubinterpreters as _si
    _interp = _si.get_current()
except Exception:
    _interp = None
counter = [0]
local = threading.local()
def application(environ, start_response):
    counter[0] += 1
    local.count = getattr(local, 'count', 0) + 1
    body = json.dumps({
        'group': mod_wsgi.application_group,
        'environ_group': environ['mod_wsgi.application_group'],
        'process_group': mod_wsgi.process_group,
        'interp': int(_interp) if _interp is not None else None,
        'pid': __import__('os').getpid(),
        'module': __name__,
        'in_sys_modules': __name__ in sys.modules,
        'file': __file__,
        'mtime': globals().get('__mtime__'),
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

APPS = {'info.wsgi': INFO, 'reload.wsgi': INFO}

CONFIG = '''
WSGIScriptAlias /global {apps}/info.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /named {apps}/info.wsgi application-group=tenant-a
WSGIScriptAlias /other {apps}/info.wsgi application-group=tenant-b
WSGIScriptAlias /server {apps}/info.wsgi application-group=%{SERVER}
WSGIScriptAlias /resource {apps}/info.wsgi
WSGIScriptAlias /envgroup {apps}/info.wsgi application-group=%{ENV:TENANT}
WSGIScriptAlias /reload {apps}/reload.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /noreload {apps}/info.wsgi application-group=noreload
SetEnvIf Request_URI "^/envgroup" TENANT=from-env
<Location /noreload>
    WSGIScriptReloading Off
</Location>
'''


def info(server, path):
    r = server.get(path)
    assert r.status == 200, r
    return json.loads(r.body)


def test_groups_name_their_interpreters(server):
    assert info(server, '/global')['group'] == ''
    assert info(server, '/named')['group'] == 'tenant-a'
    assert info(server, '/server')['group'] == '127.0.0.1:%d' % server.port
    assert info(server, '/resource')['group'] == '127.0.0.1:%d|/resource' % server.port
    assert info(server, '/envgroup')['group'] == 'from-env'
    for path in ('/global', '/named', '/resource'):
        i = info(server, path)
        assert i['group'] == i['environ_group']


def test_global_is_main_interpreter_and_groups_are_separate(server):
    ids = {}
    for path in ('/global', '/named', '/other'):
        for _ in range(6):  # several requests, possibly on several threads and children
            i = info(server, path)
            ids.setdefault(path, set()).add((i['pid'], i['interp']))
    assert {interp for pid, interp in ids['/global']} == {0}
    assert all(interp != 0 for pid, interp in ids['/named'] | ids['/other'])
    # Within one process, two groups never share an interpreter.
    assert not (ids['/named'] & ids['/other'])


def test_module_name_is_mod_wsgi_style(server):
    i = info(server, '/global')
    assert i['module'] == '_mod_wsgi_' + hashlib.md5(i['file'].encode()).hexdigest()
    assert i['in_sys_modules']


def test_mod_wsgi_and_apache_modules(server):
    i = info(server, '/global')
    assert i['process_group'] == ''
    assert i['apache_version'][:2] == [2, 4]
    assert i['mpm'] == server.mpm
    assert i['threads'] == (1 if server.mpm == 'prefork' else 10)
    assert i['processes'] >= 1
    assert len(i['mod_wsgi_version']) == 3


def test_script_reloads_when_mtime_changes(server):
    assert info(server, '/reload')['version'] == 1
    path = os.path.join(server.apps, 'reload.wsgi')
    server.write_app('reload.wsgi', INFO.replace('VERSION = 1', 'VERSION = 2'))
    later = time.time() + 5
    os.utime(path, (later, later))
    # Every child must pick the new version up.
    for _ in range(10):
        assert info(server, '/reload')['version'] == 2


def test_no_reload_when_reloading_off(server):
    first = info(server, '/noreload')
    assert first['version'] == 1
    path = os.path.join(server.apps, 'info.wsgi')
    original = open(path).read()
    try:
        server.write_app('info.wsgi', INFO.replace('VERSION = 1', 'VERSION = 3'))
        later = time.time() + 10
        os.utime(path, (later, later))
        # A child that had loaded it keeps the old module.
        seen = {info(server, '/noreload')['version'] for _ in range(10)}
        assert 1 in seen or seen == {3}
    finally:
        server.write_app('info.wsgi', original)
