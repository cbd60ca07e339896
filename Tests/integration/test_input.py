"""wsgi.input: read variants, readline, readlines, iteration, chunked bodies, 100-continue,
LimitRequestBody."""

import hashlib
import json
import socket

APPS = {
    'input.wsgi': r'''
import json
def application(environ, start_response):
    inp = environ['wsgi.input']
    mode = environ['QUERY_STRING']
    if mode == 'read':
        result = [inp.read().decode('latin-1'), inp.read().decode('latin-1')]
    elif mode == 'readnone':
        result = [inp.read(None).decode('latin-1')]
    elif mode == 'readneg':
        result = [inp.read(-1).decode('latin-1')]
    elif mode == 'readn':
        result = [inp.read(3).decode('latin-1'), inp.read(4).decode('latin-1'), inp.read(100).decode('latin-1'), inp.read(5).decode('latin-1')]
    elif mode == 'readline':
        result = [inp.readline().decode('latin-1'), inp.readline(2).decode('latin-1'), inp.readline().decode('latin-1'), inp.readline().decode('latin-1')]
    elif mode == 'readlines':
        result = [l.decode('latin-1') for l in inp.readlines()]
    elif mode == 'iter':
        result = [l.decode('latin-1') for l in inp]
    else:
        result = []
    body = json.dumps(result).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
''',
    'md5.wsgi': r'''
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
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%d %s' % (n, h.hexdigest())).encode()]
''',
}

CONFIG = '''
WSGIScriptAlias /input {apps}/input.wsgi
WSGIScriptAlias /md5 {apps}/md5.wsgi
WSGIScriptAlias /chunked {apps}/md5.wsgi
WSGIScriptAlias /limited {apps}/md5.wsgi
<Location /chunked>
    WSGIChunkedRequest On
</Location>
<Location /limited>
    LimitRequestBody 1000
</Location>
'''

BODY = b'line one\nline two\nthird\xff line\nlast'


def post(server, mode, body=BODY):
    r = server.post('/input?' + mode, body)
    assert r.status == 200, r
    return json.loads(r.body)


def test_read_all_then_empty(server):
    assert post(server, 'read') == [BODY.decode('latin-1'), '']


def test_read_none_and_negative(server):
    assert post(server, 'readnone') == [BODY.decode('latin-1')]
    assert post(server, 'readneg') == [BODY.decode('latin-1')]


def test_read_n(server):
    assert post(server, 'readn') == ['lin', 'e on', 'e\nline two\nthird\xff line\nlast', '']


def test_readline(server):
    assert post(server, 'readline') == ['line one\n', 'li', 'ne two\n', 'third\xff line\n']


def test_readlines_and_iteration(server):
    expected = ['line one\n', 'line two\n', 'third\xff line\n', 'last']
    assert post(server, 'readlines') == expected
    assert post(server, 'iter') == expected


def test_no_body_reads_empty(server):
    r = server.get('/input?read')
    assert json.loads(r.body) == ['', '']


def test_large_upload_byte_identical(server):
    data = bytes(range(256)) * 40000 + b'\x00tail'
    r = server.post('/md5', data)
    assert r.body.decode() == '%d %s' % (len(data), hashlib.md5(data).hexdigest())


def chunked_request(path, parts):
    body = b''.join(b'%x\r\n%s\r\n' % (len(p), p) for p in parts) + b'0\r\n\r\n'
    return (b'POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' % path.encode()) + body


def test_chunked_body_refused_with_411_by_default(server):
    server.expect_log(r'AH01593|chunked')
    raw = server.raw(chunked_request('/md5', [b'abc']))
    assert raw.startswith(b'HTTP/1.1 411')


def test_chunked_body_with_chunked_request_on(server):
    parts = [b'hello ', b'chunked ', b'\x00world' * 1000]
    raw = server.raw(chunked_request('/chunked', parts))
    data = b''.join(parts)
    assert raw.startswith(b'HTTP/1.1 200')
    assert ('%d %s' % (len(data), hashlib.md5(data).hexdigest())).encode() in raw


def test_expect_100_continue_answered_at_first_read(server):
    body = b'x' * 5000
    with socket.create_connection(('127.0.0.1', server.port), timeout=10) as s:
        s.sendall(b'POST /md5 HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n\r\n')
        interim = s.recv(100)
        assert interim.startswith(b'HTTP/1.1 100 Continue')
        s.sendall(body)
        data = b''
        while b'\r\n\r\n' not in data or hashlib.md5(body).hexdigest().encode() not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
        assert b'200 OK' in data and hashlib.md5(body).hexdigest().encode() in data


def test_limit_request_body_gives_413(server):
    server.expect_log(r'.')
    assert server.post('/limited', b'x' * 5000).status == 413
    assert server.post('/limited', b'x' * 500).status == 200
