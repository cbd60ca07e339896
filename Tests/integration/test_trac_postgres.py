"""Trac on PostgreSQL (issue 4, item 3): a private PostgreSQL 15 cluster started by the test
(Debian's postgresql, initdb in a temporary directory, run as the postgres user on a free
loopback port with its socket in that directory), three Trac environments made by
examples/trac/setup.sh --db postgres://... in one Apache process (%{GLOBAL}), psycopg2 built from
source against Debian's libpq.

The connection counts of pg_stat_activity are measured during and after a burst of concurrent
requests, with the page's `PostgreSQLConnection.poolable = False` lines in trac.wsgi (setup.sh
writes them) and without them, and printed."""

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
from tracsite import Postgres, Sampler, TracApache, burst, create_ticket, form_token, login, make_site  # noqa: E402

requests = pytest.importorskip('requests')

PROJECTS = ('one', 'two', 'three')
THREADS, PER_THREAD = 8, 8
POOL_LINES = ('import trac.db.postgres_backend\n'
              'trac.db.postgres_backend.PostgreSQLConnection.poolable = False\n')


@pytest.fixture(scope='module')
def postgres():
    tracsite.venv()
    pg = Postgres()
    try:
        pg.sql('CREATE ROLE trac LOGIN')
        pg.sql('CREATE DATABASE trac OWNER trac')
        yield pg
    finally:
        pg.stop()


@pytest.fixture(scope='module')
def site(postgres):
    site = tempfile.mkdtemp(prefix='swiftwsgi-trac-pg-')
    os.chmod(site, 0o755)
    try:
        args = ['--db', 'postgres://trac@127.0.0.1:%d/trac' % postgres.port]
        for p in PROJECTS:
            args += ['--project', p]
        make_site(site, *args)
        # The same script without the page's two lines: Trac's connection pool stays on.
        with open(os.path.join(site, 'apache', 'trac.wsgi')) as f:
            script = f.read()
        assert POOL_LINES in script
        with open(os.path.join(site, 'apache', 'trac-pooled.wsgi'), 'w') as f:
            f.write(script.replace(POOL_LINES, ''))
        yield site
    finally:
        shutil.rmtree(site, ignore_errors=True)


def serve(site, script):
    if script == 'trac.wsgi':   # setup.sh's snippet, as written for several projects
        with open(os.path.join(site, 'trac.conf')) as f:
            conf = f.read()
        assert '<LocationMatch "^/trac/[^/]+/login$">' in conf
        return TracApache('Include %s/trac.conf\n' % site)
    return TracApache('''
WSGIScriptAlias /trac {site}/apache/{script}
<Directory {site}/apache>
    WSGIApplicationGroup %{GLOBAL}
    Require all granted
</Directory>
<LocationMatch "^/trac/[^/]+/login$">
    AuthType Basic
    AuthName "Trac"
    AuthUserFile "{site}/htpasswd"
    Require valid-user
</LocationMatch>
'''.replace('{site}', site).replace('{script}', script))


def test_psycopg2_is_built_against_debians_libpq():
    py = os.path.join(tracsite.venv(), 'bin', 'python')
    out = subprocess.run([py, '-c', 'import psycopg2, psycopg2._psycopg as m, psycopg2.extensions as e; '
                                    'print(m.__file__); print(e.libpq_version())'],
                         capture_output=True, text=True, check=True).stdout.split()
    ldd = subprocess.run(['ldd', out[0]], capture_output=True, text=True, check=True).stdout
    assert re.search(r'libpq\.so\.5 => /(usr/)?lib/x86_64-linux-gnu/libpq\.so\.5', ldd), ldd
    assert int(out[1]) >= 150000
    site_packages = tracsite.purelib(tracsite.venv())
    assert not [n for n in os.listdir(site_packages) if n.startswith('psycopg2_binary')]


def test_session_on_postgres(postgres, site):
    apache = serve(site, 'trac.wsgi')
    try:
        apache.start()
        base = apache.url('/trac/two')
        index = requests.get(apache.url('/trac/'))
        assert all('href="/trac/%s"' % p in index.text for p in PROJECTS)
        s = login(base)
        ticket = create_ticket(s, base, 'Stored in PostgreSQL')
        assert 'Stored in PostgreSQL' in s.get(base + '/ticket/%d' % ticket).text
        token = form_token(s, base + '/wiki/PgPage?action=edit')
        r = s.post(base + '/wiki/PgPage', data={'__FORM_TOKEN': token, 'action': 'edit', 'version': '0',
                                                'text': 'A wiki page in schema two.', 'save': 'Submit changes'})
        assert r.status_code == 200 and 'A wiki page in schema two.' in r.text
        # Each project is a schema of the database.
        assert postgres.sql("SELECT summary FROM two.ticket WHERE id = %d" % ticket, db='trac') == 'Stored in PostgreSQL'
        assert postgres.sql("SELECT count(*) FROM one.ticket", db='trac') == '0'
        about = s.get(base + '/about').text
        assert re.search(r'<th>\s*psycopg2\s*</th>', about) and re.search(r'<th>\s*PostgreSQL\s*</th>', about)
    finally:
        apache.finish()


@pytest.mark.parametrize('pooled', [False, True], ids=['poolable-False', 'pooled'])
def test_connection_count(postgres, site, pooled):
    apache = serve(site, 'trac-pooled.wsgi' if pooled else 'trac.wsgi')
    urls = [apache.url('/trac/%s/%s' % (p, page)) for p in PROJECTS for page in ('timeline', 'wiki/WikiStart', 'report/1')]
    try:
        apache.start()
        assert postgres.connections() == 0
        with Sampler(postgres.connections) as during:
            failures = burst(urls, threads=THREADS, per_thread=PER_THREAD)
        assert failures == []
        if pooled:
            time.sleep(3)
            after = postgres.connections()
        else:
            after = postgres.settle(0, timeout=5)
        print('\n  PostgreSQL connections, %d environments, %d concurrent clients x %d requests, %s: '
              'peak %d during the burst, %d after it'
              % (len(PROJECTS), THREADS, PER_THREAD, 'pooled (Trac default)' if pooled else 'poolable = False',
                 during.peak, after))
        if pooled:
            assert after > 0, 'Trac\'s pool keeps its connections'
        else:
            assert after == 0
            assert during.peak <= THREADS, during.values
    finally:
        apache.finish()
    # Stopping Apache closes every connection.
    assert postgres.settle(0, timeout=10) == 0
