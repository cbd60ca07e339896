"""environ: Apache's variables (SetEnv, REMOTE_USER, SCRIPT_URL, ...), the CGI variables,
SCRIPT_NAME/PATH_INFO split as mod_wsgi does, wsgi.* and mod_wsgi.* keys, all values latin-1 str."""

import base64
import json
import re
import subprocess

import pytest

from harness import MOD_WSGI_VERSION, OURS, PYTHON_VERSION

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
    out['__key_types__'] = sorted({type(k).__name__ for k in environ})
    out['__cgi_value_types__'] = sorted({type(v).__name__ for k, v in environ.items() if '.' not in k})
    out['__input_api__'] = [m for m in ('read', 'readline', 'readlines', '__iter__') if hasattr(environ['wsgi.input'], m)]
    out['__errors_api__'] = [m for m in ('write', 'writelines', 'flush') if hasattr(environ['wsgi.errors'], m)]
    out['__file_wrapper_callable__'] = callable(environ['wsgi.file_wrapper'])
    body = json.dumps(out).encode()
    start_response('200 OK', [('Content-Type', 'application/json'), ('Content-Length', str(len(body)))])
    return [body]
'''

APPS = {'dump.wsgi': DUMP}

CONFIG = '''
LoadModule rewrite_module {modules}/mod_rewrite.so
WSGIScriptAlias /dump {apps}/dump.wsgi
WSGIScriptAlias /root-mounted/ {apps}/dump.wsgi/
WSGIScriptAlias /auth {apps}/dump.wsgi
WSGIScriptAlias /passauth {apps}/dump.wsgi
WSGIScriptAlias /passoption {apps}/dump.wsgi pass-authorization=On
WSGIScriptAlias /rewritten {apps}/dump.wsgi
SetEnv SWIFTWSGI_TEST_VALUE hello-from-setenv
SetEnvIf User-Agent "^swiftwsgi-agent" SWIFTWSGI_AGENT=matched
<Location /auth>
    AuthType Basic
    AuthName "test"
    AuthUserFile "{root}/htpasswd"
    Require valid-user
</Location>
<Location /passauth>
    WSGIPassAuthorization On
</Location>
<Location /rewritten>
    RewriteEngine On
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
    assert e['REQUEST_URI'] == '/dump/extra/path?x=1&y=%20'
    assert e['SERVER_NAME'] == '127.0.0.1'
    assert e['SERVER_PORT'] == str(server.port)
    assert e['SERVER_ADDR'] == '127.0.0.1'
    assert e['SERVER_PROTOCOL'] == 'HTTP/1.1'
    assert e['HTTP_HOST'] == '127.0.0.1:%d' % server.port
    assert e['REMOTE_ADDR'] == '127.0.0.1'
    assert e['REMOTE_PORT'].isdigit()
    assert e['REQUEST_SCHEME'] == 'http'
    assert e['GATEWAY_INTERFACE'] == 'CGI/1.1'
    assert e['SCRIPT_FILENAME'] == server.apps + '/dump.wsgi'
    assert 'DOCUMENT_ROOT' in e and 'SERVER_SOFTWARE' in e
    assert 'CONTENT_LENGTH' not in e or e['CONTENT_LENGTH'] in ('', '0')


def test_keys_and_cgi_values_are_str(server):
    e = environ(server, '/dump')
    assert e['__key_types__'] == ['str']
    assert e['__cgi_value_types__'] == ['str']


def test_post_sets_content_type_and_length(server):
    r = server.post('/dump', b'a=1&b=2', headers={'Content-Type': 'application/x-www-form-urlencoded'})
    e = json.loads(r.body)
    assert e['REQUEST_METHOD'] == 'POST'
    assert e['CONTENT_TYPE'] == 'application/x-www-form-urlencoded'
    assert e['CONTENT_LENGTH'] == '7'


def test_path_info_is_url_decoded_and_latin1(server):
    # PEP 3333: the URL-decoded bytes, as str through latin-1 (UTF-8 'é' is two characters).
    e = environ(server, '/dump/a%20b/caf%C3%A9?q=%C3%A9')
    assert e['PATH_INFO'] == '/a b/caf\xc3\xa9'
    assert e['REQUEST_URI'] == '/dump/a%20b/caf%C3%A9?q=%C3%A9'
    assert e['QUERY_STRING'] == 'q=%C3%A9'


def test_path_info_absent_is_empty(server):
    e = environ(server, '/dump')
    assert e['SCRIPT_NAME'] == '/dump'
    assert e.get('PATH_INFO', '') == ''


def test_script_name_has_no_trailing_slash(server):
    e = environ(server, '/root-mounted/a/b')
    assert e['SCRIPT_NAME'] == '/root-mounted'
    assert e['PATH_INFO'] == '/a/b'


def test_repeated_slashes_split_as_mod_wsgi_does(server):
    e = environ(server, '//dump//x')
    assert e['SCRIPT_NAME'] == '/dump'
    assert e['PATH_INFO'] == '/x'
    assert e['REQUEST_URI'] == '//dump//x'


def test_wsgi_keys(server):
    e = environ(server, '/dump')
    assert e['wsgi.version'] == [1, 0]
    assert e['wsgi.url_scheme'] == 'http'
    assert e['wsgi.run_once'] is False
    assert e['wsgi.multithread'] is (server.mpm != 'prefork')
    assert e['wsgi.multiprocess'] is True
    assert e['wsgi.input_terminated'] is True
    assert e['__input_api__'] == ['read', 'readline', 'readlines', '__iter__']
    assert e['__errors_api__'] == ['write', 'writelines', 'flush']
    assert e['__file_wrapper_callable__'] is True


def test_mod_wsgi_keys(server):
    e = environ(server, '/dump/p')
    version = e['mod_wsgi.version']
    assert isinstance(version, list) and len(version) == 3 and all(isinstance(x, int) for x in version)
    assert e['mod_wsgi.process_group'] == ''
    assert e['mod_wsgi.application_group'] == '127.0.0.1:%d|/dump' % server.port
    assert e['mod_wsgi.callable_object'] == 'application'
    assert e['mod_wsgi.script_reloading'] == '1'
    assert e['mod_wsgi.request_handler'] == 'wsgi-script'
    assert e['mod_wsgi.handler_script'] == ''
    assert e['mod_wsgi.script_name'] == '/dump'
    assert e['mod_wsgi.path_info'] == '/p'
    assert e['mod_wsgi.listener_host'] == '127.0.0.1'
    assert e['mod_wsgi.listener_port'] == str(server.port)
    assert e['mod_wsgi.enable_sendfile'] == '0'
    assert e['mod_wsgi.request_id']
    if OURS or (MOD_WSGI_VERSION or ()) >= (6,):
        # mod_wsgi 6.1: seconds since the epoch, as a float.
        assert e['mod_wsgi.request_start'] == 'float'  # (dumped by type name)
    else:
        assert int(e['mod_wsgi.request_start']) > 0
        assert int(e['mod_wsgi.script_start']) >= int(e['mod_wsgi.request_start'])
    assert environ(server, '/dump')['mod_wsgi.request_id'] != e['mod_wsgi.request_id']


@pytest.mark.ours_only
def test_server_software_names_the_module(server):
    e = environ(server, '/dump')
    assert 'mod_swiftwsgi/' in e['SERVER_SOFTWARE'] and 'Python/%s' % PYTHON_VERSION in e['SERVER_SOFTWARE']
    # Apache's start-up line and each child's initialisation name the embedded Python.
    log = server.log()
    assert re.search(r'mod_swiftwsgi/\S+ Python/%s configured' % re.escape(PYTHON_VERSION), log), log
    assert re.search(r'Initializing Python %s\.\d+ \(mod_swiftwsgi \d+\.\d+\.\d+, the Python API of mod_wsgi 6\.1\.1\)'
                     % re.escape(PYTHON_VERSION), log), log
    # mod_wsgi.version is the mod_wsgi release whose behaviour we implement; ours stays visible.
    assert e['mod_wsgi.version'] == [6, 1, 1] and e['mod_swiftwsgi.version'][0] == 0
    r = server.get('/dump')
    assert 'mod_swiftwsgi/' in r.header('Server')


def test_setenv_and_setenvif_reach_environ(server):
    e = environ(server, '/dump', headers={'User-Agent': 'swiftwsgi-agent/1'})
    assert e['SWIFTWSGI_TEST_VALUE'] == 'hello-from-setenv'
    assert e['SWIFTWSGI_AGENT'] == 'matched'
    assert 'SWIFTWSGI_AGENT' not in environ(server, '/dump', headers={'User-Agent': 'other'})


def test_script_url_from_mod_rewrite(server):
    e = environ(server, '/rewritten/x')
    assert e['SCRIPT_URL'] == '/rewritten/x'
    assert e['SCRIPT_URI'] == 'http://127.0.0.1:%d/rewritten/x' % server.port


def test_request_headers_are_latin1_str(server):
    e = environ(server, '/dump', headers={'X-Latin': 'caf\xe9'.encode('latin-1')})
    assert e['HTTP_X_LATIN'] == 'caf\xe9'


def test_repeated_request_headers_are_joined(server):
    with server.connect() as c:
        c.send(b'GET /dump HTTP/1.1\r\nHost: x\r\nX-Dup: one\r\nX-Dup: two\r\nConnection: close\r\n\r\n')
        body = c.read_to_eof().partition(b'\r\n\r\n')[2]
    assert json.loads(body)['HTTP_X_DUP'] == 'one, two'


def test_values_follow_each_request(server):
    # The host reuses the str objects of earlier requests' names and values: each request must
    # still see exactly its own (same length, other bytes; longer; shorter; absent again), also
    # past the point where a value that keeps changing is no longer kept, and with more
    # distinct header names than it keeps names for.
    values = ['abc', 'abd', 'abd', 'a' * 300, 'x', 'abc', 'caf\xe9'] + ['v%d' % i for i in range(12)] + ['abc']
    for i, v in enumerate(values):
        headers = {'X-Varying': v.encode('latin-1')}
        if i % 3 == 0:
            headers['X-Sometimes'] = b'here'
        e = environ(server, '/dump?q=%d' % i, headers=headers)
        assert e['HTTP_X_VARYING'] == v
        assert e['QUERY_STRING'] == 'q=%d' % i
        assert ('HTTP_X_SOMETIMES' in e) == (i % 3 == 0)
    for r in (0, 1, 2, 0):  # 270 distinct names (Apache takes up to 100 header lines a request)
        e = environ(server, '/dump', headers={'X-Name-%d-%d' % (r, i): '%d.%d' % (r, i) for i in range(90)})
        assert all(e['HTTP_X_NAME_%d_%d' % (r, i)] == '%d.%d' % (r, i) for i in range(90))


def test_header_with_underscore_is_not_passed(server):
    # Apache drops such headers from the CGI variables (they could spoof X-Forwarded-For etc.).
    e = environ(server, '/dump', headers={'X_Spoofed': 'yes', 'X-Real': 'yes'})
    assert e['HTTP_X_REAL'] == 'yes'
    assert 'HTTP_X_SPOOFED' not in e


def test_remote_user_from_basic_auth(server):
    token = base64.b64encode(b'alice:s3cret').decode()
    e = environ(server, '/auth', headers={'Authorization': 'Basic ' + token})
    assert e['REMOTE_USER'] == 'alice'
    assert e['AUTH_TYPE'] == 'Basic'
    assert 'HTTP_AUTHORIZATION' not in e
    server.expect_errors(r'AH01618|AH01617')
    assert server.get('/auth').status == 401
    bad = base64.b64encode(b'alice:wrong').decode()
    assert server.get('/auth', headers={'Authorization': 'Basic ' + bad}).status == 401


def test_authorization_only_with_pass_authorization(server):
    h = {'Authorization': 'Bearer abc'}
    assert 'HTTP_AUTHORIZATION' not in environ(server, '/dump', headers=h)
    assert environ(server, '/passauth', headers=h)['HTTP_AUTHORIZATION'] == 'Bearer abc'
    assert environ(server, '/passoption', headers=h)['HTTP_AUTHORIZATION'] == 'Bearer abc'
