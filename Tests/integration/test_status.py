"""mod_swiftwsgi's section of mod_status's page and of its ?auto form: the daemon groups' queues
(requests waiting for a daemon thread, and how long the oldest has waited) and restarts with
their reasons, and the embedded interpreters' requests summed over all of Apache's children.
mod_wsgi has no such section: every test here is ours_only. (The express tests check the
section through swiftwsgi-express --server-status too.)"""

import concurrent.futures
import os
import re
import signal
import threading
import time

import pytest

from harness import Apache

pytestmark = pytest.mark.ours_only

STATUS = '''
LoadModule status_module {modules}/mod_status.so
<Location /server-status>
    SetHandler server-status
</Location>
'''

APP = r'''
import os, signal, time
def application(environ, start_response):
    q = environ['QUERY_STRING']
    if q.startswith('sleep='):
        time.sleep(float(q[6:]))
    elif q == 'kill':
        os.kill(os.getpid(), signal.SIGKILL)
    elif q == 'wedge':
        # libc's sleep() called through PyDLL keeps the GIL: deadlock-timeout's case.
        import ctypes
        ctypes.PyDLL(None).sleep(30)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
'''

# One group per restart reason, and one that never restarts.
RESTARTS = {
    'maxreq': 'maximum-requests=2',
    'interval': 'restart-interval=2',
    'idle': 'inactivity-timeout=1',
    'wedged': 'deadlock-timeout=2',
    'touched': '',
    'killed': '',
    'evicted': '',
    'untouched': '',
}

CONFIG = STATUS + '''
WSGIDaemonProcess single processes=1 threads=1
WSGIScriptAlias /single {apps}/app.wsgi process-group=single application-group=%{GLOBAL}
''' + ''.join('''
WSGIDaemonProcess %s processes=1 threads=2 %s
WSGIScriptAlias /%s {apps}/%s.wsgi process-group=%s application-group=%%{GLOBAL}
''' % (g, options, g, 'touched' if g == 'touched' else 'app', g) for g, options in RESTARTS.items())

APPS = {'app.wsgi': APP, 'touched.wsgi': APP}


def auto(server):
    """?auto as {key: value}."""
    r = server.get('/server-status?auto')
    assert r.status == 200, r
    return dict(line.split(': ', 1) for line in r.text.splitlines() if ': ' in line)


def daemon(figures, group, key):
    return figures['WSGIDaemon[%s]%s' % (group, key)]


def wait_for(predicate, timeout=15, interval=0.1):
    deadline = time.time() + timeout
    while True:
        value = predicate()
        if value or time.time() >= deadline:
            return value
        time.sleep(interval)


def test_a_saturated_group_shows_its_queue_and_the_oldest_wait(server):
    # threads=1 and three requests of 4 s at once: one runs and two wait for the thread (each
    # in its own Apache thread, or child under prefork: the queue is summed over the children).
    # The running request is no longer in the queue: with the thread busy, at most two wait.
    samples = []
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = [pool.submit(server.get, '/single?sleep=4', timeout=40) for _ in range(3)]
        started = time.time()
        while time.time() - started < 3.5:
            f = auto(server)
            samples.append((time.time(), int(daemon(f, 'single', 'BusyThreads')), int(daemon(f, 'single', 'QueueLength')),
                            int(daemon(f, 'single', 'QueueOldestWaitMs'))))
            time.sleep(0.1)
        html = server.get('/server-status').text
        assert [a.result().status for a in answers] == [200, 200, 200]
    busy = [s for s in samples if s[1] == 1]
    assert any(s[2] == 2 for s in busy), samples
    assert all(s[2] <= 2 for s in busy), samples
    # The oldest waiting request's wait grows as time passes.
    queued = [s for s in busy if s[2] >= 1]
    later = [s for s in queued if s[0] - queued[0][0] >= 0.9]
    assert later, samples
    grown = later[0][3] - queued[0][3]
    assert 0.7 * 1000 * (later[0][0] - queued[0][0]) <= grown <= 3000, samples
    assert re.search(r'<h3>single</h3>\n<p>[^<]* [12] waiting for a thread \(the oldest for \d+ ms\)', html), html
    done = auto(server)
    assert daemon(done, 'single', 'QueueLength') == '0' and daemon(done, 'single', 'QueueOldestWaitMs') == '0', done
    # Each of the later requests waited for the thread: the latest about 8 s.
    assert int(daemon(done, 'single', 'QueueWaitMs')) >= 3000, done
    # The other groups queued nothing.
    assert all(daemon(done, g, 'QueueLength') == '0' for g in RESTARTS), done


def test_each_group_restarts_for_its_own_reason(server):
    server.expect_log(r'Truncated or missing response', r'deadlock')
    expected = {
        'maxreq': 'maximum_requests',
        'interval': 'restart_interval',
        'idle': 'inactivity_timeout',
        'wedged': 'deadlock_timeout',
        'touched': 'script_reload',
        'killed': 'signal 9',
        'evicted': 'eviction_signal',
    }
    before = auto(server)
    assert all(daemon(before, g, 'Processes') == '1' for g in RESTARTS), before
    # maximum-requests=2
    assert server.get('/maxreq').status == 200 and server.get('/maxreq').status == 200
    # restart-interval=2 and inactivity-timeout=1 need only time.
    # deadlock-timeout=2: the GIL held by a C call.
    wedge = threading.Thread(target=server.get, args=('/wedged?wedge',), kwargs={'timeout': 30})
    wedge.start()
    # A changed script replaces the daemon processes that loaded it.
    assert server.get('/touched').status == 200
    later = time.time() + 10
    os.utime(os.path.join(server.apps, 'touched.wsgi'), (later, later))
    assert server.get('/touched').status == 200
    # A process that dies by a signal, and one evicted with SIGUSR1.
    assert server.get('/killed?kill').status == 502
    os.kill(int(server.get('/evicted').body), signal.SIGUSR1)

    def restarted():
        figures = auto(server)
        reasons = {g: daemon(figures, g, 'LastRestartReason') for g in expected}
        return figures if reasons == expected else None
    figures = wait_for(restarted, timeout=20)
    wedge.join(30)
    figures = figures or auto(server)
    assert {g: daemon(figures, g, 'LastRestartReason') for g in expected} == expected, figures
    assert all(int(daemon(figures, g, 'Restarts')) >= 1 for g in expected), figures
    for g in ('maxreq', 'wedged', 'touched', 'killed', 'evicted'):   # nothing else restarts them
        assert daemon(figures, g, 'Restarts') == '1', (g, figures)
    assert daemon(figures, 'untouched', 'Restarts') == '0', figures
    assert daemon(figures, 'untouched', 'LastRestartReason') == '', figures
    # The page names each group's latest reason.
    html = server.get('/server-status').text
    assert re.search(r'<h3>killed</h3>\n<p>[^<]*1 restarts \(latest: signal 9\)</p>', html), html


# ---- embedded mode: the interpreters of every child, summed --------------------------------

EMBEDDED = STATUS + '''
WSGIScriptAlias /global {apps}/app.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /second {apps}/app.wsgi application-group=second
'''

# Several children, each replaced after a few connections: a child that takes over an exited
# child's row keeps its requests counted.
SEVERAL_CHILDREN = ('StartServers 4\nMinSpareServers 4\nMaxSpareServers 8\nServerLimit 8\nMaxRequestWorkers 8\n'
                    'MaxConnectionsPerChild 9')


def test_embedded_interpreters_are_summed_over_the_children():
    apache = Apache(EMBEDDED, {'app.wsgi': APP}, mpm='prefork', mpm_settings=SEVERAL_CHILDREN)
    try:
        apache.start()
        # Eight connections at once: the requests land on several children.
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(lambda path: apache.get(path), ['/global?sleep=0.05'] * 40 + ['/second'] * 10))
        assert all(a.status == 200 for a in answers), answers
        assert len({a.body for a in answers}) >= 2, 'all requests went to one child'
        figures = auto(apache)
        assert figures['WSGIInterpreter[GLOBAL]Requests'] == '40', figures
        assert figures['WSGIInterpreter[second]Requests'] == '10', figures
        assert figures['WSGIInterpreter[GLOBAL]Active'] == '0' and figures['WSGIInterpreter[second]Active'] == '0'
        assert int(figures['WSGIInterpreterChildren']) >= 2, figures
        assert 'WSGIInterpreterOtherGroupsRequests' not in figures and 'WSGIDaemonGroups' not in figures
        # Three requests running, one per child (prefork): active is summed too.
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            slow = [pool.submit(apache.get, '/global?sleep=3') for _ in range(3)]
            running = wait_for(lambda: (lambda f: f['WSGIInterpreter[GLOBAL]Active'] == '3' and f)(auto(apache)), timeout=5)
            assert running, auto(apache)
            html = apache.get('/server-status').text
            assert re.search(r'<h2>mod_swiftwsgi embedded interpreters</h2>\n<p>Summed over \d+ Apache children.</p>', html)
            assert '<tr><td>%{GLOBAL}</td><td>40</td><td>3</td></tr>' in html, html
            assert all(s.result().status == 200 for s in slow)
        figures = auto(apache)
        assert figures['WSGIInterpreter[GLOBAL]Requests'] == '43' and figures['WSGIInterpreter[GLOBAL]Active'] == '0', figures
    finally:
        apache.stop()
        bad = apache.unexpected_lines(0)
        apache.cleanup()
    assert not bad, bad


def apache_children(apache):
    """Apache's children, without the daemon processes (display-name=%{GROUP})."""
    pids = []
    for pid in apache.children():
        try:
            with open('/proc/%d/cmdline' % pid, 'rb') as f:
                if not f.read().startswith(b'(wsgi:'):
                    pids.append(pid)
        except OSError:
            pass
    return pids


def test_what_a_killed_child_was_running_or_queueing_is_dropped_its_requests_stay():
    config = EMBEDDED + '''
WSGIDaemonProcess single processes=1 threads=1 display-name=%{GROUP}
WSGIScriptAlias /single {apps}/app.wsgi process-group=single application-group=%{GLOBAL}
'''
    apache = Apache(config, {'app.wsgi': APP}, mpm='prefork', mpm_settings=SEVERAL_CHILDREN.rsplit('\n', 1)[0])
    clients = []

    def send(path):
        def run():
            try:
                apache.get(path, timeout=30)
            except OSError:
                pass   # its child was killed
        t = threading.Thread(target=run)
        t.start()
        clients.append(t)
    try:
        apache.start()
        for _ in range(5):
            assert apache.get('/global').status == 200
        # The daemon's one thread runs a request, another waits for it; an embedded one runs.
        send('/single?sleep=5')
        assert wait_for(lambda: daemon(auto(apache), 'single', 'BusyThreads') == '1', timeout=10)
        send('/single')
        send('/global?sleep=5')
        assert wait_for(lambda: (lambda f: daemon(f, 'single', 'QueueLength') == '1'
                                 and f['WSGIInterpreter[GLOBAL]Active'] == '1')(auto(apache)), timeout=5), auto(apache)
        for pid in apache_children(apache):
            os.kill(pid, signal.SIGKILL)
        # The daemon is still busy with the first request, so the queued one is not taken: only
        # the dead children's rows being left out (or taken over) empties the queue.

        def cleared():
            try:
                f = auto(apache)
            except OSError:
                return None   # a connection a dying child had accepted
            return daemon(f, 'single', 'QueueLength') == '0' and f['WSGIInterpreter[GLOBAL]Active'] == '0' and f
        figures = wait_for(cleared, timeout=4)
        assert figures, auto(apache)
        assert daemon(figures, 'single', 'BusyThreads') == '1', figures
        assert figures['WSGIInterpreter[GLOBAL]Requests'] == '5', figures
    finally:
        for t in clients:
            t.join(30)
        apache.stop()
        bad = [line for line in apache.unexpected_lines(0) if 'AH00052' not in line]
        apache.cleanup()
    assert not bad, bad
