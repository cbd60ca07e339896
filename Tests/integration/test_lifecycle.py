"""The module survives Apache's configuration cycles: two passes at start, unload and reload at
every graceful restart; Python is initialised in each child and finalised without hanging,
even with sub-interpreters and application threads."""

import os
import threading
import time

from harness import PYTHON_VERSION, Apache

APPS = {
    'app.wsgi': r'''
import os, threading, time
def _spin():
    while True:
        time.sleep(0.1)
threading.Thread(target=_spin, daemon=True).start()        # a daemon thread
threading.Thread(target=_spin, daemon=False).start()       # and one that never ends
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('pid %d' % os.getpid()).encode()]
''',
}

CONFIG = '''
WSGIScriptAlias /global {apps}/app.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /sub {apps}/app.wsgi application-group=sub
'''


def hammer(apache, seconds, failures, count):
    end = time.time() + seconds
    while time.time() < end:
        for path in ('/global', '/sub'):
            try:
                r = apache.get(path, timeout=20)
                if r.status != 200:
                    failures.append(r.status)
                else:
                    count.append(1)
            except Exception as e:
                failures.append(repr(e))


def test_graceful_restarts_and_stop_with_sub_interpreters_and_threads():
    for mpm in ('event', 'prefork'):
        apache = Apache(CONFIG, APPS, mpm=mpm)
        try:
            apache.start()
            failures, count = [], []
            workers = [threading.Thread(target=hammer, args=(apache, 4, failures, count)) for _ in range(3)]
            for w in workers:
                w.start()
            time.sleep(1)
            apache.graceful(wait=1)
            apache.graceful(wait=1)
            for w in workers:
                w.join()
            assert failures == [] and len(count) > 20
            started = time.time()
            apache.stop()
            # Children give application threads a short grace period; Apache never has to
            # kill them (no AH00045/AH00046, checked below).
            assert time.time() - started < 8
            assert apache.unexpected_lines(0) == []
        finally:
            apache.cleanup()


GILSTATE_APP = r'''
import atexit, ctypes, os
# A C extension's atexit work: PyGILState_Ensure on the thread that finalises, which already
# holds the GIL. It must find that thread's own state (3.12 made deleting another thread's
# state forget the calling thread's PyGILState binding); a fresh one would wait for the GIL
# this thread holds, and the child would hang until Apache killed it.
def _at_exit(path=os.environ.get('GILSTATE_MARK') or '{state}/gilstate'):
    state = ctypes.pythonapi.PyGILState_Ensure()
    ctypes.pythonapi.PyGILState_Release(state)
    with open('%s-%d' % (path, os.getpid()), 'w') as f:
        f.write('ok')
atexit.register(_at_exit)
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
'''


def test_atexit_c_extension_taking_the_gil_state_at_stop():
    # In a sub-interpreter too from 3.12 on; before, PyGILState_Ensure knows only the main
    # interpreter (as with mod_wsgi, it cannot be used in a sub-interpreter's atexit).
    paths = ('/g', '/s') if tuple(map(int, PYTHON_VERSION.split('.'))) >= (3, 12) else ('/g',)
    for mpm in ('event', 'prefork'):
        apache = Apache('WSGIScriptAlias /g {apps}/g.wsgi application-group=%{GLOBAL}\n'
                        'WSGIScriptAlias /s {apps}/g.wsgi application-group=sub\n', {}, mpm=mpm)
        try:
            with open(os.path.join(apache.apps, 'g.wsgi'), 'w') as f:
                f.write(GILSTATE_APP.replace('{state}', apache.state))
            apache.start()
            # Several worker threads per child get thread states (event: concurrent requests).
            results = []
            def load():
                for _ in range(20):
                    for path in paths:
                        results.append(apache.get(path, timeout=20).status)
            workers = [threading.Thread(target=load) for _ in range(4)]
            for w in workers:
                w.start()
            for w in workers:
                w.join()
            assert set(results) == {200}
            started = time.time()
            apache.stop()
            assert time.time() - started < 8, apache.log()
            marks = [n for n in os.listdir(apache.state) if n.startswith('gilstate-')]
            assert marks, 'no child ran its atexit handler:\n' + apache.log()
            assert apache.unexpected_lines(0) == []
        finally:
            apache.cleanup()
