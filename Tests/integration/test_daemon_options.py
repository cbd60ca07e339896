"""WSGIDaemonProcess options of mod_wsgi 4.9, 5 and 6 beyond the common ones: switch-interval=,
server-metrics=, newrelic-*, response-socket-timeout=, interrupt-timeout=, response-flush-delay=,
chroot=; 0 as "the default" where mod_wsgi allows it; #uid / #gid forms; threads=0 groups that
only run their WSGIImportScript service scripts.

Against a reference mod_wsgi each test runs where that version has the option
(SWIFTWSGI_MODULE=$(mod_wsgi-express module-location) for PyPI's 6.x)."""

import json
import os
import socket
import time

import pytest

from harness import Apache, OURS, configtest, json_from, mod_wsgi_versions, wait_for_file

SINGLE_MPM = True

INFO_APP = '''
import json, os, sys
def application(environ, start_response):
    out = {'pid': os.getpid(), 'uid': os.getuid(), 'gid': os.getgid(),
           'switchinterval': sys.getswitchinterval(), 'group': environ.get('mod_wsgi.process_group'),
           'NEW_RELIC_CONFIG_FILE': os.environ.get('NEW_RELIC_CONFIG_FILE'),
           'NEW_RELIC_ENVIRONMENT': os.environ.get('NEW_RELIC_ENVIRONMENT')}
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]
'''

SERVICE = '''
import os, time
state = %r
with open(os.path.join(state, 'service-started'), 'w') as f:
    f.write(str(os.getpid()))
try:
    while True:
        time.sleep(0.05)
except SystemExit:
    with open(os.path.join(state, 'service-stopped'), 'w') as f:
        f.write(str(os.getpid()))
    raise
'''

APPS = {'info.wsgi': INFO_APP}

CONFIG = '''
WSGIDaemonProcess zeros threads=2 send-buffer-size=0 receive-buffer-size=0 header-buffer-size=0 \\
    response-buffer-size=0 cpu-time-limit=0 memory-limit=0 virtual-memory-limit=0 \\
    listen-backlog=0 connect-timeout=0 socket-timeout=0 user=#33 group=#33 script-user=#0
WSGIScriptAlias /zeros {apps}/info.wsgi process-group=zeros application-group=%{GLOBAL}
'''


def info(server, path):
    r = server.get(path)
    assert r.status == 200, r
    return json.loads(r.body)


def test_zeros_and_numeric_ids(server):
    i = info(server, '/zeros')
    assert i['group'] == 'zeros' and i['pid'] != server.pid()
    assert (i['uid'], i['gid']) == (33, 33)


def run_with(config, path='/info', apps=None):
    return json_from(config, dict(APPS, **(apps or {})), path)


HOME_APP = '''
import json, os, sys
def application(environ, start_response):
    try:
        import home_module
        found = home_module.__file__
    except ImportError:
        found = None
    out = {'cwd': os.getcwd(), 'path': sys.path, 'home_module': found}
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]
'''


def test_home_is_first_on_sys_path():
    # mod_wsgi puts a group's home= first on sys.path of its interpreters (after python-path=),
    # as Python does for a script's directory: mod_wsgi-express relies on it to import the
    # application's modules from its working directory (Flask's `from hello import app`).
    apache = Apache('''
WSGIDaemonProcess homed threads=1 home={root}/home python-path={root}/lib
WSGIDaemonProcess homeless threads=1
WSGIScriptAlias /homed {apps}/home.wsgi process-group=homed application-group=%{GLOBAL}
WSGIScriptAlias /homed-sub {apps}/home.wsgi process-group=homed application-group=sub
WSGIScriptAlias /homeless {apps}/home.wsgi process-group=homeless application-group=%{GLOBAL}
''', {'home.wsgi': HOME_APP})
    try:
        for d in ('home', 'lib'):
            os.makedirs(os.path.join(apache.root, d), mode=0o755)
        with open(os.path.join(apache.root, 'home', 'home_module.py'), 'w') as f:
            f.write('')
        os.chmod(os.path.join(apache.root, 'home', 'home_module.py'), 0o644)
        apache.start()
        home = os.path.join(apache.root, 'home')
        for path in ('/homed', '/homed-sub'):
            r = apache.get(path)
            assert r.status == 200, r
            i = json.loads(r.body)
            assert i['cwd'] == home and i['path'][0] == home, i
            assert os.path.join(apache.root, 'lib') in i['path'][1:]
            assert i['home_module'] == os.path.join(home, 'home_module.py')
        i = json.loads(apache.get('/homeless').body)
        assert i['home_module'] is None and i['cwd'] not in i['path']
    finally:
        apache.stop()
        apache.cleanup()


@mod_wsgi_versions(minimum=(6,))
def test_switch_interval_is_the_group_s_own():
    config = '''
WSGISwitchInterval 0.0125
WSGIDaemonProcess own threads=2 switch-interval=0.0075
WSGIDaemonProcess default threads=2
WSGIScriptAlias /own {apps}/info.wsgi process-group=own application-group=%{GLOBAL}
WSGIScriptAlias /default {apps}/info.wsgi process-group=default application-group=%{GLOBAL}
WSGIScriptAlias /info {apps}/info.wsgi application-group=%{GLOBAL}
'''
    apache = Apache(config, APPS)
    try:
        apache.start()
        assert json.loads(apache.get('/own').body)['switchinterval'] == pytest.approx(0.0075)
        # mod_wsgi's daemons start from WSGISwitchInterval (its documentation says otherwise)
        assert json.loads(apache.get('/default').body)['switchinterval'] == pytest.approx(0.0125)
        assert json.loads(apache.get('/info').body)['switchinterval'] == pytest.approx(0.0125)
    finally:
        apache.stop()
        apache.cleanup()


@pytest.mark.ours_only  # mod_wsgi 5 initialises the agent itself (newrelic.agent.initialize)
def test_newrelic_options_reach_the_daemon_s_environment():
    i = run_with('WSGINewRelicConfigFile /etc/embedded.ini\n'
                 'WSGIDaemonProcess nr threads=1 newrelic-config-file=/etc/nr.ini newrelic-environment=staging\n'
                 'WSGIScriptAlias /info {apps}/info.wsgi process-group=nr application-group=%{GLOBAL}')
    assert (i['NEW_RELIC_CONFIG_FILE'], i['NEW_RELIC_ENVIRONMENT']) == ('/etc/nr.ini', 'staging')


@pytest.mark.ours_only  # mod_wsgi's check that the script is inside the jail fails for chroot=/
def test_chroot_of_slash_serves():
    i = run_with('WSGIDaemonProcess jail threads=1 chroot=/\n'
                 'WSGIScriptAlias /info {apps}/info.wsgi process-group=jail application-group=%{GLOBAL}')
    assert i['group'] == 'jail'


def test_threads_0_runs_a_service_script_until_stopped():
    apache = Apache('', APPS)
    service = apache.write_app('service.py', SERVICE % apache.state)
    apache.write_config(open(apache.conf).read() + '''
WSGIDaemonProcess service threads=0
WSGIImportScript %s process-group=service application-group=%%{GLOBAL}
WSGIScriptAlias /info {apps}/info.wsgi application-group=%%{GLOBAL}
'''.replace('{apps}', apache.apps) % service)
    try:
        apache.start()
        started = os.path.join(apache.state, 'service-started')
        assert wait_for_file(started, timeout=15), apache.log()
        assert int(open(started).read()) != apache.pid()
        assert apache.get('/info').status == 200  # embedded requests are unaffected
        time.sleep(0.5)
    finally:
        apache.stop()
        log = apache.log()
        stopped = os.path.exists(os.path.join(apache.state, 'service-stopped'))
        apache.cleanup()
    assert stopped, 'the service script was not given SystemExit at stop:\n' + log
    if OURS:
        assert '[wsgi:error]' not in log, log


GOOD = [
    'WSGIDaemonProcess g server-metrics=On',
    'WSGIDaemonProcess g server-metrics=off',
    'WSGIDaemonProcess g response-socket-timeout=30',
    'WSGIDaemonProcess g response-socket-timeout=0',
    'WSGIDaemonProcess g threads=0',
    'WSGIDaemonProcess g chroot=/',
    'WSGIDaemonProcess g user=#33 group=#33 socket-user=#33',
    'WSGIDaemonProcess g script-user=#33',
    'WSGIDaemonProcess g script-group=#33',
    'WSGIDaemonProcess g script-user=www-data',
    'WSGIDaemonProcess g group=#54321',
    'WSGIDaemonProcess g send-buffer-size=0 receive-buffer-size=0 header-buffer-size=0 response-buffer-size=0',
    'WSGIDaemonProcess g cpu-time-limit=0 memory-limit=0 virtual-memory-limit=0 listen-backlog=0',
    'WSGIDaemonProcess g connect-timeout=0 socket-timeout=0',
    # Quoted values, as mod_wsgi-express writes them (the quotes are Apache's, not the value's).
    "WSGIDaemonProcess g home='/tmp' display-name='(wsgi: two words)' python-path=\"/tmp/a b\"",
    "WSGIDaemonProcess g\nWSGIScriptAlias /x /tmp/x.wsgi process-group='g' application-group='%{GLOBAL}'",
    pytest.param('WSGIDaemonProcess g switch-interval=0.002', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGIDaemonProcess g interrupt-timeout=10', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGIDaemonProcess g response-flush-delay=5', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGIDaemonProcess g response-flush-delay=0', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGIDaemonProcess g stack-size=0', marks=pytest.mark.ours_only),  # mod_wsgi: > 0
    pytest.param('WSGIDaemonProcess g newrelic-config-file=/etc/newrelic.ini newrelic-environment=production',
                 marks=mod_wsgi_versions(below=(6,))),
]


NEVER_READ_APP = '''
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    if environ['PATH_INFO'] == '/big':
        chunk = b'x' * (1 << 20)
        return (chunk for _ in range(512))
    return [str(os.getpid()).encode()]
'''


def test_response_socket_timeout_frees_the_thread_of_a_client_that_never_reads():
    """response-socket-timeout= bounds how long the Apache child's writes of a daemon response to
    the client may block (mod_wsgi 4.5.13+): a client that never reads a large response frees the
    group's only thread after it, long before Apache's Timeout (20 s in these configurations)."""
    apache = Apache('''
WSGIDaemonProcess g threads=1 response-socket-timeout=2
WSGIScriptAlias / {apps}/app.wsgi process-group=g application-group=%{GLOBAL}
''', {'app.wsgi': NEVER_READ_APP})
    stalled = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        apache.start()
        assert apache.get('/small').status == 200
        stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        stalled.connect(('127.0.0.1', apache.port))
        stalled.sendall(b'GET /big HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
        time.sleep(1)  # the group's one thread is now writing /big to a client that does not read
        start = time.monotonic()
        r = apache.get('/small', timeout=40)
        waited = time.monotonic() - start
        assert r.status == 200, r
        assert waited < 12, 'the second request waited %.1f s: the stalled response held the thread' % waited
        log = apache.log()
        assert 'Segmentation' not in log and 'exit signal' not in log, log
    finally:
        stalled.close()
        apache.stop()
        apache.cleanup()


@pytest.mark.parametrize('config', GOOD)
def test_accepted(config):
    rc, out = configtest(config)
    assert rc == 0, out


BAD = [
    ('WSGIDaemonProcess g server-metrics=maybe', 'server-metrics'),
    ('WSGIDaemonProcess g threads=-1', 'threads'),
    ('WSGIDaemonProcess g chroot=relative/dir', 'chroot'),
    ('WSGIDaemonProcess g home=relative/dir', 'home'),
    ('WSGIDaemonProcess g user=root', 'root'),
    ('WSGIDaemonProcess g user=#0', 'root'),
    ('WSGIDaemonProcess g script-user=www-data script-group=www-data', 'script-group'),
    ('WSGIDaemonProcess g response-socket-timeout=-1', 'response-socket-timeout'),
    ('WSGIDaemonProcess g send-buffer-size=100', 'send-buffer-size'),
    ('WSGIDaemonProcess g header-buffer-size=100', 'header-buffer-size'),
    pytest.param('WSGIDaemonProcess g switch-interval=0', 'switch-interval', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGIDaemonProcess g switch-interval=fast', 'switch-interval', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGIDaemonProcess g interrupt-timeout=-1', 'interrupt-timeout', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGIDaemonProcess g response-flush-delay=-5', 'response-flush-delay',
                 marks=mod_wsgi_versions(minimum=(6,))),
    # mod_wsgi looks these up only when the process starts.
    pytest.param('WSGIDaemonProcess g user=#987654', '#987654', marks=pytest.mark.ours_only),
    pytest.param('WSGIDaemonProcess g script-group=#987654', '#987654', marks=pytest.mark.ours_only),
    pytest.param('WSGIDaemonProcess g user=#abc', '#abc', marks=pytest.mark.ours_only),
]


@pytest.mark.parametrize('config,reason', BAD)
def test_refused(config, reason):
    rc, out = configtest(config)
    assert rc != 0, out
    if OURS:
        assert 'WSGIDaemonProcess' in out and reason in out, out
