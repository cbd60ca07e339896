"""A private, real Apache for the integration tests: its own server root, httpd.conf and error
log in a temporary directory, a free loopback port, started under `env -i` and stopped (and
waited for) by the tests themselves."""

import http.client
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MODULE = os.environ.get('SWIFTWSGI_MODULE', os.path.join(REPO, 'build', 'mod_swiftwsgi.so'))
APACHE = '/usr/sbin/apache2'
MODULES = '/usr/lib/apache2/modules'
OURS = 'mod_wsgi.so' not in os.path.basename(MODULE)

# Lines that always fail a test: crashes of a child, of Python, or a child Apache had to kill.
CRASH = re.compile(r'Segmentation fault|AH00052|exit signal|Fatal Python error|AH00045|AH00046|'
                   r'still did not exit|core dumped|double free|Aborted')
SEVERE = re.compile(r'\[[a-z_0-9]*:(error|crit|alert|emerg)\]')


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


BASE_CONFIG = """\
ServerRoot "{root}"
PidFile "{root}/httpd.pid"
DefaultRuntimeDir "{root}/run"
Mutex file:{root}/run
ErrorLog "{root}/error.log"
LogLevel {loglevel}
Listen 127.0.0.1:{port}
ServerName 127.0.0.1:{port}
{user}
LoadModule {mpm}_module {modules}/mod_{mpm}.so
{mpm_settings}
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule authz_host_module {modules}/mod_authz_host.so
LoadModule authn_core_module {modules}/mod_authn_core.so
LoadModule authn_file_module {modules}/mod_authn_file.so
LoadModule authz_user_module {modules}/mod_authz_user.so
LoadModule auth_basic_module {modules}/mod_auth_basic.so
LoadModule mime_module {modules}/mod_mime.so
LoadModule alias_module {modules}/mod_alias.so
LoadModule env_module {modules}/mod_env.so
LoadModule setenvif_module {modules}/mod_setenvif.so
LoadModule headers_module {modules}/mod_headers.so
LoadModule deflate_module {modules}/mod_deflate.so
LoadModule filter_module {modules}/mod_filter.so
LoadModule wsgi_module {module}
TypesConfig /etc/mime.types
Timeout 20
KeepAlive On
<Directory "{root}">
    Require all granted
</Directory>
"""

MPM_SETTINGS = {
    'mpm_event': 'StartServers 2\nServerLimit 4\nThreadsPerChild 10\nMaxRequestWorkers 20\n'
                 'MinSpareThreads 5\nMaxSpareThreads 30',
    'mpm_worker': 'StartServers 2\nServerLimit 4\nThreadsPerChild 10\nMaxRequestWorkers 20\n'
                  'MinSpareThreads 5\nMaxSpareThreads 30',
    'mpm_prefork': 'StartServers 3\nMinSpareServers 2\nMaxSpareServers 6\nServerLimit 12\nMaxRequestWorkers 10',
}


class Apache:
    """One private Apache. `config` is appended to the base configuration; `{root}`, `{apps}`
    and `{port}` in it are replaced. `apps` maps file names to their contents, written under
    {root}/apps."""

    def __init__(self, config='', apps=None, mpm='event', loglevel='info', files=None, module=None, mpm_settings=None):
        self.root = tempfile.mkdtemp(prefix='swiftwsgi-test-')
        os.chmod(self.root, 0o755)
        self.port = free_port()
        self.mpm = mpm
        self.apps = os.path.join(self.root, 'apps')
        os.makedirs(self.apps)
        os.makedirs(os.path.join(self.root, 'run'))
        os.chmod(os.path.join(self.root, 'run'), 0o777)
        # A directory the applications (running as www-data) may write to.
        self.state = os.path.join(self.root, 'state')
        os.makedirs(self.state)
        os.chmod(self.state, 0o777)
        for name, source in (apps or {}).items():
            self.write_app(name, source)
        for name, data in (files or {}).items():
            path = os.path.join(self.root, name)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, 'wb') as f:
                f.write(data if isinstance(data, bytes) else data.encode())
            os.chmod(path, 0o644)
        self.conf = os.path.join(self.root, 'httpd.conf')
        self.error_log = os.path.join(self.root, 'error.log')
        user = 'User www-data\nGroup www-data' if os.geteuid() == 0 else ''
        base = BASE_CONFIG.format(root=self.root, port=self.port, user=user, modules=MODULES, module=module or MODULE,
                                  mpm='mpm_' + mpm, mpm_settings=mpm_settings or MPM_SETTINGS['mpm_' + mpm],
                                  loglevel=loglevel)
        self.write_config(base + '\n' + self.expand(config))
        self.process = None
        self._expected = []

    def expand(self, text):
        return text.replace('{root}', self.root).replace('{apps}', self.apps).replace('{port}', str(self.port))

    def write_app(self, name, source):
        path = os.path.join(self.apps, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, 'w') as f:
            f.write(source)
        os.chmod(path, 0o644)
        return path

    def write_config(self, text):
        with open(self.conf, 'w') as f:
            f.write(text)

    def env(self):
        return {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'}

    def configtest(self):
        p = subprocess.run([APACHE, '-t', '-f', self.conf], env=self.env(), capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr

    def start(self, timeout=20):
        rc, out = self.configtest()
        if rc != 0:
            raise RuntimeError('configtest failed:\n' + out)
        subprocess.run([APACHE, '-f', self.conf, '-k', 'start'], env=self.env(), check=True)
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError('Apache did not start:\n' + self.log())

    def pid(self):
        try:
            with open(os.path.join(self.root, 'httpd.pid')) as f:
                return int(f.read().strip())
        except (OSError, ValueError):
            return None

    def children(self):
        """PIDs of the processes whose parent is Apache's parent (children and daemons)."""
        parent = self.pid()
        out = subprocess.run(['ps', '-eo', 'pid=,ppid='], capture_output=True, text=True).stdout
        return [int(p) for p, pp in (line.split() for line in out.splitlines()) if int(pp) == parent]

    def graceful(self, wait=1.0):
        subprocess.run([APACHE, '-f', self.conf, '-k', 'graceful'], env=self.env(), check=True)
        time.sleep(wait)

    def stop(self, timeout=30):
        pid = self.pid()
        if pid is None:
            return
        subprocess.run([APACHE, '-f', self.conf, '-k', 'stop'], env=self.env())
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        else:
            os.kill(pid, signal.SIGKILL)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

    # ---- the error log -------------------------------------------------------------------

    def log(self, start=0):
        try:
            with open(self.error_log, errors='replace') as f:
                f.seek(start)
                return f.read()
        except OSError:
            return ''

    def log_size(self):
        try:
            return os.path.getsize(self.error_log)
        except OSError:
            return 0

    def expect_log(self, *patterns):
        """Declares error-log lines this test expects (regular expressions)."""
        self._expected.extend(re.compile(p) for p in patterns)

    def wait_for_log(self, pattern, start=0, timeout=5):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.log(start)):
                return True
            time.sleep(0.05)
        return False

    def unexpected_lines(self, start):
        bad = []
        for line in self.log(start).splitlines():
            if CRASH.search(line):
                bad.append(line)
            elif SEVERE.search(line) and not any(p.search(line) for p in self._expected):
                bad.append(line)
        self._expected = []
        return bad

    # ---- HTTP ---------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=20):
        conn = http.client.HTTPConnection('127.0.0.1', self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, r.reason, r.getheaders(), r.read())
        finally:
            conn.close()

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def post(self, path, body, **kw):
        return self.request('POST', path, body=body, **kw)

    def raw(self, data, timeout=10):
        """Sends raw bytes; returns everything read until the server closes or times out."""
        with socket.create_connection(('127.0.0.1', self.port), timeout=timeout) as s:
            s.sendall(data)
            chunks = []
            try:
                while True:
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    chunks.append(chunk)
            except socket.timeout:
                pass
            return b''.join(chunks)


class Response:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    @property
    def text(self):
        return self.body.decode('latin-1')

    def __repr__(self):
        return '<Response %d %r>' % (self.status, self.body[:200])
