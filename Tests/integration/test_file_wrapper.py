"""wsgi.file_wrapper: binary-safe and byte-identical at every size on keep-alive connections,
through the zero-copy path (a real file) and the read(blksize) fallback (BytesIO, objects
without fileno(), the wrapper iterated by middleware); Content-Length rules; close()."""

import http.client
import json
import os

import pytest

from harness import state_file, wait_for_file

SIZES = [0, 1, 254, 255, 256, 8000, 8192, 65537, 3 * 1024 * 1024 + 7]
MODES = ['file', 'bytesio', 'nofileno', 'middleware']

APPS = {
    'file.wsgi': r'''
import io, json, os
class Recorded(io.FileIO):
    """A real file (fileno() works) that records its close() in the state file."""
    state = None
    def close(self):
        if not self.closed and self.state:
            with open(self.state, 'w') as f:
                f.write('closed')
        super().close()
class NoFileno:
    """A file-like object without fileno(): the fallback path; records its read sizes."""
    def __init__(self, f, state):
        self.f, self.state, self.sizes = f, state, []
    def read(self, n=-1):
        self.sizes.append(n)
        return self.f.read(n)
    def close(self):
        self.f.close()
        if self.state:
            with open(self.state, 'w') as f:
                json.dump(self.sizes, f)
def application(environ, start_response):
    q = dict(p.split('=', 1) for p in environ['QUERY_STRING'].split('&') if p)
    path = os.path.join(environ['FILES_DIR'], q['name'])
    mode = q.get('mode', 'file')
    state = q.get('state')
    headers = [('Content-Type', 'application/octet-stream')]
    if mode == 'bytesio':
        f = io.BytesIO(open(path, 'rb').read())
    elif mode == 'nofileno':
        f = NoFileno(open(path, 'rb'), state)
    else:
        f = Recorded(path, 'rb')
        f.state = state
    if 'length' in q:
        headers.append(('Content-Length', q['length']))
    if 'seek' in q:
        f.seek(int(q['seek']))
    start_response('200 OK', headers)
    wrapper = environ['wsgi.file_wrapper'](f, 4096)
    if mode == 'middleware':
        def passthrough():
            try:
                for block in wrapper:
                    yield block
            finally:
                wrapper.close()
        return passthrough()
    return wrapper
''',
}

CONFIG = '''
WSGIScriptAlias /file {apps}/file.wsgi
SetEnv FILES_DIR {root}/files
'''


def content(n):
    # Every byte value, with plenty of NUL bytes.
    return (bytes(range(256)) * (n // 256 + 1))[:n].replace(b'\x01', b'\x00')


def setup_server(apache):
    d = os.path.join(apache.root, 'files')
    os.makedirs(d)
    for n in SIZES:
        with open(os.path.join(d, 'f%d' % n), 'wb') as f:
            f.write(content(n))
    os.chmod(d, 0o755)


@pytest.mark.parametrize('mode', MODES)
def test_sizes_byte_identical_on_one_keepalive_connection(server, mode):
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=20)
    try:
        for _ in range(2):
            for n in SIZES:
                conn.request('GET', '/file?name=f%d&mode=%s' % (n, mode))
                r = conn.getresponse()
                body = r.read()
                assert r.status == 200
                assert body == content(n), 'size %d via %s: got %d bytes' % (n, mode, len(body))
                if mode == 'file':
                    assert r.getheader('Content-Length') == str(n)
    finally:
        conn.close()


@pytest.mark.parametrize('mode', MODES)
def test_declared_content_length_is_honoured(server, mode):
    r = server.get('/file?name=f8000&mode=%s&length=5' % mode)
    assert r.body == content(8000)[:5]
    assert r.header('Content-Length') == '5'


def test_sending_starts_at_current_position(server):
    r = server.get('/file?name=f8000&seek=3')
    assert r.body == content(8000)[3:]
    assert r.header('Content-Length') == str(8000 - 3)


def test_position_and_declared_length_together(server):
    r = server.get('/file?name=f65537&seek=1000&length=300')
    assert r.body == content(65537)[1000:1300]
    assert r.header('Content-Length') == '300'


def test_wrapper_close_closes_the_file(server):
    path = state_file(server, 'file-closed')
    assert server.get('/file?name=f8000&state=' + path).body == content(8000)
    assert wait_for_file(path) == 'closed'


def test_fallback_reads_blocks_of_blksize_and_closes(server):
    path = state_file(server, 'fallback-reads')
    assert server.get('/file?name=f65537&mode=nofileno&state=' + path).body == content(65537)
    sizes = json.loads(wait_for_file(path))
    assert sizes and set(sizes) == {4096}


def test_head_sends_no_body_and_keeps_the_connection_usable(server):
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=20)
    try:
        conn.request('HEAD', '/file?name=f8000')
        r = conn.getresponse()
        assert r.status == 200 and r.read() == b''
        conn.request('GET', '/file?name=f255')
        assert conn.getresponse().read() == content(255)
    finally:
        conn.close()
