"""Daemon mode: WSGIDaemonProcess groups forked and supervised by Apache's parent."""

import json
import os
import pwd
import re
import signal
import socket
import stat
import threading
import time

import pytest

from harness import SANITIZED, Apache, OURS, state_file, upload_answer, upload_app, wait_for_file

pytestmark = pytest.mark.ours_only

APPS = {
    'info.wsgi': r'''
import json, os, threading, mod_wsgi
def application(environ, start_response):
    body = json.dumps({'pid': os.getpid(), 'uid': os.getuid(), 'gid': os.getgid(),
                       'group': environ['mod_wsgi.process_group'], 'module_group': mod_wsgi.process_group,
                       'multithread': environ['wsgi.multithread'], 'multiprocess': environ['wsgi.multiprocess'],
                       'run_once': environ['wsgi.run_once'],
                       'cwd': os.getcwd(), 'threads': mod_wsgi.threads_per_process}).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
''',
    'slow.wsgi': r'''
import time
def application(environ, start_response):
    time.sleep(float(environ['QUERY_STRING'] or 0))
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'done']
''',
    'md5.wsgi': upload_app(log=True),
    'file.wsgi': r'''
import os
def application(environ, start_response):
    f = open(os.path.join(environ['FILES_DIR'], environ['QUERY_STRING']), 'rb')
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return environ['wsgi.file_wrapper'](f)
''',
    'stream.wsgi': r'''
import os, time
def application(environ, start_response):
    marker = environ['QUERY_STRING']
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        yield b'first chunk\n'
        deadline = time.time() + 10
        while not os.path.exists(marker) and time.time() < deadline:
            time.sleep(0.02)
        yield b'second chunk\n'
    return gen()
''',
    'limits.wsgi': r'''
import json, os, resource, sys
def application(environ, start_response):
    body = json.dumps({'groups': sorted(os.getgroups()), 'cpu': resource.getrlimit(resource.RLIMIT_CPU)[0],
                       'nice': os.getpriority(os.PRIO_PROCESS, 0),
                       'as': resource.getrlimit(resource.RLIMIT_AS)[0], 'pid': os.getpid(),
                       'preloaded': [m for m in sys.modules if m.startswith('_mod_wsgi_')]}).encode()
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [body]
''',
    'touched.wsgi': r'''
import os
VERSION = 1
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('%d %d' % (VERSION, os.getpid())).encode()]
''',
    'fail.wsgi': r'''
def application(environ, start_response):
    raise RuntimeError('daemon application failure')
''',
    'wedge.wsgi': r'''
import ctypes, os
def application(environ, start_response):
    if environ['QUERY_STRING'] == 'wedge':
        # libc's sleep() called through PyDLL keeps the GIL: no other thread can run Python.
        ctypes.PyDLL(None).sleep(30)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
''',
    'header.wsgi': r'''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-Big', 'x' * int(environ['QUERY_STRING']))])
    return [b'ok']
''',
}

# virtual-memory-limit: 8 GB, or 64 TB under AddressSanitizer (whose shadow memory alone
# reserves about 20 TB of address space).
VM_LIMIT = 1 << 46 if SANITIZED else 8589934592
# The quickstart group's startup-timeout: ASan slows start-up (a dozen daemons starting at once).
STARTUP_TIMEOUT = 10 if SANITIZED else 4

CONFIG = '''
WSGIDaemonProcess main processes=2 threads=4 display-name=%{GROUP} home={root} maximum-requests=0
WSGIDaemonProcess recycled processes=1 threads=2 maximum-requests=3
WSGIDaemonProcess timed processes=1 threads=2 request-timeout=2
WSGIDaemonProcess limited processes=1 threads=2 supplementary-groups=adm cpu-time-limit=3600 virtual-memory-limit={vm_limit} cpu-priority=5 send-buffer-size=65536 receive-buffer-size=65536
WSGIDaemonProcess wedged processes=1 threads=2 deadlock-timeout=2 display-name=%{GROUP}
WSGIDaemonProcess evictable processes=1 threads=2 graceful-timeout=0 shutdown-timeout=0 eviction-timeout=10 display-name=%{GROUP}
WSGIDaemonProcess headers processes=1 threads=1 header-buffer-size=8192
WSGIDaemonProcess once processes=1 threads=1 maximum-requests=1
WSGIDaemonProcess quickstart threads=1 startup-timeout={startup_timeout}
WSGIScriptAlias /quickstart {apps}/info.wsgi process-group=quickstart application-group=%{GLOBAL}
WSGIScriptAlias /once {apps}/info.wsgi process-group=once application-group=%{GLOBAL}
WSGIDaemonProcess jammed processes=1 threads=1 listen-backlog=1 connect-timeout=1
WSGIScriptAlias /wedge {apps}/wedge.wsgi process-group=wedged application-group=%{GLOBAL}
WSGIScriptAlias /evictable {apps}/slow.wsgi process-group=evictable application-group=%{GLOBAL}
WSGIScriptAlias /header {apps}/header.wsgi process-group=headers application-group=%{GLOBAL}
WSGIScriptAlias /jammed {apps}/slow.wsgi process-group=jammed application-group=%{GLOBAL}
WSGIDaemonProcess queued processes=1 threads=1 queue-timeout=1
WSGIDaemonProcess idle processes=1 threads=1 inactivity-timeout=1
WSGIDaemonProcess aged processes=1 threads=1 restart-interval=2
WSGIDaemonProcess touched processes=2 threads=2 display-name=%{GROUP}
WSGIDaemonProcess owned processes=1 threads=1 script-user=nobody socket-user=www-data shutdown-timeout=2 response-buffer-size=8192
WSGIScriptAlias /owned {apps}/info.wsgi process-group=owned
WSGIScriptAlias /restricted {apps}/info.wsgi process-group=main
<Location /restricted>
    WSGIRestrictProcess other-group
</Location>
WSGIScriptAlias /touched {apps}/touched.wsgi process-group=touched application-group=%{GLOBAL}
WSGIScriptAlias /limits {apps}/limits.wsgi process-group=limited application-group=%{GLOBAL}
WSGIScriptAlias /queued {apps}/slow.wsgi process-group=queued application-group=%{GLOBAL}
WSGIScriptAlias /idle {apps}/info.wsgi process-group=idle application-group=%{GLOBAL}
WSGIScriptAlias /aged {apps}/info.wsgi process-group=aged application-group=%{GLOBAL}
WSGIScriptAlias /info {apps}/info.wsgi process-group=main application-group=%{GLOBAL}
WSGIScriptAlias /recycled {apps}/info.wsgi process-group=recycled application-group=%{GLOBAL}
WSGIScriptAlias /timed {apps}/slow.wsgi process-group=timed application-group=%{GLOBAL}
WSGIScriptAlias /md5 {apps}/md5.wsgi process-group=main
WSGIScriptAlias /file {apps}/file.wsgi process-group=main
WSGIScriptAlias /stream {apps}/stream.wsgi process-group=main
WSGIScriptAlias /fail {apps}/fail.wsgi process-group=main
WSGIScriptAlias /embedded {apps}/info.wsgi
WSGIScriptAlias /nosuchgroup {apps}/info.wsgi process-group=nosuchgroup
SetEnv FILES_DIR {root}/files
'''.replace('{vm_limit}', str(VM_LIMIT)).replace('{startup_timeout}', str(STARTUP_TIMEOUT))

SINGLE_MPM = True


def setup_server(apache):
    d = os.path.join(apache.root, 'files')
    os.makedirs(d)
    with open(os.path.join(d, 'big'), 'wb') as f:
        f.write(os.urandom(1 << 20) * 20)
    with open(os.path.join(d, 'small'), 'wb') as f:
        f.write(b'\x00small\x00')
    os.chmod(d, 0o755)


def info(server, path='/info'):
    r = server.get(path)
    assert r.status == 200, r
    return json.loads(r.body)


def daemon_pids(server, name):
    out = os.popen('ps -eo pid=,args=').read()
    return [int(l.split()[0]) for l in out.splitlines() if '(wsgi:%s)' % name in l and server.conf in l]


def test_request_runs_in_daemon_with_group_name(server):
    i = info(server)
    assert i['group'] == 'main' and i['module_group'] == 'main'
    assert i['multithread'] is True and i['multiprocess'] is True and i['run_once'] is False
    assert i['threads'] == 4
    assert i['cwd'] == server.root
    assert i['pid'] in daemon_pids(server, 'main')
    assert info(server, '/embedded')['group'] == ''


def test_daemons_drop_privileges(server):
    www = pwd.getpwnam('www-data')
    i = info(server)
    assert (i['uid'], i['gid']) == (www.pw_uid, www.pw_gid)
    with open('/proc/%d/status' % i['pid']) as f:
        status = f.read()
    uids = [l for l in status.splitlines() if l.startswith('Uid:')][0].split()[1:]
    assert set(uids) == {str(www.pw_uid)}


def test_socket_owned_by_user_mode_0700(server):
    run = os.path.join(server.root, 'run')
    socks = [f for f in os.listdir(run) if f.endswith('.sock')]
    assert socks
    for f in socks:
        st = os.stat(os.path.join(run, f))
        assert stat.S_ISSOCK(st.st_mode)
        assert stat.S_IMODE(st.st_mode) == 0o700
        assert st.st_uid == pwd.getpwnam('www-data').pw_uid


def test_kill_9_recovery_within_2_seconds(server):
    victim = info(server)['pid']
    os.kill(victim, signal.SIGKILL)
    started = time.time()
    for _ in range(20):
        assert server.get('/info').status == 200
    assert time.time() - started < 2
    assert victim not in daemon_pids(server, 'main')
    # The parent replaces it (its maintenance runs about once a second).
    deadline = time.time() + 5
    while len(daemon_pids(server, 'main')) != 2 and time.time() < deadline:
        time.sleep(0.1)
    assert len(daemon_pids(server, 'main')) == 2


def test_maximum_requests_recycles_without_failures(server):
    pids = set()
    for _ in range(12):
        pids.add(info(server, '/recycled')['pid'])
    assert len(pids) >= 3


def test_request_timeout_answers_504_and_replaces_process(server):
    server.expect_log(r'request-timeout|Timeout|daemon')
    started = time.time()
    assert server.get('/timed?30').status == 504
    assert time.time() - started < 6
    assert server.get('/timed?0').status == 200


def test_upload_and_errors_tagged_with_request(server):
    data = os.urandom(3 << 20)
    start = server.log_size()
    server.expect_log(r'md5 of')
    r = server.post('/md5', data)
    assert r.body.decode() == upload_answer(data)
    assert server.wait_for_log(r'\[client 127\.0\.0\.1:\d+\] .*md5 of %d bytes' % len(data), start)


def test_file_wrapper_passes_the_descriptor(server):
    big = open(os.path.join(server.root, 'files', 'big'), 'rb').read()
    r = server.get('/file?big')
    assert r.body == big
    assert r.header('Content-Length') == str(len(big))
    assert server.get('/file?small').body == b'\x00small\x00'


def test_streaming_through_daemon(server):
    marker = os.path.join(server.state, 'daemon-marker-%d' % time.time_ns())
    with socket.create_connection(('127.0.0.1', server.port), timeout=10) as s:
        s.sendall(('GET /stream?%s HTTP/1.1\r\nHost: x\r\n\r\n' % marker).encode())
        data = b''
        while b'first chunk' not in data:
            chunk = s.recv(4096)
            assert chunk
            data += chunk
        assert b'second chunk' not in data
        open(marker, 'w').close()
        while b'second chunk' not in data:
            chunk = s.recv(4096)
            assert chunk
            data += chunk


def test_application_error_is_500_with_traceback(server):
    server.expect_log(r'.')
    start = server.log_size()
    assert server.get('/fail').status == 500
    assert server.wait_for_log('RuntimeError: daemon application failure', start)


def test_unknown_group_is_500(server):
    server.expect_log(r'No WSGI daemon process called')
    assert server.get('/nosuchgroup').status == 500


def test_graceful_restart_under_load_fails_no_request():
    apache = Apache('''
WSGIDaemonProcess g processes=2 threads=4
WSGIScriptAlias /info {apps}/info.wsgi process-group=g application-group=%{GLOBAL}
''', APPS)
    try:
        apache.start()
        failures, done = [], []
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    r = apache.get('/info', timeout=30)
                    (done if r.status == 200 else failures).append(r.status)
                except Exception as e:  # a refused or reset connection is a failure too
                    failures.append(repr(e))

        threads = [threading.Thread(target=load) for _ in range(4)]
        for t in threads:
            t.start()
        def wait_for_done(n):   # requests answered, however slow the machine (at most 30 s)
            deadline = time.time() + 30
            while len(done) < n and not failures and time.time() < deadline:
                time.sleep(0.1)

        wait_for_done(25)
        apache.graceful(wait=2)
        wait_for_done(len(done) + 25)   # the load goes on across and after the restart
        stop.set()
        for t in threads:
            t.join(60)
        assert len(done) > 50
        assert failures == []
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


def test_stop_leaves_no_daemon_behind():
    apache = Apache('''
WSGIDaemonProcess lonely processes=2 threads=2 display-name=%{GROUP}
WSGIScriptAlias /info {apps}/info.wsgi process-group=lonely
''', APPS)
    try:
        apache.start()
        assert apache.get('/info').status == 200
        assert len(daemon_pids(apache, 'lonely')) == 2
        apache.stop()
        time.sleep(0.5)
        assert daemon_pids(apache, 'lonely') == []
        assert 'still did not exit' not in apache.log()
    finally:
        apache.cleanup()


PATIENT_APP = r'''
import time
def application(environ, start_response):
    path, seconds = environ['QUERY_STRING'].split('&')
    with open(path + '.started', 'w') as f:
        f.write('started')
    time.sleep(float(seconds))
    with open(path, 'w') as f:
        f.write('finished')
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'finished']
'''


@pytest.mark.parametrize('how,seconds', [('graceful', 12), ('stop', 20)])
def test_restart_and_stop_give_running_requests_the_shutdown_timeout(how, seconds):
    # shutdown-timeout=25 lets a long request finish when Apache restarts or stops (the
    # parent used to kill every daemon 5 s after SIGTERM, whatever the option said). At stop
    # the daemons get SIGTERM only once Apache has stopped its children (about 10 s: the
    # child waiting for the daemon's answer is killed, so the client gets none). Not run
    # against mod_wsgi: its parent kills daemons about 3 s after SIGTERM (APR_KILL_AFTER_TIMEOUT).
    apache = Apache('''
WSGIDaemonProcess patient processes=1 threads=2 shutdown-timeout=25
WSGIScriptAlias /patient {apps}/patient.wsgi process-group=patient application-group=%{GLOBAL}
''', {'patient.wsgi': PATIENT_APP})
    try:
        apache.start()
        path = state_file(apache, 'patient')
        results = []

        def request():
            try:
                results.append(apache.get('/patient?%s&%d' % (path, seconds), timeout=60))
            except Exception as e:  # at stop, Apache's child is stopped under the client
                results.append(e)

        client = threading.Thread(target=request)
        client.start()
        assert wait_for_file(path + '.started') == 'started'
        if how == 'graceful':
            apache.graceful(wait=0)
        else:
            apache.stop()
        assert wait_for_file(path, timeout=seconds + 10) == 'finished'
        client.join(60)
        assert 'killing it' not in apache.log()
        if how == 'graceful':
            assert results[0].status == 200 and results[0].body == b'finished', results
            assert apache.unexpected_lines(0) == []
        else:
            # Only Apache's own escalation against its waiting child (AH00045/AH00046).
            assert [l for l in apache.unexpected_lines(0) if not re.search(r'AH0004[56]', l)] == []
    finally:
        apache.cleanup()


def test_limits_supplementary_groups_and_preloaded_script(server):
    import grp
    r = json.loads(server.get('/limits').body)
    assert grp.getgrnam('adm').gr_gid in r['groups']
    assert r['cpu'] == 3600 and r['as'] == VM_LIMIT
    assert r['nice'] == 5  # cpu-priority
    # WSGIScriptAlias with both process-group= and application-group= is loaded at start.
    assert len(r['preloaded']) == 1


def test_queue_timeout_answers_504_without_running(server):
    server.expect_log(r'queue-timeout')
    results = []
    slow = threading.Thread(target=lambda: results.append(server.get('/queued?3').status))
    slow.start()
    time.sleep(0.3)
    assert server.get('/queued?0').status == 504
    slow.join()
    assert results == [200]


def test_inactivity_timeout_and_restart_interval_replace_the_process(server):
    first_idle, first_aged = info(server, '/idle')['pid'], info(server, '/aged')['pid']
    time.sleep(3.5)
    assert info(server, '/idle')['pid'] != first_idle
    assert info(server, '/aged')['pid'] != first_aged


def test_touching_the_script_reloads_it_and_replaces_the_daemons(server):
    before = {}
    for _ in range(8):
        version, pid = server.get('/touched').body.split()
        assert version == b'1'
        before[int(pid)] = True
    path = os.path.join(server.apps, 'touched.wsgi')
    server.write_app('touched.wsgi', open(path).read().replace('VERSION = 1', 'VERSION = 2'))
    later = time.time() + 5
    os.utime(path, (later, later))
    # Every answer from now on is the new code, and the processes that saw the change go.
    seen = set()
    for _ in range(20):
        r = server.get('/touched')
        assert r.status == 200
        version, pid = r.body.split()
        assert version == b'2'
        seen.add(int(pid))
        time.sleep(0.1)
    deadline = time.time() + 10
    while time.time() < deadline and any(p in daemon_pids(server, 'touched') for p in before):
        time.sleep(0.2)
    assert not any(p in daemon_pids(server, 'touched') for p in before)


def test_script_user_and_restrict_process(server):
    server.expect_log(r'script-user/script-group|WSGIRestrictProcess')
    # The scripts belong to root, not to nobody.
    assert server.get('/owned').status == 403
    assert server.get('/restricted').status == 500
    assert server.get('/info').status == 200


def test_startup_timeout_replaces_a_wedged_start():
    # The group's preloaded script never finishes: each process gives up after 1 s and the
    # parent starts another.
    apache = Apache('''
WSGIDaemonProcess wedged processes=1 threads=1 startup-timeout=1
WSGIImportScript {apps}/sleepy.py process-group=wedged application-group=%{GLOBAL}
''', {'sleepy.py': 'import time\ntime.sleep(30)\n'})
    try:
        apache.start()
        assert apache.wait_for_log(r"process='wedged'\): start-up took longer than startup-timeout", 0, timeout=10)
        apache.expect_log(r'startup-timeout')
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


def test_group_of_a_virtual_host_serves_only_that_host():
    apache = Apache('''
<VirtualHost 127.0.0.1:{port}>
    ServerName first.example
    WSGIDaemonProcess first-only processes=1 threads=1
    WSGIScriptAlias /info {apps}/info.wsgi process-group=first-only
</VirtualHost>
<VirtualHost 127.0.0.1:{port}>
    ServerName second.example
    WSGIScriptAlias /info {apps}/info.wsgi process-group=first-only
</VirtualHost>
''', APPS)
    try:
        apache.start()
        assert json.loads(apache.get('/info', headers={'Host': 'first.example'}).body)['group'] == 'first-only'
        assert apache.get('/info', headers={'Host': 'second.example'}).status == 500
        apache.expect_log(r"No WSGI daemon process called 'first-only'")
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


def daemon_sockets(server, name):
    """The socket inodes the daemon processes of a group hold (listening and connections)."""
    found = set()
    for pid in daemon_pids(server, name):
        fds = '/proc/%d/fd' % pid
        for fd in os.listdir(fds):
            try:
                target = os.readlink(os.path.join(fds, fd))
            except OSError:
                continue
            if target.startswith('socket:'):
                found.add(target)
    return found


def test_an_apache_child_keeps_its_daemon_connection(server):
    import http.client
    c = http.client.HTTPConnection('127.0.0.1', server.port, timeout=10)
    try:
        # One keep-alive client connection: every request goes through one Apache child, one
        # at a time, so after the first one no new daemon connection may appear.
        c.request('GET', '/info')
        assert c.getresponse().read()
        before = daemon_sockets(server, 'main')
        for _ in range(20):
            c.request('GET', '/info')
            r = c.getresponse()
            r.read()
            assert r.status == 200
        # The listening socket (shared) and the kept connection.
        assert len(before) >= 2, before
        assert daemon_sockets(server, 'main') == before
    finally:
        c.close()


def test_connect_timeout_answers_503_when_the_backlog_stays_full(server):
    # One thread, busy for 2 s; a backlog of 1 holds two waiting connections; the others
    # cannot connect within connect-timeout=1.
    server.expect_log(r'Unable to connect to WSGI daemon process')
    results = []
    threads = [threading.Thread(target=lambda: results.append(server.get('/jammed?2', timeout=60).status))
               for _ in range(6)]
    for t in threads:
        t.start()
        time.sleep(0.05)
    for t in threads:
        t.join(60)
    assert 503 in results and 200 in results, results
    assert set(results) <= {200, 503}, results


def test_deadlock_timeout_replaces_a_process_that_keeps_the_gil(server):
    server.expect_log(r'Truncated or missing response', r'deadlock')
    first = int(server.get('/wedge').body)
    started = time.time()
    assert server.get('/wedge?wedge', timeout=30).status == 502
    assert time.time() - started < 10
    assert server.wait_for_log(r"process='wedged'\): Python GIL held for more than deadlock-timeout", 0)
    r = server.get('/wedge')
    assert r.status == 200 and int(r.body) != first


def test_sigusr1_evicts_within_eviction_timeout(server):
    first = daemon_pids(server, 'evictable')
    assert len(first) == 1
    results = []
    slow = threading.Thread(target=lambda: results.append(server.get('/evictable?2').status))
    slow.start()
    time.sleep(0.5)
    os.kill(first[0], signal.SIGUSR1)
    # graceful-timeout=0 (and shutdown-timeout=0) would cut the running request short;
    # eviction-timeout=10 lets it end.
    assert server.get('/evictable?0').status == 200
    slow.join(30)
    assert results == [200]
    deadline = time.time() + 10
    while time.time() < deadline and daemon_pids(server, 'evictable') in ([], first):
        time.sleep(0.1)
    assert daemon_pids(server, 'evictable') not in ([], first)


def test_header_buffer_size_limits_a_response_header(server):
    server.expect_log(r'larger than header-buffer-size')
    assert server.get('/header?8000').status == 200
    assert server.get('/header?9000').status == 500
    assert server.get('/header?10').status == 200


def test_a_busy_process_sends_requests_on_its_idle_connections_elsewhere():
    # One Apache child, so one pool of daemon connections, spread over both processes of a
    # group with one thread each. While a slow request occupies one process, requests the
    # child sends on its other connections to that process must not wait for it: the busy
    # process closes them unread and the child connects again, reaching the free process.
    apache = Apache('''
WSGIDaemonProcess shed processes=2 threads=1 display-name=%{GROUP}
WSGIScriptAlias /slow {apps}/slow.wsgi process-group=shed application-group=%{GLOBAL}
''', APPS, mpm_settings='StartServers 1\nServerLimit 1\nThreadsPerChild 16\nMaxRequestWorkers 16\n'
                         'MinSpareThreads 1\nMaxSpareThreads 16')
    try:
        apache.start()

        def run(path, n):
            results = []

            def one():
                started = time.time()
                status = apache.get(path, timeout=30).status
                results.append((status, time.time() - started))
            threads = [threading.Thread(target=one) for _ in range(n)]
            for t in threads:
                t.start()
            return threads, results

        threads, _ = run('/slow?0.3', 8)  # fills the pool with connections to both processes
        for t in threads:
            t.join(30)
        slow, slow_results = run('/slow?3', 1)
        time.sleep(0.3)
        fast, fast_results = run('/slow?0', 6)
        for t in fast + slow:
            t.join(30)
        assert [s for s, _ in fast_results] == [200] * 6
        assert max(d for _, d in fast_results) < 1.5, fast_results
        assert slow_results[0][0] == 200
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


def test_one_thread_and_maximum_requests_1_is_run_once(server):
    first, second = info(server, '/once'), info(server, '/once')
    assert first['run_once'] is True and first['multithread'] is False
    # processes=1 given explicitly means multiprocess, as with mod_wsgi; left out, it does not.
    assert first['multiprocess'] is True
    assert info(server, '/quickstart')['multiprocess'] is False
    assert first['pid'] != second['pid']


def test_recycling_and_reloading_under_load_fail_no_request():
    # maximum-requests recycles each process every 25 requests while 6 clients keep
    # requesting, and the script is touched twice (each process restarts as it sees that).
    apache = Apache('''
WSGIDaemonProcess busy processes=2 threads=3 maximum-requests=25 display-name=%{GROUP}
WSGIScriptAlias /touched {apps}/touched.wsgi process-group=busy application-group=%{GLOBAL}
''', APPS)
    try:
        apache.start()
        failures, pids = [], []
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    r = apache.get('/touched', timeout=30)
                    if r.status == 200:
                        pids.append(int(r.body.split()[1]))
                    else:
                        failures.append(r.status)
                except Exception as e:
                    failures.append(repr(e))

        threads = [threading.Thread(target=load) for _ in range(6)]
        for t in threads:
            t.start()
        path = os.path.join(apache.apps, 'touched.wsgi')
        for version in (2, 3):
            time.sleep(1.5)
            apache.write_app('touched.wsgi', open(path).read().replace('VERSION = %d' % (version - 1), 'VERSION = %d' % version))
            later = time.time() + version * 10
            os.utime(path, (later, later))
        # Keep the load on until it spans the replacements: enough requests and processes, or
        # 60 s on a machine too slow for that (ASan makes every request several times slower).
        wanted = 30 if SANITIZED else 100
        deadline = time.time() + 60
        time.sleep(1.5)
        while time.time() < deadline and (len(pids) <= wanted or len(set(pids)) < 6) and not failures:
            time.sleep(0.2)
        stop.set()
        for t in threads:
            t.join(60)
        assert failures == []
        assert len(pids) > wanted and len(set(pids)) >= 6
        assert apache.get('/touched').body.split()[0] == b'3'
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


def test_startup_timeout_spares_a_process_that_started(server):
    # The watchdog would fire STARTUP_TIMEOUT s after the process started; it has stood down.
    first = info(server, '/quickstart')['pid']
    time.sleep(STARTUP_TIMEOUT + 0.5)
    assert info(server, '/quickstart')['pid'] == first


def test_restrict_embedded_leaves_python_out_of_apaches_children():
    apache = Apache('''
WSGIRestrictEmbedded On
WSGIDaemonProcess only processes=1 threads=2 display-name=%{GROUP}
WSGIScriptAlias /info {apps}/info.wsgi process-group=only application-group=%{GLOBAL}
WSGIScriptAlias /embedded {apps}/info.wsgi
''', APPS)
    try:
        apache.start()
        assert json.loads(apache.get('/info').body)['group'] == 'only'
        apache.expect_log(r'Embedded mode of mod_swiftwsgi disabled')
        assert apache.get('/embedded').status == 500
        # Only the daemon process initialised Python, not Apache's children.
        assert apache.wait_for_log(r'Initializing Python', 0)
        initialised = {int(e['pid']) for e in apache.log_entries() if 'Initializing Python' in e['message']}
        assert initialised and initialised <= set(daemon_pids(apache, 'only')), (initialised, apache.children())
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()


def test_send_and_receive_buffer_sizes_apply_to_daemon_connections(server):
    import re
    import subprocess
    pid = json.loads(server.get('/limits').body)['pid']
    # The connection the Apache child keeps: its daemon end has the group's buffer sizes
    # (the kernel doubles what setsockopt asked for).
    out = subprocess.run(['ss', '-xmp'], capture_output=True, text=True).stdout
    mine = [l for l in out.splitlines() if 'ESTAB' in l and 'pid=%d,' % pid in l]
    assert mine, out[-2000:]
    assert all(re.search(r'rb131072\b', l) and re.search(r'tb131072\b', l) for l in mine), mine
