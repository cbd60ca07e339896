"""Clean shutdown with Trac loaded (issue 4, item 5), under each MPM: Trac with Subversion in
%{GLOBAL} (the page's configuration, as setup.sh writes it) and a second Trac environment in a
sub-interpreter whose script also starts a thread that never ends on its own, as a plugin's
background worker would (CPython 3.11 joins such threads in Py_EndInterpreter). A graceful
restart lets every old child exit and the new ones serve Trac; `apache2 -k stop` returns at
once, and the error log has no child that Apache had to kill (AH00045 'still did not exit',
AH00046 SIGKILL) and no crash."""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'trac'))
import tracsite  # noqa: E402
from tracsite import TracApache, burst, make_site  # noqa: E402
from conftest import MPMS  # noqa: E402

requests = pytest.importorskip('requests')

SUB_SCRIPT = '''
import site
site.addsitedir(%(purelib)r)

import os
import threading

import trac.web.main

# A thread that only ends when told to, like a plugin's background worker.
_stop = threading.Event()


def _worker():
    with open(os.path.join(%(state)r, 'worker-%%d' %% os.getpid()), 'w') as f:
        f.write('running')
    _stop.wait()


threading.Thread(target=_worker, name='plugin-worker').start()

application = trac.web.main.dispatch_request
'''

CONFIG = '''
Include {site}/site/trac.conf

WSGIScriptAlias /sub {site}/sub/trac.wsgi
<Directory {site}/sub>
    WSGIApplicationGroup trac-sub
    Require all granted
</Directory>
<Location /sub>
    SetEnv trac.env_path {site}/state/subenv
</Location>
'''

# Room for the bursts' keep-alive clients in prefork (one process each), across a graceful restart.
MPM_SETTINGS = {'prefork': 'StartServers 3\nMinSpareServers 2\nMaxSpareServers 8\nServerLimit 24\n'
                           'MaxRequestWorkers 16'}

HUNG = re.compile(r'AH00045|AH00046|still did not exit|SIGKILL')


def alive(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(') ', 1)[1][0] != 'Z'
    except OSError:
        return False


def wait_gone(pids, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        left = [p for p in pids if alive(p)]
        if not left:
            return []
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


@pytest.fixture(scope='module')
def site():
    """One site for every MPM: setup.sh's Trac with a Subversion repository, and a second
    environment with the thread-starting script for the sub-interpreter."""
    venv = tracsite.venv()
    root = tempfile.mkdtemp(prefix='swiftwsgi-trac-stop-')
    os.chmod(root, 0o755)
    try:
        make_site(os.path.join(root, 'site'), '--svn')
        tracsite.svn_commit(os.path.join(root, 'site', 'svn', 'mysite'), {'README.txt': b'shutdown test\n'})
        state = os.path.join(root, 'state')
        os.makedirs(state)
        shutil.chown(state, 'www-data', 'www-data')
        tracsite.trac_admin(os.path.join(state, 'subenv'), 'initenv', 'sub', 'sqlite:db/trac.db')
        os.makedirs(os.path.join(root, 'sub'))
        with open(os.path.join(root, 'sub', 'trac.wsgi'), 'w') as f:
            f.write(SUB_SCRIPT % {'purelib': tracsite.purelib(venv), 'state': state})
        subprocess.run(['chmod', '-R', 'a+rX', os.path.join(root, 'sub')], check=True)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.ours_only  # Debian's mod_wsgi 4.9.4 hangs (and crashes) here: the point of issue 4, item 5
@pytest.mark.parametrize('mpm', MPMS)
def test_graceful_and_stop_with_trac_loaded(site, mpm):
    state = os.path.join(site, 'state')
    for n in os.listdir(state):
        if n.startswith('worker-'):
            os.unlink(os.path.join(state, n))
    apache = TracApache(CONFIG.replace('{site}', site), mpm=mpm, mpm_settings=MPM_SETTINGS.get(mpm))
    try:
        apache.start()
        urls = [apache.url(u) for u in ('/trac/timeline', '/trac/browser/trunk', '/trac/wiki/WikiStart',
                                        '/sub/wiki/WikiStart', '/sub/timeline')]
        assert burst(urls, threads=4, per_thread=5) == []
        assert 'sub' in requests.get(apache.url('/sub/wiki/WikiStart')).text
        workers = [n for n in os.listdir(state) if n.startswith('worker-')]
        assert workers, 'the sub-interpreter did not start its thread'

        # Graceful restart: every child of the old generation exits, the new ones serve Trac.
        old = apache.children()
        start = apache.log_size()
        started = time.time()
        apache.graceful(wait=0)
        left = wait_gone(old, timeout=15)
        graceful = time.time() - started
        assert left == [], 'children of the old generation still running after a graceful restart: %s' % left
        assert burst(urls, threads=2, per_thread=5) == []
        assert not HUNG.search(apache.log(start)), apache.log(start)

        # Stop: at once, nobody killed.
        pid = apache.pid()
        children = apache.children()
        started = time.time()
        subprocess.run(['/usr/sbin/apache2', '-f', apache.conf, '-k', 'stop'], env=apache.env(), check=True)
        gone = wait_gone([pid] + children, timeout=30)
        elapsed = time.time() - started
        print('\n  %s, Trac loaded in %%{GLOBAL} and in a sub-interpreter with a thread: the old children '
              'exited %.2f s after graceful, apache2 -k stop took %.2f s' % (mpm, graceful, elapsed))
        assert gone == [], 'still running after apache2 -k stop: %s' % gone
        log = apache.log()
        assert not HUNG.search(log), '\n'.join(l for l in log.splitlines() if HUNG.search(l))
        assert elapsed < 5, 'apache2 -k stop took %.1f s' % elapsed
    finally:
        apache.finish()
