"""How the Apache child flushes a daemon response to the client, with mod_wsgi 6.0.2's
response-flush-delay= and response-buffer-size=: output passes on as it comes, a flush waits
response-flush-delay for more output, so a pacing filter (mod_ratelimit) gets full-size writes
and paces the response at its configured rate; a paused application still has its output
flushed within the delay. These tests describe mod_wsgi 6.1.1 too."""

import socket
import time

import pytest

from harness import OURS, mod_wsgi_versions

# response-flush-delay= is mod_wsgi 6.0.2's; Debian's 4.9 flushes every time the daemon pauses.
pytestmark = mod_wsgi_versions(minimum=(6, 0, 2))

SINGLE_MPM = True

CHUNK = 8192
TOTAL = 512 * 1024
RATE = 256  # KiB/s: mod_ratelimit's rate-limit

STREAM = r'''
import time
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', '%d')])
    def body():
        for i in range(%d):
            yield b'x' * %d
    return body()
''' % (TOTAL, TOTAL // CHUNK, CHUNK)

PAUSED = r'''
import time
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def body():
        yield b'first part\n'
        time.sleep(1.5)
        yield b'second part\n'
    return body()
'''

APPS = {'stream.wsgi': STREAM, 'paused.wsgi': PAUSED}

# A PyPI reference runs with its venv as WSGIPythonHome (see test_api_names.py).
from test_api_names import REFERENCE_HOME  # noqa: E402

CONFIG = REFERENCE_HOME + '''
LoadModule ratelimit_module {modules}/mod_ratelimit.so
WSGIDaemonProcess flush processes=1 threads=4
WSGIScriptAlias /limited {apps}/stream.wsgi process-group=flush application-group=%%{GLOBAL}
WSGIScriptAlias /stream {apps}/stream.wsgi process-group=flush application-group=%%{GLOBAL}
WSGIScriptAlias /paused {apps}/paused.wsgi process-group=flush
<Location /limited>
    SetOutputFilter RATE_LIMIT
    SetEnv rate-limit %d
</Location>
''' % RATE


def timed_get(server, path):
    start = time.monotonic()
    r = server.get(path, timeout=60)
    return r, time.monotonic() - start


def test_mod_ratelimit_paces_a_daemon_response_at_its_rate(server):
    assert len(server.get('/stream').body) == TOTAL  # the daemon loads the script, unpaced
    r, elapsed = timed_get(server, '/limited')
    assert r.status == 200 and len(r.body) == TOTAL
    expected = TOTAL / 1024 / RATE  # 2 s
    # Before mod_wsgi 6.0.2's flushing (every flush of the application passed on as a flush)
    # mod_ratelimit wrote each 8 KB chunk as a short write: 12.8 s here instead of 2.
    assert 0.7 * expected <= elapsed <= 1.5 * expected, elapsed


def test_a_paused_application_is_flushed_within_the_delay(server):
    with socket.create_connection(('127.0.0.1', server.port), timeout=10) as s:
        s.sendall(b'GET /paused HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n')
        start = time.monotonic()
        data = b''
        while b'first part' not in data:
            chunk = s.recv(65536)
            assert chunk, data
            data += chunk
        # The first part arrives while the application sleeps, not with the second.
        assert time.monotonic() - start < 1.0
        assert b'second part' not in data
