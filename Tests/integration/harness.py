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
MODULE = os.path.abspath(os.environ.get('SWIFTWSGI_MODULE') or os.path.join(REPO, 'build', 'mod_swiftwsgi.so'))
APACHE = '/usr/sbin/apache2'
MODULES = '/usr/lib/apache2/modules'
# True when the module under test is mod_swiftwsgi; False for Debian's mod_wsgi, which the suite
# also runs against (SWIFTWSGI_MODULE=/usr/lib/apache2/modules/mod_wsgi.so) to check that the
# tests describe mod_wsgi's behaviour. SWIFTWSGI_OURS=0/1 overrides the guess from the file name.
OURS = os.environ.get('SWIFTWSGI_OURS', '1' if 'swiftwsgi' in os.path.basename(MODULE) else '0') == '1'


def _reference_version():
    """The version of the mod_wsgi under test as a tuple: a PyPI build (`mod_wsgi-express
    module-location`) has its egg-info or dist-info beside its package; anything else (Debian's
    package) is 4.9. None for mod_swiftwsgi."""
    if OURS:
        return None
    site = os.path.dirname(os.path.dirname(os.path.dirname(MODULE)))
    for name in os.listdir(site) if os.path.basename(os.path.dirname(os.path.dirname(MODULE))) == 'mod_wsgi' else []:
        m = re.match(r'mod_wsgi-(\d+)\.(\d+)\.(\d+)\.(egg|dist)-info$', name)
        if m:
            return tuple(int(x) for x in m.groups()[:3])
    return (4, 9, 4)


# None for mod_swiftwsgi, else the reference mod_wsgi's version.
MOD_WSGI_VERSION = _reference_version()


def mod_wsgi_versions(minimum=None, below=None):
    """A pytest mark skipping the test against a reference mod_wsgi whose version is not in
    [minimum, below): for what only some versions have (mod_swiftwsgi implements the union)."""
    import pytest
    v = MOD_WSGI_VERSION
    skip = v is not None and ((minimum and v < minimum) or (below and v >= below))
    return pytest.mark.skipif(skip, reason='mod_wsgi %s lacks this' % '.'.join(map(str, v or ())))


# The interpreter the module under test embeds (SWIFTWSGI_PYTHON, default Debian's 3.11; for a
# module built with `make PYTHON=...`, that interpreter), for tests that create virtual
# environments, name Python homes or compare with what the embedded Python says.
PYTHON = os.environ.get('SWIFTWSGI_PYTHON') or '/usr/bin/python3.11'
PYTHON_VERSION, PYTHON_PREFIX = subprocess.run(
    [PYTHON, '-c', 'import sys; print("%d.%d" % sys.version_info[:2]); print(sys.base_prefix)'],
    capture_output=True, text=True, check=True, env={'PATH': '/usr/bin:/bin'}).stdout.split()
# Debian's own Python 3.11 (whose packages, e.g. the Subversion bindings, the module can use).
DEBIAN_PYTHON = os.path.realpath(PYTHON) == os.path.realpath('/usr/bin/python3.11')
# Sanitizer runs (scripts/sanitize-test, against `make sanitize`'s build): SWIFTWSGI_PRELOAD is the
# AddressSanitizer runtime to preload into Apache (the module and the Swift host are instrumented,
# Apache and CPython are not); ASAN_OPTIONS, UBSAN_OPTIONS and ASAN_SYMBOLIZER_PATH pass through
# to it, with log_path set under SWIFTWSGI_SANITIZER_LOGS: one report file per process that found
# something, named after the server's root. conftest fails the test during which one appears.
# SWIFT_BACKTRACE passes through too: the Swift runtime's crash handler reads memory ASan calls
# out of bounds, which would bury a trap's own report.
PRELOAD = os.environ.get('SWIFTWSGI_PRELOAD', '')
SANITIZER_LOGS = os.environ.get('SWIFTWSGI_SANITIZER_LOGS', '')
SANITIZER_VARIABLES = ('ASAN_OPTIONS', 'UBSAN_OPTIONS', 'ASAN_SYMBOLIZER_PATH', 'SWIFT_BACKTRACE')
# Whether Apache runs under AddressSanitizer: it reserves terabytes of address space for its
# shadow memory and keeps freed memory in quarantine, which tests of RLIMIT_AS and RSS allow for.
SANITIZED = bool(PRELOAD)
ASAN_QUARANTINE_KB = 256 * 1024  # quarantine_size_mb's default on 64-bit


def sanitizer_reports():
    """{path: size} of the sanitizer report files written so far (empty outside sanitizer runs)."""
    if not SANITIZER_LOGS:
        return {}
    reports = {}
    for name in os.listdir(SANITIZER_LOGS):
        path = os.path.join(SANITIZER_LOGS, name)
        try:
            reports[path] = os.path.getsize(path)
        except OSError:
            pass
    return reports


def new_sanitizer_reports(before):
    """The text of each report file written or grown since `before` (sanitizer_reports())."""
    texts = []
    for path, size in sorted(sanitizer_reports().items()):
        if before.get(path) != size:
            with open(path, errors='replace') as f:
                f.seek(before.get(path, 0))
                texts.append('==== %s\n%s' % (path, f.read()))
    return texts


# Lines that always fail a test: crashes of a child, of Python, or a child Apache had to kill.
CRASH = re.compile(r'Segmentation fault|AH00052|exit signal|Fatal Python error|AH00045|AH00046|'
                   r'still did not exit|core dumped|double free|Aborted')
SEVERE = re.compile(r'\[[a-z_0-9]*:(error|crit|alert|emerg)\]')

# One error-log line: [time] [module:level] [pid P:tid T] [client A:P] AH01234: message (httpd's
# message ids; mod_swiftwsgi's are SWW0123, see apache/swiftwsgi_log.h)
LOG_LINE = re.compile(r'^\[[^\]]*\] \[(?P<module>[^:\]]*):(?P<level>\w+)\] \[pid (?P<pid>\d+)(?::tid (?P<tid>\d+))?\]'
                      r'(?: \[(?:client|remote) (?P<client>[^\]]*)\])? (?:(?P<aplogno>AH\d{5}|SWW\d{4}): )?(?P<message>.*)$')

# The lines of a Python traceback as mod_wsgi and mod_swiftwsgi log them (matched against the
# message, after the [client ...] and message id prefix); the final "SomeError: text" line is
# declared by each test.
TRACEBACK = (
    r'^mod_(swift)?wsgi \(pid=\d+[^)]*\): (Exception occurred (processing|closing the response of) WSGI script'
    r'|Failed to exec Python script file|Could not read/compile source file|SystemExit exception raised by WSGI script)',
    r'^Traceback \(most recent call last\):$',
    r'^  File "',
    r'^  \[Previous line repeated \d+ more times\]$',
    r'^    ',
    r'^\s*[\^~]+\s*$',
    r'^\s*$',
    r'^(During handling of the above exception|The above exception was the direct cause)',
)


def parse_log_line(line):
    """The fields of an error-log line (module, level, pid, tid, client, aplogno, message) or None."""
    m = LOG_LINE.match(line)
    return m.groupdict() if m else None


def process_age(pid):
    """Seconds since pid started, or None when it is gone."""
    try:
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        with open('/proc/uptime') as f:
            uptime = float(f.read().split()[0])
    except (OSError, IndexError, ValueError):
        return None
    return uptime - int(fields[19]) / os.sysconf('SC_CLK_TCK')


def wait_until_settled(pids, age=1.0):
    """Waits until every process of pids is at least `age` seconds old. Apache 2.4's event MPM
    can crash a child it stops within about 0.2 s of starting it (a race between the child's
    start-up thread and its exit, with or without any module): a stop right after a start
    would otherwise fail tests on Apache's account."""
    for pid in pids:
        a = process_age(pid)
        if a is not None and a < age:
            time.sleep(age - a)


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
        return (text.replace('{root}', self.root).replace('{apps}', self.apps).replace('{port}', str(self.port))
                .replace('{modules}', MODULES))

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
        env = {'PATH': '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', 'LANG': 'C.UTF-8'}
        if PRELOAD:
            env['LD_PRELOAD'] = PRELOAD
            env.update((k, os.environ[k]) for k in SANITIZER_VARIABLES if k in os.environ)
            if SANITIZER_LOGS:
                # UBSAN_OPTIONS is parsed after ASAN_OPTIONS and would override its log_path.
                log_path = 'log_path=' + os.path.join(SANITIZER_LOGS, os.path.basename(self.root))
                for k in ('ASAN_OPTIONS', 'UBSAN_OPTIONS'):
                    env[k] = ':'.join(filter(None, [env.get(k), log_path]))
        return env

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
        wait_until_settled(self.children())
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
        """Declares error-log lines this test expects (regular expressions, searched in the whole
        line and in its message)."""
        self._expected.extend(re.compile(p) for p in patterns)

    expect_errors = expect_log

    def expect_traceback(self, *final):
        """Declares a logged Python traceback whose last line matches one of `final`."""
        self.expect_log(*TRACEBACK)
        self.expect_log(*final)

    def log_entries(self, start=0):
        """The parsed error-log lines written since `start` (unparseable lines are skipped)."""
        return [e for e in map(parse_log_line, self.log(start).splitlines()) if e]

    def wait_for_entry(self, pattern, start=0, timeout=5):
        """The first parsed log line since `start` whose message matches `pattern`, or None."""
        deadline = time.time() + timeout
        while True:
            for e in self.log_entries(start):
                if re.search(pattern, e['message']):
                    return e
            if time.time() >= deadline:
                return None
            time.sleep(0.05)

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
            elif SEVERE.search(line):
                entry = parse_log_line(line)
                message = entry['message'] if entry else line
                if not any(p.search(line) or p.search(message) for p in self._expected):
                    bad.append(line)
        self._expected = []
        return bad

    def alive(self, pid):
        """Whether `pid` is still one of this Apache's children."""
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return pid in self.children()

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

    def connect(self, timeout=10):
        return RawClient(self.port, timeout)

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


# Prefork settings that keep exactly one child, for tests that watch one process's memory
# (conftest.py's one_child fixture starts the module's CONFIG and APPS that way).
ONE_PREFORK_CHILD = 'StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\nMaxRequestWorkers 1'


def upload_app(log=False):
    """The source of an upload application: reads wsgi.input in 64 KB blocks to its end and
    answers 'N MD5HEX' (the bytes read and their md5; upload_answer(data) is what to expect).
    With log, it also writes 'md5 of N bytes' to wsgi.errors (a test declares that line)."""
    return r'''
import hashlib
def application(environ, start_response):
    inp = environ['wsgi.input']
    h = hashlib.md5()
    n = 0
    while True:
        block = inp.read(65536)
        if not block:
            break
        h.update(block)
        n += len(block)
    if %r:
        environ['wsgi.errors'].write('md5 of %%d bytes\n' %% n)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%%d %%s' %% (n, h.hexdigest())).encode()]
''' % bool(log)


def upload_answer(data):
    """What upload_app answers for a body of data (bytes)."""
    import hashlib
    return '%d %s' % (len(data), hashlib.md5(data).hexdigest())


def configtest(config):
    """apachectl configtest of a private Apache with config: (ok, output)."""
    apache = Apache(config)
    try:
        return apache.configtest()
    finally:
        apache.cleanup()


def json_from(config, apps, path):
    """Starts a private Apache with config and apps, returns the JSON body of one 200 answer
    to path, and stops it."""
    import json
    apache = Apache(config, apps)
    try:
        apache.start()
        r = apache.get(path)
        assert r.status == 200, r
        return json.loads(r.body)
    finally:
        apache.stop()
        apache.cleanup()


def state_file(server, name):
    """A fresh path in the server's state directory, for an application to report through."""
    return os.path.join(server.state, '%s-%d' % (name, time.time_ns()))


def wait_for_file(path, timeout=10):
    """The content of a state file the application writes (waits until it is not empty)."""
    deadline = time.time() + timeout
    while True:
        try:
            with open(path) as f:
                text = f.read()
            if text or time.time() >= deadline:
                return text
        except FileNotFoundError:
            if time.time() >= deadline:
                raise
        time.sleep(0.05)


class RawClient:
    """One raw HTTP connection, for what http.client cannot do: chunked request bodies, bad
    requests, reading the first chunk of a stream while the application still blocks, and
    vanishing mid-response. `data` holds everything received so far."""

    def __init__(self, port, timeout=10):
        self.sock = socket.create_connection(('127.0.0.1', port), timeout=timeout)
        self.local_port = self.sock.getsockname()[1]
        self.data = b''
        self.eof = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def request(self, method, path, headers=(), body=b'', chunks=None):
        """Sends a request; `chunks` (a list of bytes) sends the body chunked."""
        head = ['%s %s HTTP/1.1' % (method, path), 'Host: 127.0.0.1']
        head += ['%s: %s' % h for h in headers]
        if chunks is not None:
            head.append('Transfer-Encoding: chunked')
            body = b''.join(b'%x\r\n%s\r\n' % (len(c), c) for c in chunks if c) + b'0\r\n\r\n'
        elif body:
            head.append('Content-Length: %d' % len(body))
        self.send(('\r\n'.join(head) + '\r\n\r\n').encode('latin-1') + body)

    def recv(self, timeout=None):
        if timeout is not None:
            self.sock.settimeout(timeout)
        chunk = self.sock.recv(65536)
        if not chunk:
            self.eof = True
        self.data += chunk
        return chunk

    def read_until(self, marker, timeout=10):
        """Reads until `marker` arrived; fails on EOF or timeout. Returns all data so far."""
        deadline = time.time() + timeout
        while marker not in self.data:
            left = deadline - time.time()
            if left <= 0:
                raise AssertionError('%r not received within %ss; got %r' % (marker, timeout, self.data[-300:]))
            try:
                if not self.recv(left):
                    raise AssertionError('connection closed before %r; got %r' % (marker, self.data[-300:]))
            except socket.timeout:
                pass
        return self.data

    def read_to_eof(self, timeout=10):
        """Reads until the server closes (eof True) or nothing came for `timeout` seconds."""
        try:
            while self.recv(timeout):
                pass
        except socket.timeout:
            pass
        except ConnectionResetError:
            self.eof = True
        return self.data

    def close(self):
        self.sock.close()


def split_response(raw):
    """(status, {lower-case header: value}, body bytes as sent) of a raw response."""
    head, _, body = raw.partition(b'\r\n\r\n')
    lines = head.decode('latin-1').split('\r\n')
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        k, _, v = line.partition(':')
        headers[k.strip().lower()] = v.strip()
    return status, headers, body


def dechunk(body):
    """(data, complete) of a chunked body: complete only if the terminating zero chunk came."""
    data = b''
    while True:
        size_line, sep, rest = body.partition(b'\r\n')
        if not sep:
            return data, False
        try:
            size = int(size_line.split(b';')[0], 16)
        except ValueError:
            return data, False
        if size == 0:
            return data, rest.startswith(b'\r\n')
        if len(rest) < size + 2:
            return data + rest[:size], False
        data += rest[:size]
        body = rest[size + 2:]


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



DJANGO_VENV = '/var/cache/swiftwsgi-tests/django-venv' + ('' if PYTHON_VERSION == '3.11' else '-' + PYTHON_VERSION)
DJANGO_REQUIREMENT = 'Django>=4.2,<6'


def django_venv():
    """The python of a cached venv of PYTHON with Django from PyPI (made on first use, readable
    by Apache's user); skips the test when PyPI cannot be reached."""
    import pytest
    python = os.path.join(DJANGO_VENV, 'bin', 'python')
    cfg = os.path.join(DJANGO_VENV, 'pyvenv.cfg')
    if not os.path.exists(python) or 'home = %s\n' % os.path.dirname(PYTHON) not in open(cfg).read():
        os.makedirs(os.path.dirname(DJANGO_VENV), exist_ok=True)
        subprocess.run([PYTHON, '-m', 'venv', '--clear', DJANGO_VENV], check=True)
    if subprocess.run([python, '-c', 'import django'], capture_output=True).returncode != 0:
        r = subprocess.run([python, '-m', 'pip', 'install', '-q', DJANGO_REQUIREMENT], capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip('Django could not be installed from PyPI: ' + r.stderr[-500:])
    return python
