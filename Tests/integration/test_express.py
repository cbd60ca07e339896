"""swiftwsgi-express, started as a user would: a real process, real requests, real signals.

Each test starts one server with a group of mod_wsgi-express options and checks their effects
from the outside (TLS handshakes, headers, status codes, log files, sockets, processes)."""

import base64
import gzip
import http.client
import http.server
import json
import re
import os
import pathlib
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import urllib.request

import pytest

from harness import MODULE, PYTHON, PYTHON_VERSION, REPO, SANITIZED, free_port, wait_until_settled

pytestmark = pytest.mark.ours_only

EXPRESS = os.path.join(REPO, 'build', 'swiftwsgi-express')
AS_ROOT = os.geteuid() == 0
# express picks the module built for the Python it finds first on PATH: the one under test.
EXPRESS_ENV = {'PATH': os.path.dirname(PYTHON) + ':/usr/bin:/bin'}

APP = '''
import json, os, sys, time
sys.path.insert(0, os.path.dirname(__file__))
import helper

KEYS = ('wsgi.url_scheme', 'wsgi.multiprocess', 'mod_wsgi.process_group', 'SCRIPT_NAME', 'PATH_INFO',
        'REQUEST_METHOD', 'HTTPS', 'SSL_PROTOCOL', 'SERVER_NAME', 'REMOTE_USER', 'EXPRESS_SETENV',
        'EXPRESS_PASSENV', 'EXPRESS_ENVVARS', 'HTTP_HOST', 'mod_wsgi.ignore_activity')

def application(environ, start_response):
    path = environ.get('PATH_INFO', '')
    if path == '/notfound':
        start_response('404 Not Found', [('Content-Type', 'text/plain')])
        return [b'app-404']
    if path == '/bigheader':
        start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Big', 'x' * 10000)])
        return [b'big']
    if path == '/burn':
        with open(environ['QUERY_STRING'], 'w') as f:
            f.write(str(os.getpid()))
        end = time.process_time() + 1.5
        while time.process_time() < end:
            pass
    if path == '/sleep':
        time.sleep(float(environ.get('QUERY_STRING') or 1))
    if path == '/echo':
        body = environ['wsgi.input'].read()
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'%d' % len(body)]
    if path == '/fill':
        n = int(environ.get('QUERY_STRING') or 0)
        line = 'x' * 1000
        for _ in range(n // 1000):
            environ['wsgi.errors'].write(line + '\\n')
    if path == '/log':
        environ['wsgi.errors'].write('marker-%s\\n' % environ.get('QUERY_STRING'))
    if path == '/text':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [b'compress me ' * 500]
    info = {k: environ.get(k) for k in KEYS}
    info.update(value=helper.VALUE, pid=os.getpid(), cwd=os.getcwd(), lc_all=os.environ.get('LC_ALL'),
                lang=os.environ.get('LANG'), eggs=os.environ.get('PYTHON_EGG_CACHE'),
                passenv_os=os.environ.get('EXPRESS_PASSENV'), sys_path=sys.path,
                threads=__import__('mod_wsgi').threads_per_process,
                server_metrics=__import__('mod_wsgi').server_metrics() is not None)
    start_response('200 OK', [('Content-Type', 'application/json'), ('X-Method', environ['REQUEST_METHOD'])])
    return [json.dumps(info).encode()]
'''


def tree(path):
    os.chmod(path, 0o755)
    for p in pathlib.Path(path).rglob('*'):
        os.chmod(p, 0o777 if p.is_dir() else 0o666)


@pytest.fixture
def project():
    # Not pytest's tmp_path: its parents are private to root, and the application runs as www-data.
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix='swiftwsgi-express-test-'))
    (tmp_path / 'app.wsgi').write_text(APP)
    (tmp_path / 'helper.py').write_text("VALUE = 'one'\n")
    static = tmp_path / 'static'
    static.mkdir()
    (static / 'style.css').write_text('body {}\n')
    tree(tmp_path)
    yield tmp_path
    shutil.rmtree(tmp_path, ignore_errors=True)


class Server:
    def __init__(self, process, port, project):
        self.process, self.port, self.project = process, port, project

    def request(self, method, path, body=None, headers=None, port=None):
        c = http.client.HTTPConnection('127.0.0.1', port or self.port, timeout=15)
        try:
            c.request(method, path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request('GET', path, **kw)

    def json(self, path, **kw):
        status, headers, body = self.get(path, **kw)
        assert status == 200, (status, body)
        return json.loads(body)


def start(project, *args, entry='app.wsgi', cwd=None, env=None, port=None, stdin=None):
    """Starts express; `stdin` (bytes) is written to its standard input, which stays open."""
    port = port or free_port()
    cmd = [EXPRESS, 'start-server'] + ([str(project / entry)] if entry else []) + [
        '--port', str(port), '--server-root', str(project / 'server')]
    if AS_ROOT:
        cmd += ['--user', 'www-data', '--group', 'www-data']
    p = subprocess.Popen(cmd + [str(a) for a in args], cwd=cwd or project, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, env=dict(EXPRESS_ENV, **(env or {})),
                         stdin=subprocess.PIPE if stdin is not None else None,
                         start_new_session=True)    # prefork's parent stops its whole process group
    if stdin is not None:
        p.stdin.write(stdin)
        p.stdin.flush()
    deadline = time.time() + 30
    while time.time() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                pass
            server = Server(p, port, project)
            # Apache listens before its daemons are up: wait for a first answer.
            server.get('/')
            return server
        except OSError:
            if p.poll() is not None:
                raise AssertionError('express exited: ' + p.stdout.read().decode())
            time.sleep(0.1)
    p.terminate()
    try:
        p.wait(20)
    except subprocess.TimeoutExpired:
        p.kill()
    raise AssertionError('express did not answer: ' + (p.stdout.read() or b'').decode(errors='replace'))


def stop(server):
    p, project = server.process, server.project
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


def logs(server):
    root = server.project / 'server'
    return ''.join(p.read_text(errors='replace') for p in root.glob('*_log*') if p.is_file())


def fetch(port, path):
    with urllib.request.urlopen('http://127.0.0.1:%d%s' % (port, path), timeout=10) as r:
        return r.read().decode()


def wait_for(predicate, timeout=15, interval=0.2):
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return predicate()


def pid_alive(pid):
    return os.path.exists('/proc/%d' % pid)


# --------------------------------------------------------------------------------------------
# The defaults: daemon mode, log files in the server root, request limits.

SERVICE = '''
import os, time
with open(%r, 'w') as f:
    f.write('%%d %%s' %% (os.getpid(), os.getcwd()))
while True:         # a service runs until its process stops (it is restarted when it returns)
    time.sleep(1)
'''


def test_daemon_mode_by_default_with_static_alias_and_clean_stop(project):
    (project / 'var').mkdir()
    (project / 'service.py').write_text(SERVICE % str(project / 'var' / 'service.txt'))
    tree(project)
    s = start(project, '--url-alias', '/static', project / 'static', '--document-root', project / 'static',
              '--service-script', 'svc-test', project / 'service.py', '--response-socket-timeout', 30)
    try:
        # --service-script: the script runs in a process of its own, named after the service.
        assert wait_for(lambda: (project / 'var' / 'service.txt').exists(), timeout=10)
        pid, cwd = (project / 'var' / 'service.txt').read_text().split(' ', 1)
        with open('/proc/%s/cmdline' % pid, 'rb') as f:
            assert f.read().startswith(b'svc-test')
        assert cwd == str(project)
        assert fetch(s.port, '/style.css') == 'body {}\n'     # an existing file of the document root
        info = s.json('/')
        assert info['value'] == 'one' and info['mod_wsgi.process_group'] == 'localhost:%d' % s.port
        assert info['wsgi.multiprocess'] is False      # --processes not given (mod_wsgi-express)
        assert info['cwd'] == str(project)
        assert info['eggs'] == str(project / 'server' / 'python-eggs')
        assert fetch(s.port, '/static/style.css') == 'body {}\n'
        assert s.json('/any/path')['PATH_INFO'] == '/any/path'
        # mod_wsgi-express's request limits: 10 MB bodies, mod_reqtimeout, keep-alive 2 s.
        conf = (project / 'server' / 'httpd.conf').read_text()
        assert 'LimitRequestBody 10485760' in conf
        assert 'RequestReadTimeout header=15-30,MinRate=500 body=15,MinRate=500' in conf
        assert s.request('POST', '/echo', body=b'x' * 11_000_000)[0] == 413
        assert s.request('POST', '/echo', body=b'x' * 1_000_000)[2] == b'1000000'
    finally:
        out = stop(s)
    # Logs go to files in the server root unless --log-to-terminal.
    assert (project / 'server' / 'error_log').exists()
    assert 'Server URL' in out and 'error_log' in out


def test_reload_on_changes(project):
    s = start(project, '--reload-on-changes')
    try:
        assert s.json('/')['value'] == 'one'
        time.sleep(1.2)
        (project / 'helper.py').write_text("VALUE = 'two'\n")

        def reloaded():
            try:
                return s.json('/')['value'] == 'two'
            except (OSError, AssertionError):
                return False
        assert wait_for(reloaded)
    finally:
        stop(s)


# --------------------------------------------------------------------------------------------
# HTTPS, HTTP/2, names, server-status.

def openssl(*args, cwd):
    subprocess.run(['openssl'] + list(args), cwd=cwd, check=True, capture_output=True)


def make_certificates(d):
    """A CA, a server certificate for localhost and alias.test signed by it, a client certificate."""
    ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes']
    openssl('req', '-x509', *ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '2', '-subj', '/CN=Express Test CA', cwd=d)
    for name, ext in [('server', 'subjectAltName=DNS:localhost,DNS:alias.test,DNS:other.test,IP:127.0.0.1'),
                      ('client', 'extendedKeyUsage=clientAuth')]:
        openssl('req', *ec, '-keyout', name + '.key', '-out', name + '.csr', '-subj', '/CN=' + name, cwd=d)
        (d / (name + '.ext')).write_text(ext + '\n')
        openssl('x509', '-req', '-in', name + '.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial',
                '-out', name + '.crt', '-days', '2', '-extfile', name + '.ext', cwd=d)
    tree(d)


def https(port, path, host='localhost', ca=None, client=None, headers=None):
    context = ssl.create_default_context(cafile=str(ca))
    if client:
        context.load_cert_chain(str(client[0]), str(client[1]))
        context.post_handshake_auth = True
    c = http.client.HTTPSConnection('127.0.0.1', port, timeout=15, context=context)
    # SNI and certificate check for the name, connection to the loopback address.
    c._tunnel_host = None
    c.host = host
    sock = socket.create_connection(('127.0.0.1', port), timeout=15)
    c.sock = context.wrap_socket(sock, server_hostname=host)
    try:
        c.request('GET', path, headers=dict({'Host': '%s:%d' % (host, port)}, **(headers or {})))
        r = c.getresponse()
        return r.status, dict(r.getheaders()), r.read(), c.sock.version()
    finally:
        c.close()


def test_https_http2_names_and_server_status(project):
    certs = project / 'certs'
    certs.mkdir()
    make_certificates(certs)
    hp = free_port()
    s = start(project, '--https-port', hp, '--ssl-certificate-file', certs / 'server.crt',
              '--ssl-certificate-key-file', certs / 'server.key', '--ssl-certificate-chain-file', certs / 'ca.crt',
              '--ssl-ca-certificate-file', certs / 'ca.crt', '--ssl-verify-client', '/secure',
              '--ssl-environment', '--https-only', '--hsts-policy', 'max-age=600',
              '--server-name', 'localhost', '--server-alias', 'alias.test', '--http2', '--server-status')
    ca = certs / 'ca.crt'
    try:
        # Plain HTTP redirects to HTTPS (--https-only).
        status, headers, _ = s.get('/page?q=1', headers={'Host': 'localhost:%d' % s.port})
        assert status in (301, 302) and headers['Location'] == 'https://localhost:%d/page?q=1' % hp
        # A TLS handshake verified against the test's CA; HSTS; mod_ssl's variables in environ.
        status, headers, body, version = https(hp, '/', ca=ca)
        assert status == 200 and version in ('TLSv1.2', 'TLSv1.3')
        assert headers['Strict-Transport-Security'] == 'max-age=600'
        info = json.loads(body)
        assert info['wsgi.url_scheme'] == 'https'     # (HTTPS itself leaves environ, as with mod_wsgi)
        assert info['SSL_PROTOCOL'] == version and info['SERVER_NAME'] == 'localhost'
        # --server-alias is served, another name is refused (mod_wsgi-express's default vhost).
        assert https(hp, '/', host='alias.test', ca=ca)[0] == 200
        assert https(hp, '/', host='other.test', ca=ca)[0] == 403
        # The chain file is sent after the server certificate.
        out = subprocess.run(['openssl', 's_client', '-connect', '127.0.0.1:%d' % hp, '-servername', 'localhost',
                              '-showcerts'], input='', capture_output=True, text=True, timeout=20).stdout
        assert out.count('BEGIN CERTIFICATE') == 2
        # HTTP/2 through ALPN.
        r = subprocess.run(['curl', '-sS', '--http2', '-o', '/dev/null', '-w', '%{http_version}', '--cacert', str(ca),
                            '--resolve', 'localhost:%d:127.0.0.1' % hp, 'https://localhost:%d/' % hp],
                           capture_output=True, text=True, timeout=20)
        assert r.stdout == '2', r.stderr
        # Client certificates only under --ssl-verify-client's URL.
        status = https(hp, '/secure/x', ca=ca)[0]
        assert status == 403
        status, _, body, _ = https(hp, '/secure/x', ca=ca, client=(certs / 'client.crt', certs / 'client.key'))
        assert status == 200 and json.loads(body)['PATH_INFO'] == '/secure/x'
        # mod_status, to this machine.
        status, _, body, _ = https(hp, '/server-status?auto', ca=ca)
        assert status == 200 and b'Total Accesses:' in body and b'BusyWorkers:' in body
    finally:
        stop(s)


def test_ssl_certificate_prefix_and_http2_cleartext(project):
    certs = project / 'certs'
    certs.mkdir()
    make_certificates(certs)
    hp = free_port()
    s = start(project, '--https-port', hp, '--ssl-certificate', certs / 'server', '--http2', '--server-status',
              '--disable-reloading')
    try:
        assert s.json('/')['value'] == 'one'
        time.sleep(1.1)
        with open(project / 'app.wsgi', 'a') as f:
            f.write('\nhelper.VALUE = "changed"\n')
        time.sleep(0.5)
        assert s.json('/')['value'] == 'one'        # the changed script is not reloaded
        status, _, body, _ = https(hp, '/', ca=certs / 'ca.crt')
        assert status == 200 and json.loads(body)['wsgi.url_scheme'] == 'https'
        # Without --https-only plain HTTP is served too, over h2c with prior knowledge.
        r = subprocess.run(['curl', '-sS', '--http2-prior-knowledge', '-o', '/dev/null', '-w', '%{http_version}',
                            'http://127.0.0.1:%d/' % s.port], capture_output=True, text=True, timeout=20)
        assert r.stdout == '2', r.stderr
        status, _, body = s.get('/server-status?auto')
        assert status == 200 and b'Total Accesses:' in body
    finally:
        stop(s)


# --------------------------------------------------------------------------------------------
# A module entry point with most request, proxy, process and environment options.

class Backend(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({'path': self.path, 'port': self.headers.get('X-Forwarded-Port'),
                           'host': self.headers.get('Host')}).encode()
        self.send_response(200)
        self.send_header('Content-Type', 'application/json')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def listen_backlog(kind, match):
    """The backlog (Send-Q) ss shows for the listening socket whose line contains match."""
    out = subprocess.run(['ss', '-l' + kind + 'n'], capture_output=True, text=True).stdout
    column = out.splitlines()[0].split().index('Send-Q')
    for line in out.splitlines()[1:]:
        if match in line:
            return int(line.split()[column])
    raise AssertionError('no listening socket %s in:\n%s' % (match, out))


def test_module_entry_point_limits_proxies_and_environment(project):
    package = project / 'mypkg'
    package.mkdir()
    (package / '__init__.py').write_text('')
    (package / 'wsgi.py').write_text(APP.replace("sys.path.insert(0, os.path.dirname(__file__))",
                                                 "sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))")
                                     + '\napp = application\n')
    errors = project / 'errors'
    errors.mkdir()
    (errors / '404.html').write_text('custom 404 page\n')
    (project / 'rewrite.conf').write_text('RewriteRule ^/old$ /app/moved [R=301,L]\n')
    (project / 'envvars.sh').write_text('export EXPRESS_ENVVARS=from-envvars\n')
    sockets = project / 'sockets'
    sockets.mkdir()
    (project / 'var').mkdir()
    (project / 'extra').mkdir()
    eggs = project / 'eggs'
    tree(project)
    elsewhere = pathlib.Path(tempfile.mkdtemp(prefix='swiftwsgi-express-cwd-'))
    backend = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Backend)
    threading.Thread(target=backend.serve_forever, daemon=True).start()
    bp = backend.server_address[1]
    s = start(project, '--application-type', 'module', '--entry-point', 'mypkg.wsgi', '--callable-object', 'app',
              '--mount-point', '/app', '--working-directory', project, '--processes', 2,
              '--threads', 3, '--max-clients', 30, '--python-path', project / 'extra',
              '--url-alias', '/errors', errors, '--error-document', 404, '/errors/404.html', '--error-override',
              '--rewrite-rules', project / 'rewrite.conf',
              '--server-name', 'www.example.test', '--allow-localhost', '--server-status',
              '--trust-proxy-header', 'X-Forwarded-Proto', '--trust-proxy', '127.0.0.1',
              '--proxy-mount-point', '/backend', 'http://127.0.0.1:%d/base' % bp,
              '--proxy-virtual-host', 'proxied.test', 'http://127.0.0.1:%d/' % bp,
              '--limit-request-body', 1000, '--chunked-request', '--compress-responses', '--map-head-to-get', 'Off',
              '--keep-alive-timeout', 1, '--header-timeout', 1, '--header-max-timeout', 2, '--header-min-rate', 100,
              '--body-timeout', 1, '--body-max-timeout', 2, '--body-min-rate', 100,
              '--server-backlog', 123, '--daemon-backlog', 77, '--socket-prefix', sockets,
              '--header-buffer-size', 8192, '--cpu-time-limit', 1,
              '--setenv', 'EXPRESS_SETENV', 'set', '--passenv', 'EXPRESS_PASSENV', '--passenv', 'EXPRESS_ENVVARS',
              '--envvars-script', project / 'envvars.sh', '--locale', 'C.UTF-8', '--lang', 'C.UTF-8', '--python-eggs', eggs,
              '--pid-file', project / 'apache.pid', '--process-name', 'express-test-parent',
              entry=None, cwd=elsewhere, env={'EXPRESS_PASSENV': 'from-express'})
    try:
        info = s.json('/app/info')
        # The module was imported from the working directory, mounted at /app.
        assert info['value'] == 'one' and info['SCRIPT_NAME'] == '/app' and info['PATH_INFO'] == '/info'
        assert info['cwd'] == str(project) and info['wsgi.multiprocess'] is True and info['threads'] == 3
        assert str(project / 'extra') in info['sys_path']
        assert info['server_metrics'] is False          # without --server-metrics
        assert info['EXPRESS_SETENV'] == 'set' and info['EXPRESS_PASSENV'] == 'from-express'
        assert info['EXPRESS_ENVVARS'] == 'from-envvars'
        assert info['lc_all'] == 'C.UTF-8' and info['lang'] == 'C.UTF-8' and info['eggs'] == str(eggs)
        # Names: the parent domain redirects to www., other names only from this machine.
        status, headers, _ = s.get('/app/info', headers={'Host': 'example.test'})
        assert status == 301 and headers['Location'] == 'http://www.example.test:%d/app/info' % s.port
        assert s.json('/app/info', headers={'Host': 'www.example.test'})['SERVER_NAME'] == 'www.example.test'
        # A trusted proxy's X-Forwarded-Proto.
        assert s.json('/app/info', headers={'X-Forwarded-Proto': 'https'})['wsgi.url_scheme'] == 'https'
        # Request bodies: the limit, chunked bodies.
        assert s.request('POST', '/app/echo', body=b'x' * 2000)[0] == 413
        assert s.request('POST', '/app/echo', body=b'x' * 900)[2] == b'900'
        # (http.client sends an iterator without Content-Length as chunked)
        assert s.request('POST', '/app/echo', body=iter([b'x' * 300, b'y' * 300]))[2] == b'600'
        # HEAD stays HEAD even with an output filter (--map-head-to-get Off); text is compressed.
        assert s.request('HEAD', '/app/info')[1]['X-Method'] == 'HEAD'
        status, headers, body = s.get('/app/text', headers={'Accept-Encoding': 'gzip'})
        assert headers.get('Content-Encoding') == 'gzip' and gzip.decompress(body) == b'compress me ' * 500
        # The application's 404 is replaced by the error document.
        status, _, body = s.get('/app/notfound')
        assert status == 404 and body == b'custom 404 page\n'
        # Rewrite rules; proxies.
        status, headers, _ = s.get('/old')
        assert status == 301 and headers['Location'].endswith('/app/moved')
        proxied = json.loads(s.get('/backend/hello')[2])
        assert proxied['path'] == '/base/hello' and proxied['port'] == str(s.port)
        assert json.loads(s.get('/x', headers={'Host': 'proxied.test'})[2])['path'] == '/x'
        # mod_status from this machine.
        status, _, body = s.get('/server-status?auto')
        assert status == 200 and b'Total Accesses:' in body
        # --max-clients 30: two children of 25 threads (without it, 2 x 3 threads: one child of 12).
        scoreboard = [l for l in body.decode().splitlines() if l.startswith('Scoreboard: ')][0]
        assert len(scoreboard) - len('Scoreboard: ') == 50, scoreboard
        # A response header larger than --header-buffer-size.
        assert s.get('/app/bigheader')[0] == 500
        # Keep-alive connections close after --keep-alive-timeout.
        c = http.client.HTTPConnection('127.0.0.1', s.port, timeout=10)
        c.request('GET', '/app/info')
        c.getresponse().read()
        time.sleep(1.8)
        assert c.sock.recv(1) == b''
        c.close()
        # mod_reqtimeout: unfinished headers, then an unfinished body.
        for request in [b'GET /app/info HTTP/1.1\r\nHost: x\r\n',
                        b'POST /app/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nxxxx']:
            with socket.create_connection(('127.0.0.1', s.port), timeout=10) as sock:
                begun = time.time()
                sock.sendall(request)
                answer = b''
                while True:
                    chunk = sock.recv(4096)
                    if not chunk:
                        break
                    answer += chunk
                assert time.time() - begun < 5, answer
                assert answer == b'' or answer.split(b' ')[1] in (b'400', b'408', b'500'), answer
        # Backlogs of Apache's port and of the daemon socket under --socket-prefix.
        assert listen_backlog('t', ':%d ' % s.port) == 123
        assert listen_backlog('x', str(sockets)) == 77
        # Pid file and the parent's process name.
        assert int((project / 'apache.pid').read_text()) == s.process.pid
        with open('/proc/%d/cmdline' % s.process.pid, 'rb') as f:
            assert f.read().split(b'\0')[0] == b'express-test-parent'
        # --cpu-time-limit replaces a process that used its CPU time.
        marker = project / 'var' / 'burned.pid'
        status = s.get('/app/burn?%s' % marker)   # 200, or 502 when the limit struck during the request
        assert marker.exists(), (status, logs(s)[-3000:])
        burned = int(marker.read_text())
        assert wait_for(lambda: not pid_alive(burned), timeout=10)
        assert s.json('/app/info')['value'] == 'one'
        # mod_status's page has the daemon group's section: processes, busy threads, requests,
        # restarts and why.
        key = 'WSGIDaemon[localhost_%d]' % s.port
        sleeper = threading.Thread(target=s.get, args=('/app/sleep?2',))
        sleeper.start()
        time.sleep(0.5)

        def status():
            text = s.get('/server-status?auto')[2].decode()
            return {l.split(': ', 1)[0][len(key):]: l.split(': ', 1)[1] for l in text.splitlines() if l.startswith(key)}
        st = status()
        sleeper.join()
        assert st['Processes'] == '2' and st['Threads'] == '6' and st['BusyThreads'] == '1', st
        assert int(st['Requests']) >= 10 and st['Restarts'] == '1', st
        assert st['LastRestartReason'] == 'signal 9', st     # RLIMIT_CPU's kill
        html = s.get('/server-status')[2].decode()
        assert 'mod_swiftwsgi daemon process groups' in html and '<h3>localhost:%d</h3>' % s.port in html
    finally:
        backend.shutdown()
        stop(s)
        shutil.rmtree(elsewhere, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Log files.

def test_log_files_formats_rotation_and_restart_interval(project):
    logs_dir = project / 'logs'
    s = start(project, '--log-directory', logs_dir, '--access-log', '--access-log-format', '%h %>s [%{X-Test}i]',
              '--error-log-format', '[%l] SWIFTLOG %M', '--error-log-name', 'err.log', '--access-log-name', 'acc.log',
              '--startup-log', '--startup-log-name', 'start.log', '--rotate-logs', '--max-log-size', 1,
              '--restart-interval', 2, '--log-to-terminal', '--host', '127.0.0.1', '--log-level', 'info',
              '--rotatelogs-executable', '/usr/bin/rotatelogs', '--ignore-activity', '/health',
              '--server-status')    # --log-directory overrides --log-to-terminal
    try:
        info = s.json('/')
        first = info['pid']
        assert info['mod_wsgi.ignore_activity'] == '0'
        assert s.json('/health')['mod_wsgi.ignore_activity'] == '1'     # --ignore-activity
        time.sleep(1.1)     # rotatelogs names files by the second: a rotation needs a new second
        s.get('/log?one', headers={'X-Test': 'hello'})
        s.get('/fill?1200000')
        time.sleep(1.1)
        s.get('/log?two')
        assert wait_for(lambda: len(list(logs_dir.glob('err.log.*'))) >= 2, timeout=5)
        assert wait_for(lambda: '127.0.0.1 200 [hello]' in ''.join(p.read_text() for p in logs_dir.glob('acc.log.*')), 5)
        def errors():
            return ''.join(p.read_text(errors='replace') for p in logs_dir.glob('err.log.*'))
        for marker in ('marker-one', 'marker-two'):
            pattern = re.compile(r'^\[error\] SWIFTLOG ([A-Z]+\d+: )?%s$' % marker, re.M)
            assert wait_for(lambda: pattern.search(errors()), timeout=5), errors()[-2000:]
        assert (logs_dir / 'start.log').exists()
        assert 'daemon process ready' in errors()      # --log-level info
        listening = subprocess.run(['ss', '-ltn'], capture_output=True, text=True).stdout
        assert '127.0.0.1:%d ' % s.port in listening and '0.0.0.0:%d ' % s.port not in listening
        # --restart-interval replaces the daemon process.
        assert wait_for(lambda: s.json('/')['pid'] != first, timeout=8)
        auto = s.get('/server-status?auto')[2].decode()
        assert 'WSGIDaemon[127.0.0.1_%d]LastRestartReason: restart_interval\n' % s.port in auto, auto
    finally:
        out = stop(s)
    assert 'GET / HTTP' not in out


# --------------------------------------------------------------------------------------------
# Static files only.

def test_static_application_type(project):
    site = project / 'site'
    (site / 'sub').mkdir(parents=True)
    (site / 'index.html').write_text('the index\n')
    (site / 'missing.html').write_text('not here\n')
    (site / 'sub' / 'a.txt').write_text('a\n')
    (site / 'sub' / '.htaccess').write_text('Header set X-Htaccess yes\n')
    (site / 'file.swt').write_text('swift test\n')
    (site / 'big.bin').write_bytes(os.urandom(1 << 20))
    (site / 'hello.cgi').write_text('#!/bin/sh\nprintf "Content-Type: text/plain\\n\\ncgi says hello\\n"\n')
    (project / 'mime.types').write_text('application/x-swifttest swt\ntext/plain txt\ntext/html html\n')
    (project / 'var').mkdir()
    (project / 'httpd.sh').write_text('#!/bin/sh\ntouch %s\nexec /usr/sbin/apache2 "$@"\n' % (project / 'var' / 'httpd-ran'))
    (project / 'modules').mkdir()
    for m in pathlib.Path('/usr/lib/apache2/modules').glob('*.so'):
        shutil.copy(m, project / 'modules' / m.name)
    tree(project)
    os.chmod(project / 'httpd.sh', 0o755)
    os.chmod(site / 'hello.cgi', 0o755)
    s = start(project, '--application-type', 'static', site, '--directory-index', 'index.html',
              '--directory-listing', '--allow-override', 'FileInfo', '--mime-types', project / 'mime.types',
              '--error-document', 404, '/missing.html', '--enable-sendfile', '--server-mpm', 'prefork',
              '--httpd-executable', project / 'httpd.sh', '--modules-directory', project / 'modules',
              '--shell-executable', '/bin/bash', '--with-cgi', entry=None)
    try:
        # Our httpd wrapper ran, Apache loaded its modules from --modules-directory, prefork MPM.
        assert (project / 'var' / 'httpd-ran').exists()
        with open('/proc/%d/maps' % s.process.pid) as f:
            maps = f.read()
        assert str(project / 'modules' / 'mod_mpm_prefork.so') in maps and 'mod_mpm_event' not in maps
        assert s.get('/')[2] == b'the index\n'
        status, headers, body = s.get('/sub/')
        assert status == 200 and b'a.txt' in body
        assert s.get('/sub/a.txt')[1].get('X-Htaccess') == 'yes'
        assert s.get('/file.swt')[1]['Content-Type'] == 'application/x-swifttest'
        assert s.get('/nope') == (404, s.get('/nope')[1], b'not here\n')
        assert s.get('/big.bin')[2] == (site / 'big.bin').read_bytes()
        assert s.get('/hello.cgi')[2] == b'cgi says hello\n'
    finally:
        stop(s)


# --------------------------------------------------------------------------------------------
# Embedded mode with authentication and host access scripts.

AUTH = '''
def check_password(environ, user, password):
    return {'alice': 'pw', 'bob': 'pw'}.get(user) == password
'''

GROUPS = '''
def groups_for_user(environ, user):
    return [b'staff'] if user == 'alice' else [b'other']
'''

ACCESS = '''
def allow_access(environ, host):
    return 'HTTP_X_BLOCK' not in environ
'''


def test_embedded_mode_with_auth_scripts_and_terminal_log(project):
    for name, text in [('auth.wsgi', AUTH), ('groups.wsgi', GROUPS), ('access.wsgi', ACCESS)]:
        (project / name).write_text(text)
    tree(project)

    def basic(user):
        return {'Authorization': 'Basic ' + base64.b64encode(b'%s:pw' % user).decode()}
    port = free_port()
    s = None
    try:
        s = start(project, '--embedded-mode', '--access-log', '--log-to-terminal',
                  '--auth-user-script', project / 'auth.wsgi', '--auth-type', 'Basic',
                  '--auth-group-script', project / 'groups.wsgi', '--auth-group', 'staff',
                  '--host-access-script', project / 'access.wsgi', '--server-status', '--server-metrics', port=port)
        status, headers, _ = s.get('/')
        assert status == 401 and headers['WWW-Authenticate'].startswith('Basic realm="localhost:%d"' % port)
        info = s.json('/', headers=basic(b'alice'))
        assert info['REMOTE_USER'] == 'alice' and info['mod_wsgi.process_group'] == ''
        assert info['server_metrics'] is True       # --server-metrics: Apache's scoreboard
        assert s.get('/', headers=basic(b'bob'))[0] in (401, 403)
        assert s.get('/', headers=dict(basic(b'alice'), **{'X-Block': '1'}))[0] == 403
        # mod_status's section: the embedded interpreters of every child, summed: the one
        # request that reached the application (the authentication scripts' are not WSGI requests).
        auto = s.get('/server-status?auto', headers=basic(b'alice'))[2].decode()
        assert 'WSGIInterpreter[GLOBAL]Requests: 1\n' in auto and 'WSGIInterpreter[GLOBAL]Active: 0\n' in auto, auto
        assert 'WSGIDaemonGroups' not in auto
        html = s.get('/server-status', headers=basic(b'alice'))[2].decode()
        assert 'mod_swiftwsgi embedded interpreters' in html and '<tr><td>%{GLOBAL}</td><td>1</td><td>0</td></tr>' in html
    finally:
        out = stop(s) if s else ''
    assert '"GET / HTTP/1.1" 401' in out and '"GET / HTTP/1.1" 200' in out


# --------------------------------------------------------------------------------------------
# Commands that do not serve.

def test_setup_only_writes_apachectl_and_exits(project):
    port = free_port()
    r = subprocess.run([EXPRESS, 'start-server', str(project / 'app.wsgi'), '--port', str(port), '--setup-only',
                        '--server-root', str(project / 'server'), '--user', 'www-data', '--group', 'www-data'],
                       capture_output=True, text=True, timeout=30, env=EXPRESS_ENV)
    assert r.returncode == 0, r.stderr
    assert (project / 'server' / 'apachectl').exists() and (project / 'server' / 'httpd.conf').exists()
    with pytest.raises(OSError):
        socket.create_connection(('127.0.0.1', port), timeout=1).close()


def test_bad_arguments_fail_before_apache_starts(project):
    for args, message in [(['/no/such/app.wsgi'], 'does not exist'),
                          ([str(project / 'app.wsgi'), '--port', '0'], 'port'),
                          ([str(project / 'app.wsgi'), '--url-alias', '/x'], 'url-alias'),
                          (['--application-type', 'paste', 'x.ini'], "PasteDeploy configuration 'x.ini' does not exist"),
                          ([str(project / 'app.wsgi'), '--initial-workers', '1.5'], 'from 0 to 1'),
                          ([str(project / 'app.wsgi'), '--add-handler', '.md'], 'extension and a script'),
                          ([str(project / 'app.wsgi'), '--with-php5'], 'Debian has no PHP 5 module'),
                          ([str(project / 'app.wsgi'), '--enable-docs'], 'no bundled documentation'),
                          ([str(project / 'app.wsgi'), '--with-newrelic'], 'platform plugin exists no more'),
                          (['--application-type', 'module', 'not a module'], 'module name'),
                          ([str(project / 'app.wsgi'), '--https-port', '8443'], 'ssl-certificate')]:
        r = subprocess.run([EXPRESS, 'start-server'] + args + ['--user', 'www-data', '--group', 'www-data'],
                           capture_output=True, text=True, timeout=20, env=EXPRESS_ENV)
        assert r.returncode != 0
        assert message in (r.stdout + r.stderr)


def test_apache_refusal_shows_apaches_message(project):
    bad = project / 'bad.conf'
    bad.write_text('ThisIsNotADirective on\n')
    r = subprocess.run([EXPRESS, 'start-server', str(project / 'app.wsgi'), '--include-file', str(bad),
                        '--port', str(free_port()), '--server-root', str(project / 'server'),
                        '--user', 'www-data', '--group', 'www-data'], capture_output=True, text=True, timeout=20,
                       env=EXPRESS_ENV)
    assert r.returncode != 0
    assert 'ThisIsNotADirective' in r.stdout + r.stderr


@pytest.mark.skipif(SANITIZED, reason='express prints the module it was built with, not the sanitizer build')
def test_module_config_and_location_print_the_module():
    r = subprocess.run([EXPRESS, 'module-config'], capture_output=True, text=True, timeout=20, env=EXPRESS_ENV)
    assert r.returncode == 0, r.stderr
    # A versioned module (another Python's build, or a wheel's, which has no rpath to libpython)
    # comes after its Python's libpython, as mod_wsgi-express prints it; the default build's
    # libpython is Debian's, where the loader looks.
    lines = r.stdout.splitlines()
    if os.path.basename(MODULE) != 'mod_swiftwsgi.so':
        assert lines[0].startswith('LoadFile /') and os.path.basename(lines[0]).startswith('libpython3.'), r.stdout
        assert os.path.isfile(lines.pop(0).split(' ', 1)[1]), r.stdout
    assert lines[0] == 'LoadModule wsgi_module %s' % MODULE, r.stdout
    r = subprocess.run([EXPRESS, 'module-location'], capture_output=True, text=True, timeout=20, env=EXPRESS_ENV)
    assert r.returncode == 0 and r.stdout.strip() == MODULE


def test_module_config_refuses_a_python_without_a_build(tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'python3').write_text('#!/bin/sh\necho 3.99\n')
    (bin_dir / 'python3').chmod(0o755)
    r = subprocess.run([EXPRESS, 'module-config'], capture_output=True, text=True, timeout=20,
                       env={'PATH': '%s:/usr/bin:/bin' % bin_dir})
    assert r.returncode != 0
    assert 'mod_swiftwsgi-py399.so' in r.stderr and 'Python 3.99' in r.stderr, r.stderr


def test_install_module_installs_the_pair_for_the_python(tmp_path):
    modules, load = tmp_path / 'modules', tmp_path / 'mods-available'
    modules.mkdir()
    r = subprocess.run([EXPRESS, 'install-module', '--modules-directory', str(modules), '--load-directory', str(load)],
                       capture_output=True, text=True, timeout=20, env=EXPRESS_ENV)
    assert r.returncode == 0, r.stderr
    name = os.path.basename(MODULE)
    assert sorted(os.listdir(modules)) == sorted([name, name.replace('mod_', 'lib', 1)])
    # debian/swiftwsgi.load with the module's path: "# Conflicts: wsgi" makes a2enmod refuse it
    # while mod_wsgi is enabled.
    with open(os.path.join(REPO, 'debian', 'swiftwsgi.load')) as f:
        debian = f.read()
    assert debian.startswith('# Conflicts: wsgi\n')
    written = (load / 'swiftwsgi.load').read_text()
    library = re.search(r'^LoadFile (/\S+/libpython3\.\d+\.so\S*)\n', written, re.M)
    assert (library is not None) == (name != 'mod_swiftwsgi.so'), written
    assert library is None or os.path.isfile(library.group(1)), written
    assert written == debian.replace(
        'LoadModule wsgi_module /usr/lib/apache2/modules/mod_swiftwsgi.so',
        '%sLoadModule wsgi_module %s/%s' % (library.group(0) if library else '', modules, name))


# --------------------------------------------------------------------------------------------
# Django without glue: `manage.py runswiftwsgi` from python/mod_swiftwsgi (its Django application).

CACHE = os.environ.get('SWIFTWSGI_TEST_CACHE', '/var/cache/swiftwsgi-tests')
DJANGO_VENV = os.path.join(CACHE, 'django-express-venv' + ('' if PYTHON_VERSION == '3.11' else '-' + PYTHON_VERSION))
DJANGO_REQUIREMENT = 'Django>=4.2,<6'


def cached_venv(venv, modules, requirements):
    """The python of a venv of the embedded Python (cached at `venv`) in which `modules` import,
    installed from PyPI as `requirements` when they do not; skips the test when PyPI cannot be reached."""
    python = os.path.join(venv, 'bin', 'python')
    cfg = os.path.join(venv, 'pyvenv.cfg')
    if not os.path.exists(python) or 'home = %s\n' % os.path.dirname(PYTHON) not in open(cfg).read():
        os.makedirs(CACHE, exist_ok=True)
        subprocess.run([PYTHON, '-m', 'venv', '--clear', venv], check=True)
    if subprocess.run([python, '-c', 'import ' + modules], capture_output=True).returncode != 0:
        r = subprocess.run([python, '-m', 'pip', 'install', '-q'] + requirements, capture_output=True, text=True)
        if r.returncode != 0:
            pytest.skip('%s could not be installed from PyPI: %s' % (', '.join(requirements), r.stderr[-500:]))
    return python


def django_venv():
    """A venv of the embedded Python (Debian's 3.11 by default) with Django from PyPI (cached)
    and, copied afresh from this checkout, the pure-Python part of the mod_swiftwsgi package (its
    Django application; express is this build's, through $SWIFTWSGI_EXPRESS)."""
    python = cached_venv(DJANGO_VENV, 'django', [DJANGO_REQUIREMENT])
    site_packages = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                   capture_output=True, text=True, check=True).stdout.strip()
    target = os.path.join(site_packages, 'mod_swiftwsgi')
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(os.path.join(REPO, 'python', 'mod_swiftwsgi'), target, ignore=shutil.ignore_patterns('__pycache__'))
    return python


DJANGO_SETTINGS = '''
INSTALLED_APPS += ['mod_swiftwsgi.server']
ALLOWED_HOSTS = ['127.0.0.1', 'localhost']
STATIC_ROOT = BASE_DIR / 'staticfiles'
MEDIA_URL = 'media/'
MEDIA_ROOT = BASE_DIR / 'media'
'''


def test_django_runswiftwsgi_admin_login_and_static_files(project):
    python = django_venv()
    site = project / 'djangosite'
    site.mkdir()
    subprocess.run([python, '-m', 'django', 'startproject', 'mysite', str(site)], check=True)
    with open(site / 'mysite' / 'settings.py', 'a') as f:
        f.write(DJANGO_SETTINGS)
    env = dict(EXPRESS_ENV, DJANGO_SUPERUSER_PASSWORD='secret-pw', SWIFTWSGI_EXPRESS=EXPRESS)
    for args in (['migrate', '-v0'], ['createsuperuser', '--noinput', '--username', 'admin', '--email', 'a@example.com'],
                 ['collectstatic', '--noinput', '-v0']):
        subprocess.run([python, 'manage.py'] + args, cwd=site, env=env, check=True, capture_output=True)
    (site / 'media').mkdir()
    (site / 'media' / 'hello.txt').write_text('media file\n')
    tree(project)    # the application runs as www-data: the SQLite file and its directory must be writable

    port = free_port()
    cmd = [python, 'manage.py', 'runswiftwsgi', '--port', str(port), '--server-root', str(project / 'server'),
           '--log-to-terminal']
    if AS_ROOT:
        cmd += ['--user', 'www-data', '--group', 'www-data']
    p = subprocess.Popen(cmd, cwd=site, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    s = Server(p, port, project)
    try:
        def up():
            try:
                return s.get('/admin/login/')[0] == 200
            except OSError:
                assert p.poll() is None, p.stdout.read().decode()
                return False
        assert wait_for(up, timeout=30)
        # Static and media files come from Apache (Django serves none with DEBUG on under WSGI).
        status, headers, body = s.get('/static/admin/css/base.css')
        assert status == 200 and headers['Content-Type'].startswith('text/css')
        assert body == (site / 'staticfiles' / 'admin' / 'css' / 'base.css').read_bytes()
        assert s.get('/media/hello.txt')[2] == b'media file\n'
        # The admin's login form: CSRF-protected POST, then the logged-in index.
        import http.cookiejar
        import urllib.parse
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        base = 'http://127.0.0.1:%d' % port
        page = opener.open(base + '/admin/login/?next=/admin/', timeout=15).read().decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
        form = {'username': 'admin', 'password': 'secret-pw', 'next': '/admin/'}
        try:
            opener.open(base + '/admin/login/?next=/admin/', urllib.parse.urlencode(form).encode(), timeout=15)
            raise AssertionError('a login without the CSRF token was accepted')
        except urllib.error.HTTPError as e:
            assert e.code == 403
        form['csrfmiddlewaretoken'] = token
        r = opener.open(base + '/admin/login/?next=/admin/', urllib.parse.urlencode(form).encode(), timeout=15)
        assert r.geturl() == base + '/admin/'
        assert 'Site administration' in r.read().decode()
        assert any(c.name == 'sessionid' for c in jar)
    finally:
        stop(s)


# --------------------------------------------------------------------------------------------
# Apache's worker counts, --add-handler, --service-log-file, the hidden New Relic options.

def apache_children(server):
    """Apache's own children (not the daemon processes, which are named '(wsgi:GROUP)')."""
    found = []
    for pid in subprocess.run(['pgrep', '-P', str(server.process.pid)], capture_output=True, text=True).stdout.split():
        try:
            with open('/proc/%s/cmdline' % pid, 'rb') as f:
                if not f.read().startswith(b'(wsgi:'):
                    found.append(int(pid))
        except OSError:
            pass
    return found


def test_worker_fractions_size_apaches_children(project):
    # event: 100 clients are 4 children of 25 threads; half of them start, half stay spare.
    s = start(project, '--server-mpm', 'event', '--max-clients', 100, '--initial-workers', 0.5,
              '--minimum-spare-workers', 0.5, '--maximum-spare-workers', 1)
    try:
        conf = (project / 'server' / 'httpd.conf').read_text()
        for line in ('StartServers 2', 'ThreadsPerChild 25', 'MinSpareThreads 50', 'MaxSpareThreads 100',
                     'MaxRequestWorkers 100'):
            assert line + '\n' in conf
        assert wait_for(lambda: len(apache_children(s)) == 2)
        time.sleep(2.5)     # Apache's maintenance (once a second) keeps them: 50 idle threads
        assert len(apache_children(s)) == 2
        assert s.json('/')['value'] == 'one'
    finally:
        stop(s)
    # prefork: fractions of the 20 clients, one process each.
    shutil.rmtree(project / 'server')
    s = start(project, '--server-mpm', 'prefork', '--max-clients', 20, '--initial-workers', 0.25,
              '--maximum-spare-workers', 0.5)
    try:
        conf = (project / 'server' / 'httpd.conf').read_text()
        for line in ('StartServers 5', 'MinSpareServers 5', 'MaxSpareServers 10', 'MaxRequestWorkers 20'):
            assert line + '\n' in conf
        assert wait_for(lambda: len(apache_children(s)) == 5)
        time.sleep(2.5)
        assert len(apache_children(s)) == 5
    finally:
        stop(s)


MARKDOWN_HANDLER = '''
import json, os

def handle_request(environ, start_response):
    with open(environ['SCRIPT_FILENAME']) as f:
        text = f.read()
    body = json.dumps({'title': text.strip('# \\n'), 'script_name': environ['SCRIPT_NAME'], 'pid': os.getpid(),
                       'newrelic': [os.environ.get('NEW_RELIC_CONFIG_FILE'), os.environ.get('NEW_RELIC_ENVIRONMENT')]})
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body.encode()]
'''

LOGGING_SERVICE = '''
import sys, time
print('service-out-marker', flush=True)
sys.stderr.write('service-err-marker\\n')
sys.stderr.flush()
while True:
    time.sleep(1)
'''


# A stand-in for New Relic's agent, which would report to New Relic's servers: it records how it
# was set up, and its wrapper adds that to the response's headers.
STUB_NEWRELIC_AGENT = '''
import json
calls = []

class _Settings:
    log_file = None

_settings = _Settings()

def global_settings():
    return _settings

def initialize(config_file=None, environment=None):
    calls.append(['initialize', config_file, environment, _settings.log_file])

def register_application():
    calls.append(['register_application'])

def WSGIApplicationWrapper(application):
    def wrapped(environ, start_response):
        def agent_start_response(status, headers, *exc_info):
            return start_response(status, headers + [('X-Stub-Agent', json.dumps(calls))], *exc_info)
        return application(environ, agent_start_response)
    return wrapped
'''


def test_add_handler_service_log_file_newrelic_and_verbose_debugging(project):
    docs = project / 'docs'
    docs.mkdir()
    (docs / 'page.md').write_text('# The Title\n')
    (docs / 'plain.txt').write_text('plain text\n')
    (project / 'markdown.py').write_text(MARKDOWN_HANDLER)
    (project / 'service.py').write_text(LOGGING_SERVICE)
    (project / 'newrelic.ini').write_text('[newrelic]\n')
    (project / 'newrelic').mkdir()
    (project / 'newrelic' / '__init__.py').write_text('')
    (project / 'newrelic' / 'agent.py').write_text(STUB_NEWRELIC_AGENT)
    tree(project)
    s = start(project, '--document-root', docs, '--add-handler', '.md', project / 'markdown.py',
              '--service-script', 'logger', project / 'service.py', '--service-log-file', 'logger', 'logger.log',
              '--newrelic-config-file', project / 'newrelic.ini', '--newrelic-environment', 'staging',
              '--with-newrelic-agent', '--verbose-debugging')
    try:
        # --add-handler: the script serves the document root's .md files, in the daemon process.
        status, headers, body = s.get('/page.md')
        assert status == 200 and headers['Content-Type'] == 'application/json'
        page = json.loads(body)
        assert page['title'] == 'The Title' and page['script_name'] == '/page.md'
        assert page['pid'] == s.json('/')['pid']
        assert s.get('/plain.txt')[2] == b'plain text\n'    # other extensions: Apache's file
        assert s.json('/missing.md')['PATH_INFO'] == '/missing.md'    # no such file: the application
        # --newrelic-config-file, --newrelic-environment: the agent's variables in the application's process.
        assert page['newrelic'] == [str(project / 'newrelic.ini'), 'staging']
        # --with-newrelic-agent: the agent set up with them (logging to stderr) wraps the application.
        headers = s.get('/')[1]
        assert json.loads(headers['X-Stub-Agent']) == [['initialize', str(project / 'newrelic.ini'), 'staging', 'stderr'],
                                                       ['register_application']]
        # --service-log-file: the service's output goes to its own log, not the server's.
        log = project / 'server' / 'logger.log'
        assert wait_for(lambda: log.exists() and 'service-err-marker' in log.read_text())
        assert 'service-out-marker' in log.read_text()
        conf = (project / 'server' / 'httpd.conf').read_text()
        assert 'WSGIVerboseDebugging On\n' in conf      # accepted; no effect (as in mod_wsgi 6)
    finally:
        stop(s)
    assert 'service-' not in (project / 'server' / 'error_log').read_text()


# --------------------------------------------------------------------------------------------
# Debug mode: one Apache process, the application in it, the debugging tools.

def test_debug_mode_runs_one_apache_process_with_the_application_in_it(project):
    s = start(project, '--debug-mode', '--processes', 3)
    try:
        info = s.json('/')
        assert info['pid'] == s.process.pid       # Apache itself (express exec'd it), no child
        assert info['mod_wsgi.process_group'] == ''     # embedded
        assert apache_children(s) == [] and subprocess.run(['pgrep', '-P', str(s.process.pid)],
                                                            capture_output=True).stdout == b''
        with open('/proc/%d/cmdline' % s.process.pid, 'rb') as f:
            assert b'-DONE_PROCESS' in f.read().split(b'\0')
        conf = (project / 'server' / 'httpd.conf').read_text()
        assert 'WSGIDaemonProcess' not in conf and 'WSGIScriptReloading Off' in conf
        assert 'mpm_prefork_module' in conf
    finally:
        out = stop(s)
    assert 'Operating Mode     : debug' in out


BOOM = '''
def application(environ, start_response):
    secret = 'local-' + environ['QUERY_STRING']
    if environ['PATH_INFO'] == '/boom':
        raise RuntimeError('boom')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [secret.encode()]
'''


def test_debugger_enters_pdb_on_the_terminal(project):
    (project / 'boom.wsgi').write_text(BOOM)
    tree(project)
    # --debugger-startup: pdb stops when the application is loaded; 'c' (already typed) goes on.
    s = start(project, '--enable-debugger', '--debugger-startup', entry='boom.wsgi', stdin=b'c\n')
    output = []
    threading.Thread(target=lambda: output.extend(iter(lambda: s.process.stdout.read1(4096), b'')), daemon=True).start()
    try:
        assert s.get('/?ok')[2] == b'local-ok'
        assert wait_for(lambda: b"application.wsgi" in b"".join(output) and b"(Pdb)" in b"".join(output)), output
        # An exception: post-mortem pdb on the terminal, in the failing frame; the request waits.
        answer = {}
        request = threading.Thread(target=lambda: answer.update(status=s.get('/boom?xyz')[0]))
        request.start()
        assert wait_for(lambda: b''.join(output).count(b'(Pdb)') == 2)
        assert b"raise RuntimeError('boom')" in b''.join(output)
        s.process.stdin.write(b'p secret\n')
        s.process.stdin.flush()
        assert wait_for(lambda: b"'local-xyz'" in b''.join(output))
        assert request.is_alive()
        s.process.stdin.write(b'c\n')
        s.process.stdin.flush()
        request.join(15)
        assert answer['status'] == 500
    finally:
        stop(s)
    assert 'RuntimeError: boom' in (project / 'server' / 'error_log').read_text()


def test_profiler_and_recorder_write_a_file_set_per_request(project):
    s = start(project, '--enable-profiler', '--enable-recorder', '--recorder-directory', project / 'recorded')
    try:
        assert s.request('POST', '/echo', body=b'0123456789')[2] == b'10'
    finally:
        stop(s)
    # --enable-profiler: a cProfile dump per request (default directory SERVER-ROOT/pstats).
    import pstats
    dumps = sorted((project / 'server' / 'pstats').glob('*.pstats'))
    assert len(dumps) == 2      # start()'s first request, then the POST
    stats = pstats.Stats(str(dumps[-1]))
    assert any(name == 'application' and path.endswith('app.wsgi') for path, _, name in stats.stats)
    # --enable-recorder: the environ, the request body, the status and headers, the response body.
    recorded = sorted((project / 'recorded').glob('*.iheaders'))
    assert len(recorded) == 2
    base = str(recorded[-1])[:-len('.iheaders')]
    assert "'PATH_INFO': '/echo'" in open(base + '.iheaders').read()
    assert open(base + '.icontent', 'rb').read() == b'0123456789'
    assert open(base + '.oheaders').read().startswith("('200 OK',")
    assert open(base + '.ocontent', 'rb').read() == b'10'


FAKE_GDB = '''#!/bin/bash
# Records how it was run, then runs Apache as gdb's "run" line says.
printf '%%s\\n' "$@" > %(args)s
cp "$2" %(commands)s
line=$(head -n 1 "$2")
eval "exec \\"$3\\" ${line#run }"
'''


def test_enable_gdb_runs_apache_under_the_gdb_executable(project):
    gdb = project / 'fake-gdb'
    gdb.write_text(FAKE_GDB % {'args': project / 'gdb-args', 'commands': project / 'gdb-commands'})
    tree(project)
    gdb.chmod(0o755)
    s = start(project, '--enable-gdb', '--gdb-executable', gdb)
    try:
        info = s.json('/')
        assert info['pid'] == s.process.pid and info['mod_wsgi.process_group'] == ''
    finally:
        stop(s)
    root = project / 'server'
    assert (project / 'gdb-args').read_text().split('\n')[:3] == ['-x', str(root / 'gdb.cmds'), '/usr/sbin/apache2']
    assert (project / 'gdb-commands').read_text() == "run -f '%s' -DONE_PROCESS -k start -DFOREGROUND\n" % (root / 'httpd.conf')


# --------------------------------------------------------------------------------------------
# What needs packages from PyPI in the application's venv: PasteDeploy, coverage.

TOOLS_VENV = os.path.join(CACHE, 'express-tools-venv' + ('' if PYTHON_VERSION == '3.11' else '-' + PYTHON_VERSION))


def tools_venv():
    """A venv of the embedded Python with coverage and PasteDeploy from PyPI (cached)."""
    cached_venv(TOOLS_VENV, 'coverage, paste.deploy', ['coverage', 'PasteDeploy'])
    return TOOLS_VENV


PASTE_APP = '''
def factory(global_config, **settings):
    def application(environ, start_response):
        start_response('200 OK', [('Content-Type', 'text/plain')])
        if environ['PATH_INFO'] == '/never':
            return [b'not run']
        return [settings['greeting'].encode()]
    return application
'''

PASTE_INI = '''
[app:main]
use = call:pasteapp:factory
greeting = hello from paste
'''


def test_paste_application_type_and_coverage_report(project):
    venv = tools_venv()
    (project / 'pasteapp.py').write_text(PASTE_APP)
    (project / 'site.ini').write_text(PASTE_INI)
    tree(project)
    # --application-type paste: PasteDeploy's loadapp() of the .ini file, in the daemon process.
    s = start(project, '--application-type', 'paste', '--python-home', venv, entry='site.ini')
    try:
        assert s.get('/')[2] == b'hello from paste'
    finally:
        stop(s)
    # --enable-coverage: measured from the application's import; the HTML report and the data at exit.
    shutil.rmtree(project / 'server')
    s = start(project, '--application-type', 'paste', '--python-home', venv, '--enable-coverage', entry='site.ini')
    try:
        assert s.get('/again')[2] == b'hello from paste'
    finally:
        stop(s)
    report = project / 'server' / 'htmlcov'
    assert (report / 'index.html').exists() and 'pasteapp.py' in (report / 'index.html').read_text()
    r = subprocess.run([os.path.join(venv, 'bin', 'python'), '-m', 'coverage', 'json', '-o', '-', '--data-file',
                        str(report / '.coverage')], capture_output=True, text=True, cwd=project)
    assert r.returncode == 0, r.stderr
    files = json.loads(r.stdout)['files']
    measured = next(v for k, v in files.items() if k.endswith('pasteapp.py'))
    lines = PASTE_APP.split('\n')
    # The request's lines ran (on Apache's thread), the one after the branch not taken did not.
    assert lines.index("        return [settings['greeting'].encode()]") + 1 in measured['executed_lines']
    assert lines.index("            return [b'not run']") + 1 in measured['missing_lines']
