"""Where the module's hooks run among Apache's other modules, as mod_wsgi's register_hooks
places them: WSGIScriptAlias is tried after mod_alias (an Alias wins, whatever the order of the
directives: Django's documented /static/ beside WSGIScriptAlias /), and WSGIAccessScript runs in
the access_checker phase, so an allowing script neither skips authentication nor Require."""

import base64

APPS = {
    'app.wsgi': '''
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('app ' + environ['SCRIPT_NAME'] + ' ' + environ['PATH_INFO']).encode()]
''',
    'access.wsgi': '''
def allow_access(environ, host):
    return environ.get('HTTP_X_VERDICT') != 'deny'
''',
}

FILES = {
    'static/style.css': 'body { color: red }\n',
    'media/upload.txt': 'uploaded\n',
    'before/page.txt': 'alias declared before\n',
    'nested/page.txt': 'alias inside the script alias\n',
}

CONFIG = '''
Alias /before/ {root}/before/
WSGIScriptAlias /app {apps}/app.wsgi
WSGIScriptAlias / {apps}/app.wsgi
Alias /static/ {root}/static/
Alias /media/ {root}/media/
Alias /app/nested/ {root}/nested/

<Location /guarded>
    WSGIAccessScript {apps}/access.wsgi
    Require all denied
</Location>
<Location /login>
    WSGIAccessScript {apps}/access.wsgi
    AuthType Basic
    AuthName test
    AuthBasicProvider file
    AuthUserFile {root}/htpasswd
    Require valid-user
</Location>
'''

# alice:secret
HTPASSWD = 'alice:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n'


def setup_server(apache):
    with open(apache.root + '/htpasswd', 'w') as f:
        f.write(HTPASSWD)


def test_alias_after_script_alias_wins(server):
    r = server.get('/static/style.css')
    assert r.status == 200 and r.body == b'body { color: red }\n', r
    assert server.get('/media/upload.txt').body == b'uploaded\n'


def test_alias_before_script_alias_wins(server):
    assert server.get('/before/page.txt').body == b'alias declared before\n'


def test_alias_inside_a_script_alias_wins(server):
    assert server.get('/app/nested/page.txt').body == b'alias inside the script alias\n'


def test_everything_else_reaches_the_application(server):
    assert server.get('/app/x').body == b'app /app /x'
    assert server.get('/staticfile').body == b'app  /staticfile'
    assert server.get('/').body == b'app  /'


def test_missing_aliased_file_is_apache_404(server):
    server.expect_log(r'AH00128')
    r = server.get('/static/missing.css')
    assert r.status == 404 and b'app' not in r.body


def test_access_script_does_not_override_require(server):
    server.expect_log(r'AH01630|SWW0925|[Cc]lient denied')
    assert server.get('/guarded').status == 403
    assert server.get('/guarded', headers={'X-Verdict': 'deny'}).status == 403


def test_access_script_does_not_skip_authentication(server):
    server.expect_log(r'AH01618|SWW0925|[Cc]lient denied|user .* not found')
    assert server.get('/login').status == 401
    auth = {'Authorization': 'Basic ' + base64.b64encode(b'alice:secret').decode()}
    assert server.get('/login', headers=auth).status == 200
    assert server.get('/login', headers=dict(auth, **{'X-Verdict': 'deny'})).status == 403
