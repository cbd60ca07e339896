"""The Debian package, used as a user would on this machine: `make deb`, lintian, `apt-get
install ./libapache2-mod-swiftwsgi_*.deb`, a2enmod (refused while mod_wsgi is enabled), a site
with WSGIScriptAlias in the system configuration (/etc/apache2) on a free loopback port,
`apache2ctl configtest`, `apache2ctl start`, requests served in embedded and daemon mode,
`apache2ctl stop`, `apt-get purge`. The machine is left as it was found: package purged, the
test's site removed, the modules that were enabled (mod_wsgi's too) enabled again, a2enmod's
state files as before, no system Apache running. A cleanup does that even when an assertion fails.

Needs root (it installs a package); runs only one at a time on a machine (a lock file), since
the system Apache and /etc/apache2 are shared. SWIFTWSGI_DEB=path uses a package built before
instead of running `make deb`.
"""

import fcntl
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.request

import pytest

from harness import CRASH, REPO, SEVERE, free_port

pytestmark = [
    pytest.mark.ours_only,
    pytest.mark.skipif(os.geteuid() != 0, reason='installs a Debian package: needs root'),
]

PACKAGE = 'libapache2-mod-swiftwsgi'
SITE = 'swiftwsgi-package-test'
CONFDIR = '/etc/apache2'
STATEDIR = '/var/lib/apache2'  # a2enmod's enabled_by_admin/enabled_by_maint/disabled_by_* markers
ERROR_LOG = '/var/log/apache2/error.log'
LOCK = '/run/lock/swiftwsgi-package-test.lock'
# What apache2ctl, a2enmod and apt-get get: no PYTHON*, no toolchain on PATH.
ENV = {'PATH': '/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C', 'DEBIAN_FRONTEND': 'noninteractive'}
APT = ['apt-get', '-o', 'DPkg::Lock::Timeout=600', '-y', '-q']

APP = '''
import os, sys
import mod_wsgi
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s group=%s python=%d.%d pid=%d' % (mod_wsgi.server_software,
             environ['mod_wsgi.process_group'] or '-', sys.version_info[0], sys.version_info[1],
             os.getpid())).encode()]
'''

SITE_CONF = '''\
Listen 127.0.0.1:{port}
<VirtualHost 127.0.0.1:{port}>
    ServerName 127.0.0.1
    WSGIDaemonProcess {site} processes=1 threads=2
    WSGIScriptAlias /daemon {app} process-group={site} application-group=%{{GLOBAL}}
    WSGIScriptAlias / {app}
    <Directory {dir}>
        Require all granted
    </Directory>
</VirtualHost>
'''


def run(*cmd, check=True):
    p = subprocess.run(cmd, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    if check:
        assert p.returncode == 0, '%s exited %d:\n%s' % (' '.join(cmd), p.returncode, p.stdout)
    return p


def snapshot(top):
    """Every path under top: symlinks by target, files by content hash, directories."""
    state = {}
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            if os.path.islink(path):
                state[path] = 'link ' + os.readlink(path)
            elif os.path.isdir(path):
                state[path] = 'dir'
            else:
                with open(path, 'rb') as f:
                    state[path] = 'file ' + hashlib.sha256(f.read()).hexdigest()
    return state


def package_status():
    """dpkg's status of the package ('install ok installed', 'deinstall ok config-files', …), or
    '' when dpkg does not know it (never installed, or purged)."""
    p = run('dpkg-query', '-W', '-f', '${Status}', PACKAGE, check=False)
    return p.stdout.strip() if p.returncode == 0 and 'not-installed' not in p.stdout else ''


def new_packages(apt_output):
    """The packages apt-get listed under "The following NEW packages will be installed"."""
    m = re.search(r'^The following NEW packages will be installed:\n((?:  .*\n)+)', apt_output, re.M)
    return sorted(m.group(1).split()) if m else []


def enabled_modules():
    return {os.path.basename(p)[:-5] for p in glob.glob(CONFDIR + '/mods-enabled/*.load')}


def system_apache_pids():
    """Processes of the Apache that /etc/apache2 configures (apache2ctl's: no -f, no -d), not
    the tests' private ones, not zombies."""
    pids = []
    for entry in os.listdir('/proc'):
        if not entry.isdigit():
            continue
        try:
            exe = os.readlink('/proc/%s/exe' % entry)
            with open('/proc/%s/cmdline' % entry, 'rb') as f:
                args = f.read().decode(errors='replace').split('\0')
        except OSError:
            continue
        if exe == '/usr/sbin/apache2' and '-f' not in args and '-d' not in args:
            pids.append(int(entry))
    return pids


def stop_system_apache(timeout=30):
    if not system_apache_pids():
        return
    run('apache2ctl', 'stop', check=False)
    deadline = time.time() + timeout
    while system_apache_pids() and time.time() < deadline:
        time.sleep(0.2)
    assert not system_apache_pids(), 'system Apache still running after apache2ctl stop'


def fetch(port, path, timeout=30):
    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=10) as r:
                return r.status, r.read().decode()
        except OSError:
            if time.time() > deadline:
                raise
            time.sleep(0.3)


@pytest.fixture(scope='module')
def deb():
    """The package: SWIFTWSGI_DEB, or built by `make deb` (which the test thereby checks)."""
    given = os.environ.get('SWIFTWSGI_DEB')
    if given:
        return os.path.abspath(given)
    env = dict(os.environ, PATH='/opt/swift/usr/bin:' + os.environ.get('PATH', '/usr/bin:/bin'))
    p = subprocess.run(['make', 'deb'], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       text=True, timeout=1800)
    assert p.returncode == 0, 'make deb failed:\n' + p.stdout[-6000:]
    version = run('dpkg-parsechangelog', '-l', os.path.join(REPO, 'debian/changelog'), '-S', 'Version').stdout.strip()
    path = os.path.join(REPO, 'build', '%s_%s_amd64.deb' % (PACKAGE, version))
    assert os.path.exists(path), 'make deb did not write ' + path
    return path


def deb_field(deb, name):
    return run('dpkg-deb', '-f', deb, name).stdout.strip()


def test_lintian_reports_no_errors(deb):
    out = run('lintian', '--fail-on', 'none', deb).stdout
    errors = [line for line in out.splitlines() if line.startswith('E:')]
    assert not errors, 'lintian:\n' + out


def test_contents_and_dependencies(deb):
    depends = deb_field(deb, 'Depends')
    for needed in ('libpython3.11', 'libc6', 'libstdc++6', 'apache2-api-'):
        assert needed in depends, depends
    assert 'swift' not in depends.lower(), depends
    files = run('dpkg-deb', '-c', deb).stdout
    for path in ('./usr/lib/apache2/modules/mod_swiftwsgi.so', './usr/lib/apache2/modules/libswiftwsgi.so',
                 './etc/apache2/mods-available/swiftwsgi.load', './usr/bin/swiftwsgi-express'):
        assert path in files, files
    # Nothing in the package may need the Swift toolchain: no library of it, no path into it.
    tmp = tempfile.mkdtemp(prefix='swiftwsgi-deb-')
    try:
        run('dpkg-deb', '-x', deb, tmp)
        for rel in ('usr/lib/apache2/modules/mod_swiftwsgi.so', 'usr/lib/apache2/modules/libswiftwsgi.so',
                    'usr/bin/swiftwsgi-express'):
            dynamic = run('readelf', '-d', os.path.join(tmp, rel)).stdout
            assert '/opt/swift' not in dynamic and 'libswift' not in dynamic.replace('libswiftwsgi.so', ''), rel + ':\n' + dynamic
        with open(os.path.join(tmp, 'etc/apache2/mods-available/swiftwsgi.load')) as f:
            load = f.read()
        assert re.search(r'^# Conflicts: wsgi$', load, re.M), load
        assert 'LoadModule wsgi_module /usr/lib/apache2/modules/mod_swiftwsgi.so' in load, load
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture
def machine():
    """Holds the machine-wide lock, checks the machine is in a state the test may change, and
    restores it afterwards whatever happened."""
    with open(LOCK, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if system_apache_pids():
            pytest.fail('the system Apache is running (pids %s): the test starts and stops it itself'
                        % system_apache_pids())
        if package_status():
            pytest.fail('%s is on the machine already (%s): the test installs and purges it itself'
                        % (PACKAGE, package_status()))
        before = {'etc': snapshot(CONFDIR), 'state': snapshot(STATEDIR), 'modules': enabled_modules()}
        appdir = tempfile.mkdtemp(prefix='swiftwsgi-package-test-')
        try:
            yield appdir, before
        finally:
            problems = []
            for step in (stop_system_apache,
                         lambda: run(*APT, 'purge', PACKAGE, check=False),
                         stop_system_apache,  # a purge may restart an Apache where services may start
                         lambda: restore(before)):
                try:
                    step()
                except Exception as e:  # every step runs; the first failure is reported below
                    problems.append(repr(e))
            shutil.rmtree(appdir, ignore_errors=True)
            after = {'etc': snapshot(CONFDIR), 'state': snapshot(STATEDIR), 'modules': enabled_modules()}
            if package_status():
                problems.append('%s is still known to dpkg: %s' % (PACKAGE, package_status()))
            for key in before:
                if before[key] != after[key]:
                    a, b = before[key], after[key]
                    if isinstance(a, dict):
                        diff = sorted(set(a.items()) ^ set(b.items()))
                    else:
                        diff = sorted(set(a) ^ set(b))
                    problems.append('%s differs after the test: %s' % (key, diff[:20]))
            assert not problems, 'the machine was not left as found:\n' + '\n'.join(problems)


def restore(before):
    """Removes the test's site and puts back the modules and a2enmod state that were there."""
    for path in (CONFDIR + '/sites-enabled/%s.conf' % SITE, CONFDIR + '/sites-available/%s.conf' % SITE):
        if os.path.lexists(path):
            os.unlink(path)
    now = enabled_modules()
    for module in sorted(now - before['modules']):
        run('a2dismod', '-q', '-f', module, check=False)
    for module in sorted(before['modules'] - now):
        run('a2enmod', '-q', module, check=False)
    # a2enmod/a2dismod leave markers (enabled_by_admin, disabled_by_admin, …): put back the old ones.
    old = before['state']
    for dirpath, dirnames, filenames in os.walk(STATEDIR, topdown=False):
        for name in filenames + dirnames:
            path = os.path.join(dirpath, name)
            if path not in old:
                (os.rmdir if os.path.isdir(path) and not os.path.islink(path) else os.unlink)(path)
    for path, kind in sorted(old.items()):
        if kind == 'dir':
            os.makedirs(path, exist_ok=True)
        elif not os.path.lexists(path):
            open(path, 'w').close()  # markers are empty files


def test_install_serve_purge(deb, machine):
    appdir, before = machine
    version = deb_field(deb, 'Version')
    os.chmod(appdir, 0o755)
    app = os.path.join(appdir, 'app.wsgi')
    with open(app, 'w') as f:
        f.write(APP)
    os.chmod(app, 0o644)
    port = free_port()

    installed = run(*APT, 'install', '--no-install-recommends', deb).stdout
    # Its dependencies are on every machine that runs the tests (setup-debian): nothing else comes.
    assert new_packages(installed) == [PACKAGE], installed
    files = [f for f in run('dpkg', '-L', PACKAGE).stdout.splitlines() if f and not os.path.isdir(f)]
    assert '/usr/lib/apache2/modules/mod_swiftwsgi.so' in files, files
    assert 'swiftwsgi' not in enabled_modules(), 'the package enabled the module by itself'
    for lib in ('/usr/lib/apache2/modules/mod_swiftwsgi.so', '/usr/bin/swiftwsgi-express'):
        ldd = run('ldd', lib).stdout
        assert 'not found' not in ldd and '/opt/swift' not in ldd, ldd
    assert 'module-config' in run('/usr/bin/swiftwsgi-express', '--help').stdout
    assert run('/usr/bin/swiftwsgi-express', 'module-config').stdout.startswith(
        'LoadModule wsgi_module /usr/lib/apache2/modules/mod_swiftwsgi.so')

    # "# Conflicts: wsgi": a2enmod refuses while mod_wsgi is enabled.
    if 'wsgi' not in enabled_modules():
        run('a2enmod', '-q', 'wsgi')
    refused = run('a2enmod', 'swiftwsgi', check=False)
    assert refused.returncode != 0 and 'conflict' in refused.stdout.lower(), refused.stdout
    assert not os.path.lexists(CONFDIR + '/mods-enabled/swiftwsgi.load')
    run('a2dismod', '-q', 'wsgi')
    run('a2enmod', '-q', 'swiftwsgi')
    assert os.path.islink(CONFDIR + '/mods-enabled/swiftwsgi.load')

    with open(CONFDIR + '/sites-available/%s.conf' % SITE, 'w') as f:
        f.write(SITE_CONF.format(port=port, site=SITE, app=app, dir=appdir))
    run('a2ensite', '-q', SITE)
    assert 'Syntax OK' in run('apache2ctl', 'configtest').stdout

    log_start = os.path.getsize(ERROR_LOG) if os.path.exists(ERROR_LOG) else 0
    run('apache2ctl', 'start')
    try:
        status, body = fetch(port, '/')
        assert status == 200 and body.startswith('mod_swiftwsgi/%s group=- python=3.11 ' % version), body
        status, daemon = fetch(port, '/daemon')
        assert status == 200 and daemon.startswith('mod_swiftwsgi/%s group=%s python=3.11 ' % (version, SITE)), daemon
        assert daemon.split('pid=')[1] != body.split('pid=')[1], 'the daemon request ran in an Apache child'
    finally:
        stop_system_apache()
    with open(ERROR_LOG, errors='replace') as f:
        f.seek(log_start)
        log = f.read()
    bad = [line for line in log.splitlines() if CRASH.search(line) or SEVERE.search(line)]
    assert not bad, 'system error log:\n' + '\n'.join(bad)
    assert 'mod_swiftwsgi/%s' % version in log, 'no start-up line of mod_swiftwsgi in the error log:\n' + log

    run(*APT, 'purge', PACKAGE)
    assert not package_status(), package_status()
    left = [f for f in files if os.path.lexists(f)]
    assert not left, 'purge left files of the package: %s' % left
    assert not os.path.lexists(CONFDIR + '/mods-enabled/swiftwsgi.load'), 'purge left the module enabled'
    markers = [p for p in snapshot(STATEDIR) if os.path.basename(p) == 'swiftwsgi']
    assert not markers, 'purge left a2enmod state behind: %s' % markers
    assert not system_apache_pids(), 'the purge started the system Apache'
