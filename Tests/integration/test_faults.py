"""Broken scripts and failing applications answer 500 with the traceback in the error log,
and the child keeps serving."""

import pytest

APPS = {
    'ok.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'ok']
''',
    'syntax.wsgi': 'def application(environ, start_response:\n    pass\n',
    'importerror.wsgi': 'import no_such_module_swiftwsgi\n',
    'nocallable.wsgi': 'x = 1\n',
    'raises.wsgi': '''
def application(environ, start_response):
    raise ZeroDivisionError('boom from the application')
''',
    'strbody.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return ['not bytes']
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
'''

CASES = [
    ('syntax', r'SyntaxError'),
    ('importerror', r"ModuleNotFoundError: No module named 'no_such_module_swiftwsgi'"),
    ('nocallable', r"does not contain WSGI application 'application'"),
    ('raises', r'ZeroDivisionError: boom from the application'),
    ('strbody', r'TypeError: sequence of byte string values expected, value of type str found'),
    ('nostart', r'start_response'),
    ('none', r'TypeError'),
]


@pytest.mark.parametrize('name,logged', CASES)
def test_failure_is_500_with_traceback_and_child_keeps_serving(server, name, logged):
    server.expect_log(r'.')
    start = server.log_size()
    r = server.get('/' + name)
    assert r.status == 500
    assert server.wait_for_log(logged, start), server.log(start)
    for _ in range(5):
        assert server.get('/ok').body == b'ok'


def test_exception_in_close_is_logged_after_the_body(server):
    server.expect_log(r'.')
    start = server.log_size()
    r = server.get('/closefails')
    assert r.status == 200 and r.body == b'data'
    assert server.wait_for_log('RuntimeError: close failed', start)
    assert server.get('/ok').body == b'ok'
