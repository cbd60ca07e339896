"""mod_wsgi 6's GIL directives and their container, as configuration: WSGIPerInterpreterGIL,
WSGIFreeThreading and <WSGIInterpreterOptions [process-group=] [application-group=]> holding
them, WSGISwitchInterval and WSGIPythonPath (issue 15).

Where mod_wsgi 6 accepts with a warning and does less (own GIL before Python 3.12,
free-threading on a build with the GIL, a setting that cannot apply to what the container
selects), configtest fails here naming the directive and the reason: those tests are ours only.
The accepting cases and the settings reaching the interpreters also run against mod_wsgi 6
(SWIFTWSGI_MODULE=$(mod_wsgi-express module-location) of PyPI's 6.x)."""

import json
import os

import pytest

from harness import MODULE, Apache, OURS, PYTHON_VERSION, configtest, mod_wsgi_versions

SINGLE_MPM = True

OWN_GIL = tuple(int(x) for x in PYTHON_VERSION.split('.')) >= (3, 12)

mod_wsgi_6 = mod_wsgi_versions(minimum=(6,))

# A reference mod_wsgi from PyPI (VENV/lib/pythonX.Y/site-packages/mod_wsgi/server/mod_wsgi-*.so)
# runs with its venv as WSGIPythonHome, as `mod_wsgi-express module-config` says; without it a
# venv of a pyenv Python looks for the standard library where Apache's user cannot read it.
_site = MODULE.split('/lib/python')[0]
REFERENCE_HOME = ('WSGIPythonHome %s\n' % _site
                  if not OURS and os.path.exists(os.path.join(_site, 'pyvenv.cfg')) else '')

# Accepted on every Python, by mod_wsgi 6 too.
ACCEPTED = [
    'WSGIPerInterpreterGIL Off',
    'WSGIFreeThreading Off',
    'WSGIPerInterpreterGIL off\nWSGIFreeThreading OFF',
    '<WSGIInterpreterOptions>\nWSGIPythonPath /tmp:/usr/local/lib\nWSGISwitchInterval 0.002\n</WSGIInterpreterOptions>',
    '<WSGIInterpreterOptions process-group=%{GLOBAL}>\nWSGIPerInterpreterGIL Off\nWSGIFreeThreading Off\n'
    '</WSGIInterpreterOptions>',
    'WSGIDaemonProcess d\n<WSGIInterpreterOptions process-group=d application-group=app1>\n'
    'WSGIPerInterpreterGIL Off\nWSGIPythonPath /tmp\n</WSGIInterpreterOptions>',
    'WSGIDaemonProcess d\n<WSGIInterpreterOptions application-group=app1 Process-Group=d>\n</WSGIInterpreterOptions>',
    # The daemon group may be defined after the container.
    '<WSGIInterpreterOptions process-group=later>\nWSGIPythonPath /tmp\n</WSGIInterpreterOptions>\n'
    'WSGIDaemonProcess later',
    'WSGIDaemonProcess d\n<WSGIInterpreterOptions process-group=d>\nWSGIFreeThreading Off\nWSGISwitchInterval 0.002\n'
    '</WSGIInterpreterOptions>',
    # The main interpreter's switch interval is the process's.
    '<WSGIInterpreterOptions application-group=%{GLOBAL}>\nWSGISwitchInterval 0.002\nWSGIPerInterpreterGIL Off\n'
    '</WSGIInterpreterOptions>',
    '<WSGIInterpreterOptions application-group=app1>\n</WSGIInterpreterOptions>',
    '<WSGIInterpreterOptions "application-group=my app">\nWSGIPythonPath /tmp\n</WSGIInterpreterOptions>',
    '<WSGIInterpreterOptions application-group=a>\nWSGIPythonPath /tmp\n</WSGIInterpreterOptions>\n'
    '<WSGIInterpreterOptions application-group=a>\nWSGIPythonPath /usr/local/lib\n</WSGIInterpreterOptions>',
    '<IfModule mod_wsgi.c>\n<WSGIInterpreterOptions>\nWSGIPythonPath /tmp\n</WSGIInterpreterOptions>\n</IfModule>',
    '<WSGIInterpreterOptions application-group=a>\nWSGIRestrictStdin On\nWSGIRestrictStdout Off\n'
    'WSGIRestrictSignal Off\n</WSGIInterpreterOptions>',
]

# Sub-interpreters with their own GIL: Python 3.12 and later.
OWN_GIL_CONFIGS = [
    'WSGIPerInterpreterGIL On',
    '<WSGIInterpreterOptions>\nWSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>',
    '<WSGIInterpreterOptions application-group=app1>\nWSGIPerInterpreterGIL On\nWSGISwitchInterval 0.002\n'
    '</WSGIInterpreterOptions>',
    'WSGIDaemonProcess d\n<WSGIInterpreterOptions process-group=d>\nWSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>',
    'WSGIPerInterpreterGIL On\n<WSGIInterpreterOptions application-group=app1>\nWSGISwitchInterval 0.002\n'
    '</WSGIInterpreterOptions>',
]


@mod_wsgi_6
@pytest.mark.parametrize('config', ACCEPTED)
def test_accepted(config):
    rc, out = configtest(config)
    assert rc == 0, out


@mod_wsgi_6
@pytest.mark.parametrize('config', OWN_GIL_CONFIGS)
def test_own_gil_accepted_from_python_3_12(config):
    if OURS and not OWN_GIL:
        pytest.skip('Python %s: refused (test_own_gil_refused_before_python_3_12)' % PYTHON_VERSION)
    rc, out = configtest(config)
    assert rc == 0, out


@pytest.mark.ours_only  # mod_wsgi 6 accepts it with a warning, and the sub-interpreters share the GIL
@pytest.mark.parametrize('config', OWN_GIL_CONFIGS)
def test_own_gil_refused_before_python_3_12(config):
    if OWN_GIL:
        pytest.skip('Python %s has per-interpreter GILs' % PYTHON_VERSION)
    rc, out = configtest(config)
    assert rc != 0, out
    assert 'WSGIPerInterpreterGIL On' in out and 'need Python 3.12 or later' in out, out


# Refused here, accepted by mod_wsgi 6 with a warning (or silently) doing less than written.
REFUSED_OURS = [
    # Every Python on this machine is built with the GIL.
    ('WSGIFreeThreading On', 'WSGIFreeThreading On', 'free-threaded Python build'),
    ('<WSGIInterpreterOptions process-group=%{GLOBAL}>\nWSGIFreeThreading On\n</WSGIInterpreterOptions>',
     'WSGIFreeThreading On', 'free-threaded Python build'),
    # Free-threading is per process.
    ('<WSGIInterpreterOptions application-group=a>\nWSGIFreeThreading Off\n</WSGIInterpreterOptions>',
     'WSGIFreeThreading', 'application-group='),
    # The main interpreter keeps the process's GIL (before 3.12: refused for the version).
    ('<WSGIInterpreterOptions application-group=%{GLOBAL}>\nWSGIPerInterpreterGIL On\n</WSGIInterpreterOptions>',
     'WSGIPerInterpreterGIL On', 'main interpreter' if OWN_GIL else 'Python 3.12'),
    # A switch interval for one application group that shares the GIL would be the process's.
    ('<WSGIInterpreterOptions application-group=a>\nWSGISwitchInterval 0.002\n</WSGIInterpreterOptions>',
     'WSGISwitchInterval inside <WSGIInterpreterOptions application-group=a>', 'own GIL'),
    ('WSGIDaemonProcess d\n<WSGIInterpreterOptions process-group=d application-group=a>\nWSGISwitchInterval 0.002\n'
     '</WSGIInterpreterOptions>', "application group 'a' in daemon process group 'd'", 'own GIL'),
    # Selectors that could never select anything.
    ('<WSGIInterpreterOptions process-group=nowhere>\n</WSGIInterpreterOptions>',
     '<WSGIInterpreterOptions process-group=nowhere>', "no WSGIDaemonProcess is called 'nowhere'"),
    ('<WSGIInterpreterOptions application-group=%{RESOURCE}>\n</WSGIInterpreterOptions>',
     '<WSGIInterpreterOptions>', 'expanded name'),
    ('<WSGIInterpreterOptions application-group=%{SERVER}>\n</WSGIInterpreterOptions>',
     '<WSGIInterpreterOptions>', 'expanded name'),
    ('<WSGIInterpreterOptions application-group=%{ENV:GROUP}>\n</WSGIInterpreterOptions>',
     '<WSGIInterpreterOptions>', 'expanded name'),
    ('<WSGIInterpreterOptions process-group=%{ENV:GROUP}>\n</WSGIInterpreterOptions>',
     '<WSGIInterpreterOptions>', 'selects processes by name'),
    # mod_wsgi 6's documentation calls any other directive inside a configuration error; its
    # code applies it to the server.
    ('<WSGIInterpreterOptions application-group=a>\nWSGIScriptAlias /x /tmp/x.wsgi\n</WSGIInterpreterOptions>',
     'WSGIScriptAlias', 'cannot occur within <WSGIInterpreterOptions>'),
    ('<WSGIInterpreterOptions>\nWSGIPythonHome /usr\n</WSGIInterpreterOptions>',
     'WSGIPythonHome', 'cannot occur within <WSGIInterpreterOptions>'),
    ('<WSGIInterpreterOptions>\n<WSGIInterpreterOptions application-group=a>\n</WSGIInterpreterOptions>\n'
     '</WSGIInterpreterOptions>', '<WSGIInterpreterOptions', 'cannot occur within <WSGIInterpreterOptions>'),
]


@pytest.mark.ours_only
@pytest.mark.parametrize('config,name,reason', REFUSED_OURS)
def test_refused(config, name, reason):
    rc, out = configtest(config)
    assert rc != 0, out
    assert name in out and reason in out, out


# Refused by mod_wsgi 6 too (the wording checked for ours only).
REFUSED_BOTH = [
    ('<VirtualHost 127.0.0.1:80>\n<WSGIInterpreterOptions>\n</WSGIInterpreterOptions>\n</VirtualHost>',
     '<WSGIInterpreterOptions>', 'VirtualHost'),
    ('<Location /x>\n<WSGIInterpreterOptions>\n</WSGIInterpreterOptions>\n</Location>',
     '<WSGIInterpreterOptions', 'not allowed'),
    ('<WSGIInterpreterOptions bogus=1>\n</WSGIInterpreterOptions>', '<WSGIInterpreterOptions>', "'bogus'"),
    ('<WSGIInterpreterOptions app1>\n</WSGIInterpreterOptions>', '<WSGIInterpreterOptions>', "'app1'"),
    ('<WSGIInterpreterOptions process-group=%{GLOBAL} process-group=%{GLOBAL}>\n</WSGIInterpreterOptions>',
     '<WSGIInterpreterOptions>', 'more than once'),
    ('<WSGIInterpreterOptions>\nWSGIPerInterpreterGIL Maybe\n</WSGIInterpreterOptions>', 'WSGIPerInterpreterGIL',
     'On or Off'),
    ('<WSGIInterpreterOptions>\nWSGIFreeThreading Maybe\n</WSGIInterpreterOptions>', 'WSGIFreeThreading', 'On or Off'),
    ('<WSGIInterpreterOptions>\nWSGISwitchInterval 0\n</WSGIInterpreterOptions>', 'WSGISwitchInterval', 'positive'),
    ('<WSGIInterpreterOptions>\nWSGIRestrictStdout Maybe\n</WSGIInterpreterOptions>', 'WSGIRestrictStdout', 'On or Off'),
    ('<Location /x>\nWSGIFreeThreading Off\n</Location>', 'WSGIFreeThreading', 'not allowed'),
]


@mod_wsgi_6
@pytest.mark.parametrize('config,name,reason', REFUSED_BOTH)
def test_refused_by_both(config, name, reason):
    rc, out = configtest(config)
    assert rc != 0, out
    if OURS:
        assert name in out and reason in out, out


# ---- the containers' settings reach the interpreters they select ------------------------------

INFO_APP = '''
import json, sys
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'path': sys.path, 'switchinterval': sys.getswitchinterval(),
                        'stdin': refused(lambda: sys.stdin.read(0)),
                        'stdout': refused(lambda: sys.stdout.write('')),
                        'group': environ['mod_wsgi.application_group'],
                        'process': environ['mod_wsgi.process_group']}).encode()]

def refused(use):
    try:
        use()
        return False
    except Exception:
        return True
'''

APPS = {'info.wsgi': INFO_APP}

FILES = {'lib-%s/README' % name: name for name in ('one', 'daemon', 'main', 'all')}

CONFIG = REFERENCE_HOME + '''
WSGIDaemonProcess d threads=2
<WSGIInterpreterOptions>
    WSGIPythonPath {root}/lib-all
</WSGIInterpreterOptions>
<WSGIInterpreterOptions application-group=one>
    WSGIPythonPath {root}/lib-one
    WSGIRestrictStdout On
</WSGIInterpreterOptions>
<WSGIInterpreterOptions process-group=d>
    WSGIPythonPath {root}/lib-daemon
    WSGISwitchInterval 0.0125
    WSGIRestrictStdin On
</WSGIInterpreterOptions>
<WSGIInterpreterOptions process-group=%{GLOBAL} application-group=%{GLOBAL}>
    WSGIPythonPath {root}/lib-main
</WSGIInterpreterOptions>
WSGIScriptAlias /one {apps}/info.wsgi application-group=one
WSGIScriptAlias /two {apps}/info.wsgi application-group=two
WSGIScriptAlias /main {apps}/info.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /d-one {apps}/info.wsgi process-group=d application-group=one
WSGIScriptAlias /d-two {apps}/info.wsgi process-group=d application-group=two
'''

def info(server, path):
    r = server.get(path)
    assert r.status == 200, r
    return json.loads(r.body)


def added(server, path):
    """The container directories in the interpreter's sys.path, in their order there."""
    dirs = {'%s/lib-%s' % (server.root, n): n for n in ('one', 'daemon', 'main', 'all')}
    return [dirs[p] for p in info(server, path)['path'] if p in dirs]


@mod_wsgi_6
def test_python_path_per_application_group(server):
    # The most specific container's directories first.
    assert added(server, '/one') == ['one', 'all']
    assert added(server, '/two') == ['all']
    assert added(server, '/main') == ['main', 'all']


@mod_wsgi_6
def test_python_path_per_process_group(server):
    # Equally specific (one selector each): the later container's first.
    assert added(server, '/d-one') == ['daemon', 'one', 'all']
    assert added(server, '/d-two') == ['daemon', 'all']


@mod_wsgi_6
def test_python_path_goes_first(server):
    path = info(server, '/d-one')['path']
    ours = [i for i, p in enumerate(path) if p.startswith(server.root + '/lib-')]
    stdlib = [i for i, p in enumerate(path) if '/lib/python3' in p]
    assert ours and stdlib and max(ours) < min(stdlib), path


@mod_wsgi_6
def test_restrictions_per_interpreter(server):
    answers = {p: info(server, p) for p in ('/one', '/two', '/main', '/d-one', '/d-two')}
    assert {p: (a['stdin'], a['stdout']) for p, a in answers.items()} == {
        '/one': (False, True), '/two': (False, False), '/main': (False, False),
        '/d-one': (True, True), '/d-two': (True, False)}


@mod_wsgi_6
def test_switch_interval_per_process_group(server):
    assert info(server, '/d-one')['switchinterval'] == pytest.approx(0.0125)
    assert info(server, '/d-two')['switchinterval'] == pytest.approx(0.0125)
    assert info(server, '/one')['switchinterval'] == pytest.approx(0.005)


GIL_APP = '''
import json, sys
def gil():
    try:  # 3.13+: what the interpreter was created with; 3.12 cannot say from Python
        import _interpreters
        return _interpreters.get_config(_interpreters.get_current()[0]).gil
    except ImportError:
        return None
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps({'switchinterval': sys.getswitchinterval(), 'gil': gil()}).encode()]
'''

OWN_GIL_CONFIG = REFERENCE_HOME + '''
WSGIDaemonProcess d threads=2
<WSGIInterpreterOptions application-group=own>
    WSGIPerInterpreterGIL On
    WSGISwitchInterval 0.002
</WSGIInterpreterOptions>
WSGIScriptAlias /own {apps}/gil.wsgi application-group=own
WSGIScriptAlias /shared {apps}/gil.wsgi application-group=shared
WSGIScriptAlias /d-own {apps}/gil.wsgi process-group=d application-group=own
WSGIScriptAlias /d-shared {apps}/gil.wsgi process-group=d application-group=shared
'''


@pytest.mark.skipif(not OWN_GIL, reason='Python %s has no per-interpreter GIL' % PYTHON_VERSION)
@mod_wsgi_6
def test_own_gil_and_switch_interval_per_application_group():
    apache = Apache(OWN_GIL_CONFIG, {'gil.wsgi': GIL_APP})
    try:
        apache.start()
        for prefix in ('/', '/d-'):
            own = info(apache, prefix + 'own')
            shared = info(apache, prefix + 'shared')
            # With its own GIL the group's switch interval is its own; the others keep Python's.
            assert own['switchinterval'] == pytest.approx(0.002), (prefix, own)
            assert shared['switchinterval'] == pytest.approx(0.005), (prefix, shared)
            if own['gil'] is not None:
                assert (own['gil'], shared['gil']) == ('own', 'shared'), (prefix, own, shared)
        bad = apache.unexpected_lines(0)
        assert not bad, 'unexpected error-log lines:\n' + '\n'.join(bad)
    finally:
        apache.stop()
        apache.cleanup()
