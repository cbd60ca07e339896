"""Memory stays bounded: 1 GB streamed to a client that reads slowly, and a 1 GB request body
read through wsgi.input, move through one prefork child without its RSS growing with them."""

import os
import re
import socket
import threading
import time

import pytest

from harness import ASAN_QUARANTINE_KB, SANITIZED, upload_app

GB = 1 << 30
BOUND_KB = 64 * 1024  # RSS may not grow by more than 64 MB while 1 GB passes through
if SANITIZED:
    BOUND_KB += ASAN_QUARANTINE_KB  # AddressSanitizer holds freed blocks back before reusing them

APPS = {
    'produce.wsgi': r'''
def application(environ, start_response):
    total = int(environ['QUERY_STRING'])
    block = b'\x00\x01' * 32768
    start_response('200 OK', [('Content-Type', 'application/octet-stream'), ('Content-Length', str(total))])
    def gen():
        sent = 0
        while sent < total:
            yield block
            sent += len(block)
    return gen()
''',
    'consume.wsgi': upload_app(),
}

CONFIG = '''
WSGIScriptAlias /produce {apps}/produce.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /consume {apps}/consume.wsgi application-group=%{GLOBAL}
LimitRequestBody 0
'''

def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))


def sampled(pid, work):
    """Runs work() while sampling pid's RSS; returns (baseline, peak) in kB."""
    baseline = rss_kb(pid)
    peak = [baseline]
    done = threading.Event()

    def sample():
        while not done.is_set():
            try:
                peak[0] = max(peak[0], rss_kb(pid))
            except OSError:
                return
            time.sleep(0.02)

    t = threading.Thread(target=sample)
    t.start()
    try:
        work()
    finally:
        done.set()
        t.join()
    return baseline, peak[0]


def warm(apache):
    # Load the scripts and let the child settle before the baseline is taken.
    for _ in range(3):
        apache.get('/produce?1048576')
        apache.post('/consume', b'x' * 1048576)


def test_slow_reader_of_1gb_stream_keeps_rss_bounded(one_child):
    warm(one_child)
    child = one_child.children()[0]

    def read_slowly():
        with socket.create_connection(('127.0.0.1', one_child.port), timeout=60) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 65536)
            s.sendall(b'GET /produce?%d HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n' % GB)
            got = 0
            pause_until = time.time() + 1.5  # the producer is far ahead for a while
            while True:
                chunk = s.recv(1 << 20)
                if not chunk:
                    break
                got += len(chunk)
                if time.time() < pause_until:
                    time.sleep(0.05)
            assert got > GB

    baseline, peak = sampled(child, read_slowly)
    assert peak - baseline < BOUND_KB, (baseline, peak)
    one_child.expect_log(r'AH00161')  # one worker on purpose
    assert one_child.unexpected_lines(0) == []


def test_1gb_upload_through_wsgi_input_keeps_rss_bounded(one_child):
    warm(one_child)
    child = one_child.children()[0]
    result = {}

    def upload():
        block = b'\xab' * (1 << 20)
        with socket.create_connection(('127.0.0.1', one_child.port), timeout=60) as s:
            s.sendall(b'POST /consume HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\nConnection: close\r\n\r\n' % GB)
            for _ in range(GB // len(block)):
                s.sendall(block)
            data = b''
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
            result['response'] = data

    baseline, peak = sampled(child, upload)
    assert result['response'].startswith(b'HTTP/1.1 200') and result['response'].split()[-2] == str(GB).encode()
    assert peak - baseline < BOUND_KB, (baseline, peak)
