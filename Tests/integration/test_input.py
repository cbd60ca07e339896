"""wsgi.input: read variants, readline, readlines, iteration, b'' at the end, through Apache's
input filters; chunked bodies (411 unless WSGIChunkedRequest On), 100-continue, LimitRequestBody."""

import hashlib
import json
import socket

import pytest

from harness import upload_answer, upload_app

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
    elif mode == 'readzero':
        result = [inp.read(0).decode('latin-1'), inp.read(2).decode('latin-1')]
    elif mode == 'mixed':
        result = [inp.readline().decode('latin-1'), inp.read(4).decode('latin-1'), inp.readline(3).decode('latin-1'),
                  inp.read().decode('latin-1'), inp.readline().decode('latin-1')]
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
    'lines.wsgi': r'''
import hashlib
def application(environ, start_response):
    h = hashlib.md5()
    n = 0
    for line in environ['wsgi.input']:
        assert line.count(b'\n') == line.endswith(b'\n'), line  # at most one newline, at the end
        h.update(line)
        n += 1
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%d %s' % (n, h.hexdigest())).encode()]
''',
    'md5.wsgi': upload_app(),
}

CONFIG = '''
WSGIScriptAlias /input {apps}/input.wsgi
WSGIScriptAlias /md5 {apps}/md5.wsgi
WSGIScriptAlias /lines {apps}/lines.wsgi
WSGIScriptAlias /chunked {apps}/md5.wsgi
WSGIScriptAlias /limited {apps}/md5.wsgi
WSGIScriptAlias /inflate {apps}/md5.wsgi
<Location /inflate>
    SetInputFilter DEFLATE
</Location>
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


def test_read_negative_reads_all(server):
    assert post(server, 'readneg') == [BODY.decode('latin-1')]


@pytest.mark.ours_only
def test_read_none_reads_all(server):
    # mod_wsgi 4.9.4 raises TypeError for read(None); io.RawIOBase accepts it.
    assert post(server, 'readnone') == [BODY.decode('latin-1')]


def test_read_zero_is_empty_and_consumes_nothing(server):
    assert post(server, 'readzero') == ['', 'li']


def test_readline_and_read_mixed(server):
    assert post(server, 'mixed') == ['line one\n', 'line', ' tw', 'o\nthird\xff line\nlast', '']


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


def test_many_lines_across_buffer_boundaries(server):
    # Lines of every length from 0 to 1999 bytes (1.9 MB): readline must never split or merge
    # a line where Apache's buckets or the module's buffer end.
    data = b''.join(bytes([65 + i % 26]) * i + b'\n' for i in range(2000)) + b'no newline at the end'
    r = server.post('/lines', data)
    assert r.body.decode() == '%d %s' % (2001, hashlib.md5(data).hexdigest())


def test_large_upload_byte_identical(server):
    data = bytes(range(256)) * 40000 + b'\x00tail'
    r = server.post('/md5', data)
    assert r.body.decode() == upload_answer(data)


def test_body_passes_through_apache_input_filters(server):
    # mod_deflate's input filter inflates a gzip body before the application reads it.
    import gzip
    # (Mostly incompressible: mod_deflate refuses bodies that inflate more than 200 times.)
    data = b''.join(hashlib.sha256(b'%d' % i).digest() + b'\x00 text ' * 4 for i in range(20000))
    r = server.post('/inflate', gzip.compress(data), headers={'Content-Encoding': 'gzip'})
    assert r.status == 200
    assert r.body.decode() == upload_answer(data)


def chunked_request(path, parts):
    body = b''.join(b'%x\r\n%s\r\n' % (len(p), p) for p in parts) + b'0\r\n\r\n'
    return (b'POST %s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n' % path.encode()) + body


def test_chunked_body_refused_with_411_by_default(server):
    # mod_wsgi logs this at error level, Apache's own AH01593 is at info.
    server.expect_errors(r'^Received request requiring chunked transfer encoding')
    start = server.log_size()
    raw = server.raw(chunked_request('/md5', [b'abc']))
    assert raw.startswith(b'HTTP/1.1 411')
    assert server.wait_for_entry(r'Received request requiring chunked transfer encoding.*md5\.wsgi', start)
    assert server.post('/md5', b'abc').body.decode() == '3 ' + hashlib.md5(b'abc').hexdigest()


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
    assert server.post('/limited', b'x' * 5000).status == 413
    assert server.post('/limited', b'x' * 500).status == 200


def test_no_100_continue_when_the_application_does_not_read(server):
    with server.connect() as c:
        c.send(b'POST /input?ignore HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\nExpect: 100-continue\r\n'
               b'Connection: close\r\n\r\n')
        c.read_until(b'[]')
    assert c.data.startswith(b'HTTP/1.1 200 OK'), c.data[:100]
    assert b'100 Continue' not in c.data
