"""A Flask application from PyPI, deployed as Flask's own documentation says for mod_wsgi.

Flask 2's "mod_wsgi (Apache)" page: a yourapplication.wsgi doing `from yourapplication import
app as application` (after patching sys.path to the application's directory), WSGIScriptAlias
to it, a WSGIDaemonProcess (here with python-home= the venv) and, in the <Directory>,
WSGIProcessGroup and `WSGIApplicationGroup %{GLOBAL}`. Here the same script is mounted twice in
one Apache: /daemon in that daemon group, /embedded in Apache's children with WSGIPythonHome
the venv. Flask 3's page instead runs `mod_wsgi-express start-server wsgi.py --processes 4`
in the application's directory with the venv active (as root with --user/--group/--port): that
is run with swiftwsgi-express (ours only).

What real Flask applications use is exercised through each: url_for and redirects under a
mount point (SCRIPT_NAME), JSON in and out, the signed session cookie (SECRET_KEY) and flashed
messages, a form POST and a multipart upload, send_file and the static route (wsgi.file_wrapper:
bytes, Content-Length, ETag, 304 and Werkzeug's own 206 Range answers), a stream_with_context
generator (its first part arrives before the generator goes on), error handlers, an exception
Flask turns into a 500 (traceback logged by Flask through wsgi.errors), an exception escaping
a streamed body (logged by the server), and wsgi.errors / app.logger lines in Apache's error log.

The venv (the embedded Python, Flask from PyPI) is cached under
/var/cache/swiftwsgi-tests/flask-venv-HASH, keyed by the requirements and the Python."""

import fcntl
import hashlib
import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.parse
import uuid

import pytest

from harness import (CRASH, OURS, PYTHON, REPO, SEVERE, TRACEBACK, RawClient, dechunk, free_port, parse_log_line,
                     split_response, wait_until_settled)

REQUIREMENTS = 'Flask==3.1.3\nWerkzeug==3.1.9\n'
CACHE = os.environ.get('SWIFTWSGI_TEST_CACHE', '/var/cache/swiftwsgi-tests')
EXPRESS = os.path.join(REPO, 'build', 'swiftwsgi-express')


def clean_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith('PYTHON') and k != 'VIRTUAL_ENV'}
    env.update(PATH='/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', LANG='C.UTF-8')
    return env


def flask_venv():
    """The venv of the embedded Python with Flask from PyPI, made once and cached (readable by
    Apache's user); skips the test only when PyPI cannot be reached."""
    key = hashlib.sha256((REQUIREMENTS + os.path.realpath(PYTHON)).encode()).hexdigest()[:12]
    path = os.path.join(CACHE, 'flask-venv-' + key)
    os.makedirs(CACHE, exist_ok=True)
    with open(os.path.join(CACHE, 'flask-venv.lock'), 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(os.path.join(path, 'requirements.txt')):
            # A venv is not relocatable: it is made at its final path, marked complete last.
            shutil.rmtree(path, ignore_errors=True)
            subprocess.run([PYTHON, '-m', 'venv', path], check=True, env=clean_env())
            p = subprocess.run([os.path.join(path, 'bin', 'python'), '-m', 'pip', 'install', '-q',
                                '--disable-pip-version-check'] + REQUIREMENTS.split(),
                               capture_output=True, text=True, env=clean_env())
            if p.returncode != 0:
                shutil.rmtree(path, ignore_errors=True)
                if re.search(r'NewConnectionError|Temporary failure in name resolution|No matching distribution',
                             p.stderr):
                    pytest.skip('Flask cannot be installed from PyPI: ' + p.stderr[-300:])
                pytest.fail('pip install failed:\n' + p.stderr[-3000:])
            subprocess.run(['chmod', '-R', 'a+rX', path], check=True)
            with open(os.path.join(path, 'requirements.txt'), 'w') as f:
                f.write(REQUIREMENTS)
    return path


# ---- the application: a package `hello`, as in Flask's tutorial and deployment pages --------

HELLO = r'''
import hashlib
import os
import time

from flask import (Flask, Response, abort, flash, get_flashed_messages, jsonify, redirect,
                   request, send_file, session, stream_with_context, url_for)

app = Flask(__name__)
app.config['SECRET_KEY'] = 'flask-under-apache-secret'


@app.route('/')
def index():
    return jsonify(script_root=request.script_root, path=request.path,
                   item=url_for('item', item_id=5), item_external=url_for('item', item_id=5, _external=True),
                   static=url_for('static', filename='style.css'), pid=os.getpid(),
                   multiprocess=request.environ['wsgi.multiprocess'],
                   process_group=request.environ.get('mod_wsgi.process_group'))


@app.route('/items/<int:item_id>')
def item(item_id):
    return jsonify(id=item_id, url=url_for('item', item_id=item_id))


@app.post('/api/items')
def create_item():
    data = request.get_json()
    body = jsonify(created=data, echo_length=request.content_length)
    return body, 201, {'Location': url_for('item', item_id=data['id'])}


@app.route('/counter')
def counter():
    session['n'] = session.get('n', 0) + 1
    return jsonify(n=session['n'])


@app.route('/form', methods=['GET', 'POST'])
def form():
    if request.method == 'POST':
        flash('Saved %s (%d chars of notes)' % (request.form['name'], len(request.form['notes'])))
        return redirect(url_for('form'))
    return '<ul>%s</ul><form method="post"></form>' % ''.join(
        '<li>%s</li>' % m for m in get_flashed_messages())


@app.post('/upload')
def upload():
    f = request.files['file']
    data = f.read()
    return jsonify(name=f.filename, size=len(data), sha256=hashlib.sha256(data).hexdigest(),
                   field=request.form['field'])


@app.route('/download')
def download():
    return send_file(os.path.join(app.root_path, 'data', 'blob.bin'), mimetype='application/octet-stream')


@app.route('/stream')
def stream():
    gate = request.args['gate']

    def generate():
        yield 'first %s\n' % request.args['who']
        deadline = time.time() + 15
        while not os.path.exists(gate) and time.time() < deadline:
            time.sleep(0.02)
        yield 'second %s\n' % url_for('stream')
    return Response(stream_with_context(generate()), mimetype='text/plain')


@app.route('/stream-fail')
def stream_fail():
    def generate():
        yield 'partial\n'
        raise RuntimeError('flask-stream-failure')
    return Response(generate(), mimetype='text/plain')


@app.route('/boom')
def boom():
    raise RuntimeError('flask-view-failure')


@app.route('/gone')
def gone():
    abort(404)


@app.route('/log')
def log():
    marker = request.args['marker']
    request.environ['wsgi.errors'].write('wsgi-errors %s\n' % marker)
    app.logger.warning('app-logger %s', marker)
    return 'logged'


@app.errorhandler(404)
def not_found(error):
    return jsonify(error='not found', path=request.path), 404


@app.errorhandler(400)
def bad_request(error):
    return jsonify(error='bad request', description=error.description), 400
'''

# Flask 2's page: the .wsgi patches sys.path to the application, then imports it.
YOURAPPLICATION_WSGI = '''\
import sys
sys.path.insert(0, {app!r})

from hello import app as application
'''

# Flask 3's page (mod_wsgi-express): wsgi.py next to the package.
WSGI_PY = '''\
from hello import app

application = app
'''

STYLE = b'body { color: #123456; }\n'


def blob():
    """1 MiB and a few bytes that are not a multiple of any block size, the same every run."""
    seed = hashlib.sha256(b'flask-blob').digest()
    return (seed * (1048583 // len(seed) + 1))[:1048583]


def write_project(directory):
    pkg = os.path.join(directory, 'hello')
    os.makedirs(os.path.join(pkg, 'static'))
    os.makedirs(os.path.join(pkg, 'data'))
    with open(os.path.join(pkg, '__init__.py'), 'w') as f:
        f.write(HELLO)
    with open(os.path.join(pkg, 'static', 'style.css'), 'wb') as f:
        f.write(STYLE)
    with open(os.path.join(pkg, 'data', 'blob.bin'), 'wb') as f:
        f.write(blob())
    with open(os.path.join(directory, 'wsgi.py'), 'w') as f:
        f.write(WSGI_PY)
    for top, dirs, files in os.walk(directory):
        os.chmod(top, 0o755)
        for name in files:
            os.chmod(os.path.join(top, name), 0o644)


# ---- Apache, as Flask 2's page configures it (daemon) and embedded beside it ------------------

FLASK_CONFIG = '''
WSGIPythonHome {venv}
WSGIDaemonProcess yourapplication threads=5 python-home={venv}
WSGIScriptAlias /daemon {root}/daemon/yourapplication.wsgi
WSGIScriptAlias /embedded {root}/embedded/yourapplication.wsgi

<Directory {root}/daemon>
    WSGIProcessGroup yourapplication
    WSGIApplicationGroup %{{GLOBAL}}
    Require all granted
</Directory>

<Directory {root}/embedded>
    WSGIApplicationGroup %{{GLOBAL}}
    Require all granted
</Directory>
'''


def setup_server(apache):
    venv = flask_venv()
    project = os.path.join(apache.root, 'yourapplication')
    write_project(project)
    for mode in ('daemon', 'embedded'):
        os.makedirs(os.path.join(apache.root, mode))
        with open(os.path.join(apache.root, mode, 'yourapplication.wsgi'), 'w') as f:
            f.write(YOURAPPLICATION_WSGI.format(app=project))
        os.chmod(os.path.join(apache.root, mode), 0o755)
    apache.write_config(open(apache.conf).read() + FLASK_CONFIG.format(venv=venv, root=apache.root))


class Site:
    """One deployment of the application: its port, mount point, error log and a directory the
    test writes gate files into."""

    def __init__(self, port, prefix, error_log, state, expect):
        self.port, self.prefix, self.error_log, self.state, self.expect = port, prefix, error_log, state, expect

    def request(self, method, path, body=None, headers=None):
        c = http.client.HTTPConnection('127.0.0.1', self.port, timeout=30)
        try:
            c.request(method, self.prefix + path, body=body, headers=headers or {})
            r = c.getresponse()
            return r.status, r.headers, r.read()
        finally:
            c.close()

    def log(self):
        with open(self.error_log, errors='replace') as f:
            return f.read()

    def wait_for_log(self, pattern, timeout=10):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if re.search(pattern, self.log(), re.M):
                return True
            time.sleep(0.05)
        return False


def check_routing_under_the_mount_point(site):
    status, headers, body = site.request('GET', '/')
    assert status == 200 and headers['Content-Type'] == 'application/json', (status, body)
    info = json.loads(body)
    p = site.prefix
    assert info['script_root'] == p and info['path'] == '/'
    assert info['item'] == p + '/items/5' and info['static'] == p + '/static/style.css'
    assert info['item_external'] == 'http://127.0.0.1:%d%s/items/5' % (site.port, p)
    status, _, body = site.request('GET', '/items/42')
    assert status == 200 and json.loads(body) == {'id': 42, 'url': p + '/items/42'}
    # The static route: send_from_directory, a file wrapper.
    status, headers, body = site.request('GET', '/static/style.css')
    assert status == 200 and body == STYLE and headers['Content-Length'] == str(len(STYLE))
    assert headers['Content-Type'].startswith('text/css')


def check_json_and_error_handlers(site):
    data = {'id': 7, 'name': 'widget', 'tags': ['a', 'b'], 'text': 'caf\u00e9 \u2713'}
    raw = json.dumps(data).encode()
    status, headers, body = site.request('POST', '/api/items', raw, {'Content-Type': 'application/json'})
    assert status == 201, body
    assert json.loads(body) == {'created': data, 'echo_length': len(raw)}
    assert headers['Location'] == site.prefix + '/items/7'
    # Malformed JSON: Werkzeug's 400, answered by the application's handler.
    status, _, body = site.request('POST', '/api/items', b'{"id": ', {'Content-Type': 'application/json'})
    assert status == 400 and json.loads(body)['error'] == 'bad request'
    for path in ('/no/such/route', '/gone'):
        status, headers, body = site.request('GET', path)
        assert status == 404 and json.loads(body) == {'error': 'not found', 'path': path}


def check_session_cookie_and_form_post(site):
    status, headers, body = site.request('GET', '/counter')
    assert status == 200 and json.loads(body) == {'n': 1}
    cookie = headers['Set-Cookie']
    assert cookie.startswith('session=') and 'HttpOnly' in cookie, cookie
    jar = cookie.split(';')[0]
    status, headers, body = site.request('GET', '/counter', headers={'Cookie': jar})
    assert status == 200 and json.loads(body) == {'n': 2}
    # A tampered cookie is not trusted: a new session starts.
    status, _, body = site.request('GET', '/counter', headers={'Cookie': jar[:-3] + 'xyz'})
    assert json.loads(body) == {'n': 1}
    # A form POST that flashes a message and redirects (Post/Redirect/Get).
    form = urllib.parse.urlencode({'name': 'Ada', 'notes': 'n' * 5000}).encode()
    status, headers, _ = site.request('POST', '/form', form, {'Content-Type': 'application/x-www-form-urlencoded',
                                                                'Cookie': jar})
    assert status == 302 and headers['Location'] == site.prefix + '/form'
    jar = headers['Set-Cookie'].split(';')[0]
    status, _, body = site.request('GET', '/form', headers={'Cookie': jar})
    assert status == 200 and b'<li>Saved Ada (5000 chars of notes)</li>' in body


def check_multipart_upload(site):
    content = os.urandom(300000)
    boundary = 'flask' + uuid.uuid4().hex
    body = (('--%s\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue \u00e9\r\n'
             '--%s\r\nContent-Disposition: form-data; name="file"; filename="data.bin"\r\n'
             'Content-Type: application/octet-stream\r\n\r\n') % (boundary, boundary)).encode() + content + \
        ('\r\n--%s--\r\n' % boundary).encode()
    status, _, answer = site.request('POST', '/upload', body,
                                     {'Content-Type': 'multipart/form-data; boundary=' + boundary})
    assert status == 200, answer
    assert json.loads(answer) == {'name': 'data.bin', 'size': len(content), 'field': 'value \u00e9',
                                  'sha256': hashlib.sha256(content).hexdigest()}


def check_send_file_and_conditional_responses(site):
    data = blob()
    status, headers, body = site.request('GET', '/download')
    assert status == 200 and body == data
    assert headers['Content-Length'] == str(len(data)) and headers['Content-Type'] == 'application/octet-stream'
    assert headers['Accept-Ranges'] == 'bytes'
    etag, modified = headers['ETag'], headers['Last-Modified']
    status, headers, body = site.request('HEAD', '/download')
    assert status == 200 and body == b'' and headers['Content-Length'] == str(len(data))
    # Werkzeug's conditional responses: 304 for a matching ETag or date, 206 for a Range.
    for h in ({'If-None-Match': etag}, {'If-Modified-Since': modified}):
        status, headers, body = site.request('GET', '/download', headers=h)
        assert status == 304 and body == b'', h
    status, headers, body = site.request('GET', '/download', headers={'Range': 'bytes=100000-300009'})
    assert status == 206 and body == data[100000:300010]
    assert headers['Content-Length'] == '200010'
    assert headers['Content-Range'] == 'bytes 100000-300009/%d' % len(data)
    status, headers, body = site.request('GET', '/download', headers={'Range': 'bytes=-17', 'If-Range': etag})
    assert status == 206 and body == data[-17:] and headers['Content-Length'] == '17'
    status, headers, body = site.request('GET', '/download', headers={'Range': 'bytes=%d-' % (len(data) + 5)})
    assert status == 416 and headers['Content-Range'] == 'bytes */%d' % len(data)


def check_streamed_response(site, connect):
    gate = os.path.join(site.state, 'gate-%s' % uuid.uuid4().hex)
    with connect() as c:
        c.request('GET', site.prefix + '/stream?who=alice&gate=' + urllib.parse.quote(gate))
        c.read_until(b'first alice\n')
        # The generator is still waiting for the gate: its second part has not been produced.
        assert b'second' not in c.data
        open(gate, 'w').close()
        c.read_until(b'\r\n0\r\n\r\n', timeout=20)
    status, headers, body = split_response(c.data)
    assert status == 200 and headers.get('transfer-encoding') == 'chunked'
    assert dechunk(body) == (b'first alice\nsecond %s/stream\n' % site.prefix.encode(), True)


def check_exceptions_and_logging(site):
    marker = uuid.uuid4().hex
    size = len(site.log())
    # Flask handles the view's exception: a 500 page, the traceback through app.logger, which
    # writes to wsgi.errors during a request.
    site.expect(*TRACEBACK)
    site.expect(r'ERROR in app: Exception on /boom \[GET\]',
                r'^RuntimeError: flask-view-failure$', r'^RuntimeError: flask-stream-failure$',
                r'wsgi-errors ' + marker, r'WARNING in __init__: app-logger ' + marker)
    status, _, body = site.request('GET', '/boom')
    assert status == 500 and b'Internal Server Error' in body
    assert site.wait_for_log(r'ERROR in app: Exception on /boom \[GET\]$')
    log = site.log()[size:]
    assert re.search(r'^.*Traceback \(most recent call last\):$', log, re.M), log
    assert re.search(r"^.*RuntimeError: flask-view-failure$", log, re.M), log
    # An exception in a streamed body, after the headers went out, reaches the server, which
    # logs it with its traceback and ends the response without the last chunk.
    with site.connect() as c:
        c.request('GET', site.prefix + '/stream-fail', headers=[('Connection', 'close')])
        raw = c.read_to_eof()
    status, headers, body = split_response(raw)
    data, complete = dechunk(body)
    assert status == 200 and data == b'partial\n', raw
    # The client can tell: no last chunk. (Debian's mod_wsgi 4.9 sends it after a daemon's failure.)
    if OURS or site.prefix != '/daemon':
        assert not complete, raw
    assert site.wait_for_log(r'RuntimeError: flask-stream-failure$')
    assert re.search(r'Exception occurred processing WSGI script', site.log()[size:]), site.log()[size:]
    # wsgi.errors and app.logger, each line with the request's client.
    status, _, body = site.request('GET', '/log?marker=' + marker)
    assert status == 200 and body == b'logged'
    # (mod_wsgi's daemons say "remote"; mod_swiftwsgi gives the application's lines its message id SWW1000, see docs/troubleshooting.md)
    client = r'\[(?:client|remote) 127\.0\.0\.1:\d+\] (?:SWW1000: )?'
    assert site.wait_for_log(client + r'wsgi-errors %s$' % marker)
    assert site.wait_for_log(client + r'\[[^]]+\] WARNING in __init__: app-logger %s$' % marker)
    # The process that failed keeps serving.
    assert site.request('GET', '/items/1')[0] == 200


CHECKS = [check_routing_under_the_mount_point, check_json_and_error_handlers, check_session_cookie_and_form_post,
          check_multipart_upload, check_send_file_and_conditional_responses, check_exceptions_and_logging]


def harness_site(server, mount):
    site = Site(server.port, mount, server.error_log, server.state, server.expect_log)
    site.connect = server.connect
    return site


@pytest.mark.parametrize('mount', ['/embedded', '/daemon'])
@pytest.mark.parametrize('check', CHECKS, ids=[c.__name__[len('check_'):] for c in CHECKS])
def test_flask(server, mount, check):
    check(harness_site(server, mount))


@pytest.mark.parametrize('mount', ['/embedded', '/daemon'])
def test_flask_streamed_response(server, mount):
    check_streamed_response(harness_site(server, mount), server.connect)


def test_flask_daemon_and_embedded_are_other_processes(server):
    daemon = json.loads(server.get('/daemon/').body)
    embedded = json.loads(server.get('/embedded/').body)
    assert daemon['process_group'] == 'yourapplication' and embedded['process_group'] == ''
    assert daemon['pid'] != embedded['pid']


# ---- swiftwsgi-express, as Flask 3's page runs mod_wsgi-express --------------------------------

def unexpected_lines(log, expected):
    bad = []
    for line in log.splitlines():
        if CRASH.search(line):
            bad.append(line)
        elif SEVERE.search(line):
            entry = parse_log_line(line)
            message = entry['message'] if entry else line
            if not any(re.search(p, line) or re.search(p, message) for p in expected):
                bad.append(line)
    return bad


@pytest.mark.ours_only
def test_flask_with_swiftwsgi_express_start_server_processes_4():
    venv = flask_venv()
    # Not pytest's tmp_path: its parents are private to root, and the application runs as www-data.
    project = tempfile.mkdtemp(prefix='swiftwsgi-flask-express-')
    write_project(project)
    state = os.path.join(project, 'state')
    os.mkdir(state)
    os.chmod(state, 0o755)
    port = free_port()
    # The venv activated (bin/activate: VIRTUAL_ENV and its bin first on PATH), in the
    # application's directory: `swiftwsgi-express start-server wsgi.py --processes 4`, as root
    # with the page's --user/--group/--port (and a server root of the test's own).
    env = clean_env()
    env.update(VIRTUAL_ENV=venv, PATH=os.path.join(venv, 'bin') + ':' + env['PATH'])
    cmd = [EXPRESS, 'start-server', 'wsgi.py', '--processes', '4']
    if os.geteuid() == 0:
        cmd += ['--user', 'www-data', '--group', 'www-data']
    cmd += ['--port', str(port), '--server-root', os.path.join(project, 'server')]
    p = subprocess.Popen(cmd, cwd=project, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         start_new_session=True)
    expected = []
    site = Site(port, '', os.path.join(project, 'server', 'error_log'), state, lambda *p: expected.extend(p))
    site.connect = lambda: RawClient(port)
    try:
        deadline = time.time() + 30
        while True:
            try:
                if site.request('GET', '/')[0] == 200:
                    break
            except OSError:
                pass
            assert p.poll() is None, p.stdout.read().decode(errors='replace')
            assert time.time() < deadline, 'express did not answer'
            time.sleep(0.2)
        info = json.loads(site.request('GET', '/')[2])
        assert info['multiprocess'] is True and info['process_group'] == 'localhost:%d' % port
        daemons = subprocess.run(['pgrep', '-P', str(p.pid), '-f', r'^\(wsgi:localhost:%d' % port],
                                 capture_output=True, text=True).stdout.split()
        assert len(daemons) == 4, daemons
        for check in CHECKS:
            check(site)
        check_streamed_response(site, site.connect)
        bad = unexpected_lines(site.log(), expected)
        assert not bad, 'unexpected error-log lines:\n' + '\n'.join(bad)
    finally:
        children = subprocess.run(['pgrep', '-P', str(p.pid)], capture_output=True, text=True).stdout.split()
        wait_until_settled([int(c) for c in children])
        p.send_signal(signal.SIGTERM)
        out = p.communicate(timeout=30)[0].decode(errors='replace')
        left = subprocess.run(['pgrep', '-f', os.path.join(project, 'server')], capture_output=True,
                              text=True).stdout.split()
        shutil.rmtree(project, ignore_errors=True)
    assert left == [], 'processes left behind: %s' % left
    assert 'still did not exit' not in out and 'Segmentation' not in out, out
