"""Directives: mod_wsgi's syntax and contexts accepted, bad values refused by configtest (naming
the directive and the reason, for mod_swiftwsgi), and each directive's effect on a running server."""

import json
import os
import subprocess

import pytest

from harness import Apache, OURS, PYTHON, PYTHON_PREFIX, PYTHON_VERSION, configtest, parse_log_line

VENV_CACHE = '/var/cache/swiftwsgi-tests/venv-' + PYTHON_VERSION
# A Python version other than the embedded one, for the mismatch checks.
OTHER_VERSION = '3.12' if PYTHON_VERSION != '3.12' else '3.11'

SYS_APP = '''
import json, os, signal, sys
def application(environ, start_response):
    out = {'prefix': sys.prefix, 'base_prefix': sys.base_prefix, 'path': sys.path,
           'optimize': sys.flags.optimize, 'debug': __debug__, 'dont_write_bytecode': sys.dont_write_bytecode,
           'hash': hash('swiftwsgi'), 'hash_randomization': sys.flags.hash_randomization,
           'preloaded': 'swiftwsgi_preloaded' in sys.modules, 'eggs': os.environ.get('PYTHON_EGG_CACHE'),
           'warnoptions': sys.warnoptions, 'enable_sendfile': environ['mod_wsgi.enable_sendfile'],
           'version': '%d.%d' % sys.version_info[:2], 'executable': sys.executable}
    for name in ('extramodule', 'extra2module', 'pthmodule'):
        try:
            out[name] = __import__(name).VALUE
        except ImportError as e:
            out[name] = str(e)
    try:
        sys.stdin.read()
        out['stdin'] = 'readable'
    except OSError as e:
        out['stdin'] = str(e)
    try:
        print('to stdout')
        out['stdout'] = 'writable'
    except OSError as e:
        out['stdout'] = str(e)
    def handler(*args):
        pass
    try:
        signal.signal(signal.SIGUSR2, handler)
        out['signal_installed'] = signal.getsignal(signal.SIGUSR2) is handler
    except ValueError as e:
        out['signal_installed'] = 'ValueError: %s' % e
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]
'''

APPS = {
    'hello.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello']
def other(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'other callable']
''',
    'sys.wsgi': SYS_APP,
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
WSGIPythonPath {root}/extra:{root}/extra2
WSGIPythonOptimize 1
WSGIPythonHashSeed 0
WSGIDontWriteBytecode On
WSGIPythonEggs {root}/eggs
WSGIPythonWarnings ignore::DeprecationWarning
WSGIRestrictStdin On
WSGIRestrictStdout On
WSGIRestrictSignal On
WSGIImportScript {apps}/preload.py process-group=%{GLOBAL} application-group=%{GLOBAL}
WSGIScriptAlias /hello {apps}/hello.wsgi
WSGIScriptAlias /other {apps}/hello.wsgi callable-object=other
WSGIScriptAlias /callable-dir {apps}/hello.wsgi
<Location /callable-dir>
    WSGICallableObject other
</Location>
WSGIScriptAlias /sys {apps}/sys.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /sendfile {apps}/sys.wsgi application-group=%{GLOBAL}
<Location /sendfile>
    WSGIEnableSendfile On
</Location>
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
Alias /sethandler-noexec/ {apps}/handler/
<Location /sethandler-noexec/>
    SetHandler wsgi-script
</Location>
'''

FILES = {
    'extra/extramodule.py': 'VALUE = 42\n',
    'extra2/extra2module.py': 'VALUE = 43\n',
    'pth-target/pthmodule.py': 'VALUE = 44\n',
}

SINGLE_MPM = True

SIGNAL_IGNORED = r'Callback registration for signal 12 ignored'


def setup_server(apache):
    # WSGIPythonPath directories are added with site.addsitedir(): their .pth files count.
    with open(os.path.join(apache.root, 'extra', 'swiftwsgi-test.pth'), 'w') as f:
        f.write(os.path.join(apache.root, 'pth-target') + '\n')


def sysinfo(server, path='/sys'):
    server.expect_errors(SIGNAL_IGNORED)
    r = server.get(path)
    assert r.status == 200, r
    return json.loads(r.body)


def test_callable_object_option_and_directive(server):
    assert server.get('/hello').body == b'hello'
    assert server.get('/other').body == b'other callable'
    assert server.get('/callable-dir').body == b'other callable'


def test_python_path_with_site_dir_semantics(server):
    i = sysinfo(server)
    assert server.root + '/extra' in i['path'] and server.root + '/extra2' in i['path']
    assert server.root + '/pth-target' in i['path']
    assert (i['extramodule'], i['extra2module'], i['pthmodule']) == (42, 43, 44)


def test_python_settings(server):
    i = sysinfo(server)
    assert i['optimize'] == 1 and i['debug'] is False
    assert i['dont_write_bytecode'] is True
    assert i['eggs'] == server.root + '/eggs'
    assert 'ignore::DeprecationWarning' in i['warnoptions']


def test_python_hash_seed(server):
    expected = subprocess.run([PYTHON, '-c', 'print(hash("swiftwsgi"))'], env={'PYTHONHASHSEED': '0'},
                              capture_output=True, text=True, check=True).stdout.strip()
    i = sysinfo(server)
    assert i['hash_randomization'] == 0
    assert i['hash'] == int(expected)


def test_import_script_preloads_in_global(server):
    assert sysinfo(server)['preloaded'] is True


def test_restrict_stdin_stdout_and_signal(server):
    start = server.log_size()
    i = sysinfo(server)
    assert 'restricted' in i['stdin'] and 'sys.stdin' in i['stdin']
    assert 'restricted' in i['stdout'] and 'sys.stdout' in i['stdout']
    assert i['signal_installed'] is False or i['signal_installed'].startswith('ValueError')
    if i['signal_installed'] is False:
        assert server.wait_for_log(SIGNAL_IGNORED, start)


def test_enable_sendfile_is_reported_in_environ(server):
    assert sysinfo(server, '/sendfile')['enable_sendfile'] == '1'
    assert sysinfo(server)['enable_sendfile'] == '0'


def test_directory_target_and_alias_match(server):
    assert server.get('/scripts/one.wsgi/extra').body == b'one /scripts/one.wsgi /extra'
    assert server.get('/match/one').body == b'one /match/one '
    server.expect_errors(r'Target WSGI script not found or unable to stat: .*/dir/missing.wsgi')
    assert server.get('/scripts/missing.wsgi').status == 404


def test_handlers_need_exec_cgi(server):
    server.expect_errors(r'Options ExecCGI is off in this directory: .*/handler/page.wsgi')
    assert server.get('/noexec/page.wsgi').status == 403
    assert server.get('/sethandler-noexec/page.wsgi').status == 403
    assert server.get('/exec/page.wsgi/p').body == b'/exec/page.wsgi /p'
    assert server.get('/sethandler/page.wsgi').body == b'/sethandler/page.wsgi '


def test_map_head_to_get(server):
    assert server.request('HEAD', '/head-on').header('X-Method') == 'GET'
    assert server.request('HEAD', '/head-off').header('X-Method') == 'HEAD'
    assert server.request('HEAD', '/head-auto').header('X-Method') == 'HEAD'
    for path in ('/head-on', '/head-off', '/head-auto'):
        assert server.request('HEAD', path).body == b''


@pytest.mark.ours_only
def test_map_head_to_get_auto_with_an_output_filter(server):
    # The documented Auto behaviour: HEAD becomes GET when a content filter (here DEFLATE)
    # needs the whole body; Debian's mod_wsgi 4.9.4 passes HEAD through all the same.
    r = server.request('HEAD', '/head-filtered')
    assert r.header('X-Method') == 'GET' and r.body == b''


# ---- configtest -----------------------------------------------------------------------

FLAGS = ['WSGIPassAuthorization', 'WSGIChunkedRequest', 'WSGIScriptReloading', 'WSGIRestrictStdin',
         'WSGIRestrictStdout', 'WSGIRestrictSignal', 'WSGIDestroyInterpreter', 'WSGIEnableSendfile',
         'WSGILazyInitialization', 'WSGICaseSensitivity', 'WSGIDontWriteBytecode']

# (configuration, directive named in the error, what the error must say); mod_wsgi refuses
# all of these too.
BAD = [
    ('WSGIPythonHashSeed -4', 'WSGIPythonHashSeed', '-4'),
    ('WSGIPythonHashSeed abc', 'WSGIPythonHashSeed', 'abc'),
    ('WSGIPythonHashSeed 1 2', 'WSGIPythonHashSeed', 'one argument'),
    ('WSGIPythonOptimize 1 2', 'WSGIPythonOptimize', 'one argument'),
    ('WSGIMapHEADToGET Maybe', 'WSGIMapHEADToGET', 'Auto'),
    ('WSGIMapHEADToGET On extra', 'WSGIMapHEADToGET', 'one argument'),
    ('WSGICallableObject', 'WSGICallableObject', 'one argument'),
    ('WSGICallableObject a b', 'WSGICallableObject', 'one argument'),
    ('WSGIApplicationGroup a b', 'WSGIApplicationGroup', 'one argument'),
    ('WSGIPythonHome', 'WSGIPythonHome', 'argument'),
    ('WSGIPythonPath', 'WSGIPythonPath', 'argument'),
    ('WSGIPythonEggs', 'WSGIPythonEggs', 'argument'),
    ('WSGIScriptAlias /x', 'WSGIScriptAlias', ''),
    ('WSGIScriptAlias /x /y.wsgi bogus-option=1', 'WSGIScriptAlias', 'bogus-option'),
    ('WSGIScriptAlias /x /y.wsgi pass-authorization=Perhaps', 'WSGIScriptAlias', 'Perhaps'),
    ('WSGIScriptAlias /x /y.wsgi application-group=', 'WSGIScriptAlias', 'application-group'),
    ('WSGIScriptAlias /x /y.wsgi callable-object=', 'WSGIScriptAlias', 'callable-object'),
    ('WSGIScriptAlias /x /y.wsgi process-group=', 'WSGIScriptAlias', 'process-group'),
    ('WSGIScriptAliasMatch ^/(unclosed /y.wsgi', 'WSGIScriptAliasMatch', 'regular expression'),
    ('WSGIImportScript /x.py bogus=1', 'WSGIImportScript', 'bogus'),
    ('WSGIImportScript /x.py', 'WSGIImportScript', 'group'),
    ('WSGIImportScript /x.py application-group=%{GLOBAL}', 'WSGIImportScript', 'process-group'),
    ('WSGIDaemonProcess g bogus-option=1', 'WSGIDaemonProcess', 'bogus-option'),
    ('WSGIDaemonProcess g processes', 'WSGIDaemonProcess', 'processes'),
    ('WSGIDaemonProcess g user=no-such-user-here', 'WSGIDaemonProcess', 'no-such-user-here'),
    ('<Location /x>\nWSGIPythonPath /tmp\n</Location>', 'WSGIPythonPath', 'not allowed'),
    ('<Location /x>\nWSGIPythonOptimize 1\n</Location>', 'WSGIPythonOptimize', 'not allowed'),
    ('<Location /x>\nWSGIRestrictStdout On\n</Location>', 'WSGIRestrictStdout', 'not allowed'),
    ('<Location /x>\nWSGIScriptAlias /a /b.wsgi\n</Location>', 'WSGIScriptAlias', 'not allowed'),
    ('<Location /x>\nWSGIImportScript /x.py process-group=%{GLOBAL} application-group=%{GLOBAL}\n</Location>',
     'WSGIImportScript', 'not allowed'),
] + [('%s Sometimes' % d, d, 'On') for d in FLAGS] + [('%s On extra' % d, d, 'one argument') for d in FLAGS]

# Values Debian's mod_wsgi 4.9.4 lets through to run time (where they fail or are ignored).
BAD_OURS_ONLY = [
    ('WSGIPythonOptimize 3', 'WSGIPythonOptimize', "'3'"),
    ('WSGIPythonOptimize x', 'WSGIPythonOptimize', "'x'"),
    ('WSGIApplicationGroup %{BOGUS}', 'WSGIApplicationGroup', '%{BOGUS}'),
    ('WSGIApplicationGroup %{ENV}', 'WSGIApplicationGroup', '%{ENV}'),
    ('WSGIScriptAlias nourl /y.wsgi', 'WSGIScriptAlias', 'nourl'),
    ('WSGIPythonHome /nonexistent/python/home', 'WSGIPythonHome', 'does not exist'),
    ('WSGIDaemonProcess g memory-limit=100', 'WSGIDaemonProcess', 'memory-limit'),
    # A process group is %{GLOBAL}, %{ENV:variable} or a daemon group's name (mod_wsgi 4.9
    # lets these through, and then every request answers 500).
    ('WSGIProcessGroup %{RESOURCE}', 'WSGIProcessGroup', '%{RESOURCE}'),
    ('WSGIProcessGroup %{BOGUS}', 'WSGIProcessGroup', 'is not a process group'),
    ('WSGIProcessGroup %{ENV:}', 'WSGIProcessGroup', '%{ENV:}'),
    ('WSGIScriptAlias /x /y.wsgi process-group=%{RESOURCE}', 'WSGIScriptAlias', 'process-group'),
    ('WSGIScriptAlias /x /y.wsgi process-group=%{SERVER}', 'WSGIScriptAlias', 'is not a process group'),
    ('WSGIImportScript /x.py process-group=%{ENV:G} application-group=%{GLOBAL}', 'WSGIImportScript',
     'process start'),
    ('WSGIDaemonProcess g shutdown-timeout=soon', 'WSGIDaemonProcess', 'shutdown-timeout= must be a number'),
    ('WSGIDaemonProcess g threads=5000', 'WSGIDaemonProcess', 'threads= must be a number from 0 to 4096'),
    ('WSGIDaemonProcess g umask=0999', 'WSGIDaemonProcess', 'umask= must be an octal mask'),
    ('WSGIDaemonProcess g socket-user=no-such-user-here', 'WSGIDaemonProcess', "socket-user=: no user"),
    ('WSGIDaemonProcess g script-group=no-such-group-here', 'WSGIDaemonProcess', "script-group=: no group"),
    ('WSGIDaemonProcess g supplementary-groups=adm,no-such-group-here', 'WSGIDaemonProcess',
     "no group 'no-such-group-here'"),
]


@pytest.mark.parametrize('config,name,reason', BAD + [pytest.param(*case, marks=pytest.mark.ours_only)
                                                      for case in BAD_OURS_ONLY])
def test_bad_values_fail_configtest(config, name, reason):
    rc, out = configtest(config)
    assert rc != 0, out
    if OURS:
        # mod_wsgi's own messages often leave out the directive's name.
        assert name in out and reason in out, out


GOOD = [
    'WSGIScriptAlias /x {apps}/x.wsgi',
    'WSGIScriptAlias /x {apps}/x.wsgi process-group=%{GLOBAL} application-group=%{GLOBAL} callable-object=app '
    'pass-authorization=On',
    'WSGIScriptAlias /d/ {apps}/',
    'WSGIScriptAliasMatch ^/m/([^/]+) {apps}/$1.wsgi application-group=%{RESOURCE}',
    'WSGIApplicationGroup %{GLOBAL}', 'WSGIApplicationGroup %{SERVER}', 'WSGIApplicationGroup %{RESOURCE}',
    'WSGIApplicationGroup %{ENV:X}', 'WSGIApplicationGroup literal-name',
    'WSGICallableObject app', 'WSGIScriptReloading Off',
    'WSGIPythonPath /tmp:/var/tmp', 'WSGIPythonOptimize 0', 'WSGIPythonOptimize 2',
    'WSGIPythonHashSeed random', 'WSGIPythonHashSeed 42', 'WSGIPythonWarnings ignore',
    'WSGIPythonWarnings ignore::DeprecationWarning', 'WSGIDontWriteBytecode On', 'WSGIPythonEggs /tmp',
    'WSGIPythonHome ' + PYTHON_PREFIX,
    'WSGIPassAuthorization On', 'WSGIChunkedRequest On', 'WSGIMapHEADToGET Auto', 'WSGIMapHEADToGET On',
    'WSGIImportScript {apps}/x.py process-group=%{GLOBAL} application-group=%{GLOBAL}',
    'WSGIRestrictStdin Off', 'WSGIRestrictStdout Off', 'WSGIRestrictSignal Off', 'WSGIDestroyInterpreter Off',
    'WSGIEnableSendfile On', 'WSGILazyInitialization On', 'WSGICaseSensitivity Off',
    'WSGIRestrictEmbedded Off', 'WSGISocketPrefix run/wsgi', 'WSGIProcessGroup %{GLOBAL}',
    'WSGIProcessGroup %{ENV:PROCESS_GROUP}', 'WSGIProcessGroup some-daemon-group',
    'WSGIScriptAlias /x {apps}/x.wsgi process-group=%{ENV:PROCESS_GROUP}',
    '<IfModule mod_wsgi.c>\nWSGIScriptReloading Off\n</IfModule>',
    '<IfModule wsgi_module>\nWSGIScriptReloading Off\n</IfModule>',
    # The per-directory directives in <Directory>, <Location>, <Files> and a virtual host.
    '\n'.join('<%s>\n%s\n</%s>' % (block, '\n'.join([
        'WSGIApplicationGroup %{GLOBAL}', 'WSGICallableObject app', 'WSGIScriptReloading Off',
        'WSGIPassAuthorization On', 'WSGIChunkedRequest On', 'WSGIMapHEADToGET Off', 'WSGIEnableSendfile On',
        'WSGIProcessGroup %{GLOBAL}']), block.split()[0])
        for block in ('Directory /tmp', 'Location /l', 'Files x.wsgi')),
    '<VirtualHost 127.0.0.1:{port}>\nServerName other.example\nWSGIScriptAlias /v {apps}/x.wsgi\n'
    'WSGIScriptAliasMatch ^/w/(.*) {apps}/$1\nWSGIApplicationGroup %{SERVER}\nWSGIPassAuthorization On\n'
    'WSGIImportScript {apps}/x.py process-group=%{GLOBAL} application-group=%{GLOBAL}\n</VirtualHost>',
]


@pytest.mark.parametrize('config', GOOD)
def test_valid_values_pass_configtest(config):
    rc, out = configtest(config)
    assert rc == 0, out


def make_venv(path, python=PYTHON):
    """A virtual environment of python at path, made anew when it belongs to another one."""
    cfg = os.path.join(path, 'pyvenv.cfg')
    home = 'home = %s\n' % os.path.dirname(python)
    if not os.path.exists(cfg) or home not in open(cfg).read():
        os.makedirs(os.path.dirname(path), exist_ok=True)
        subprocess.run([python, '-m', 'venv', '--clear', '--without-pip', path], check=True)
    return path


def test_python_home_venv_becomes_sys_prefix():
    venv = make_venv(VENV_CACHE)
    apache = Apache('WSGIPythonHome %s\nWSGIScriptAlias /sys {apps}/sys.wsgi' % venv, APPS)
    try:
        apache.start()
        r = apache.get('/sys')
        assert r.status == 200, apache.log()
        i = json.loads(r.body)
        assert i['prefix'] == venv
        assert i['base_prefix'] == PYTHON_PREFIX
        assert i['version'] == PYTHON_VERSION
        assert venv + '/lib/python%s/site-packages' % PYTHON_VERSION in i['path']
        apache.expect_errors(SIGNAL_IGNORED, r'^to stdout$')
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


@pytest.mark.ours_only
def test_python_home_of_another_python_version_fails_configtest(tmp_path):
    # mod_wsgi starts and then fails in every child with 'Fatal Python error: init_fs_encoding'.
    fake = tmp_path / 'venv-other'
    fake.mkdir()
    (fake / 'pyvenv.cfg').write_text('home = /usr/bin\ninclude-system-site-packages = false\nversion = %s.1\n' % OTHER_VERSION)
    rc, out = configtest('WSGIPythonHome %s' % fake)
    assert rc != 0
    assert 'WSGIPythonHome' in out and OTHER_VERSION in out and PYTHON_VERSION in out


GROUP_APP = '''
import mod_wsgi
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s|%s' % (environ['mod_wsgi.process_group'], mod_wsgi.process_group)).encode()]
'''


def test_process_group_from_env_is_expanded_per_request():
    # WSGIProcessGroup and process-group= take %{ENV:name}, looked up per request (SetEnv,
    # SetEnvIf, RewriteRule [E=...]); the value may be %{GLOBAL}. Unset, the spec names no
    # daemon group: 500.
    apache = Apache('''
WSGIDaemonProcess alpha processes=1 threads=2
WSGIDaemonProcess beta processes=1 threads=2
WSGIScriptAlias /directive {apps}/group.wsgi
WSGIScriptAliasMatch ^/option/[a-z]+ {apps}/group.wsgi process-group=%{ENV:OPTION_GROUP}
SetEnvIf Request_URI "^/option/a" OPTION_GROUP=alpha
SetEnvIf Request_URI "^/option/b" OPTION_GROUP=beta
SetEnvIf Request_URI "^/option/g" OPTION_GROUP=%{GLOBAL}
<Location /directive>
    WSGIProcessGroup %{ENV:DIRECTIVE_GROUP}
</Location>
<Location /directive/a>
    SetEnv DIRECTIVE_GROUP alpha
</Location>
<Location /directive/b>
    SetEnv DIRECTIVE_GROUP beta
</Location>
''', {'group.wsgi': GROUP_APP})
    try:
        apache.start()
        apache.expect_log(r'No WSGI daemon process called .%\{ENV:(DIRECTIVE|OPTION)_GROUP\}')
        assert apache.get('/directive/a').body == b'alpha|alpha'
        assert apache.get('/directive/b').body == b'beta|beta'
        assert apache.get('/option/a').body == b'alpha|alpha'
        assert apache.get('/option/b').body == b'beta|beta'
        assert apache.get('/option/g').body == b'|'
        assert apache.get('/directive/none').status == 500
        assert apache.get('/option/none').status == 500
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


@pytest.mark.ours_only
def test_python_prefix_of_another_python_version_fails_configtest(tmp_path):
    (tmp_path / 'lib' / ('python' + OTHER_VERSION)).mkdir(parents=True)
    rc, out = configtest('WSGIPythonHome %s' % tmp_path)
    assert rc != 0
    assert 'WSGIPythonHome' in out and 'lib/python' + PYTHON_VERSION in out, out
    rc, out = configtest('WSGIDaemonProcess g python-home=%s' % tmp_path)
    assert rc != 0
    assert 'python-home=' in out and 'lib/python' + PYTHON_VERSION in out, out


def test_default_python_is_the_one_built_against(server):
    i = sysinfo(server)
    assert i['version'] == PYTHON_VERSION
    assert i['base_prefix'] == PYTHON_PREFIX


PID_APP = '''
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
'''


@pytest.mark.parametrize('loglevel', ['info', 'warn'])
def test_daemon_processes_log_through_apache_with_its_log_level(loglevel):
    # A daemon process logs as Apache's children do (ap_log_error): LogLevel applies and each
    # line has Apache's format (with mod_swiftwsgi's message id). It used to format lines
    # itself on its stderr, info lines included whatever LogLevel said.
    apache = Apache('''
WSGIDaemonProcess logged processes=1 threads=2
WSGIScriptAlias /pid {apps}/pid.wsgi process-group=logged application-group=%{GLOBAL}
''', {'pid.wsgi': PID_APP}, loglevel=loglevel)
    try:
        apache.start()
        pid = int(apache.get('/pid').body)
        apache.stop()
        lines = [l for l in apache.log().splitlines() if '[pid %d' % pid in l]
        if loglevel == 'warn':
            assert lines == []
        else:
            entries = [parse_log_line(l) for l in lines]
            assert entries and all(entries), lines
            if OURS:
                assert all(e['aplogno'] and e['aplogno'].startswith('SWW') for e in entries), lines
    finally:
        apache.cleanup()
