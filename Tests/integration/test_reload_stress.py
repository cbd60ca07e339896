"""Scripts changed under concurrent load: a WSGIDispatchScript and the WSGI script it routes to
are rewritten in a loop while many threads of one Apache child request them.

Each change makes one request thread reload the script (the old module leaves sys.modules and
the host's cache) while other threads are still inside the old module's functions. The host
must keep the module it is using alive until it is done with it: before it held a borrowed
pointer across the dispatch functions' calls into Python, and a reload on another thread freed
the module under it (a child crash, or the dispatch answers silently lost)."""

import os
import threading
import time

import pytest

from harness import Apache

THREADS = 24
SECONDS = 8

DISPATCH = r'''
import time
VERSION = %d
def process_group(environ):
    # Gives the GIL away while the module is in use: another thread reloads meanwhile.
    time.sleep(0.001)
    return None
def application_group(environ):
    time.sleep(0.001)
    return 'dispatched'
def callable_object(environ):
    return 'application'
# Small objects of a module object's size class, so its memory is reused at once if freed.
_fill = [b'%%040d' %% i for i in range(%d)]
'''

APP = r'''
import mod_wsgi, time
VERSION = %d
def application(environ, start_response):
    time.sleep(0.0005)
    body = ('%%s %%d' %% (mod_wsgi.application_group, VERSION)).encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
_fill = [b'%%040d' %% i for i in range(%d)]
'''

CONFIG = '''
WSGIScriptAlias /app {apps}/app.wsgi
WSGIDispatchScript {apps}/dispatch.py
WSGIScriptReloading On
'''

ONE_CHILD = ('StartServers 1\nServerLimit 1\nThreadsPerChild %d\nMaxRequestWorkers %d\n'
             'MinSpareThreads 1\nMaxSpareThreads %d' % (THREADS, THREADS, THREADS))


def write(apache, name, text, version):
    # Replaced whole (a reader never sees a half-written file), with a distinct mtime per
    # version, in the future so no two writes share a second.
    path = os.path.join(apache.apps, name)
    apache.write_app(name + '.new', text)
    stamp = time.time() + 10 + version
    os.utime(path + '.new', (stamp, stamp))
    os.replace(path + '.new', path)


def test_dispatch_and_wsgi_scripts_changed_under_load():
    apache = Apache(CONFIG, {'dispatch.py': DISPATCH % (0, 3000), 'app.wsgi': APP % (0, 3000)},
                    mpm='event', mpm_settings=ONE_CHILD)
    apache.start()
    try:
        assert apache.get('/app').body == b'dispatched 0'
        child = apache.children()
        failures, answers = [], []
        stop = threading.Event()

        def load():
            while not stop.is_set():
                try:
                    r = apache.get('/app', timeout=30)
                except Exception as e:  # a crashed child drops its connections
                    failures.append(repr(e))
                    continue
                if r.status != 200:
                    failures.append(r.status)
                else:
                    answers.append(r.body.split()[0])

        clients = [threading.Thread(target=load) for _ in range(THREADS)]
        for t in clients:
            t.start()
        version = 0
        deadline = time.time() + SECONDS
        while time.time() < deadline:
            version += 1
            write(apache, 'dispatch.py', DISPATCH % (version, 3000 + version), version)
            if version % 3 == 0:
                write(apache, 'app.wsgi', APP % (version, 3000 + version), version)
            time.sleep(0.03)
        stop.set()
        for t in clients:
            t.join(60)
        crashes = [line for line in apache.log().splitlines() if 'exit signal' in line]
        assert failures == [] and crashes == [], (failures[:3], len(failures), crashes[:3])
        assert len(answers) > 200
        # Every request ran in the group the dispatch script named: no answer was lost.
        assert set(answers) == {b'dispatched'}, set(answers)
        assert apache.children() == child  # no child died and was replaced
        apache.expect_log(r'AH00484')  # one child, every thread busy: on purpose
        assert apache.unexpected_lines(0) == []
    finally:
        apache.cleanup()
