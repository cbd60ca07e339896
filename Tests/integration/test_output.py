"""start_response, headers, write(), streaming, close(), Content-Length, HEAD."""

import os
import socket
import time

import pytest

from harness import OURS

APPS = {
    'headers.wsgi': r'''
def application(environ, start_response):
    kind = environ['QUERY_STRING']
    if kind == 'crlf':
        start_response('200 OK', [('X-Bad', 'a\r\nInjected: yes')])
    elif kind == 'lf':
        start_response('200 OK', [('X-Bad', 'a\nInjected: yes')])
    elif kind == 'name':
        start_response('200 OK', [('X Bad:', 'value')])
    elif kind == 'latin1':
        start_response('200 OK', [('X-Bad', 'snow \u2603')])
    elif kind == 'status':
        start_response('200 OK\r\nInjected: yes', [])
    elif kind == 'bytesvalue':
        start_response('200 OK', [('X-Bad', b'bytes')])
    elif kind == 'notlist':
        start_response('200 OK', (('X-A', 'b'),))
    elif kind == 'custom':
        start_response('299 Custom Thing', [('X-Multi', 'one'), ('X-Multi', 'two'), ('Content-Type', 'text/x-test')])
    elif kind == 'latin1ok':
        start_response('200 OK', [('X-Latin', 'caf\xe9')])
    else:
        start_response('200 OK', [])
    return [b'body']
''',
    'excinfo.wsgi': r'''
import sys
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    try:
        raise ValueError('replaced')
    except ValueError:
        start_response('503 Service Unavailable', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'error page']
''',
    'twice.wsgi': r'''
def application(environ, start_response):
    start_response('200 OK', [])
    start_response('500 Oops', [])
    return [b'x']
''',
    'write.wsgi': r'''
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'written ')
    write(b'then ')
    return [b'returned']
''',
    'stream.wsgi': r'''
import os, time
def application(environ, start_response):
    marker = environ['QUERY_STRING']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        yield b'first chunk\n'
        # Block until the test has seen the first chunk (or give up after 10 s).
        deadline = time.time() + 10
        while not os.path.exists(marker) and time.time() < deadline:
            time.sleep(0.02)
        yield b'second chunk\n'
    return gen()
''',
    'close.wsgi': r'''
def application(environ, start_response):
    path = environ['QUERY_STRING']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    class Result:
        def __iter__(self):
            yield b'a'
            yield b'b'
            if 'fail' in path:
                raise RuntimeError('iteration failed')
        def close(self):
            with open(path, 'w') as f:
                f.write('closed')
    return Result()
''',
    'length.wsgi': r'''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '5')])
    return [b'abc', b'defgh', b'ijk']
''',
    'late.wsgi': r'''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        yield b'x' * 1000
        raise ValueError('failure after the headers were sent')
    return gen()
''',
    'infinite.wsgi': r'''
def application(environ, start_response):
    path = environ['QUERY_STRING']
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    class Forever:
        def __iter__(self):
            return self
        def __next__(self):
            return b'z' * 65536
        def close(self):
            with open(path, 'w') as f:
                f.write('closed')
    return Forever()
''',
    'writeloop.wsgi': r'''
def application(environ, start_response):
    path = environ['QUERY_STRING']
    write = start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    try:
        for _ in range(100000):
            write(b'w' * 65536)
        outcome = 'never failed'
    except OSError as e:
        outcome = 'OSError errno=%r' % (e.errno,)
    with open(path, 'w') as f:
        f.write(outcome)
    return []
''',
    'method.wsgi': r'''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Method', environ['REQUEST_METHOD'])])
    return [b'method body']
''',
}

CONFIG = '''
WSGIScriptAliasMatch ^/(\\w+)$ {apps}/$1.wsgi
<Location /method>
    WSGIMapHEADToGET Off
</Location>
'''


@pytest.mark.parametrize('kind', ['crlf', 'lf', 'name', 'latin1', 'status', 'bytesvalue', 'notlist'])
def test_bad_status_or_headers_are_refused_never_injected(server, kind):
    server.expect_log(r'AH10901|Exception occurred|Error|Traceback|^\s')
    r = server.get('/headers?' + kind)
    assert r.status == 500
    assert r.header('Injected') is None and r.header('X-Bad') is None
    assert server.get('/headers').status == 200


def test_custom_status_and_repeated_headers(server):
    r = server.get('/headers?custom')
    assert r.status == 299 and r.reason == 'Custom Thing'
    assert r.header_all('X-Multi') == ['one', 'two']
    assert r.header('Content-Type') == 'text/x-test'


def test_latin1_header_value(server):
    r = server.get('/headers?latin1ok')
    assert r.header('X-Latin') == 'caf\xe9'


def test_exc_info_replaces_unsent_headers(server):
    r = server.get('/excinfo')
    assert r.status == 503 and r.body == b'error page'


def test_start_response_twice_without_exc_info_fails(server):
    server.expect_log(r'.')
    assert server.get('/twice').status == 500


def test_write_callable(server):
    r = server.get('/write')
    assert r.body == b'written then returned'


def test_generator_chunks_reach_client_while_generator_blocks(server, tmp_path):
    marker = os.path.join(server.state, 'marker-%d' % time.time_ns())
    with socket.create_connection(('127.0.0.1', server.port), timeout=10) as s:
        s.sendall(('GET /stream?%s HTTP/1.1\r\nHost: x\r\n\r\n' % marker).encode())
        data = b''
        started = time.time()
        while b'first chunk' not in data:
            chunk = s.recv(4096)
            assert chunk, 'connection closed before the first chunk'
            data += chunk
        assert time.time() - started < 5
        assert b'second chunk' not in data
        with open(marker, 'w') as f:
            f.write('go')
        while b'second chunk' not in data:
            chunk = s.recv(4096)
            assert chunk
            data += chunk


def test_close_is_called(server):
    path = os.path.join(server.state, 'closed-%d' % time.time_ns())
    assert server.get('/close?' + path).body == b'ab'
    assert open(path).read() == 'closed'


def test_close_is_called_after_iteration_error(server):
    server.expect_log(r'.')
    path = os.path.join(server.state, 'closed-fail-%d' % time.time_ns())
    raw = server.raw(('GET /close?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
    assert raw.startswith(b'HTTP/1.1 200')
    assert server.wait_for_log('iteration failed')
    assert open(path).read() == 'closed'


def test_bytes_beyond_content_length_are_dropped(server):
    r = server.get('/length')
    assert r.body == b'abcde'


def test_exception_after_headers_aborts_the_connection(server):
    server.expect_log(r'.')
    raw = server.raw(b'GET /late HTTP/1.1\r\nHost: x\r\n\r\n')
    head, _, body = raw.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200')
    assert b'chunked' in head.lower()
    # The last chunk is never sent: the client can tell the response is truncated.
    assert not body.endswith(b'0\r\n\r\n')
    assert server.get('/method').status == 200


def test_client_disconnect_stops_iteration_and_calls_close(server):
    server.expect_log(r'.')
    path = os.path.join(server.state, 'closed-gone-%d' % time.time_ns())
    s = socket.create_connection(('127.0.0.1', server.port), timeout=10)
    s.sendall(('GET /infinite?%s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
    got = 0
    while got < 2_000_000:
        got += len(s.recv(65536))
    s.close()
    deadline = time.time() + 10
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    assert open(path).read() == 'closed'
    assert server.get('/method').status == 200


def test_head_without_mapping_reaches_app_as_head_and_sends_no_body(server):
    r = server.request('HEAD', '/method')
    assert r.status == 200 and r.body == b''
    assert r.header('X-Method') == 'HEAD'


def test_write_to_vanished_client_raises_oserror_without_errno(server):
    server.expect_log(r'.')
    path = os.path.join(server.state, 'write-gone-%d' % time.time_ns())
    s = socket.create_connection(('127.0.0.1', server.port), timeout=10)
    s.sendall(('GET /writeloop?%s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
    s.recv(65536)
    s.close()
    deadline = time.time() + 15
    while not os.path.exists(path) and time.time() < deadline:
        time.sleep(0.05)
    assert open(path).read() == 'OSError errno=None'
    assert server.get('/method').status == 200
