"""wsgi.file_wrapper: binary-safe, byte-identical at every size on keep-alive connections,
through the zero-copy path and the read() fallback; Content-Length rules."""

import http.client
import os

import pytest

SIZES = [0, 1, 254, 255, 256, 8000, 8192, 65537, 3 * 1024 * 1024 + 7]

APPS = {
    'file.wsgi': r'''
import io, os
def application(environ, start_response):
    name, _, mode = environ['QUERY_STRING'].partition('&')
    path = os.path.join(environ['FILES_DIR'], name)
    headers = [('Content-Type', 'application/octet-stream')]
    if mode == 'bytesio':
        f = io.BytesIO(open(path, 'rb').read())
    elif mode == 'wrapped':
        class Wrapped:
            def __init__(self, f): self.f = f
            def read(self, n): return self.f.read(n)
            def close(self): self.f.close()
        f = Wrapped(open(path, 'rb'))
    else:
        f = open(path, 'rb')
    if mode == 'length5':
        headers.append(('Content-Length', '5'))
    if mode == 'seek3':
        f.seek(3)
    start_response('200 OK', headers)
    return environ['wsgi.file_wrapper'](f, 4096)
''',
}

CONFIG = '''
WSGIScriptAlias /file {apps}/file.wsgi
SetEnv FILES_DIR {root}/files
'''


def setup_server(apache):
    d = os.path.join(apache.root, 'files')
    os.makedirs(d)
    for n in SIZES:
        data = (bytes(range(256)) * (n // 256 + 1))[:n]
        data = data.replace(b'\x01', b'\x00')  # plenty of NUL bytes
        with open(os.path.join(d, 'f%d' % n), 'wb') as f:
            f.write(data)
    os.chmod(d, 0o755)


def expected(n):
    return (bytes(range(256)) * (n // 256 + 1))[:n].replace(b'\x01', b'\x00')


@pytest.mark.parametrize('mode', ['', 'bytesio', 'wrapped'])
def test_sizes_byte_identical_on_one_keepalive_connection(server, mode):
    conn = http.client.HTTPConnection('127.0.0.1', server.port, timeout=20)
    try:
        for n in SIZES:
            conn.request('GET', '/file?f%d&%s' % (n, mode))
            r = conn.getresponse()
            body = r.read()
            assert r.status == 200
            assert body == expected(n), 'size %d via %r' % (n, mode)
            if mode == '':
                assert r.getheader('Content-Length') == str(n)
    finally:
        conn.close()


def test_declared_content_length_is_honoured(server):
    r = server.get('/file?f8000&length5')
    assert r.body == expected(8000)[:5]
    assert r.header('Content-Length') == '5'


def test_sending_starts_at_current_position(server):
    r = server.get('/file?f8000&seek3')
    assert r.body == expected(8000)[3:]
    assert r.header('Content-Length') == str(8000 - 3)
