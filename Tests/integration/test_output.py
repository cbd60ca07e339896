"""The response: start_response (exc_info, validation of status and headers), the legacy write()
callable, streaming, close(), Content-Length truncation, HEAD, vanished clients, and where
print(), sys.stderr and wsgi.errors go."""

import os
import time

import pytest

from harness import dechunk, split_response, state_file, wait_for_file

APPS = {
    'headers.wsgi': r'''
def application(environ, start_response):
    kind = environ['QUERY_STRING']
    if kind == 'crlf':
        start_response('200 OK', [('X-Bad', 'a\r\nInjected: yes')])
    elif kind == 'lf':
        start_response('200 OK', [('X-Bad', 'a\nInjected: yes')])
    elif kind == 'cr':
        start_response('200 OK', [('X-Bad', 'a\rInjected: yes')])
    elif kind == 'namecrlf':
        start_response('200 OK', [('X-Bad\r\nInjected', 'yes')])
    elif kind == 'name':
        start_response('200 OK', [('X Bad:', 'value')])
    elif kind == 'latin1':
        start_response('200 OK', [('X-Bad', 'snow \u2603')])
    elif kind == 'status':
        start_response('200 OK\r\nInjected: yes', [])
    elif kind == 'statuslatin1':
        start_response('200 \u2603', [])
    elif kind == 'bytesvalue':
        start_response('200 OK', [('X-Bad', b'bytes')])
    elif kind == 'notlist':
        start_response('200 OK', (('X-Bad', 'b'),))
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
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-First', 'yes')])
    try:
        raise ValueError('replaced')
    except ValueError:
        start_response('503 Service Unavailable', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'error page']
''',
    'excinfolate.wsgi': r'''
import sys
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'partial body ')
    try:
        raise ValueError('error after the headers were sent')
    except ValueError:
        start_response('500 Oops', [('Content-Type', 'text/plain')], sys.exc_info())
    return [b'never sent']
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
    'empty.wsgi': r'''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        yield b''
        yield b'a'
        yield b''
        yield b'b'
        yield b''
    return gen()
''',
    'stream.wsgi': r'''
import os, time
def wait_for(marker):
    # Blocks until the test has seen the first chunk (or gives up after 10 s).
    deadline = time.time() + 10
    while not os.path.exists(marker) and time.time() < deadline:
        time.sleep(0.02)
def application(environ, start_response):
    mode, _, marker = environ['QUERY_STRING'].partition('&')
    if mode == 'write':
        write = start_response('200 OK', [('Content-Type', 'text/plain')])
        write(b'first chunk\n')
        wait_for(marker)
        return [b'second chunk\n']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        yield b'first chunk\n'
        wait_for(marker)
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
    'short.wsgi': r'''
def application(environ, start_response):
    # Declares 100 bytes and gives 50: as a list (buffered by Apache), from a generator
    # (flushed as it goes) or through write().
    kind = environ['QUERY_STRING']
    write = start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '100')])
    if kind == 'gen':
        return (b'x' * 25 for _ in range(2))
    if kind == 'write':
        write(b'x' * 50)
        return []
    return [b'x' * 50]
''',
    'long.wsgi': r'''
def application(environ, start_response):
    # Declares 5 bytes and generates 15; writes a state file when its generator is exhausted.
    path = environ['QUERY_STRING']
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '5')])
    def gen():
        yield b'abc'
        yield b'defgh'
        yield b'ijklmno'
        with open(path, 'w') as f:
            f.write('exhausted')
    return gen()
''',
    'writelength.wsgi': r'''
def application(environ, start_response):
    write = start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', '4')])
    write(b'ab')
    write(b'cdef')
    return [b'gh']
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
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Method', environ['REQUEST_METHOD']),
                              ('X-Pid', str(os.getpid()))])
    return [b'method body']
''',
    'headgen.wsgi': r'''
def application(environ, start_response):
    path = environ['QUERY_STRING']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    class Result:
        def __iter__(self):
            yield b'generated body'
        def close(self):
            with open(path, 'w') as f:
                f.write('closed')
    return Result()
''',
    'log.wsgi': r'''
import sys
def application(environ, start_response):
    token = environ['QUERY_STRING']
    print('print-' + token)
    print('stderr-' + token, file=sys.stderr)
    sys.stderr.flush()
    errors = environ['wsgi.errors']
    errors.write('errors-' + token + '\n')
    errors.writelines(['lines1-' + token + '\n', 'lines2-' + token + '\n'])
    errors.write('multi1-' + token + '\nmulti2-' + token + '\n')
    errors.flush()
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'logged']
''',
}

CONFIG = '''
WSGIScriptAliasMatch ^/(\\w+)$ {apps}/$1.wsgi
<Location /method>
    WSGIMapHEADToGET Off
</Location>
<Location /headgen>
    WSGIMapHEADToGET Off
</Location>
'''

HEADER_ERROR = r'^(ValueError|TypeError|AssertionError): '


@pytest.mark.parametrize('kind', ['crlf', 'lf', 'cr', 'namecrlf', 'name', 'latin1', 'status', 'statuslatin1',
                                  'bytesvalue', 'notlist'])
def test_bad_status_or_headers_give_500_never_an_injected_header(server, kind):
    server.expect_traceback(HEADER_ERROR)
    start = server.log_size()
    with server.connect() as c:
        c.send(('GET /headers?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % kind).encode())
        raw = c.read_to_eof()
    status, headers, _ = split_response(raw)
    assert status == 500
    assert b'Injected' not in raw.partition(b'\r\n\r\n')[0]
    assert 'x-bad' not in headers
    assert server.wait_for_entry(HEADER_ERROR, start) is not None
    assert server.get('/headers').status == 200


def test_non_latin1_header_error_names_the_problem(server):
    server.expect_traceback(HEADER_ERROR)
    start = server.log_size()
    assert server.get('/headers?latin1').status == 500
    entry = server.wait_for_entry(r'^ValueError: ', start)
    assert entry and 'latin-1' in entry['message']


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
    assert r.header('X-First') is None


def failing_stream(server, path, error):
    """Requests `path`, whose application fails after sending its headers; returns the
    response's status, headers, chunked body (data, complete) and whether the server closed."""
    server.expect_traceback('^' + error)
    start = server.log_size()
    with server.connect() as c:
        c.send(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
        raw = c.read_to_eof(timeout=3)
    status, headers, body = split_response(raw)
    assert server.wait_for_entry('^' + error, start)
    assert server.get('/method').status == 200
    return status, headers, dechunk(body), c.eof


def test_exc_info_after_headers_sent_reraises_and_is_logged(server):
    status, headers, (data, complete), _ = failing_stream(server, '/excinfolate', 'ValueError: error after the headers were sent')
    assert status == 200 and headers['transfer-encoding'] == 'chunked'
    assert data.startswith(b'partial body ') and b'never sent' not in data


@pytest.mark.ours_only
def test_exc_info_after_headers_sent_aborts_the_connection(server):
    # mod_wsgi 4.9.4 appends Apache's 500 error page to the body and ends it properly, so the
    # client takes the broken response for a complete one.
    status, headers, (data, complete), closed = failing_stream(server, '/excinfolate', 'ValueError: error after the headers were sent')
    assert data == b'partial body ' and not complete and closed


def test_start_response_twice_without_exc_info_fails(server):
    server.expect_traceback(r'^(AssertionError|RuntimeError|ValueError|TypeError): ')
    assert server.get('/twice').status == 500
    assert server.get('/method').status == 200


def test_write_callable(server):
    r = server.get('/write')
    assert r.body == b'written then returned'


def test_empty_chunks_do_not_end_the_chunked_stream(server):
    with server.connect() as c:
        c.send(b'GET /empty HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
        status, headers, body = split_response(c.read_to_eof())
    assert status == 200
    if headers.get('transfer-encoding') == 'chunked':
        assert dechunk(body) == (b'ab', True)
    else:
        assert body == b'ab'


@pytest.mark.parametrize('mode', ['generator', 'write'])
def test_first_chunk_reaches_client_while_application_blocks(server, mode):
    marker = state_file(server, 'marker')
    with server.connect() as c:
        c.send(('GET /stream?%s&%s HTTP/1.1\r\nHost: x\r\n\r\n' % (mode, marker)).encode())
        started = time.time()
        c.read_until(b'first chunk', timeout=5)
        assert time.time() - started < 5
        assert b'second chunk' not in c.data
        with open(marker, 'w') as f:
            f.write('go')
        c.read_until(b'second chunk')


def test_close_is_called(server):
    path = state_file(server, 'closed')
    assert server.get('/close?' + path).body == b'ab'
    assert wait_for_file(path) == 'closed'


def test_close_is_called_after_iteration_error(server):
    server.expect_traceback(r'^RuntimeError: iteration failed')
    path = state_file(server, 'closed-fail')
    raw = server.raw(('GET /close?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
    assert raw.startswith(b'HTTP/1.1 200')
    assert server.wait_for_log('iteration failed')
    assert wait_for_file(path) == 'closed'


def test_bytes_beyond_content_length_are_dropped(server):
    r = server.get('/length')
    assert r.body == b'abcde' and r.header('Content-Length') == '5'
    r = server.get('/writelength')
    assert r.body == b'abcd' and r.header('Content-Length') == '4'


SHORT_BODY = r'Content length mismatch, expected 100, response generated 50'


@pytest.mark.parametrize('kind', ['list', 'gen', 'write'])
def test_body_shorter_than_content_length_never_looks_complete(server, kind):
    # The declared Content-Length stays (it is never rewritten to what was sent) and the client
    # gets the 50 bytes there are, then the connection closes: the response is visibly short
    # (mod_wsgi 4.9 keeps the connection open until KeepAliveTimeout, then closes it).
    server.expect_errors(SHORT_BODY)
    with server.connect(timeout=20) as c:
        c.send(('GET /short?%s HTTP/1.1\r\nHost: x\r\n\r\n' % kind).encode())
        raw = c.read_to_eof(timeout=15)
    status, headers, body = split_response(raw)
    assert status == 200 and headers['content-length'] == '100'
    assert body == b'x' * 50 and c.eof


@pytest.mark.ours_only
@pytest.mark.parametrize('kind', ['list', 'gen'])
def test_body_shorter_than_content_length_aborts_the_connection_and_logs_why(server, kind):
    # Not kept alive: the next request pipelined behind it is never answered, so no byte of
    # another response can be taken for the missing 50 (mod_wsgi logs the mismatch at debug
    # level and keeps the connection).
    server.expect_errors(SHORT_BODY)
    start = server.log_size()
    with server.connect(timeout=20) as c:
        c.send(('GET /short?%s HTTP/1.1\r\nHost: x\r\n\r\nGET /method HTTP/1.1\r\nHost: x\r\n\r\n' % kind).encode())
        raw = c.read_to_eof(timeout=4)
    assert c.eof and raw.count(b'HTTP/1.1 ') == 1 and raw.endswith(b'x' * 50)
    entry = server.wait_for_entry(SHORT_BODY + r': .*short\.wsgi', start)
    assert entry and entry['level'] == 'error' and entry['aplogno'].startswith('SWW'), entry


def test_bytes_beyond_content_length_are_dropped_and_the_iterable_consumed(server):
    # As mod_wsgi: the body is cut to the Content-Length, the generator still runs to its end.
    path = state_file(server, 'long')
    r = server.get('/long?' + path)
    assert r.body == b'abcde' and r.header('Content-Length') == '5'
    assert wait_for_file(path) == 'exhausted'


@pytest.mark.ours_only
def test_bytes_beyond_content_length_are_logged(server):
    start = server.log_size()
    assert server.get('/long?' + state_file(server, 'long')).body == b'abcde'
    entry = server.wait_for_entry(r'Content length mismatch, expected 5, response generated 15: .*long\.wsgi', start)
    assert entry and entry['level'] == 'warn', entry


def test_connection_stays_usable_after_truncated_response(server):
    import http.client
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
    try:
        for _ in range(3):
            conn.request('GET', '/length')
            assert conn.getresponse().read() == b'abcde'
        conn.request('GET', '/write')
        assert conn.getresponse().read() == b'written then returned'
    finally:
        conn.close()


def test_exception_after_headers_is_logged_and_child_keeps_serving(server):
    status, headers, (data, complete), _ = failing_stream(server, '/late', 'ValueError: failure after the headers were sent')
    assert status == 200 and headers['transfer-encoding'] == 'chunked'
    assert data.startswith(b'x' * 1000)


@pytest.mark.ours_only
def test_exception_after_headers_aborts_the_connection(server):
    # The last chunk is never sent and the connection is closed: the client can tell the
    # response is truncated (mod_wsgi 4.9.4 appends the 500 error page and ends the body).
    status, headers, (data, complete), closed = failing_stream(server, '/late', 'ValueError: failure after the headers were sent')
    assert data == b'x' * 1000 and not complete and closed


def test_client_disconnect_stops_iteration_and_calls_close(server):
    server.expect_errors(r'(?i)(broken pipe|connection reset|client|write|Failed to)')
    path = state_file(server, 'closed-gone')
    c = server.connect()
    c.send(('GET /infinite?%s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
    while len(c.data) < 2_000_000:
        c.recv()
    c.close()
    assert wait_for_file(path) == 'closed'
    assert server.get('/method').status == 200


def test_head_without_mapping_reaches_app_as_head_and_sends_no_body(server):
    r = server.request('HEAD', '/method')
    assert r.status == 200 and r.body == b''
    assert r.header('X-Method') == 'HEAD'


def test_head_sends_no_body_and_closes_the_iterable(server):
    path = state_file(server, 'head-closed')
    with server.connect() as c:
        c.send(('HEAD /headgen?%s HTTP/1.1\r\nHost: x\r\n\r\nGET /method HTTP/1.1\r\nHost: x\r\n'
                'Connection: close\r\n\r\n' % path).encode())
        raw = c.read_to_eof()
    # Two responses on one connection: the HEAD one has no body, so the next status line
    # follows its headers directly.
    first, _, rest = raw.partition(b'\r\n\r\n')
    assert first.startswith(b'HTTP/1.1 200')
    assert rest.startswith(b'HTTP/1.1 200'), rest[:100]
    assert b'method body' in rest and b'generated body' not in raw
    assert wait_for_file(path) == 'closed'


def test_write_to_vanished_client_raises_oserror_without_errno(server):
    server.expect_errors(r'(?i)(broken pipe|connection reset|client|write|Failed to)')
    path = state_file(server, 'write-gone')
    c = server.connect()
    c.send(('GET /writeloop?%s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
    c.recv()
    c.close()
    assert wait_for_file(path, timeout=15) == 'OSError errno=None'
    assert server.get('/method').status == 200


def test_print_stderr_and_wsgi_errors_go_to_the_error_log_tagged_with_the_request(server):
    token = 't%d' % time.time_ns()
    server.expect_errors(token)
    start = server.log_size()
    with server.connect() as c:
        c.send(('GET /log?%s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % token).encode())
        assert c.read_to_eof().startswith(b'HTTP/1.1 200') and b'logged' in c.data
        client = '127.0.0.1:%d' % c.local_port
    names = ['print', 'stderr', 'errors', 'lines1', 'lines2', 'multi1', 'multi2']
    deadline = time.time() + 5
    while time.time() < deadline:
        entries = {e['message']: e for e in server.log_entries(start) if token in e['message']}
        if len(entries) >= len(names):
            break
        time.sleep(0.05)
    for name in names:
        entry = entries.get('%s-%s' % (name, token))
        assert entry, '%s-%s not logged as its own line: %r' % (name, token, sorted(entries))
        assert entry['client'] == client, entry
