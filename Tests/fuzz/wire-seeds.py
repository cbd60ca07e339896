#!/usr/bin/env python3
"""Writes the seed corpus of the wire-protocol fuzz target (Tests/fuzz/corpus/wire/): a mode
byte (see WireProtocolFuzzer.swift) and then well-formed frame streams, one per file, so the
fuzzer starts from every frame type of both directions. Frame layouts: WireProtocol.swift."""

import os
import struct
import sys

Q, R, D, X, H, W, F, S, L, A, Z = (ord(c) for c in 'QRDXHWFSLAZ')


def frame(kind, payload=b''):
    return struct.pack('<BI', kind, len(payload)) + payload


def string(s):
    b = s.encode() if isinstance(s, str) else s
    return struct.pack('<I', len(b)) + b + b'\0'


def request(environ=(), strings=('/srv/app.wsgi', 'localhost', '', 'application', 'g', 'wsgi-script'),
            numbers=(8080, 1, 0, 0, 0, 0), mtime=1700000000, queue_start=0, queue_cell=-1, queue_mark=0):
    p = struct.pack('<Iqq', len(environ), mtime, queue_start) + struct.pack('<6i', *numbers)
    p += struct.pack('<iQ', queue_cell, queue_mark)
    p += b''.join(string(s) for s in strings)
    p += b''.join(string(k) + string(v) for k, v in environ)
    return frame(Q, p)


def headers(status, line, pairs):
    return frame(H, struct.pack('<i', status) + string(line) + struct.pack('<I', len(pairs))
                 + b''.join(string(k) + string(v) for k, v in pairs))


def end(status=0):
    return frame(Z, struct.pack('<i', status))


ENV = [('REQUEST_METHOD', 'GET'), ('PATH_INFO', '/x'), ('QUERY_STRING', 'a=1'), ('HTTP_HOST', '127.0.0.1')]
POST = [('REQUEST_METHOD', 'POST'), ('CONTENT_LENGTH', '11')]

DAEMON = {  # mode 0: what an Apache child sends a daemon
    'request-get': request(ENV),
    'request-empty-strings': request((), ('',) * 6, (0, 0, 0, 0, 0, 1)),
    'request-post-body': request(POST) + frame(D, b'hello world') + frame(D),
    'request-body-in-pieces': request(POST) + frame(D, b'hel') + frame(D, b'lo world') + frame(D),
    'request-read-error': request(POST) + frame(X, struct.pack('<I', 413)),
    'two-requests': request(ENV) + request(POST) + frame(D, b'x' * 11) + frame(D),
    'request-latin1-environ': request([('HTTP_X_NAME', b'caf\xe9'), ('SCRIPT_NAME', '')]),
    'request-queue-start': request(ENV, queue_start=1_700_000_000_000_000),
    'request-queue-cell': request(ENV, queue_cell=3, queue_mark=(1 << 48) | 12345),
    'not-a-request': frame(W, b'abc'),
    'truncated-request': request(ENV)[:20],
}
CHILD = {  # mode 1: what a daemon answers an Apache child
    'hello': headers(200, '200 OK', [('Content-Type', 'text/plain')]) + frame(W, b'Hello World!\n') + end(),
    'read-then-answer': frame(R, struct.pack('<I', 65536)) + headers(200, '200 OK', []) + end(),
    'read-error-answer': frame(R, struct.pack('<I', 8)) + end(413),
    'stream-flush': headers(200, '200 OK', [('X-A', '1'), ('X-B', '2')]) + frame(W, b'a') + frame(F)
                    + frame(W, b'b') + frame(F) + end(),
    'log-lines': frame(L, struct.pack('<I', 3) + string('an error')) + frame(L, struct.pack('<I', 6) + string(''))
                 + headers(500, '500 Internal Server Error', []) + end(),
    'abort-mid-response': headers(200, '200 OK', []) + frame(W, b'part') + frame(A) + end(),
    'send-file': headers(200, '200 OK', []) + frame(S, struct.pack('<qqB', 0, 100, 1)) + end(),
    'status-only': end(404),
    'long-header': headers(200, '200 OK', [('X-Long', 'v' * 200)]) + end(),
    'many-headers': headers(200, '200 OK', [('X-%d' % i, str(i)) for i in range(40)]) + end(),
    'unexpected-request-frame': request(ENV),
    'truncated-headers': headers(200, '200 OK', [('A', 'b')])[:12],
}


def main(directory):
    os.makedirs(directory, exist_ok=True)
    for mode, seeds in ((0, DAEMON), (1, CHILD)):
        for name, data in seeds.items():
            variants = [(name, mode)]
            if mode == 1 and name in ('send-file', 'long-header'):
                variants.append((name + '-fd-limit', mode | 2 | 4))
            if name in ('read-then-answer', 'request-post-body'):
                variants.append((name + '-413', mode | 8))
            if name in ('request-post-body', 'request-body-in-pieces', 'two-requests'):
                variants.append((name + '-small-reads', mode | 0x10))  # 17-byte reads: read-ahead
            for n, m in variants:
                with open(os.path.join(directory, '%d-%s' % (m, n)), 'wb') as f:
                    f.write(bytes([m]) + data)


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), 'corpus', 'wire'))
