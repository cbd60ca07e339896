"""request-timeout= and interrupt-timeout= of WSGIDaemonProcess as mod_wsgi 6.1 defines them,
and the status codes of daemon failures (mod_wsgi 6: 502 when the daemon process dies before
the response headers, 504 for time-outs).

A request is over its time after request-timeout x (1 + ln threads) seconds (the daemon's
monitor looks once a second). With interrupt-timeout, mod_wsgi.RequestTimeout (a BaseException)
is raised in the request's thread, in its own interpreter: a request running Python code
unwinds, is answered 504 and the thread serves on in the same process. A thread blocked in C
code never sees it: after interrupt-timeout the process is replaced. Without interrupt-timeout
(mod_wsgi 6.1's default) the process is replaced at once.

Where the process is replaced, the stuck request is answered 504 by mod_swiftwsgi (it timed
out) and 502 by mod_wsgi 6.1.1 (its daemon closed the connection before the headers). A request
whose headers already went out is cut short (no terminating chunk) by mod_swiftwsgi; mod_wsgi
6.1.1 ends its chunked response as if it were complete.

Runs against mod_wsgi 6.1.1 from PyPI too (SWIFTWSGI_MODULE=its module); mod_wsgi 4.9 has neither
RequestTimeout nor the 502s."""

import os
import socket
import threading
import time

import pytest

from harness import OURS, PYTHON_VERSION, TRACEBACK, Apache, mod_wsgi_versions, state_file, wait_for_file

# Daemon behaviour, the same under every MPM.
SINGLE_MPM = True
# The configuration has interrupt-timeout=, which mod_wsgi 4.9 refuses.
pytestmark = mod_wsgi_versions(minimum=(6,))

APPS = {
    'stuck.wsgi': r'''
import os, time
import mod_wsgi

def application(environ, start_response):
    mode, _, state = environ['QUERY_STRING'].partition('&')
    if mode == 'pid':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    if mode.startswith('stream'):   # stuck after the headers and a first chunk went out
        start_response('200 OK', [('Content-Type', 'text/plain')])
        def body():
            yield b'first part\n'
            if mode == 'streamread':
                r, w = os.pipe()
                os.read(r, 1)
            while True:
                pass
        return body()
    try:
        if mode == 'loop':          # pure Python, never ends
            while True:
                pass
        elif mode == 'sleeps':      # short sleeps in a Python loop
            while True:
                time.sleep(0.05)
        elif mode == 'read':        # blocked in C: a read of a pipe nobody writes to
            r, w = os.pipe()
            os.read(r, 1)
        elif mode == 'stubborn':    # catches RequestTimeout and carries on
            while True:
                try:
                    while True:
                        time.sleep(0.05)
                except mod_wsgi.RequestTimeout:
                    with open(state, 'a') as f:
                        f.write('caught ')
    except BaseException as e:
        with open(state, 'w') as f:
            f.write('%s.%s %s' % (type(e).__module__, type(e).__name__,
                                  ' '.join(c.__name__ for c in type(e).__mro__[1:-1])))
        raise
''',
    'crash.wsgi': r'''
import os, signal

def application(environ, start_response):
    mode = environ['QUERY_STRING']
    if mode == 'pid':
        start_response('200 OK', [('Content-Type', 'text/plain')])
        return [str(os.getpid()).encode()]
    if mode == 'before':
        os.kill(os.getpid(), signal.SIGKILL)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def body():
        yield b'first part\n'
        os.kill(os.getpid(), signal.SIGKILL)
        yield b'never sent\n'
    return body()
''',
    'slow.wsgi': r'''
import time

def application(environ, start_response):
    time.sleep(float(environ['QUERY_STRING'] or 0))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'slept']
''',
    'probe.wsgi': r'''
import mod_wsgi
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    c = mod_wsgi.RequestTimeout
    return [repr((c.__module__, c.__name__, c.__bases__[0].__name__)).encode()]
''',
}

CONFIG = '''
WSGIDaemonProcess interrupted processes=1 threads=1 request-timeout=2 interrupt-timeout=1
WSGIScriptAlias /interrupted {apps}/stuck.wsgi process-group=interrupted application-group=%{GLOBAL}
WSGIDaemonProcess interruptedsub processes=1 threads=2 request-timeout=2 interrupt-timeout=1
WSGIScriptAlias /interruptedsub {apps}/stuck.wsgi process-group=interruptedsub
WSGIDaemonProcess blocked processes=1 threads=1 request-timeout=2 interrupt-timeout=1
WSGIScriptAlias /blocked {apps}/stuck.wsgi process-group=blocked application-group=%{GLOBAL}
WSGIDaemonProcess plain processes=1 threads=1 request-timeout=2
WSGIScriptAlias /plain {apps}/stuck.wsgi process-group=plain application-group=%{GLOBAL}
WSGIDaemonProcess crashing processes=1 threads=2
WSGIScriptAlias /crash {apps}/crash.wsgi process-group=crashing application-group=%{GLOBAL}
WSGIScriptAlias /probe {apps}/probe.wsgi
WSGIDaemonProcess silent processes=1 threads=2 socket-timeout=2
WSGIScriptAlias /silent {apps}/slow.wsgi process-group=silent application-group=%{GLOBAL}
WSGIDaemonProcess queued processes=1 threads=1 queue-timeout=1
WSGIScriptAlias /queued {apps}/slow.wsgi process-group=queued application-group=%{GLOBAL}
WSGIScriptAlias /probe-daemon {apps}/probe.wsgi process-group=interruptedsub
'''

# What answers a stuck request when its process is replaced (see the module's docstring).
REPLACED = 504 if OURS else 502

# The request's interruption as each module logs it: ours with the timing and the traceback
# (error level), mod_wsgi 6.1.1 at info level.
INTERRUPTED = (r'interrupted by mod_wsgi\.RequestTimeout after \d+\.\d s' if OURS
               else r'Request interrupted by RequestTimeout; thread recovered')


# mod_wsgi 6.1.1's 502 lines: the daemon process closed or reset the connection.
DAEMON_GONE = (r'closed connection before sending complete response headers'
               r'|Error reading response headers from daemon process'
               r'|Request data write error when proxying data to daemon process')


def pid(server, path):
    r = server.get(path + '?pid')
    assert r.status == 200, r
    return int(r.body)


def timed(server, path, timeout=40):
    started = time.time()
    r = server.get(path, timeout=timeout)
    return r, time.time() - started


def expect_interruption(server):
    server.expect_log(*TRACEBACK[1:], INTERRUPTED, r'^mod_wsgi\.RequestTimeout$')


def expect_replacement(server):
    server.expect_log(r'request-timeout|request time limit|Truncated or missing response', DAEMON_GONE)


@pytest.mark.parametrize('mode', ['loop', 'sleeps'])
@mod_wsgi_versions(minimum=(6, 1))
def test_python_code_over_its_time_gets_request_timeout_504_and_the_thread_serves_on(server, mode):
    expect_interruption(server)
    before = pid(server, '/interrupted')
    state = state_file(server, 'timeout')
    start = server.log_size()
    r, elapsed = timed(server, '/interrupted?%s&%s' % (mode, state))
    assert r.status == 504, r
    # threads=1: over its time after request-timeout (2 s), seen within the monitor's second.
    assert 1.9 < elapsed < 5, elapsed
    assert wait_for_file(state) == 'mod_wsgi.RequestTimeout BaseException'
    assert server.wait_for_log(INTERRUPTED, start)
    # The same process serves on, with the same thread.
    assert pid(server, '/interrupted') == before
    r, elapsed = timed(server, '/interrupted?pid')
    assert r.status == 200 and elapsed < 1


@mod_wsgi_versions(minimum=(6, 1))
def test_request_timeout_is_raised_in_the_requests_own_sub_interpreter(server):
    expect_interruption(server)
    before = pid(server, '/interruptedsub')
    state = state_file(server, 'timeout-sub')
    r, elapsed = timed(server, '/interruptedsub?loop&' + state)
    assert r.status == 504, r
    # threads=2: request-timeout x (1 + ln 2) = 3.4 s.
    assert 3.3 < elapsed < 6.5, elapsed
    assert wait_for_file(state) == 'mod_wsgi.RequestTimeout BaseException'
    assert pid(server, '/interruptedsub') == before


@mod_wsgi_versions(minimum=(6, 1))
def test_a_thread_blocked_in_c_is_not_interrupted_and_its_process_is_replaced(server):
    expect_replacement(server)
    before = pid(server, '/blocked')
    state = state_file(server, 'blocked')
    r, elapsed = timed(server, '/blocked?read&' + state)
    assert r.status == REPLACED, r
    # request-timeout (2 s) + interrupt-timeout (1 s), each seen within the monitor's second;
    # mod_wsgi's process then takes up to shutdown-timeout (5 s) to exit.
    assert 2.9 < elapsed < (6 if OURS else 11), elapsed
    # The group serves again, from a new process.
    deadline = time.time() + 20
    while True:
        r = server.get('/blocked?pid')
        if r.status == 200 or time.time() > deadline:
            break
        time.sleep(0.2)
    assert r.status == 200 and int(r.body) != before


@mod_wsgi_versions(minimum=(6, 1))
def test_a_request_that_swallows_request_timeout_has_its_process_replaced(server):
    expect_replacement(server)
    before = pid(server, '/blocked')
    state = state_file(server, 'stubborn')
    r, elapsed = timed(server, '/blocked?stubborn&' + state)
    assert r.status == REPLACED, r
    assert 2.9 < elapsed < (6 if OURS else 11), elapsed
    assert wait_for_file(state).startswith('caught')
    deadline = time.time() + 20
    while pid_or_none(server, '/blocked') in (None, before) and time.time() < deadline:
        time.sleep(0.2)
    assert pid_or_none(server, '/blocked') not in (None, before)


def stuck_after_headers(server, path):
    """The raw response to a request that sent its headers and a first chunk, then got stuck."""
    with socket.create_connection(('127.0.0.1', server.port), timeout=30) as s:
        s.sendall(('GET %s HTTP/1.1\r\nHost: x\r\n\r\n' % path).encode())
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                return data
            data += chunk


@mod_wsgi_versions(minimum=(6, 1))
def test_request_timeout_after_the_headers_cuts_the_response_short_and_the_thread_serves_on(server):
    expect_interruption(server)
    server.expect_log(r'RequestTimeout after headers sent; response truncated', r'response truncated')
    before = pid(server, '/interrupted')
    data = stuck_after_headers(server, '/interrupted?streamloop')
    head, _, body = data.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200') and b'first part' in body, data
    # mod_swiftwsgi sends no terminating chunk: the client knows the response is incomplete.
    # mod_wsgi 6.1.1 truncates in the daemon but its Apache child then ends the chunked response
    # as if it were complete.
    assert body.endswith(b'0\r\n\r\n') != OURS, data
    assert pid(server, '/interrupted') == before


# mod_wsgi 6.1.1 ends the chunked response as if it were complete when the daemon process goes
# (see the last test): mod_swiftwsgi cuts it short.
@pytest.mark.ours_only
def test_a_request_stuck_in_c_after_the_headers_is_cut_short_when_its_process_is_replaced(server):
    expect_replacement(server)
    data = stuck_after_headers(server, '/blocked?streamread')
    head, _, body = data.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200') and b'first part' in body, data
    assert not body.endswith(b'0\r\n\r\n') and b'<!DOCTYPE' not in body, data


def pid_or_none(server, path):
    r = server.get(path + '?pid')
    return int(r.body) if r.status == 200 else None


@mod_wsgi_versions(minimum=(6, 1))
def test_without_interrupt_timeout_the_process_is_replaced_without_request_timeout(server):
    expect_replacement(server)
    before = pid(server, '/plain')
    state = state_file(server, 'plain')
    r, elapsed = timed(server, '/plain?loop&' + state)
    assert r.status == REPLACED, r
    assert 1.9 < elapsed < (5 if OURS else 10), elapsed
    # No RequestTimeout: the application never saw an exception (it was stopped, not unwound).
    time.sleep(0.5)
    assert not os.path.exists(state) or 'RequestTimeout' not in open(state).read()
    deadline = time.time() + 20
    while pid_or_none(server, '/plain') in (None, before) and time.time() < deadline:
        time.sleep(0.2)
    assert pid_or_none(server, '/plain') not in (None, before)


@pytest.mark.parametrize('path', ['/probe', '/probe-daemon'])
@mod_wsgi_versions(minimum=(6, 1))
def test_request_timeout_is_a_base_exception_of_the_mod_wsgi_module_in_both_modes(server, path):
    # mod_wsgi 6.1 raises it in daemon processes only, but every interpreter has the class.
    r = server.get(path)
    assert r.status == 200 and r.body == b"('mod_wsgi', 'RequestTimeout', 'BaseException')", r


# ---- daemon failures ---------------------------------------------------------------------


@mod_wsgi_versions(minimum=(6,))
def test_daemon_dying_before_the_headers_answers_502(server):
    server.expect_log(r'Truncated or missing response', DAEMON_GONE)
    before = pid(server, '/crash')
    assert server.get('/crash?before').status == 502
    deadline = time.time() + 20
    while pid_or_none(server, '/crash') in (None, before) and time.time() < deadline:
        time.sleep(0.2)
    assert pid_or_none(server, '/crash') not in (None, before)


# mod_wsgi 6.1.1 ends the chunked response as if it were complete (the zero-length chunk), so
# the client cannot tell it was cut short: mod_swiftwsgi aborts the connection instead.
@pytest.mark.ours_only
def test_daemon_dying_after_the_headers_truncates_the_response(server):
    server.expect_log(r'Truncated or missing response|mid-response|Error reading|daemon process|'
                      r'Premature end|Connection reset')
    with socket.create_connection(('127.0.0.1', server.port), timeout=20) as s:
        s.sendall(b'GET /crash?after HTTP/1.1\r\nHost: x\r\n\r\n')
        data = b''
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
    head, _, body = data.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200'), data
    assert b'first part' in body
    # Chunked: the terminating zero-length chunk never comes, so the client knows it is cut short.
    assert b'chunked' in head.lower() and not body.endswith(b'0\r\n\r\n'), data


def test_a_daemon_silent_for_socket_timeout_answers_504(server):
    server.expect_log(r'Timeout when reading response')
    r, elapsed = timed(server, '/silent?5')
    assert r.status == 504, r
    assert 1.9 < elapsed < 4.5, elapsed
    assert server.get('/silent?0').status == 200


def test_a_request_that_waited_past_queue_timeout_answers_504_without_running(server):
    server.expect_log(r'queue-timeout|Queue timeout')
    results = []
    slow = threading.Thread(target=lambda: results.append(server.get('/queued?3').status))
    slow.start()
    time.sleep(0.3)
    r, elapsed = timed(server, '/queued?0')
    slow.join()
    assert r.status == 504 and results == [200], (r, results)


OWN_GIL = '''
<WSGIInterpreterOptions process-group=owngil>
WSGIPerInterpreterGIL On
</WSGIInterpreterOptions>
WSGIDaemonProcess owngil processes=1 threads=2 request-timeout=2 interrupt-timeout=1
WSGIScriptAlias /owngil {apps}/stuck.wsgi process-group=owngil application-group=owngil
'''


@pytest.mark.skipif(tuple(map(int, PYTHON_VERSION.split('.'))) < (3, 12), reason='own GILs need Python 3.12+')
def test_request_timeout_reaches_a_sub_interpreter_with_its_own_gil():
    # The interrupter takes that interpreter's GIL, not the main one.
    server = Apache(OWN_GIL, APPS)
    server.start()
    try:
        before = pid(server, '/owngil')
        state = state_file(server, 'owngil')
        r, elapsed = timed(server, '/owngil?loop&' + state)
        assert r.status == 504, r
        assert 3.3 < elapsed < 6.5, elapsed
        assert wait_for_file(state) == 'mod_wsgi.RequestTimeout BaseException'
        assert pid(server, '/owngil') == before
    finally:
        server.stop()
        server.cleanup()
