"""environ: Apache's variables, CGI variables, SCRIPT_NAME/PATH_INFO, wsgi.* and mod_wsgi.*"""

import base64
import json
import subprocess

import pytest

from harness import OURS

DUMP = r'''
import json, sys
def application(environ, start_response):
    out = {}
    for k, v in environ.items():
        if isinstance(v, (str, bool, int)) or v is None:
            out[k] = v
        elif isinstance(v, tuple):
            out[k] = list(v)
        else:
            out[k] = type(v).__name__
    out['__types__'] = sorted({type(k).__name__ for k in environ} | {type(v).__name__ for k, v in environ.items() if k.isupper()})
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
'''

APPS = {'dump.wsgi': DUMP}

CONFIG = '''
WSGIScriptAlias /dump {apps}/dump.wsgi
WSGIScriptAlias /root-mounted/ {apps}/dump.wsgi/
WSGIScriptAlias /auth {apps}/dump.wsgi
WSGIScriptAlias /passauth {apps}/dump.wsgi
SetEnv SWIFTWSGI_TEST_VALUE hello-from-setenv
<Location /auth>
    AuthType Basic
    AuthName "test"
    AuthUserFile "{root}/htpasswd"
    Require valid-user
</Location>
<Location /passauth>
    WSGIPassAuthorization On
</Location>
'''


def setup_server(apache):
    subprocess.run(['htpasswd', '-bc', apache.root + '/htpasswd', 'alice', 's3cret'], check=True, capture_output=True)


def environ(server, path, **kw):
    r = server.get(path, **kw)
    assert r.status == 200, r
    return json.loads(r.body)


def test_cgi_variables(server):
    e = environ(server, '/dump/extra/path?x=1&y=%20')
    assert e['REQUEST_METHOD'] == 'GET'
    assert e['SCRIPT_NAME'] == '/dump'
    assert e['PATH_INFO'] == '/extra/path'
    assert e['QUERY_STRING'] == 'x=1&y=%20'
    assert e['SERVER_PORT'] == str(server.port)
    assert e['SERVER_PROTOCOL'] == 'HTTP/1.1'
    assert e['REMOTE_ADDR'] == '127.0.0.1'
    assert e['SCRIPT_FILENAME'].endswith('/apps/dump.wsgi')
    assert e['REQUEST_URI'] == '/dump/extra/path?x=1&y=%20'
    assert e['GATEWAY_INTERFACE'] == 'CGI/1.1'
    assert e['__types__'] == ['str'] or set(e['__types__']) <= {'str'}


def test_path_info_absent_is_empty(server):
    e = environ(server, '/dump')
    assert e['SCRIPT_NAME'] == '/dump'
    assert e.get('PATH_INFO', '') == ''


def test_script_name_has_no_trailing_slash(server):
    e = environ(server, '/root-mounted/a/b')
    assert e['SCRIPT_NAME'] == '/root-mounted'
    assert e['PATH_INFO'] == '/a/b'


def test_wsgi_keys(server):
    e = environ(server, '/dump')
    assert e['wsgi.version'] == [1, 0]
    assert e['wsgi.url_scheme'] == 'http'
    assert e['wsgi.run_once'] is False
    assert e['wsgi.multithread'] is (server.mpm != 'prefork')
    assert e['wsgi.multiprocess'] is True
    assert e['wsgi.input_terminated'] is True
    for key in ('wsgi.input', 'wsgi.errors', 'wsgi.file_wrapper'):
        assert key in e


def test_mod_wsgi_keys(server):
    e = environ(server, '/dump')
    assert isinstance(e['mod_wsgi.version'], list) and len(e['mod_wsgi.version']) == 3
    assert e['mod_wsgi.process_group'] == ''
    assert e['mod_wsgi.application_group'] == '127.0.0.1:%d|/dump' % server.port
    assert e['mod_wsgi.callable_object'] == 'application'
    assert e['mod_wsgi.script_reloading'] == '1'
    assert e['mod_wsgi.request_handler'] == 'wsgi-script'
    assert e['mod_wsgi.request_id']
    assert int(e['mod_wsgi.request_start']) > 0


@pytest.mark.ours_only
def test_server_software_names_the_module(server):
    e = environ(server, '/dump')
    assert 'mod_swiftwsgi/' in e['SERVER_SOFTWARE'] and 'Python/3.11' in e['SERVER_SOFTWARE']
    assert e['mod_swiftwsgi.version'] == e['mod_wsgi.version']


def test_setenv_reaches_environ(server):
    assert environ(server, '/dump')['SWIFTWSGI_TEST_VALUE'] == 'hello-from-setenv'


def test_request_headers_are_latin1_str(server):
    e = environ(server, '/dump', headers={'X-Latin': 'caf\xe9'.encode('latin-1')})
    assert e['HTTP_X_LATIN'] == 'caf\xe9'


def test_remote_user_from_basic_auth(server):
    token = base64.b64encode(b'alice:s3cret').decode()
    e = environ(server, '/auth', headers={'Authorization': 'Basic ' + token})
    assert e['REMOTE_USER'] == 'alice'
    assert e['AUTH_TYPE'] == 'Basic'
    assert 'HTTP_AUTHORIZATION' not in e
    assert server.get('/auth').status == 401
    server.expect_log(r'AH01618|AH01617')


def test_authorization_only_with_pass_authorization(server):
    h = {'Authorization': 'Bearer abc'}
    assert 'HTTP_AUTHORIZATION' not in environ(server, '/dump', headers=h)
    assert environ(server, '/passauth', headers=h)['HTTP_AUTHORIZATION'] == 'Bearer abc'


def test_head_request_has_no_body(server):
    r = server.request('HEAD', '/dump')
    assert r.status == 200 and r.body == b''
    assert int(r.header('Content-Length')) > 0
