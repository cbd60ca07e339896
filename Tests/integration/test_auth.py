"""Python in Apache's own request processing: authentication (Basic with Django's own modwsgi
handler, Digest), group authorisation, host access, dispatch and handler scripts, error
override, and trusted proxy headers."""

import hashlib
import json
import os
import subprocess
import sys
import urllib.request

import pytest

from harness import OURS, django_venv

pytestmark = pytest.mark.ours_only
SINGLE_MPM = True

SETTINGS = '''
SECRET_KEY = 'mod_swiftwsgi-tests'
INSTALLED_APPS = ['django.contrib.auth', 'django.contrib.contenttypes']
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': %r}}
USE_TZ = True
DEFAULT_AUTO_FIELD = 'django.db.models.AutoField'
'''

DJANGO_AUTH = '''
import os, site, sys
site.addsitedir(%(site)r)
sys.path.insert(0, %(project)r)
os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'authsite.settings')
import django
django.setup()
from django.contrib.auth.handlers.modwsgi import check_password, groups_for_user
'''

USERS_AUTH = r'''
import hashlib
USERS = {'alice': 's3cret', 'crash': 'x'}
def check_password(environ, user, password):
    if user == 'crash':
        raise RuntimeError('authentication backend down')
    if user not in USERS:
        return None
    return USERS[user] == password
def get_realm_hash(environ, user, realm):
    if user not in USERS:
        return None
    return hashlib.md5(('%s:%s:%s' % (user, realm, USERS[user])).encode()).hexdigest()
'''

APPS = {
    'whoami.wsgi': r'''
import json, mod_wsgi
def application(environ, start_response):
    keys = ['REMOTE_USER', 'AUTH_TYPE', 'REMOTE_ADDR', 'HTTP_HOST', 'SERVER_NAME', 'SERVER_PORT', 'SCRIPT_NAME',
            'HTTPS', 'HTTP_X_FORWARDED_FOR', 'HTTP_X_FORWARDED_PROTO', 'HTTP_X_FORWARDED_HOST', 'HTTP_X_REAL_IP',
            'wsgi.url_scheme', 'mod_wsgi.handler_script']
    body = {k: environ.get(k) for k in keys}
    body['group'] = mod_wsgi.application_group
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(body).encode()]
def alternative(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [b'alternative callable']
''',
    'users.wsgi': USERS_AUTH,
    'access.wsgi': r'''
def allow_access(environ, host):
    verdict = environ.get('HTTP_X_VERDICT')
    return {'allow': True, 'deny': False}.get(verdict)
''',
    'dispatch.wsgi': r'''
def application_group(environ):
    return 'tenant-' + environ['QUERY_STRING'] if environ['QUERY_STRING'] else None
def callable_object(environ):
    return 'alternative' if environ['QUERY_STRING'] == 'alt' else None
''',
    'handler.wsgi': r'''
def handle_request(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [('handled %s by %s' % (environ['SCRIPT_FILENAME'], environ['mod_wsgi.handler_script'])).encode()]
''',
    'notfound.wsgi': r'''
def application(environ, start_response):
    start_response('404 Not Found', [('Content-Type', 'text/plain')])
    return [b'the application\'s own 404 body']
''',
}

CONFIG = '''
LoadModule rewrite_module /usr/lib/apache2/modules/mod_rewrite.so
LoadModule auth_digest_module /usr/lib/apache2/modules/mod_auth_digest.so
WSGIScriptAlias /django {apps}/whoami.wsgi
WSGIScriptAlias /django-staff {apps}/whoami.wsgi
WSGIScriptAlias /basic {apps}/whoami.wsgi
WSGIScriptAlias /digest {apps}/whoami.wsgi
WSGIScriptAlias /access {apps}/whoami.wsgi
WSGIScriptAlias /dispatched {apps}/whoami.wsgi
WSGIScriptAlias /override {apps}/notfound.wsgi
WSGIScriptAlias /plain404 {apps}/notfound.wsgi
WSGIScriptAlias /proxied {apps}/whoami.wsgi
WSGIScriptAlias /untrusted {apps}/whoami.wsgi
<Location /django>
    AuthType Basic
    AuthName "django"
    AuthBasicProvider wsgi
    WSGIAuthUserScript {root}/django_auth.wsgi
    Require valid-user
</Location>
<Location /django-staff>
    AuthType Basic
    AuthName "django staff"
    AuthBasicProvider wsgi
    WSGIAuthUserScript {root}/django_auth.wsgi
    WSGIAuthGroupScript {root}/django_auth.wsgi
    Require wsgi-group staff
</Location>
<Location /basic>
    AuthType Basic
    AuthName "basic"
    AuthBasicProvider wsgi
    WSGIAuthUserScript {apps}/users.wsgi
    Require valid-user
</Location>
<Location /digest>
    AuthType Digest
    AuthName "digest realm"
    AuthDigestProvider wsgi
    WSGIAuthUserScript {apps}/users.wsgi
    Require valid-user
</Location>
<Location /access>
    WSGIAccessScript {apps}/access.wsgi
</Location>
<Location /dispatched>
    WSGIDispatchScript {apps}/dispatch.wsgi
</Location>
WSGIHandlerScript my-handler {apps}/handler.wsgi
Alias /docs/ {root}/docs/
<Directory {root}/docs>
    AddHandler my-handler .page
</Directory>
RewriteEngine On
RewriteRule ^/rewritten/(.*)$ {root}/docs/$1 [H=my-handler]
<Location /override>
    WSGIErrorOverride On
</Location>
ErrorDocument 404 /docs/custom404.html
<Location /proxied>
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host X-Forwarded-Port X-Script-Name
    WSGITrustedProxies 127.0.0.1 10.0.0.0/8
</Location>
<Location /untrusted>
    WSGITrustedProxyHeaders X-Forwarded-For X-Forwarded-Proto X-Forwarded-Host
    WSGITrustedProxies 192.0.2.1
</Location>
'''

FILES = {'docs/one.page': 'page one\n', 'docs/custom404.html': 'custom error document\n'}


def setup_server(apache):
    python = django_venv()
    project = os.path.join(apache.root, 'django')
    os.makedirs(os.path.join(project, 'authsite'))
    db = os.path.join(apache.state, 'users.sqlite3')
    with open(os.path.join(project, 'authsite', '__init__.py'), 'w') as f:
        f.write('')
    with open(os.path.join(project, 'authsite', 'settings.py'), 'w') as f:
        f.write(SETTINGS % db)
    env = dict(os.environ, DJANGO_SETTINGS_MODULE='authsite.settings', PYTHONPATH=project)
    subprocess.run([python, '-m', 'django', 'migrate', '-v', '0'], env=env, check=True, cwd=project)
    subprocess.run([python, '-c', '''
import django; django.setup()
from django.contrib.auth.models import User, Group
staff = Group.objects.create(name='staff')
bob = User.objects.create_user('bob', password='bob-password')
bob.groups.add(staff)
User.objects.create_user('carol', password='carol-password')
'''], env=env, check=True, cwd=project)
    os.chmod(db, 0o666)
    for root, dirs, files in os.walk(project):
        for d in dirs:
            os.chmod(os.path.join(root, d), 0o755)
        for f in files:
            os.chmod(os.path.join(root, f), 0o644)
    site_packages = subprocess.run([python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                   capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(apache.root, 'django_auth.wsgi'), 'w') as f:
        f.write(DJANGO_AUTH % {'site': site_packages, 'project': project})
    os.chmod(os.path.join(apache.root, 'django_auth.wsgi'), 0o644)


def basic(user, password):
    import base64
    return {'Authorization': 'Basic ' + base64.b64encode(('%s:%s' % (user, password)).encode()).decode()}


def test_django_check_password(server):
    server.expect_log(r'AH01617|AH01618|authentication failure|not found')
    r = server.get('/django', headers=basic('bob', 'bob-password'))
    assert r.status == 200, r
    assert json.loads(r.body)['REMOTE_USER'] == 'bob'
    assert server.get('/django', headers=basic('bob', 'wrong')).status == 401
    assert server.get('/django', headers=basic('nobody', 'x')).status == 401
    assert server.get('/django').status == 401


def test_django_groups_for_user(server):
    server.expect_log(r'AH01631|SWW0924|authorization failure')
    assert server.get('/django-staff', headers=basic('bob', 'bob-password')).status == 200
    assert server.get('/django-staff', headers=basic('carol', 'carol-password')).status == 401


def test_digest_with_get_realm_hash(server):
    server.expect_log(r'AH01790|AH01794|password mismatch|user .* not found')
    ok = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--digest', '-u', 'alice:s3cret',
                         'http://127.0.0.1:%d/digest' % server.port], capture_output=True, text=True).stdout
    bad = subprocess.run(['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--digest', '-u', 'alice:nope',
                          'http://127.0.0.1:%d/digest' % server.port], capture_output=True, text=True).stdout
    assert (ok, bad) == ('200', '401')


def test_exception_in_check_password_denies_with_500(server):
    server.expect_log(r'.')
    start = server.log_size()
    assert server.get('/basic', headers=basic('crash', 'x')).status == 500
    assert server.wait_for_log('RuntimeError: authentication backend down', start)
    assert server.get('/basic', headers=basic('alice', 's3cret')).status == 200


def test_access_script(server):
    server.expect_log(r'client denied by WSGIAccessScript')
    assert server.get('/access', headers={'X-Verdict': 'allow'}).status == 200
    assert server.get('/access', headers={'X-Verdict': 'deny'}).status == 403
    assert server.get('/access').status == 200  # None: no opinion, nothing else denies


def test_dispatch_script(server):
    assert json.loads(server.get('/dispatched?a').body)['group'] == 'tenant-a'
    assert server.get('/dispatched?alt').body == b'alternative callable'


def test_handler_script_via_add_handler_and_rewrite(server):
    a = server.get('/docs/one.page')
    assert a.status == 200 and a.body.startswith(b'handled ') and a.body.endswith(b'handler.wsgi')
    b = server.get('/rewritten/one.page')
    assert b.status == 200 and b.body == a.body


def test_error_override(server):
    overridden = server.get('/override')
    assert overridden.status == 404 and overridden.body == b'custom error document\n'
    plain = server.get('/plain404')
    assert plain.status == 404 and plain.body == b"the application's own 404 body"


def test_trusted_proxy_headers(server):
    h = {'X-Forwarded-For': '203.0.113.7, 10.1.2.3', 'X-Forwarded-Proto': 'https',
         'X-Forwarded-Host': 'public.example', 'X-Forwarded-Port': '443', 'X-Script-Name': '/prefix',
         'X-Real-IP': '198.51.100.9'}
    e = json.loads(server.get('/proxied', headers=h).body)
    assert e['REMOTE_ADDR'] == '203.0.113.7'
    # As mod_wsgi, HTTPS gives wsgi.url_scheme and then leaves environ.
    assert e['wsgi.url_scheme'] == 'https' and e.get('HTTPS') is None
    assert e['HTTP_HOST'] == 'public.example' and e['SERVER_PORT'] == '443'
    assert e['SCRIPT_NAME'] == '/prefix'
    assert e['HTTP_X_REAL_IP'] is None  # not a trusted header: removed


def test_spoofed_proxy_headers_from_untrusted_peer_are_ignored_and_removed(server):
    h = {'X-Forwarded-For': '203.0.113.7', 'X-Forwarded-Proto': 'https', 'X-Forwarded-Host': 'evil.example'}
    e = json.loads(server.get('/untrusted', headers=h).body)
    assert e['REMOTE_ADDR'] == '127.0.0.1'
    assert e['wsgi.url_scheme'] == 'http'
    assert e['HTTP_HOST'] == '127.0.0.1:%d' % server.port
    assert e['HTTP_X_FORWARDED_FOR'] is None and e['HTTP_X_FORWARDED_PROTO'] is None
    assert e['HTTP_X_FORWARDED_HOST'] is None
