"""swiftwsgi-express, started as a user would: a real process, real requests, real signals."""

import os
import pathlib
import shutil
import tempfile
import signal
import subprocess
import time
import urllib.request

import pytest

from harness import REPO, OURS, free_port, wait_until_settled

pytestmark = pytest.mark.ours_only

EXPRESS = os.path.join(REPO, 'build', 'swiftwsgi-express')

APP = '''
import os, sys
sys.path.insert(0, os.path.dirname(__file__))
import helper
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%s group=%s pid=%d' % (helper.VALUE, environ['mod_wsgi.process_group'], os.getpid())).encode()]
'''


@pytest.fixture
def project():
    # Not pytest's tmp_path: its parents are private to root, and the application runs as www-data.
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix='swiftwsgi-express-test-'))
    os.chmod(tmp_path, 0o755)
    (tmp_path / 'app.wsgi').write_text(APP)
    (tmp_path / 'helper.py').write_text("VALUE = 'one'\n")
    static = tmp_path / 'static'
    static.mkdir()
    (static / 'style.css').write_text('body {}\n')
    for p in tmp_path.rglob('*'):
        os.chmod(p, 0o777 if p.is_dir() else 0o666)
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


def run_express(project, *args):
    port = free_port()
    cmd = [EXPRESS, 'start-server', str(project / 'app.wsgi'), '--port', str(port),
           '--server-root', str(project / 'server')]
    if os.geteuid() == 0:
        cmd += ['--user', 'www-data', '--group', 'www-data']
    p = subprocess.Popen(cmd + list(args), cwd=project, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         env={'PATH': '/usr/bin:/bin'})
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            return p, port, fetch(port, '/')
        except OSError:
            if p.poll() is not None:
                raise AssertionError('express exited: ' + p.stdout.read().decode())
            time.sleep(0.1)
    # Apache replaced express (exec): SIGTERM lets it stop its children and daemons.
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
    raise AssertionError('express did not answer: ' + (p.stdout.read() or b'').decode(errors='replace'))


def fetch(port, path):
    with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=10) as r:
        return r.read().decode()


def stop(p, project):
    # Apache is express's process (exec); its children and daemons are its children.
    children = subprocess.run(['pgrep', '-P', str(p.pid)], capture_output=True, text=True).stdout.split()
    wait_until_settled([int(c) for c in children])
    p.send_signal(signal.SIGTERM)
    out = p.communicate(timeout=30)[0].decode()
    time.sleep(0.5)
    left = subprocess.run(['pgrep', '-f', str(project / 'server')], capture_output=True, text=True).stdout.split()
    assert left == [], 'processes left behind: %s' % left
    assert 'still did not exit' not in out and 'Segmentation' not in out, out
    return out


def test_daemon_mode_by_default_with_static_alias_and_clean_stop(project):
    p, port, body = run_express(project, '--url-alias', '/static', str(project / 'static'))
    try:
        assert body.startswith('one group=localhost:%d' % port)
        assert fetch(port, '/static/style.css') == 'body {}\n'
        assert fetch(port, '/any/path').startswith('one')
    finally:
        stop(p, project)


def test_embedded_mode_with_access_log(project):
    p, port, body = run_express(project, '--embedded-mode', '--access-log')
    try:
        assert body.startswith('one group= ')
    finally:
        out = stop(p, project)
    assert '"GET / HTTP/1.1" 200' in out


def test_reload_on_changes(project):
    p, port, body = run_express(project, '--reload-on-changes')
    try:
        assert body.startswith('one')
        time.sleep(1.2)
        (project / 'helper.py').write_text("VALUE = 'two'\n")
        deadline = time.time() + 15
        while time.time() < deadline:
            try:
                if fetch(port, '/').startswith('two'):
                    break
            except OSError:
                pass
            time.sleep(0.2)
        assert fetch(port, '/').startswith('two')
    finally:
        stop(p, project)


def test_bad_arguments_fail_before_apache_starts(project):
    for args, message in [(['/no/such/app.wsgi'], 'does not exist'),
                          ([str(project / 'app.wsgi'), '--port', '0'], 'port'),
                          ([str(project / 'app.wsgi'), '--url-alias', '/x'], 'url-alias')]:
        r = subprocess.run([EXPRESS, 'start-server'] + args + ['--user', 'www-data', '--group', 'www-data'],
                           capture_output=True, text=True, timeout=20)
        assert r.returncode != 0
        assert message in (r.stdout + r.stderr)


def test_apache_refusal_shows_apaches_message(project):
    bad = project / 'bad.conf'
    bad.write_text('ThisIsNotADirective on\n')
    r = subprocess.run([EXPRESS, 'start-server', str(project / 'app.wsgi'), '--include-file', str(bad),
                        '--port', str(free_port()), '--server-root', str(project / 'server'),
                        '--user', 'www-data', '--group', 'www-data'], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0
    assert 'ThisIsNotADirective' in r.stdout + r.stderr


def test_module_config_prints_loadmodule():
    r = subprocess.run([EXPRESS, 'module-config'], capture_output=True, text=True, timeout=20)
    assert r.returncode == 0
    assert r.stdout.startswith('LoadModule wsgi_module /') and 'mod_swiftwsgi.so' in r.stdout
