"""Configurations written by mod_wsgi's own `mod_wsgi-express setup-server` (mod_wsgi 5.0.x and
6.x from PyPI, in cached venvs of Debian's Python 3.11) with only their LoadModule line changed
to the module under test: configtest passes and the generated `apachectl` starts a server that
serves the application, then stops it. Daemon mode (express's default), `--embedded-mode`, and a
run with many options.

Against a reference mod_wsgi (SWIFTWSGI_OURS=0) the generated configuration keeps its own
mod_wsgi, so the same test shows what mod_wsgi itself does."""

import glob
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request

import pytest

from harness import MODULE, OURS, SANITIZED, free_port

# mod_wsgi-express's own apachectl starts Apache without the ASan runtime the sanitizer build needs.
pytestmark = pytest.mark.skipif(SANITIZED, reason='Apache started by apachectl, without the sanitizer runtime')

SINGLE_MPM = True

CACHE = '/var/cache/swiftwsgi-tests'
REQUIREMENTS = {'5': 'mod_wsgi==5.0.*', '6': 'mod_wsgi>=6,<7'}

HELLO = '''
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello from ' + environ.get('mod_wsgi.process_group', '?').encode()]
'''

# A module instead of a script, and most daemon and request options express passes on.
MODULE_APP = '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'module app in ' + environ.get('mod_wsgi.process_group', '?').encode()]
'''

OPTIONS = ['--application-type', 'module', 'expressapp', '--python-path', '{pkg}', '--error-override',
           '--chunked-request', '--map-head-to-get', 'Off', '--trust-proxy-header', 'X-Forwarded-For',
           '--trust-proxy', '127.0.0.1', '--queue-timeout', '10', '--connect-timeout', '5', '--socket-timeout', '20',
           '--graceful-timeout', '5', '--eviction-timeout', '3', '--shutdown-timeout', '4', '--restart-interval', '600',
           '--cpu-time-limit', '1000', '--response-buffer-size', '131072', '--header-buffer-size', '65536',
           '--inactivity-timeout', '300', '--deadlock-timeout', '60', '--startup-timeout', '30', '--server-mpm',
           'prefork', '--lang', 'C.UTF-8', '--locale', 'C.UTF-8', '--python-eggs', '{eggs}', '--limit-request-body',
           '1000000', '--keep-alive-timeout', '5', '--enable-sendfile', '--allow-localhost']

MANY = ['--processes', '2', '--threads', '4', '--url-alias', '/files', '{files}', '--server-metrics',
        '--server-status', '--maximum-requests', '100', '--request-timeout', '30', '--reload-on-changes',
        '--log-level', 'info', '--access-log']


def express(version):
    """mod_wsgi-express of a cached venv with mod_wsgi `version` (built on first use: ~1 min)."""
    venv = os.path.join(CACHE, 'mod_wsgi-' + version)
    tool = os.path.join(venv, 'bin', 'mod_wsgi-express')
    if not os.path.exists(tool):
        os.makedirs(CACHE, exist_ok=True)
        subprocess.run(['/usr/bin/python3.11', '-m', 'venv', '--clear', venv], check=True)
        r = subprocess.run([os.path.join(venv, 'bin', 'pip'), 'install', '-q', REQUIREMENTS[version]],
                           capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(venv, ignore_errors=True)
            pytest.skip('mod_wsgi %s could not be installed from PyPI: %s' % (version, r.stderr[-500:]))
    return tool


def env():
    return {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'}


def wait_port(port, up, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                if up:
                    return True
        except OSError:
            if not up:
                return True
        time.sleep(0.1)
    return False


def get(port, path):
    try:
        with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=30) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


@pytest.mark.parametrize('version', ['5', '6'])
@pytest.mark.parametrize('variant', ['daemon', 'embedded', 'many', 'options'])
def test_setup_server_configuration_serves(version, variant):
    tool = express(version)
    work = tempfile.mkdtemp(prefix='swiftwsgi-express-')
    os.chmod(work, 0o755)
    try:
        script = os.path.join(work, 'hello.wsgi')
        with open(script, 'w') as f:
            f.write(HELLO)
        files = os.path.join(work, 'files')
        os.makedirs(files)
        with open(os.path.join(files, 'note.txt'), 'w') as f:
            f.write('a static file\n')
        pkg = os.path.join(work, 'pkg')
        os.makedirs(pkg)
        with open(os.path.join(pkg, 'expressapp.py'), 'w') as f:
            f.write(MODULE_APP)
        eggs = os.path.join(work, 'eggs')
        os.makedirs(eggs)
        shutil.chown(eggs, 'www-data', 'www-data')
        for path in (script, os.path.join(files, 'note.txt'), os.path.join(pkg, 'expressapp.py')):
            os.chmod(path, 0o644)
        for path in (files, pkg):
            os.chmod(path, 0o755)
        root = os.path.join(work, 'server')
        port = free_port()
        args = [tool, 'setup-server', script, '--server-root', root, '--host', '127.0.0.1', '--port', str(port),
                '--user', 'www-data', '--group', 'www-data']
        if variant == 'embedded':
            args.append('--embedded-mode')
        elif variant == 'many':
            args += [a.replace('{files}', files) for a in MANY]
            if version == '6':  # options mod_wsgi 5 lacks
                args += ['--switch-interval', '0.01']
        elif variant == 'options':
            args = [a for a in args if a != script]
            args += [a.replace('{pkg}', pkg).replace('{eggs}', eggs) for a in OPTIONS]
        subprocess.run(args, cwd=work, check=True, capture_output=True, env=env())

        conf = os.path.join(root, 'httpd.conf')
        text = open(conf).read()
        load = re.findall(r"^LoadModule wsgi_module .*$", text, re.M)
        assert len(load) == 1, load
        if OURS:
            text = text.replace(load[0], "LoadModule wsgi_module '%s'" % MODULE)
            with open(conf, 'w') as f:
                f.write(text)

        apachectl = os.path.join(root, 'apachectl')
        r = subprocess.run([apachectl, 'configtest'], capture_output=True, text=True, env=env())
        assert r.returncode == 0, r.stdout + r.stderr
        r = subprocess.run([apachectl, 'start'], capture_output=True, text=True, env=env())
        assert r.returncode == 0, r.stdout + r.stderr
        try:
            assert wait_port(port, up=True), open(os.path.join(root, 'error_log')).read()
            status, body = get(port, '/')
            group = b'' if variant == 'embedded' else ('127.0.0.1:%d' % port).encode()
            expected = (b'module app in ' if variant == 'options' else b'hello from ') + group
            assert (status, body) == (200, expected), open(os.path.join(root, 'error_log')).read()[-3000:]
            if variant == 'many':
                assert get(port, '/files/note.txt') == (200, b'a static file\n')
                status, body = get(port, '/server-status?auto')
                assert status == 200 and b'BusyWorkers' in body, body[:300]
                assert os.path.exists(os.path.join(root, 'access_log'))
        finally:
            r = subprocess.run([apachectl, 'stop'], capture_output=True, text=True, env=env())
            assert r.returncode == 0, r.stdout + r.stderr
            assert wait_port(port, up=False)
            deadline = time.time() + 30
            while os.path.exists(os.path.join(root, 'httpd.pid')) and time.time() < deadline:
                time.sleep(0.1)
        log = open(os.path.join(root, 'error_log')).read()
        crashes = [line for line in log.splitlines()
                   if re.search(r'Segmentation fault|AH00052|exit signal|Fatal Python error|Traceback|'
                                r'\[[a-z_0-9]*:(crit|alert|emerg)\]', line)]
        assert not crashes, '\n'.join(crashes)
    finally:
        shutil.rmtree(work, ignore_errors=True)


STUCK = '''
import os
def application(environ, start_response):
    if environ['QUERY_STRING'] == 'loop':
        while True:
            pass
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
'''


def test_setup_server_timeout_options_act():
    """mod_wsgi-express 6.1's --request-timeout/--interrupt-timeout (and --proxy-timeout, written
    as ProxyTimeout beside a proxied mount point): a request stuck in Python code is answered 504
    after request-timeout and the daemon process serves on."""
    tool = express('6')
    work = tempfile.mkdtemp(prefix='swiftwsgi-express-')
    os.chmod(work, 0o755)
    try:
        script = os.path.join(work, 'stuck.wsgi')
        with open(script, 'w') as f:
            f.write(STUCK)
        os.chmod(script, 0o644)
        root = os.path.join(work, 'server')
        port = free_port()
        subprocess.run([tool, 'setup-server', script, '--server-root', root, '--host', '127.0.0.1', '--port', str(port),
                        '--user', 'www-data', '--group', 'www-data', '--threads', '1', '--request-timeout', '2',
                        '--interrupt-timeout', '1', '--proxy-timeout', '30',
                        '--proxy-mount-point', '/proxied', 'http://127.0.0.1:9/'],
                       cwd=work, check=True, capture_output=True, env=env())
        conf = os.path.join(root, 'httpd.conf')
        text = open(conf).read()
        assert 'interrupt-timeout=1' in text and 'ProxyTimeout 30' in text
        load = re.findall(r"^LoadModule wsgi_module .*$", text, re.M)
        assert len(load) == 1, load
        if OURS:
            with open(conf, 'w') as f:
                f.write(text.replace(load[0], "LoadModule wsgi_module '%s'" % MODULE))
        apachectl = os.path.join(root, 'apachectl')
        r = subprocess.run([apachectl, 'start'], capture_output=True, text=True, env=env())
        assert r.returncode == 0, r.stdout + r.stderr
        try:
            assert wait_port(port, up=True), open(os.path.join(root, 'error_log')).read()
            status, before = get(port, '/')
            assert status == 200
            started = time.time()
            status, _ = get(port, '/?loop')
            elapsed = time.time() - started
            log = open(os.path.join(root, 'error_log')).read()[-3000:]
            assert status == 504 and 1.9 < elapsed < 5, (status, elapsed, log)
            assert get(port, '/') == (200, before), log
        finally:
            r = subprocess.run([apachectl, 'stop'], capture_output=True, text=True, env=env())
            assert r.returncode == 0, r.stdout + r.stderr
            assert wait_port(port, up=False)
            deadline = time.time() + 30
            while os.path.exists(os.path.join(root, 'httpd.pid')) and time.time() < deadline:
                time.sleep(0.1)
    finally:
        shutil.rmtree(work, ignore_errors=True)
