"""Failure paths leak nothing: start_response refused thousands of times in one request, and
authentication scripts failing on every request, leave Python's allocated-block count
(sys.getallocatedblocks(), available in release builds) and None's reference count where they
were. Before, a refused header value leaked its header name, and exc_info re-raised without a
traceback leaked a reference to None, on every call."""

import pytest


CALLS = 5000

APPS = {
    'start_response.wsgi': r'''
import sys
BAD = [
    ('200 OK', [('X-Fine', 'yes'), ('X-Bad', 'line\nbreak')], ValueError),  # refused value
    ('200 OK', [('X-Fine', 'yes'), ('Bad Name', 'v')], ValueError),          # refused name
    ('200 OK', [('Content-Length', 'many')], ValueError),                    # bad Content-Length
    ('200 OK', [('X-Fine', 'yes'), ['not', 'a tuple']], TypeError),          # not a tuple
    ('200 OK', ('not', 'a list'), TypeError),                                # not a list
    ('20 OK', [], ValueError),                                               # bad status
    (b'200 OK', [], TypeError),                                              # status not a str
]
def refuse_all(start_response):
    for status, headers, error in BAD:
        # (mod_wsgi refuses some of these with other exception types, or later.)
        try:
            start_response(status, headers)
        except Exception:
            pass
def application(environ, start_response):
    n = int(environ['QUERY_STRING'])
    for _ in range(50):
        refuse_all(start_response)
    before = sys.getallocatedblocks()
    for _ in range(n):
        refuse_all(start_response)
    grown = sys.getallocatedblocks() - before
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(grown).encode()]
''',
    'exc_info.wsgi': r'''
import sys
def application(environ, start_response):
    n = int(environ['QUERY_STRING'])
    write = start_response('200 OK', [('Content-Type', 'text/plain')])
    write(b'sent ')  # the headers are out: exc_info is re-raised from here on
    try:
        raise KeyError('app')
    except KeyError as e:
        exc = (KeyError, e, None)
    before = sys.getrefcount(None)
    for _ in range(n):
        try:
            start_response('500 Error', [], exc)
        except KeyError:
            pass
    return [str(sys.getrefcount(None) - before).encode()]
''',
    'blocks.wsgi': r'''
import sys
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(sys.getallocatedblocks()).encode()]
''',
    'auth.wsgi': r'''
def check_password(environ, user, password):
    if user == 'raise':
        raise RuntimeError('authentication backend down')
    if user == 'groups':
        return True
    return 'not a bool'
def groups_for_user(environ, user):
    return ['staff', 42]
''',
}

CONFIG = '''
WSGIScriptAlias /start_response {apps}/start_response.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /exc_info {apps}/exc_info.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /blocks {apps}/blocks.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /guarded {apps}/blocks.wsgi application-group=%{GLOBAL}
<Location /guarded>
    AuthType Basic
    AuthName "leaks"
    AuthBasicProvider wsgi
    WSGIAuthUserScript {apps}/auth.wsgi application-group=%{GLOBAL}
    WSGIAuthGroupScript {apps}/auth.wsgi application-group=%{GLOBAL}
    Require wsgi-group staff
</Location>
'''

def test_refused_start_response_calls_leak_nothing(one_child):
    r = one_child.get('/start_response?%d' % CALLS)
    assert r.status == 200
    # 7 refusals per round: a leak of one object per refusal would show as 5000 to 35000
    # blocks.
    assert int(r.body) < 500, r.body


def test_exc_info_reraised_without_traceback_leaks_no_none_reference(one_child):
    r = one_child.get('/exc_info?%d' % CALLS)
    assert r.status == 200 and r.body.startswith(b'sent ')
    assert abs(int(r.body.split()[1])) < 50, r.body


def basic(user):
    import base64
    return {'Authorization': 'Basic ' + base64.b64encode(('%s:pw' % user).encode()).decode()}


def test_failing_auth_scripts_leak_nothing(one_child):
    def fail(n):
        for i in range(n):
            # check_password raises or returns a value of the wrong type, or groups_for_user
            # returns a group name of the wrong type: 500 each time.
            user = ('raise', 'wrong-type', 'groups')[i % 3]
            # (mod_wsgi answers a wrong-type result with 401.)
            assert one_child.get('/guarded', headers=basic(user)).status in (500, 401), user

    fail(20)
    before = int(one_child.get('/blocks').body)
    fail(300)
    after = int(one_child.get('/blocks').body)
    assert after - before < 300, (before, after)
    one_child.expect_traceback(r'RuntimeError: authentication backend down',
                               r'TypeError: check_password\(\) returned a value of type str',
                               r'TypeError: groups_for_user\(\) must return str or bytes group names')
    one_child.expect_log(r'AH01617|AH01618|AH01614|AH01631|authentication failure|Exception occurred calling',
                         r'AH00161',  # one worker on purpose
                         r'mod_wsgi \(pid=\d+\): ')  # mod_wsgi's own wording of the same failures
    assert one_child.unexpected_lines(0) == []
