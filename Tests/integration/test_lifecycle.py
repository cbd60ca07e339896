"""The module survives Apache's configuration cycles: two passes at start, unload and reload at
every graceful restart; Python is initialised in each child and finalised without hanging,
even with sub-interpreters and application threads."""

import threading
import time

from harness import Apache

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
