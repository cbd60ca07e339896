"""Directives: mod_wsgi syntax accepted, bad values refused by configtest with the directive's
name and the reason, and each directive's effect on a running server."""

import json
import os
import subprocess

import pytest

from harness import Apache, OURS

VENV_CACHE = '/var/cache/swiftwsgi-tests/venv-3.11'

APPS = {
    'hello.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello']
def other(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'other callable']
''',
    'sys.wsgi': '''
import json, sys, os
def application(environ, start_response):
    out = {'prefix': sys.prefix, 'base_prefix': sys.base_prefix, 'path': sys.path,
           'optimize': sys.flags.optimize, 'dont_write_bytecode': sys.dont_write_bytecode,
           'preloaded': 'swiftwsgi_preloaded' in sys.modules, 'eggs': os.environ.get('PYTHON_EGG_CACHE'),
           'warnoptions': sys.warnoptions}
    try:
        sys.stdin.read()
        out['stdin'] = 'readable'
    except OSError as e:
        out['stdin'] = str(e)
    try:
        import signal
        out['signal'] = repr(signal.signal(signal.SIGUSR2, lambda *a: None))
    except Exception as e:
        out['signal'] = type(e).__name__
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]
''',
    'preload.py': '''
import sys, types
sys.modules['swiftwsgi_preloaded'] = types.ModuleType('swiftwsgi_preloaded')
''',
    'handler/page.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [environ['SCRIPT_NAME'].encode() + b' ' + environ['PATH_INFO'].encode()]
''',
    'dir/one.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'one ' + environ['SCRIPT_NAME'].encode() + b' ' + environ['PATH_INFO'].encode()]
''',
    'head.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Method', environ['REQUEST_METHOD'])])
    return [b'x' * 100]
''',
}

CONFIG = '''
WSGIPythonPath {root}/extra
WSGIPythonOptimize 1
WSGIDontWriteBytecode On
WSGIPythonEggs {root}/eggs
WSGIPythonWarnings ignore::DeprecationWarning
WSGIRestrictStdin On
WSGIImportScript {apps}/preload.py process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIScriptAlias /hello {apps}/hello.wsgi
WSGIScriptAlias /other {apps}/hello.wsgi callable-object=other
WSGIScriptAlias /callable-dir {apps}/hello.wsgi
<Location /callable-dir>
    WSGICallableObject other
</Location>
WSGIScriptAlias /sys {apps}/sys.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /scripts/ {apps}/dir/
WSGIScriptAliasMatch ^/match/(\\w+) {apps}/dir/$1.wsgi
WSGIScriptAlias /head-auto {apps}/head.wsgi
WSGIScriptAlias /head-on {apps}/head.wsgi
WSGIScriptAlias /head-off {apps}/head.wsgi
WSGIScriptAlias /head-filtered {apps}/head.wsgi
<Location /head-on>
    WSGIMapHEADToGET On
</Location>
<Location /head-off>
    WSGIMapHEADToGET Off
</Location>
<Location /head-filtered>
    SetOutputFilter DEFLATE
</Location>
Alias /noexec/ {apps}/handler/
Alias /exec/ {apps}/handler/
<Directory {apps}/handler>
    AddHandler wsgi-script .wsgi
</Directory>
<Location /exec/>
    Options +ExecCGI
</Location>
Alias /sethandler/ {apps}/handler/
<Location /sethandler/>
    SetHandler application/x-httpd-wsgi
    Options +ExecCGI
</Location>
'''

FILES = {'extra/extramodule.py': 'VALUE = 42\n'}

SINGLE_MPM = True


def sysinfo(server):
    server.expect_log(r'Callback registration for signal')
    r = server.get('/sys')
    assert r.status == 200, r
    return json.loads(r.body)


def test_callable_object_option_and_directive(server):
    assert server.get('/other').body == b'other callable'
    assert server.get('/callable-dir').body == b'other callable'


def test_python_settings(server):
    i = sysinfo(server)
    assert server.root + '/extra' in i['path']
    assert i['optimize'] == 1
    assert i['dont_write_bytecode'] is True
    assert i['eggs'] == server.root + '/eggs'
    assert 'ignore::DeprecationWarning' in i['warnoptions']


def test_import_script_preloads_in_global(server):
    assert sysinfo(server)['preloaded'] is True


def test_restrict_stdin_and_signal(server):
    server.expect_log(r'Callback registration for signal')
    i = sysinfo(server)
    assert 'restricted' in i['stdin']
    # Worker threads cannot register handlers at all; registration never succeeds.
    assert i['signal'] in ('ValueError',) or 'Handlers' in i['signal'] or i['signal'].startswith('<')


def test_directory_target_and_alias_match(server):
    assert server.get('/scripts/one.wsgi/extra').body == b'one /scripts/one.wsgi /extra'
    assert server.get('/match/one').body == b'one /match/one '
    assert server.get('/scripts/missing.wsgi').status == 404
    server.expect_log(r'Target WSGI script not found')


def test_add_handler_needs_exec_cgi(server):
    server.expect_log(r'Options ExecCGI is off')
    assert server.get('/noexec/page.wsgi').status == 403
    assert server.get('/exec/page.wsgi/p').body == b'/exec/page.wsgi /p'
    assert server.get('/sethandler/page.wsgi').body == b'/sethandler/page.wsgi '


def test_map_head_to_get(server):
    assert server.request('HEAD', '/head-on').header('X-Method') == 'GET'
    assert server.request('HEAD', '/head-off').header('X-Method') == 'HEAD'
    assert server.request('HEAD', '/head-auto').header('X-Method') == 'HEAD'
    assert server.request('HEAD', '/head-filtered').header('X-Method') == 'GET'


# ---- configtest -----------------------------------------------------------------------

BAD = [
    ('WSGIPythonOptimize 3', 'WSGIPythonOptimize'),
    ('WSGIPythonOptimize x', 'WSGIPythonOptimize'),
    ('WSGIPythonHashSeed -4', 'WSGIPythonHashSeed'),
    ('WSGIMapHEADToGET Maybe', 'WSGIMapHEADToGET'),
    ('WSGIScriptReloading Sometimes', 'WSGIScriptReloading'),
    ('WSGIApplicationGroup %{BOGUS}', 'WSGIApplicationGroup'),
    ('WSGIScriptAlias /x /y.wsgi bogus-option=1', 'WSGIScriptAlias'),
    ('WSGIScriptAlias /x /y.wsgi pass-authorization=Perhaps', 'WSGIScriptAlias'),
    ('WSGIScriptAlias nourl /y.wsgi', 'WSGIScriptAlias'),
    ('WSGIScriptAliasMatch ^/(unclosed /y.wsgi', 'WSGIScriptAliasMatch'),
    ('WSGIPythonHome /nonexistent/python/home', 'WSGIPythonHome'),
    ('WSGIDaemonProcess g bogus-option=1', 'WSGIDaemonProcess'),
    ('WSGIDaemonProcess g memory-limit=100', 'memory-limit'),
    ('<Location /x>\nWSGIPythonPath /tmp\n</Location>', 'WSGIPythonPath'),
]


@pytest.mark.ours_only
@pytest.mark.parametrize('line,name', BAD)
def test_bad_values_fail_configtest_with_directive_and_reason(line, name):
    apache = Apache(line)
    try:
        rc, out = apache.configtest()
        assert rc != 0
        assert name in out, out
    finally:
        apache.cleanup()


GOOD = [
    'WSGIPythonHashSeed random', 'WSGIPythonHashSeed 42', 'WSGILazyInitialization On', 'WSGICaseSensitivity Off',
    'WSGIRestrictStdout Off', 'WSGIRestrictSignal Off', 'WSGIDestroyInterpreter Off', 'WSGIEnableSendfile On',
    'WSGIChunkedRequest On', 'WSGIPassAuthorization On', 'WSGIRestrictEmbedded Off', 'WSGISocketPrefix run/wsgi',
    'WSGIApplicationGroup %{ENV:X}', 'WSGIApplicationGroup %{SERVER}', 'WSGIProcessGroup %{GLOBAL}',
    '<IfModule mod_wsgi.c>\nWSGIScriptReloading Off\n</IfModule>',
    '<IfModule wsgi_module>\nWSGIScriptReloading Off\n</IfModule>',
]


@pytest.mark.parametrize('line', GOOD)
def test_valid_values_pass_configtest(line):
    apache = Apache(line)
    try:
        rc, out = apache.configtest()
        assert rc == 0, out
    finally:
        apache.cleanup()


def make_venv(path, python='/usr/bin/python3.11'):
    if not os.path.exists(os.path.join(path, 'pyvenv.cfg')):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([python, '-m', 'venv', '--without-pip', path], check=True)
    return path


def test_python_home_venv_becomes_sys_prefix():
    venv = make_venv(VENV_CACHE)
    apache = Apache('WSGIPythonHome %s\nWSGIScriptAlias /sys {apps}/sys.wsgi' % venv, APPS)
    try:
        apache.start()
        i = json.loads(apache.get('/sys').body)
        assert i['prefix'] == venv
        assert i['base_prefix'] == '/usr'
        apache.expect_log(r'Callback registration for signal')
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


@pytest.mark.ours_only
def test_python_home_of_another_python_version_fails_configtest(tmp_path):
    fake = tmp_path / 'venv312'
    fake.mkdir()
    (fake / 'pyvenv.cfg').write_text('home = /usr/bin\ninclude-system-site-packages = false\nversion = 3.12.1\n')
    apache = Apache('WSGIPythonHome %s' % fake)
    try:
        rc, out = apache.configtest()
        assert rc != 0
        assert 'WSGIPythonHome' in out and '3.12' in out and '3.11' in out
    finally:
        apache.cleanup()
