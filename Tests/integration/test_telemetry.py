"""WSGITelemetryService, WSGISlowRequests and WSGITelemetryOptions (mod_wsgi 6.1) with the real
ingester: `mod_wsgi-telemetry serve` from PyPI (a cached venv) listens on a unix socket, our
Apache's daemon processes and embedded children send it their datagrams, and its /api/state
shows them: request counts equal to the requests sent, latency phases, lifecycle events, a slow
request. With the ingester missing, requests are unaffected and the log is not flooded.

Against mod_wsgi 6.1.1 (SWIFTWSGI_MODULE=its .so from PyPI) the same tests show what it sends."""

import fcntl
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from harness import DEBIAN_PYTHON, MODULE, OURS, REPO, SANITIZED, Apache, free_port, mod_wsgi_versions

pytestmark = [mod_wsgi_versions(minimum=(6, 1)), pytest.mark.single_mpm]

CACHE = '/var/cache/swiftwsgi-tests'
VENV = os.path.join(CACHE, 'mod_wsgi-telemetry')
REQUIREMENT = 'mod_wsgi-telemetry>=1.1,<2'
INTERVAL = 0.5
REQUESTS = 20

APP = '''
import time
def application(environ, start_response):
    if environ['PATH_INFO'] == '/slow':
        time.sleep(1.6)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'pid %d' % __import__('os').getpid()]
'''

CONFIG = '''
WSGITelemetryService unix:{socket} interval=%s
WSGISlowRequests 1
WSGITelemetryOptions +CaptureUserAgent
WSGIDaemonProcess tele processes=1 threads=4
WSGIScriptAlias /daemon {apps}/app.wsgi process-group=tele application-group=%%{GLOBAL}
WSGIScriptAlias /embedded {apps}/app.wsgi application-group=%%{GLOBAL}
''' % INTERVAL


def telemetry_tool():
    """mod_wsgi-telemetry from PyPI in a cached venv (made on first use, under a lock)."""
    tool = os.path.join(VENV, 'bin', 'mod_wsgi-telemetry')
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, 'mod_wsgi-telemetry.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(tool):
            subprocess.run(['/usr/bin/python3.11', '-m', 'venv', '--clear', VENV], check=True)
            r = subprocess.run([os.path.join(VENV, 'bin', 'pip'), 'install', '-q', REQUIREMENT],
                               capture_output=True, text=True)
            if r.returncode != 0:
                shutil.rmtree(VENV, ignore_errors=True)
                pytest.skip('mod_wsgi-telemetry could not be installed from PyPI: ' + r.stderr[-500:])
    return tool


class Ingester:
    """`mod_wsgi-telemetry serve` on a unix socket Apache's user may write to, its HTTP API on
    a free loopback port."""

    def __init__(self):
        self.tool = telemetry_tool()
        self.dir = tempfile.mkdtemp(prefix='swiftwsgi-telemetry-')
        os.chmod(self.dir, 0o755)
        self.socket = os.path.join(self.dir, 'telemetry.sock')
        self.port = free_port()
        self.log = open(os.path.join(self.dir, 'ingester.log'), 'w+')
        self.process = subprocess.Popen(
            [self.tool, 'serve', '--listen', 'unix:' + self.socket, '--socket-mode', '0666',
             '--http-host', '127.0.0.1', '--http-port', str(self.port), '--log-level', 'WARNING'],
            stdout=self.log, stderr=subprocess.STDOUT, env={'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8'})
        deadline = time.time() + 30
        while time.time() < deadline:
            try:
                if os.path.exists(self.socket):
                    self.state()
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise RuntimeError('the ingester did not start: ' + self.output())

    def state(self):
        with urllib.request.urlopen('http://127.0.0.1:%d/api/state' % self.port, timeout=10) as r:
            return json.load(r)

    def output(self):
        self.log.seek(0)
        return self.log.read()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def ingester():
    i = Ingester()
    yield i
    i.stop()


def processes(state, group):
    """{pid: process} of the processes of group ('' for Apache's children) the ingester knows."""
    return {p['pid']: p for p in state['processes'] if p['process_group'] == group}


def requests_counted(process):
    return sum(s['fields'].get('request_count', 0) for s in process['samples'] if s['kind'] == 'request_metrics')


def wait_for(ingester, done, timeout=15):
    """The ingester's state once done(state) holds (the last state read at the timeout)."""
    deadline = time.time() + timeout
    while True:
        try:
            state = ingester.state()
        except OSError:  # an ingester that runs as a service of the server may not be up yet
            if time.time() >= deadline:
                raise
            state = None
        if state and (done(state) or time.time() >= deadline):
            return state
        time.sleep(0.2)


def counted(state, group):
    return sum(requests_counted(p) for p in processes(state, group).values())


def slow_entries(state, script_name):
    return [e['entry'] for e in state['slow_requests']
            if e['entry']['script_name'] == script_name and e['entry']['path_info'] == '/slow']


def test_daemon_and_embedded_processes_report_to_the_ingester(ingester):
    apache = Apache(CONFIG.replace('{socket}', ingester.socket), apps={'app.wsgi': APP}).start()
    try:
        for mode in ('daemon', 'embedded'):
            for _ in range(REQUESTS):
                r = apache.get('/%s/' % mode)
                assert r.status == 200, r
            r = apache.get('/%s/slow' % mode, headers={'User-Agent': 'telemetry-test/1'})
            assert r.status == 200, r
        state = wait_for(ingester, lambda s: counted(s, 'tele') >= REQUESTS + 1 and counted(s, '') >= REQUESTS + 1
                         and all(e['state'] == 1 for m in ('/daemon', '/embedded') for e in slow_entries(s, m))
                         and slow_entries(s, '/daemon') and slow_entries(s, '/embedded'))
        assert state['decode_errors'] == 0
        # Request counts: exactly the requests sent, in the daemon process and across the children.
        daemons = processes(state, 'tele')
        assert len(daemons) == 1, daemons.keys()
        assert counted(state, 'tele') == REQUESTS + 1
        assert counted(state, '') == REQUESTS + 1
        daemon_pid, daemon = next(iter(daemons.items()))
        children = {pid: p for pid, p in processes(state, '').items()}
        assert children and daemon_pid not in children
        # Who they are: our version where mod_wsgi's goes, Python's, Apache's, the MPM.
        for p in list(children.values()) + [daemon]:
            assert p['mod_wsgi_version'].startswith('mod_swiftwsgi ' if OURS else '6.1'), p['mod_wsgi_version']
            assert p['python_version'].startswith('3.') and p['mpm_name'] == 'event' and p['apache_version']
            assert p['process_parent_pid'] == apache.pid()
        # Latency phases: server, application and request time everywhere; queue and daemon
        # time in the daemon process only. Histograms of 65 buckets.
        busy = [s['fields'] for s in daemon['samples'] if s['fields'].get('request_count')]
        assert busy
        for f in busy:
            for name in ('server_time', 'queue_time', 'daemon_time', 'application_time', 'request_time',
                         'gil_wait_time', 'input_read_time', 'output_write_time'):
                assert name in f and name + '_min' in f and name + '_max' in f, (name, sorted(f))
                assert f[name + '_min'] <= f[name] <= f[name + '_max']
                assert len(f[name + '_buckets']) == 65
                assert sum(f[name + '_buckets']) == f['request_count']
            assert f['request_time'] >= f['application_time']
            assert f['status_2xx_total'] == f['request_count']
            assert f['request_threads_maximum'] == 4 and len(f['request_threads_completed']) == 4
            assert f['memory_rss'] > 0 and f['telemetry_interval'] == INTERVAL and f['slow_requests_threshold'] == 1
        embedded = [s['fields'] for p in children.values() for s in p['samples'] if s['fields'].get('request_count')]
        assert embedded
        for f in embedded:
            assert 'queue_time' not in f and 'daemon_time' not in f
            assert f['server_time_min'] <= f['server_time_max'] and len(f['application_time_buckets']) == 65
        # The slow requests, completed, with their phases and identity.
        for mode in ('daemon', 'embedded'):
            (entry,) = slow_entries(state, '/' + mode)
            assert entry['state'] == 1 and entry['status'] == 200 and entry['method'] == 'GET'
            assert 1.5 <= entry['duration'] < 10 and entry['application_time'] >= 1.5
            assert entry['user_agent'] == 'telemetry-test/1' and entry['peer_ip'] == '127.0.0.1'
            assert entry['pid'] == daemon_pid if mode == 'daemon' else entry['pid'] in children
            # The Apache child that took the request (itself in embedded mode).
            assert entry['server_pid'] in children and (mode == 'daemon' or entry['server_pid'] == entry['pid'])
        # Lifecycle: each process announced itself at start ...
        started = {e['pid'] for e in state['lifecycle_events'] if e['kind'] == 'process_started'}
        assert daemon_pid in started and set(children) <= started
        # `mod_wsgi-telemetry top` shows them too.
        top = subprocess.run([ingester.tool, 'top', '--once', '--url', 'ws://127.0.0.1:%d/ws' % ingester.port,
                              '--no-color'], capture_output=True, text=True, timeout=60)
        assert str(daemon_pid) in top.stdout and 'tele' in top.stdout, top.stdout[-2000:] + top.stderr[-2000:]
        # ... and says when it stops, with its lifetime's requests.
        apache.stop()
        state = wait_for(ingester, lambda s: {p for (k, p) in lifecycle(s) if k == 'process_stopped'}
                         >= set(children) | {daemon_pid})
        events = lifecycle(state)
        assert ('process_stopping', daemon_pid) in events
        stopped = events[('process_stopped', daemon_pid)]
        assert stopped['lifetime_request_count'] == REQUESTS + 1 and stopped['graceful_drain'] == 1
        assert stopped['process_uptime'] > 0 and stopped['process_group'] == 'tele'
        assert sum(e['lifetime_request_count'] for (kind, pid), e in events.items()
                   if kind == 'process_stopped' and pid in children) == REQUESTS + 1
    finally:
        apache.cleanup()


def lifecycle(state):
    """{(kind, pid): event} of the lifecycle events the ingester received."""
    return {(e['kind'], e['pid']): e for e in state['lifecycle_events']}


def test_a_missing_ingester_leaves_requests_unaffected():
    work = tempfile.mkdtemp(prefix='swiftwsgi-telemetry-')
    apache = Apache(CONFIG.replace('{socket}', os.path.join(work, 'nobody-listens.sock')),
                    apps={'app.wsgi': APP}, loglevel='warn').start()
    try:
        start = time.time()
        for _ in range(3):
            for mode in ('daemon', 'embedded'):
                for _ in range(REQUESTS):
                    assert apache.get('/%s/' % mode).status == 200
            time.sleep(INTERVAL)
        assert time.time() - start < 30
        lines = [line for line in apache.log().splitlines() if 'telemetry' in line.lower()]
        # At most one warning per process that runs Python (mod_wsgi says nothing).
        assert len(lines) <= len(apache.children()), lines
        assert all(':warn]' in line for line in lines), lines
    finally:
        apache.cleanup()
        shutil.rmtree(work, ignore_errors=True)


HELLO = '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'hello']
'''


def express_server(args, requests=REQUESTS, ready=None):
    """Writes a server root with `args` (an express's setup-server command line, without the
    script, root and port), changes its LoadModule to the module under test, starts it, calls
    `ready` (if given), sends `requests` requests, yields the port, and stops it. Against
    mod_wsgi the configuration keeps its own module."""
    from test_mod_wsgi_express import env, get, wait_port
    work = tempfile.mkdtemp(prefix='swiftwsgi-telemetry-express-')
    os.chmod(work, 0o755)
    try:
        script = os.path.join(work, 'hello.wsgi')
        with open(script, 'w') as f:
            f.write(HELLO)
        os.chmod(script, 0o644)
        root = os.path.join(work, 'server')
        port = free_port()
        subprocess.run(args + [script, '--server-root', root, '--host', '127.0.0.1', '--port', str(port),
                               '--user', 'www-data', '--group', 'www-data'],
                       cwd=work, check=True, capture_output=True, env=env())
        conf = os.path.join(root, 'httpd.conf')
        text = open(conf).read()
        (load,) = re.findall(r"^LoadModule wsgi_module .*$", text, re.M)
        if OURS:
            with open(conf, 'w') as f:
                f.write(text.replace(load, "LoadModule wsgi_module '%s'" % MODULE))
        apachectl = os.path.join(root, 'apachectl')
        r = subprocess.run([apachectl, 'start'], capture_output=True, text=True, env=env())
        assert r.returncode == 0, r.stdout + r.stderr
        try:
            assert wait_port(port, up=True), open(os.path.join(root, 'error_log')).read()
            if ready:
                ready()
            for _ in range(requests):
                assert get(port, '/') == (200, b'hello')
            yield port
        finally:
            subprocess.run([apachectl, 'stop'], capture_output=True, text=True, env=env())
            wait_port(port, up=False)
            deadline = time.time() + 30
            while os.path.exists(os.path.join(root, 'httpd.pid')) and time.time() < deadline:
                time.sleep(0.1)
    finally:
        shutil.rmtree(work, ignore_errors=True)


@pytest.mark.skipif(SANITIZED or not DEBIAN_PYTHON,
                    reason="mod_wsgi-express 6.1.1's venv is of Debian's Python 3.11 (its config names it as WSGIPythonHome)")
def test_mod_wsgi_express_telemetry_options(ingester):
    """mod_wsgi-express 6.1's --telemetry-service, --telemetry-interval, --slow-requests and
    --telemetry-options, in a configuration it wrote, with only LoadModule changed."""
    from test_mod_wsgi_express import express
    tool = express('6')
    for port in express_server([tool, 'setup-server', '--telemetry-service', 'unix:' + ingester.socket,
                                '--telemetry-interval', str(INTERVAL), '--slow-requests', '1',
                                '--telemetry-options', '+CaptureUserAgent']):
        group = '127.0.0.1:%d' % port
        state = wait_for(ingester, lambda s: counted(s, group) >= REQUESTS)
        assert counted(state, group) == REQUESTS
        (daemon,) = processes(state, group).values()
        assert any(s['fields'].get('slow_requests_threshold') == 1 for s in daemon['samples'])


@pytest.mark.ours_only
@pytest.mark.skipif(SANITIZED or not DEBIAN_PYTHON, reason="the ingester's venv is of Debian's Python 3.11")
def test_swiftwsgi_express_enable_telemetry():
    """swiftwsgi-express --enable-telemetry: the ingester and its web UI run as a service of the
    server (in the venv that has mod_wsgi-telemetry), and the application's daemon reports to it."""
    telemetry_tool()
    ui = free_port()
    express = os.path.join(REPO, 'build', 'swiftwsgi-express')

    class UI:
        port = ui
        state = Ingester.state

    # The requests once the ingester (a service of the server, which starts with it) listens.
    for port in express_server([express, 'setup-server', '--module', MODULE, '--enable-telemetry',
                                '--telemetry-ui-port', str(ui), '--telemetry-interval', str(INTERVAL),
                                '--slow-requests', '1', '--python-home', VENV],
                               ready=lambda: wait_for(UI(), lambda s: True, timeout=30)):
        group = '127.0.0.1:%d' % port
        state = wait_for(UI(), lambda s: counted(s, group) >= REQUESTS)
        assert counted(state, group) == REQUESTS
        (pid,) = processes(state, group)
        # PROCESS_STARTED went out before the ingester listened: it is sent again until it lands.
        assert any(e['kind'] == 'process_started' and e['pid'] == pid for e in state['lifecycle_events'])
