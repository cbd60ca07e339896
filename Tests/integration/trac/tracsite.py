"""Helpers of the Trac integration tests (test_trac*.py): the cached venv and Trac sites made
by examples/trac/setup.sh, a private Apache that serves them, a private PostgreSQL cluster,
Subversion commits, and a logged-in user's requests.Session."""

import fcntl
import hashlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time

import pytest
import requests

from harness import Apache, CRASH, REPO, free_port

SETUP = os.path.join(REPO, 'examples', 'trac', 'setup.sh')
REQUIREMENTS = os.path.join(REPO, 'examples', 'trac', 'requirements.txt')
CACHE = os.environ.get('SWIFTWSGI_TEST_CACHE', '/var/cache/swiftwsgi-tests')
PG_BIN = '/usr/lib/postgresql/15/bin'
ADMIN_PASSWORD = 'admin-secret'
MODULES = '/usr/lib/apache2/modules'

# pip's ways of saying that the network (PyPI) is not there.
NO_NETWORK = re.compile(r'NewConnectionError|Max retries exceeded|Temporary failure in name resolution|'
                        r'Network is unreachable|Name or service not known|No route to host|'
                        r'Connection refused|ConnectTimeoutError|ReadTimeoutError')

_venv = None


def venv():
    """The Trac venv made by setup.sh --venv-only, cached between runs under CACHE and keyed by
    requirements.txt. Skips the test only when pip could not reach PyPI."""
    global _venv
    if _venv:
        return _venv
    with open(REQUIREMENTS, 'rb') as f:
        key = hashlib.sha256(f.read() + b'/usr/bin/python3.11').hexdigest()[:12]
    path = os.path.join(CACHE, 'trac-venv-' + key)
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, 'trac-venv.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a parallel run builds the same venv
        p = subprocess.run([SETUP, '--venv-only', '--venv', path], capture_output=True, text=True,
                           env=clean_env())
    if p.returncode != 0:
        out = p.stdout + p.stderr
        if p.returncode == 3 and (NO_NETWORK.search(out) or not index_reachable()):
            pytest.skip('Trac cannot be installed from PyPI (no network): ' + out[-300:])
        pytest.fail('examples/trac/setup.sh --venv-only failed (%d):\n%s' % (p.returncode, out[-3000:]))
    _venv = path
    return path


def index_reachable():
    """Whether pip's package index (PIP_INDEX_URL, or PyPI) answers a TCP connection."""
    url = os.environ.get('PIP_INDEX_URL', 'https://pypi.org/simple')
    m = re.match(r'(https?)://(?:[^@/]*@)?([^/:]+)(?::(\d+))?', url)
    if not m:
        return True
    port = int(m.group(3) or (443 if m.group(1) == 'https' else 80))
    try:
        with socket.create_connection((m.group(2), port), timeout=5):
            return True
    except OSError:
        return False


def clean_env():
    """The environment for setup.sh and the tools: the caller's (pip and proxy settings pass
    through) without PYTHON* and a virtualenv, with the system's PATH (no pyenv python3)."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith('PYTHON') and k not in ('VIRTUAL_ENV', 'PIP_REQUIRE_VIRTUALENV')}
    env.update(PATH='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG='C.UTF-8')
    return env


def purelib(venv_dir):
    return os.path.join(venv_dir, 'lib', 'python3.11', 'site-packages')


def make_site(site, *args):
    """Runs examples/trac/setup.sh for a site directory (projects, scripts, trac.conf)."""
    p = subprocess.run([SETUP, '--venv', venv(), '--site', site, '--admin-password', ADMIN_PASSWORD] + list(args),
                       capture_output=True, text=True, env=clean_env())
    assert p.returncode == 0, 'setup.sh failed:\n' + p.stdout + p.stderr
    return p.stderr


def trac_admin(env, *args):
    """trac-admin as Apache's user, so that the files it writes stay Apache's."""
    p = subprocess.run(['runuser', '-u', 'www-data', '--', os.path.join(venv(), 'bin', 'trac-admin'), env]
                       + list(args), capture_output=True, text=True, env=clean_env())
    assert p.returncode == 0, p.stdout + p.stderr
    return p.stdout


def svn_commit(repo, files, message='commit from the test suite'):
    """Commits files ({path: bytes}) to a repository (svn import into /trunk, then updates)."""
    work = tempfile.mkdtemp(prefix='swiftwsgi-svn-')
    try:
        url = 'file://' + repo + '/trunk'
        exists = subprocess.run(['svn', 'info', url], capture_output=True).returncode == 0
        if exists:
            subprocess.run(['svn', 'checkout', '-q', url, work + '/wc'], check=True)
            wc = work + '/wc'
        else:
            wc = work + '/import'
            os.makedirs(wc)
        for path, data in files.items():
            full = os.path.join(wc, path)
            os.makedirs(os.path.dirname(full), exist_ok=True)
            new = not os.path.exists(full)
            with open(full, 'wb') as f:
                f.write(data)
            if exists and new:
                subprocess.run(['svn', 'add', '-q', '--parents', full], check=True)
        if exists:
            subprocess.run(['svn', 'commit', '-q', '-m', message, wc], check=True)
        else:
            subprocess.run(['svn', 'import', '-q', '-m', message, wc, url], check=True)
        rev = subprocess.run(['svnlook', 'youngest', repo], capture_output=True, text=True, check=True)
        subprocess.run(['chown', '-R', 'www-data:www-data', repo], check=True)
        return int(rev.stdout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


class TracApache(Apache):
    """A private Apache (harness.Apache) serving Trac, with access_compat for the page's
    Order/Allow lines and a /modversion app that reports what the module puts in environ."""

    VERSION_APP = '''
def application(environ, start_response):
    body = repr((tuple(environ['mod_wsgi.version']), environ['mod_wsgi.process_group'],
                 environ['mod_wsgi.application_group'])).encode()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [body]
'''

    def __init__(self, config, mpm='event', **kw):
        config = ('LoadModule access_compat_module %s/mod_access_compat.so\n' % MODULES
                  + 'WSGIScriptAlias /modversion {apps}/modversion.wsgi\n'
                  + '<Location /modversion>\n    WSGIApplicationGroup %{GLOBAL}\n</Location>\n' + config)
        super().__init__(config, {'modversion.wsgi': self.VERSION_APP}, mpm=mpm, **kw)
        self.base = 'http://127.0.0.1:%d' % self.port

    def url(self, path):
        return self.base + path

    def module_version(self):
        r = requests.get(self.url('/modversion'))
        assert r.status_code == 200
        return r.text

    def finish(self, stop_within=None):
        """Stops Apache; fails on crash lines, on children Apache had to kill, and on
        undeclared error lines anywhere in the log."""
        pid = self.pid()
        started = time.time()
        self.stop()
        elapsed = time.time() - started
        log = self.log()
        bad = self.unexpected_lines(0)
        self.cleanup()
        assert not bad, 'error log:\n' + '\n'.join(bad)
        assert not [l for l in log.splitlines() if CRASH.search(l)], log[-3000:]
        if stop_within is not None and pid:
            assert elapsed < stop_within, 'apache2 -k stop took %.1f s' % elapsed
        return elapsed, log


# ---- a user's session ---------------------------------------------------------------------

def login(base, user='admin', password=ADMIN_PASSWORD):
    """A requests.Session logged in through Basic auth on BASE/login (REMOTE_USER -> trac_auth)."""
    s = requests.Session()
    r = s.get(base + '/login', auth=(user, password))
    assert r.status_code == 200, (r.status_code, r.text[:1000])
    assert 'trac_auth' in s.cookies, s.cookies
    assert logged_in_as(r.text) == user, r.text[:2000]
    return s


def logged_in_as(page):
    """The user a Trac page says is logged in (its metanav), or None."""
    m = re.search(r'logged in as\s*(?:<[^>]*>\s*)*([^<\s]+)', page)
    return m.group(1) if m else None


def form_token(session, url):
    r = session.get(url)
    assert r.status_code == 200, (url, r.status_code, r.text[:1000])
    m = re.search(r'<input[^>]*name="__FORM_TOKEN"[^>]*value="([^"]+)"', r.text)
    assert m, r.text[:2000]
    assert session.cookies.get('trac_form_token') == m.group(1)
    return m.group(1)


def create_ticket(s, base, summary, description='Made through the web form.'):
    token = form_token(s, base + '/newticket')
    r = s.post(base + '/newticket', data={
        '__FORM_TOKEN': token, 'field_summary': summary, 'field_description': description,
        'field_type': 'defect', 'field_priority': 'major', 'submit': 'Create ticket'})
    assert r.status_code == 200, (r.status_code, r.text[:2000])
    m = re.search(r'/ticket/(\d+)$', r.url)
    assert m, (r.url, r.text[:2000])
    return int(m.group(1))


def about(s, base):
    """The 'mod_wsgi' line of Trac's About page (System Information, for TRAC_ADMIN)."""
    r = s.get(base + '/about')
    assert r.status_code == 200
    m = re.search(r'<th>\s*mod_wsgi\s*</th>\s*<td>([^<]*)</td>', r.text)
    assert m, re.sub(r'\s+', ' ', r.text)[-4000:]
    return m.group(1).strip()


def expected_about(version_tuple, process_group, application_group):
    return '%s (WSGIProcessGroup %s WSGIApplicationGroup %s)' % (
        '.'.join(str(x) for x in version_tuple), process_group, application_group or '%{GLOBAL}')


# ---- PostgreSQL ---------------------------------------------------------------------------

class Postgres:
    """A private PostgreSQL 15 cluster in a temporary directory: run as the postgres user,
    listening on a free loopback port, with its Unix socket in the same directory."""

    def __init__(self):
        if not os.path.exists(os.path.join(PG_BIN, 'initdb')):
            pytest.fail('PostgreSQL 15 is not installed (%s/initdb): scripts/setup-debian installs it' % PG_BIN)
        self.dir = tempfile.mkdtemp(prefix='swiftwsgi-pg-')
        os.chmod(self.dir, 0o755)
        shutil.chown(self.dir, 'postgres', 'postgres')
        self.data = os.path.join(self.dir, 'data')
        self.port = free_port()
        self.as_postgres(os.path.join(PG_BIN, 'initdb'), '-D', self.data, '--auth=trust', '-U', 'postgres',
                         '-E', 'UTF8', '--locale=C')
        self.as_postgres(os.path.join(PG_BIN, 'pg_ctl'), '-D', self.data, '-l', os.path.join(self.dir, 'log'),
                         '-w', '-t', '30', '-o',
                         '-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100 -c fsync=off'
                         % (self.port, self.dir), 'start')

    def as_postgres(self, *cmd):
        p = subprocess.run(['runuser', '-u', 'postgres', '--'] + list(cmd), capture_output=True, text=True,
                           cwd=self.dir, env=clean_env())
        assert p.returncode == 0, p.stdout + p.stderr
        return p.stdout

    def sql(self, statement, db='postgres'):
        return self.as_postgres('psql', '-h', self.dir, '-p', str(self.port), '-d', db, '-v', 'ON_ERROR_STOP=1',
                                '-tAc', statement).strip()

    def connections(self, user='trac'):
        return int(self.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s'" % user))

    def settle(self, at_most, timeout):
        """The connection count once it is at most `at_most` (or when the timeout is over)."""
        deadline = time.time() + timeout
        n = self.connections()
        while n > at_most and time.time() < deadline:
            time.sleep(0.1)
            n = self.connections()
        return n

    def stop(self):
        try:
            self.as_postgres(os.path.join(PG_BIN, 'pg_ctl'), '-D', self.data, '-m', 'fast', '-w', 'stop')
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


class Sampler:
    """Samples a number in a thread (the PostgreSQL connection count during a burst)."""

    def __init__(self, fn, interval=0.05):
        self.fn, self.interval, self.values = fn, interval, []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.values.append(self.fn())
            self._stop.wait(self.interval)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    @property
    def peak(self):
        return max(self.values or [0])


def burst(urls, threads=8, per_thread=8, timeout=60):
    """Concurrent GETs (each thread with its own keep-alive session) over the URLs; returns the
    list of failures."""
    failures = []

    def work(i):
        with requests.Session() as s:
            for j in range(per_thread):
                url = urls[(i + j) % len(urls)]
                try:
                    r = s.get(url, timeout=timeout)
                    if r.status_code != 200:
                        failures.append((url, r.status_code, r.text[:300]))
                except requests.RequestException as e:
                    failures.append((url, repr(e)))

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return failures
