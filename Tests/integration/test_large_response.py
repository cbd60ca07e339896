"""One body chunk larger than 2 GiB (more than a C int holds, and more than one daemon wire frame
carries) reaches the client whole, in embedded and in daemon mode. The client counts the bytes
as they stream in (nothing of the body is kept); the application builds its bytes object once
per request. One such request per mode: each needs about 2 GiB in the process that runs it."""

import socket
import time

import pytest

SIZE = (2 << 30) + 1000
# Room for the application's bytes object, Apache's side and the rest of the machine.
NEEDED_FREE = 8 << 30
SINGLE_MPM = True

APPS = {
    'big.wsgi': r'''
def application(environ, start_response):
    n = int(environ['QUERY_STRING'])
    body = b'x' * n
    start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', str(n))])
    return [body]
''',
}

CONFIG = '''
WSGIDaemonProcess big processes=1 threads=1
WSGIScriptAlias /embedded {apps}/big.wsgi
WSGIScriptAlias /daemon {apps}/big.wsgi
<Location /daemon>
    WSGIProcessGroup big
</Location>
'''


def available_memory():
    with open('/proc/meminfo') as f:
        for line in f:
            if line.startswith('MemAvailable:'):
                return int(line.split()[1]) * 1024
    return 0


def fetch_counting(server, path, timeout=300):
    """(status, headers, body length, whether every body byte was b'x') of one GET, reading
    the body in pieces until the server closes or Content-Length bytes came."""
    deadline = time.time() + timeout
    with socket.create_connection(('127.0.0.1', server.port), timeout=60) as s:
        s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % path).encode())
        head = b''
        while b'\r\n\r\n' not in head:
            chunk = s.recv(65536)
            assert chunk, 'closed before the headers: %r' % head
            head += chunk
        head, _, rest = head.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(':') for line in lines[1:])}
        expected = int(headers.get('content-length', -1))
        received, all_x = len(rest), rest.count(b'x') == len(rest)
        buffer = bytearray(1 << 20)
        while received != expected and time.time() < deadline:
            n = s.recv_into(buffer)
            if not n:
                break
            received += n
            all_x = all_x and buffer.count(b'x', 0, n) == n
        return int(lines[0].split()[1]), headers, received, all_x


@pytest.mark.skipif(available_memory() < NEEDED_FREE,
                    reason='a 2 GiB response needs about 8 GB of free memory (MemAvailable)')
@pytest.mark.parametrize('mode', ['embedded', 'daemon'])
def test_single_chunk_over_2_gib_reaches_the_client_whole(server, mode):
    status, headers, received, all_x = fetch_counting(server, '/%s?%d' % (mode, SIZE))
    assert status == 200 and headers['content-length'] == str(SIZE)
    assert received == SIZE and all_x
