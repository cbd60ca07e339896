"""Mercurial's hgweb from PyPI, deployed as Mercurial's documentation says for mod_wsgi: the
hgweb.wsgi script of Mercurial's contrib/ (with the sys.path line for a Mercurial outside the
system's Python), an hgweb.config with `allow-push` and `push_ssl = false`, and Basic
authentication through Apache's htpasswd for everything but GET. A clone, an authenticated
push, a refused anonymous push and a pull, through embedded mode and a daemon group.

Mercurial reads sys.stdin.buffer and sys.stdout.buffer at import: this is the test that
sys.stdin, sys.stdout and sys.stderr are the text streams mod_wsgi provides.

The venv (Debian's /usr/bin/python3.11, Mercurial from PyPI) is cached under
/var/cache/swiftwsgi-tests/hg-venv-HASH, keyed by the requirements below."""

import fcntl
import hashlib
import os
import subprocess

import pytest

from harness import OURS  # noqa: F401  (the suite's module under test)

SINGLE_MPM = True

REQUIREMENTS = 'mercurial==7.2.4\n'
PYTHON = '/usr/bin/python3.11'
CACHE = os.environ.get('SWIFTWSGI_TEST_CACHE', '/var/cache/swiftwsgi-tests')
USER, PASSWORD = 'alice', 's3cret-hg'

# Mercurial's contrib/hgweb.wsgi, with its two lines to adjust filled in.
HGWEB_WSGI = '''\
# An example WSGI for use with mod_wsgi, edit as necessary
# See https://mercurial-scm.org/wiki/modwsgi for more information

# Path to repo or hgweb config to serve (see 'hg help hgweb')
config = b"{root}/hg/hgweb.config"

# Uncomment and adjust if Mercurial is not installed system-wide
# (consult "installed modules" path from 'hg debuginstall'):
import sys; sys.path.insert(0, "{site_packages}")

# enable demandloading to reduce startup time
from mercurial import demandimport; demandimport.enable()

from mercurial.hgweb import hgweb
application = hgweb(config)
'''

HGWEB_CONFIG = '''\
[paths]
repo = {root}/repos/repo

[web]
allow-push = {user}
push_ssl = false
'''

CONFIG = '''
WSGIDaemonProcess hg processes=2 threads=4 display-name=%{GROUP}
WSGIScriptAlias /hg {root}/hg/hgweb.wsgi
WSGIScriptAlias /hgd {root}/hg/hgweb.wsgi process-group=hg
<Directory {root}/hg>
    Require all granted
</Directory>
<LocationMatch "^/hgd?/">
    AuthType Basic
    AuthName "Mercurial repositories"
    AuthUserFile {root}/htpasswd
    <LimitExcept GET>
        Require valid-user
    </LimitExcept>
</LocationMatch>
'''


def venv():
    """Mercurial's venv, made once and cached; skips only when PyPI cannot be reached."""
    key = hashlib.sha256((REQUIREMENTS + PYTHON).encode()).hexdigest()[:12]
    path = os.path.join(CACHE, 'hg-venv-' + key)
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, 'hg-venv.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(path, 'bin', 'hg')):
            tmp = path + '.tmp'
            subprocess.run(['rm', '-rf', tmp], check=True)
            subprocess.run([PYTHON, '-m', 'venv', tmp], check=True)
            with open(os.path.join(tmp, 'requirements.txt'), 'w') as f:
                f.write(REQUIREMENTS)
            p = subprocess.run([os.path.join(tmp, 'bin', 'pip'), 'install', '-q', '-r',
                                os.path.join(tmp, 'requirements.txt')],
                               capture_output=True, text=True, env=clean_env())
            if p.returncode != 0:
                subprocess.run(['rm', '-rf', tmp])
                if 'NewConnectionError' in p.stderr or 'Temporary failure in name resolution' in p.stderr:
                    pytest.skip('Mercurial cannot be installed from PyPI (no network)')
                pytest.fail('pip install %s failed:\n%s' % (REQUIREMENTS, p.stderr[-3000:]))
            # A venv is not relocatable: make it at its final path's name by renaming the
            # directory and fixing the scripts' interpreter line.
            os.rename(tmp, path)
            subprocess.run(['sed', '-i', '1s|%s|%s|' % (tmp, path)] +
                           [os.path.join(path, 'bin', n) for n in os.listdir(os.path.join(path, 'bin'))
                            if n in ('hg', 'pip', 'pip3', 'pip3.11')], check=True)
            subprocess.run(['sed', '-i', 's|%s|%s|g' % (tmp, path), os.path.join(path, 'pyvenv.cfg'),
                            os.path.join(path, 'bin', 'activate')], check=False)
    return path


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON') and k != 'VIRTUAL_ENV'}
    env.update(PATH='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG='C.UTF-8')
    return env


def hg(*args, cwd=None, check=True):
    env = clean_env()
    env.update(HGRCPATH='/dev/null', HGPLAIN='1', HGUSER='Test <test@example.org>')
    p = subprocess.run([os.path.join(venv(), 'bin', 'hg')] + list(args), cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=120)
    if check:
        assert p.returncode == 0, 'hg %s failed (%d):\n%s%s' % (' '.join(args), p.returncode, p.stdout, p.stderr)
    return p


def setup_server(apache):
    root = apache.root
    site_packages = os.path.join(venv(), 'lib', 'python3.11', 'site-packages')
    os.makedirs(os.path.join(root, 'hg'))
    with open(os.path.join(root, 'hg', 'hgweb.wsgi'), 'w') as f:
        f.write(HGWEB_WSGI.format(root=root, site_packages=site_packages))
    with open(os.path.join(root, 'hg', 'hgweb.config'), 'w') as f:
        f.write(HGWEB_CONFIG.format(root=root, user=USER))
    repo = os.path.join(root, 'repos', 'repo')
    os.makedirs(repo)
    hg('init', repo)
    with open(os.path.join(repo, 'README'), 'w') as f:
        f.write('first\n')
    hg('commit', '-A', '-m', 'first commit', cwd=repo)
    # The repository belongs to Apache's user, who writes it on push.
    if os.geteuid() == 0:
        subprocess.run(['chown', '-R', 'www-data:www-data', os.path.join(root, 'repos')], check=True)
    subprocess.run(['htpasswd', '-bc', os.path.join(root, 'htpasswd'), USER, PASSWORD], check=True,
                   capture_output=True)


@pytest.mark.parametrize('mount', ['/hg', '/hgd'], ids=['embedded', 'daemon'])
def test_clone_push_pull(server, mount, tmp_path):
    url = 'http://127.0.0.1:%d%s/repo' % (server.port, mount)
    authenticated = url.replace('http://', 'http://%s:%s@' % (USER, PASSWORD))
    r = server.get(mount + '/repo/raw-file/tip/README')
    assert r.status == 200 and r.body.startswith(b'first\n'), r

    work, other = str(tmp_path / 'work'), str(tmp_path / 'other')
    hg('clone', url, work)
    hg('clone', url, other)
    with open(os.path.join(work, 'README')) as f:
        assert f.read().startswith('first\n')

    with open(os.path.join(work, 'README'), 'a') as f:
        f.write('pushed through %s\n' % mount)
    hg('commit', '-m', 'change through %s' % mount, cwd=work)

    # Anonymous: Apache asks for credentials, a non-interactive hg gives up.
    p = hg('push', url, cwd=work, check=False)
    assert p.returncode != 0 and 'authorization' in (p.stdout + p.stderr).lower(), p.stdout + p.stderr
    p = hg('push', authenticated, cwd=work)
    assert 'added 1 changesets' in p.stdout, p.stdout

    p = hg('pull', '-u', url, cwd=other)
    assert 'added 1 changesets' in p.stdout, p.stdout
    with open(os.path.join(other, 'README')) as f:
        assert 'pushed through %s\n' % mount in f.read()
    log = hg('log', '-r', 'tip', '--template', '{desc}', cwd=other).stdout
    assert log == 'change through %s' % mount

    # hgweb shows the new changeset.
    r = server.get(mount + '/repo/log?style=raw')
    assert r.status == 200 and b'change through ' + mount.encode() in r.body
