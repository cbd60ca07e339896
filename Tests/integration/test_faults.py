"""Broken scripts and failing applications answer 500 with the traceback in the error log, the
child that ran them stays alive, and it keeps serving."""

import os
import time

import pytest

from harness import TRACEBACK

APPS = {
    'ok.wsgi': '''
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok %d' % os.getpid()]
''',
    'syntax.wsgi': 'def application(environ, start_response:\n    pass\n',
    'importerror.wsgi': 'import no_such_module_swiftwsgi\n',
    'importraise.wsgi': '''
raise RuntimeError('import-time failure of the script')
def application(environ, start_response):
    start_response('200 OK', [])
    return [b'never']
''',
    'nocallable.wsgi': 'x = 1\n',
    'vanished.wsgi': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
    'brokendispatch.wsgi': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
    'broken/dispatch.wsgi': 'def process_group(environ:\n',
    'vanishedauth.wsgi': 'def application(environ, start_response):\n    start_response("200 OK", [])\n    return [b"x"]\n',
    'notcallable.wsgi': 'application = 42\n',
    'raises.wsgi': '''
def application(environ, start_response):
    raise ZeroDivisionError('boom from the application')
''',
    'unicode.wsgi': '''
def application(environ, start_response):
    raise ValueError('caf\\xe9 \\u2603 \\U0001f600 and a NUL \\x00 byte')
''',
    'badstr.wsgi': '''
class Weird(Exception):
    def __str__(self):
        raise RuntimeError('__str__ of the exception fails too')
def application(environ, start_response):
    raise Weird()
''',
    'recursion.wsgi': '''
def application(environ, start_response):
    return application(environ, start_response)
''',
    'exit.wsgi': '''
import sys
def application(environ, start_response):
    sys.exit(3)
''',
    'genraises.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        raise KeyError('raised before the first chunk')
        yield b'never'
    return gen()
''',
    'strbody.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return ['not bytes']
''',
    'strchunk.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    def gen():
        yield 'a str chunk'
    return gen()
''',
    'intbody.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return 42
''',
    'nostart.wsgi': '''
def application(environ, start_response):
    return [b'body without start_response']
''',
    'none.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [])
    return None
''',
    'closefails.wsgi': '''
class Result:
    def __iter__(self):
        yield b'data'
    def close(self):
        raise RuntimeError('close failed')
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return Result()
''',
}

CONFIG = '''
WSGIScriptAliasMatch ^/(\\w+)$ {apps}/$1.wsgi
<Location /vanished>
    WSGIDispatchScript {apps}/vanishing/dispatch.wsgi
</Location>
<Location /brokendispatch>
    WSGIDispatchScript {apps}/broken/dispatch.wsgi
</Location>
<Location /vanishedauth>
    AuthType Basic
    AuthName "vanished"
    AuthBasicProvider wsgi
    WSGIAuthUserScript {apps}/vanishing/auth.wsgi
    Require valid-user
</Location>
'''

# (script, the last line of the logged traceback)
CASES = [
    ('syntax', r"^SyntaxError: '\(' was never closed"),
    ('importerror', r"^ModuleNotFoundError: No module named 'no_such_module_swiftwsgi'"),
    ('importraise', r'^RuntimeError: import-time failure of the script'),
    ('notcallable', r"^TypeError: 'int' object is not callable"),
    ('raises', r'^ZeroDivisionError: boom from the application'),
    ('unicode', r'^ValueError: caf'),
    # Python's traceback module words it (3.10: '<unprintable Weird object>').
    ('badstr', r'^_mod_wsgi_[0-9a-f]{32}\.Weird: (<exception str\(\) failed>|<unprintable Weird object>)$'),
    ('recursion', r'^RecursionError: maximum recursion depth exceeded'),
    ('exit', r'^SystemExit: 3'),
    ('genraises', r"^KeyError: 'raised before the first chunk'"),
    ('strbody', r'^TypeError: sequence of byte string values expected, value of type str found'),
    ('strchunk', r'^TypeError: sequence of byte string values expected, value of type str found'),
    ('intbody', r"^TypeError: 'int' object is not iterable"),
    ('nostart', r'^RuntimeError: response has not been started'),
    ('none', r"^TypeError: 'NoneType' object is not iterable"),
    # A script without the callable answers 404 in embedded mode, as with mod_wsgi:
    # test_modwsgi_api.test_missing_callable_answers_404_in_embedded_mode.
]


@pytest.mark.parametrize('name,logged', CASES)
def test_failure_is_500_with_traceback_and_child_keeps_serving(server, name, logged):
    server.expect_traceback(logged)
    start = server.log_size()
    r = server.get('/' + name)
    assert r.status == 500
    entry = server.wait_for_entry(logged, start)
    assert entry, server.log(start)
    assert entry['client'] and entry['client'].startswith('127.0.0.1:')
    # The child that ran the failing application is still alive, and the server serves.
    assert server.alive(int(entry['pid']))
    for _ in range(5):
        assert server.get('/ok').body.startswith(b'ok ')


@pytest.mark.parametrize('url,script,headers,status', [
    ('/vanished', 'dispatch.wsgi', {}, 200),
    ('/vanishedauth', 'auth.wsgi', {'Authorization': 'Basic dXNlcjpwYXNz'}, 500),
])
def test_script_removed_after_configtest_is_logged_and_child_keeps_serving(server, url, script, headers, status):
    # A dispatch or authentication script that vanished (or cannot be stat'ed) after
    # configtest is logged; as in mod_wsgi, the request then goes on with the defaults (a
    # dispatch script has no opinion) or answers 500 (authentication). The child keeps
    # serving: it once read an uninitialised pointer here and crashed.
    path = server.write_app('vanishing/' + script, 'def process_group(environ):\n    return None\n'
                            'def check_password(environ, user, password):\n    return True\n')
    os.remove(path)
    server.expect_log(r'vanishing/' + script, *TRACEBACK)
    for _ in range(3):
        assert server.get(url, headers=headers).status == status
    assert server.get('/ok').body.startswith(b'ok ')


def test_dispatch_script_that_does_not_load_leaves_the_defaults(server):
    # As mod_wsgi: the traceback is logged and the request runs with the defaults.
    server.expect_traceback(r'^SyntaxError: ')
    for _ in range(2):
        r = server.get('/brokendispatch')
        assert r.status == 200 and r.body == b'x'


def test_broken_script_stays_broken_and_is_not_cached_as_a_module(server):
    server.expect_traceback(r'^RuntimeError: import-time failure of the script')
    for _ in range(3):
        assert server.get('/importraise').status == 500


def test_fixed_script_serves_after_failures(server):
    server.expect_traceback(r'^SyntaxError: ')
    name = 'fixme%d' % time.time_ns()
    path = server.write_app(name + '.wsgi', 'def application(environ, start_response:\n')
    assert server.get('/' + name).status == 500
    server.write_app(name + '.wsgi', APPS['ok.wsgi'])
    later = time.time() + 5
    os.utime(path, (later, later))
    assert server.get('/' + name).body.startswith(b'ok ')


def test_exception_in_close_is_logged_after_the_body(server):
    server.expect_traceback(r'^RuntimeError: close failed')
    start = server.log_size()
    r = server.get('/closefails')
    assert r.status == 200 and r.body == b'data'
    assert server.wait_for_log('RuntimeError: close failed', start)
    assert server.get('/ok').body.startswith(b'ok ')
