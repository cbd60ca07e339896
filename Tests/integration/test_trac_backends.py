"""Trac on PostgreSQL (a private cluster the test starts and stops) and with a Subversion
repository through Debian's python3-subversion bindings, in %{GLOBAL}."""

import os
import shutil
import subprocess
import tempfile
import threading
import time

import pytest

from harness import Apache, free_port
from test_trac import TRAC_VENV, trac_venv, trac_admin

requests = pytest.importorskip('requests')
SINGLE_MPM = True
PG_BIN = '/usr/lib/postgresql/15/bin'

POOL_OFF = '''
import trac.db.postgres_backend
trac.db.postgres_backend.PostgreSQLConnection.poolable = False
'''

PARENT_SCRIPT = '''
import os
os.environ['TRAC_ENV_PARENT_DIR'] = %(parent)r
os.environ['PYTHON_EGG_CACHE'] = %(eggs)r
%(pool)s
import trac.web.main
application = trac.web.main.dispatch_request
'''


def venv_python():
    return os.path.join(TRAC_VENV, 'bin', 'python')


def ensure_psycopg2():
    py = venv_python()
    if subprocess.run([py, '-c', 'import psycopg2'], capture_output=True).returncode != 0:
        r = subprocess.run([py, '-m', 'pip', 'install', '-q', 'psycopg2'], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip('psycopg2 could not be built against libpq-dev: ' + r.stderr[-500:])
        subprocess.run(['chmod', '-R', 'a+rX', TRAC_VENV], check=True)


class Postgres:
    """A private PostgreSQL cluster on a loopback port, run as the postgres user."""

    def __init__(self):
        if not os.path.exists(os.path.join(PG_BIN, 'initdb')):
            pytest.skip('PostgreSQL server not installed')
        self.dir = tempfile.mkdtemp(prefix='swiftwsgi-pg-')
        os.chmod(self.dir, 0o755)
        self.data = os.path.join(self.dir, 'data')
        self.port = free_port()
        shutil.chown(self.dir, 'postgres', 'postgres')
        self.run('initdb', '-D', self.data, '--auth=trust', '-U', 'postgres', '-E', 'UTF8')
        self.run('pg_ctl', '-D', self.data, '-l', os.path.join(self.dir, 'log'), '-w', '-o',
                 "-p %d -k %s -c listen_addresses=127.0.0.1 -c max_connections=100" % (self.port, self.dir), 'start')

    def run(self, tool, *args):
        return subprocess.run(['runuser', '-u', 'postgres', '--', os.path.join(PG_BIN, tool)] + list(args),
                              check=True, capture_output=True, text=True, cwd=self.dir)

    def sql(self, statement, db='postgres'):
        out = subprocess.run(['runuser', '-u', 'postgres', '--', 'psql', '-h', '127.0.0.1', '-p', str(self.port),
                              '-d', db, '-tAc', statement], check=True, capture_output=True, text=True)
        return out.stdout.strip()

    def connections(self, role='trac'):
        return int(self.sql("SELECT count(*) FROM pg_stat_activity WHERE usename = '%s'" % role))

    def stop(self):
        try:
            self.run('pg_ctl', '-D', self.data, '-m', 'fast', '-w', 'stop')
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope='module')
def postgres():
    trac_venv()
    ensure_psycopg2()
    pg = Postgres()
    pg.sql("CREATE ROLE trac LOGIN")
    yield pg
    pg.stop()


def trac_on_postgres(pg, pool_off, names=('one', 'two', 'three')):
    admin = trac_venv()
    apache = Apache('''
WSGIPythonHome %s
WSGIScriptAlias /projects {root}/scripts/projects.wsgi
<Directory {root}/scripts>
    WSGIApplicationGroup %%{GLOBAL}
    Require all granted
</Directory>
''' % TRAC_VENV)
    parent = os.path.join(apache.state, 'envs')
    os.makedirs(parent)
    suffix = 'off' if pool_off else 'on'
    for name in names:
        db = 'trac_%s_%s' % (name, suffix)
        pg.sql('CREATE DATABASE %s OWNER trac' % db)
        trac_admin(admin, os.path.join(parent, name), 'initenv', 'PG %s' % name,
                   'postgres://trac@127.0.0.1:%d/%s' % (pg.port, db))
    os.makedirs(os.path.join(apache.root, 'scripts'))
    with open(os.path.join(apache.root, 'scripts', 'projects.wsgi'), 'w') as f:
        f.write(PARENT_SCRIPT % {'parent': parent, 'eggs': os.path.join(apache.state, 'eggs'),
                                 'pool': POOL_OFF if pool_off else ''})
    subprocess.run(['chown', '-R', 'www-data:www-data', apache.state], check=True)
    subprocess.run(['chmod', '-R', 'a+rX', apache.root], check=True)
    return apache


def burst(apache, names, requests_per_thread=8, threads=8):
    errors = []

    def work(i):
        s = requests.Session()
        for j in range(requests_per_thread):
            name = names[(i + j) % len(names)]
            r = s.get('http://127.0.0.1:%d/projects/%s/timeline' % (apache.port, name), timeout=60)
            if r.status_code != 200:
                errors.append(r.status_code)

    ts = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return errors


def settle(pg, expected_max, timeout=10):
    deadline = time.time() + timeout
    n = pg.connections()
    while n > expected_max and time.time() < deadline:
        time.sleep(0.2)
        n = pg.connections()
    return n


@pytest.mark.parametrize('pool_off', [True, False], ids=['poolable-False', 'pooled'])
def test_postgres_connections_with_and_without_pooling(postgres, pool_off, capsys):
    names = ('one', 'two', 'three')
    apache = trac_on_postgres(postgres, pool_off)
    try:
        apache.start()
        errors = burst(apache, names)
        assert errors == []
        after = settle(postgres, 0 if pool_off else -1, timeout=10 if pool_off else 2)
        with capsys.disabled():
            print('\n  PostgreSQL connections after a burst of 64 requests over 3 environments, '
                  'poolable=%s: %d' % (not pool_off, after))
        if pool_off:
            assert after == 0
        else:
            assert after > 0  # Trac's pool keeps its connections
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()
    assert settle(postgres, 0) == 0  # and Apache's stop closes them all


@pytest.fixture(scope='module')
def svn_trac():
    admin = trac_venv()
    if not os.path.isdir('/usr/lib/python3/dist-packages/svn'):
        pytest.skip('python3-subversion is not installed')
    # The venv sees exactly Debian's svn and libsvn packages, nothing else of dist-packages.
    site_packages = subprocess.run([venv_python(), '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                   capture_output=True, text=True, check=True).stdout.strip()
    bindings = os.path.join(os.path.dirname(TRAC_VENV), 'svn-bindings')
    os.makedirs(bindings, exist_ok=True)
    for pkg in ('svn', 'libsvn'):
        link = os.path.join(bindings, pkg)
        if not os.path.exists(link):
            os.symlink('/usr/lib/python3/dist-packages/' + pkg, link)
    with open(os.path.join(site_packages, 'debian-svn-bindings.pth'), 'w') as f:
        f.write(bindings + '\n')

    apache = Apache('''
WSGIPythonHome %s
WSGIScriptAlias /trac {root}/deploy/cgi-bin/trac.wsgi
<Directory {root}/deploy/cgi-bin>
    WSGIApplicationGroup %%{GLOBAL}
    Require all granted
</Directory>
''' % TRAC_VENV)
    repo = os.path.join(apache.state, 'repo')
    subprocess.run(['svnadmin', 'create', repo], check=True)
    work = tempfile.mkdtemp(prefix='swiftwsgi-svn-')
    with open(os.path.join(work, 'README.txt'), 'w') as f:
        f.write('hello from subversion\n')
    big = bytes(range(256)) * 8192 + os.urandom(2 << 20) + b'\x00' * 100
    with open(os.path.join(work, 'big.bin'), 'wb') as f:
        f.write(big)
    subprocess.run(['svn', 'import', '-q', '-m', 'initial import', work, 'file://' + repo + '/trunk'], check=True)
    shutil.rmtree(work)
    env = os.path.join(apache.state, 'env')
    trac_admin(admin, env, 'initenv', 'SVN project', 'sqlite:db/trac.db')
    trac_admin(admin, env, 'config', 'set', 'components', 'tracopt.versioncontrol.svn.*', 'enabled')
    trac_admin(admin, env, 'repository', 'add', '(default)', repo, 'svn')
    trac_admin(admin, env, 'repository', 'resync', '(default)')
    trac_admin(admin, env, 'permission', 'add', 'anonymous', 'BROWSER_VIEW', 'FILE_VIEW')
    trac_admin(admin, env, 'deploy', os.path.join(apache.root, 'deploy'))
    subprocess.run(['chown', '-R', 'www-data:www-data', apache.state], check=True)
    subprocess.run(['chmod', '-R', 'a+rX', apache.root], check=True)
    apache.start()
    yield apache, big
    apache.stop()
    log = apache.log()
    apache.cleanup()
    assert 'still did not exit' not in log and 'AH00046' not in log


def test_subversion_browser_and_export(svn_trac):
    apache, big = svn_trac
    base = 'http://127.0.0.1:%d/trac' % apache.port
    r = requests.get(base + '/browser/trunk')
    assert r.status_code == 200 and 'README.txt' in r.text and 'big.bin' in r.text
    assert 'hello from subversion' in requests.get(base + '/browser/trunk/README.txt').text
    for _ in range(2):
        r = requests.get(base + '/export/1/trunk/big.bin')
        assert r.status_code == 200 and r.content == big
    apache.graceful(wait=1)
    assert requests.get(base + '/export/1/trunk/big.bin').content == big
    assert apache.unexpected_lines(0) == []
