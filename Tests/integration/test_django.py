"""A Django project from PyPI deployed as Django's own "How to use Django with Apache and
mod_wsgi" says: WSGIScriptAlias / to the project's wsgi.py, the venv as WSGIPythonHome (embedded)
or python-home= (daemon), the project on WSGIPythonPath / python-path=, and `Alias /static/`,
`Alias /media/` with their <Directory> blocks, so Apache serves those files itself. Checked: the
admin login (a CSRF-protected POST and its session), a static file from collectstatic, and a
file upload stored in MEDIA_ROOT and served back by Apache."""

import http.cookiejar
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.parse
import urllib.request
import uuid

import pytest

from harness import OURS, Apache, django_venv

SITE_PACKAGES = 'import sysconfig; print(sysconfig.get_paths()["purelib"])'

SETTINGS_EXTRA = '''
ALLOWED_HOSTS = ['*']
DEBUG = False
STATIC_ROOT = BASE_DIR / 'static'
MEDIA_ROOT = BASE_DIR / 'media'
MEDIA_URL = '/media/'
DATABASES = {'default': {'ENGINE': 'django.db.backends.sqlite3', 'NAME': %r}}
'''

UPLOADS = '''
from django.core.files.storage import default_storage
from django.http import HttpResponse, JsonResponse
from django.middleware.csrf import get_token


def upload(request):
    if request.method == 'POST':
        f = request.FILES['file']
        name = default_storage.save('uploads/' + f.name, f)
        return JsonResponse({'url': default_storage.url(name)})
    return HttpResponse('<form method="post" enctype="multipart/form-data">'
                        '<input type="hidden" name="csrfmiddlewaretoken" value="%s">'
                        '<input type="file" name="file"></form>' % get_token(request))
'''

# Django's documentation, with its paths.
STATIC_AND_MEDIA = '''
Alias /robots.txt {site}/static/robots.txt
Alias /media/ {site}/media/
Alias /static/ {site}/static/

<Directory {site}/static>
Require all granted
</Directory>

<Directory {site}/media>
Require all granted
</Directory>

WSGIScriptAlias / {site}/mysite/wsgi.py

<Directory {site}/mysite>
<Files wsgi.py>
Require all granted
</Files>
</Directory>
'''

EMBEDDED = '''
WSGIPythonHome {venv}
WSGIPythonPath {site}
'''

DAEMON = '''
WSGIDaemonProcess example.com python-home={venv} python-path={site}
WSGIProcessGroup example.com
'''


def make_project(root, python):
    """startproject, the upload view, migrate, an admin user and collectstatic."""
    site = os.path.join(root, 'mysite.com')
    os.makedirs(site)
    django_admin = os.path.join(os.path.dirname(python), 'django-admin')
    subprocess.run([django_admin, 'startproject', 'mysite', site], check=True)
    db = os.path.join(root, 'state', 'db.sqlite3')
    with open(os.path.join(site, 'mysite', 'settings.py'), 'a') as f:
        f.write(SETTINGS_EXTRA % db)
    with open(os.path.join(site, 'mysite', 'uploads.py'), 'w') as f:
        f.write(UPLOADS)
    with open(os.path.join(site, 'mysite', 'urls.py'), 'a') as f:
        f.write('\nfrom mysite.uploads import upload\nurlpatterns.append(path("upload/", upload))\n')
    env = dict(os.environ, DJANGO_SUPERUSER_PASSWORD='admin-password', PYTHONDONTWRITEBYTECODE='1')
    manage = [python, os.path.join(site, 'manage.py')]
    subprocess.run(manage + ['migrate', '-v', '0'], check=True, env=env)
    subprocess.run(manage + ['createsuperuser', '--noinput', '--username', 'admin', '--email', 'a@example.org'],
                   check=True, env=env, capture_output=True)
    subprocess.run(manage + ['collectstatic', '--noinput', '-v', '0'], check=True, env=env)
    with open(os.path.join(site, 'static', 'robots.txt'), 'w') as f:
        f.write('User-agent: *\n')
    media = os.path.join(site, 'media')
    os.makedirs(media)
    for top, dirs, files in os.walk(site):
        for d in dirs:
            os.chmod(os.path.join(top, d), 0o755)
        for name in files:
            os.chmod(os.path.join(top, name), 0o644)
    shutil.chown(media, 'www-data', 'www-data')
    shutil.chown(db, 'www-data', 'www-data')
    return site


@pytest.fixture(scope='module', params=['embedded', 'daemon'])
def site(request):
    python = django_venv()
    venv = os.path.dirname(os.path.dirname(python))
    apache = Apache('')
    project = make_project(apache.root, python)
    config = (EMBEDDED if request.param == 'embedded' else DAEMON) + STATIC_AND_MEDIA
    apache.write_config(open(apache.conf).read() + config.replace('{site}', project).replace('{venv}', venv))
    apache.start()
    apache.project = project
    yield apache
    bad = apache.unexpected_lines(0)
    size = apache.log_size()
    apache.stop()
    # Debian's mod_wsgi 4.9 leaves embedded children hanging at stop (see conftest.py).
    if OURS:
        bad += apache.unexpected_lines(size)
    apache.cleanup()
    assert not bad, 'unexpected error-log lines:\n' + '\n'.join(bad)


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def browser():
    jar = http.cookiejar.CookieJar()
    return urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect()), jar


def fetch(opener, url, data=None, headers=None):
    request = urllib.request.Request(url, data=data, headers=headers or {})
    try:
        with opener.open(request, timeout=30) as r:
            return r.status, dict(r.headers), r.read()
    except urllib.error.HTTPError as e:
        return e.code, dict(e.headers), e.read()


def csrf_token(body):
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', body).group(1).decode()


def test_admin_login_with_csrf(site):
    base = 'http://127.0.0.1:%d' % site.port
    opener, jar = browser()
    status, _, body = fetch(opener, base + '/admin/login/?next=/admin/')
    assert status == 200 and b'csrfmiddlewaretoken' in body, body[:500]
    form = {'username': 'admin', 'password': 'admin-password', 'next': '/admin/'}
    # Without the token Django refuses the POST.
    status, _, _ = fetch(opener, base + '/admin/login/', urllib.parse.urlencode(form).encode())
    assert status == 403
    form['csrfmiddlewaretoken'] = csrf_token(body)
    status, headers, _ = fetch(opener, base + '/admin/login/', urllib.parse.urlencode(form).encode(),
                               {'Referer': base + '/admin/login/'})
    assert status == 302 and headers['Location'] == '/admin/', headers
    assert any(c.name == 'sessionid' for c in jar)
    status, _, body = fetch(opener, base + '/admin/')
    assert status == 200 and b'Site administration' in body


def test_static_files_are_apache_s(site):
    base = 'http://127.0.0.1:%d' % site.port
    opener, _ = browser()
    status, headers, body = fetch(opener, base + '/static/admin/css/base.css')
    assert status == 200
    with open(os.path.join(site.project, 'static', 'admin', 'css', 'base.css'), 'rb') as f:
        assert body == f.read()
    assert 'ETag' in headers and headers.get('Accept-Ranges') == 'bytes'  # Apache's core handler
    assert fetch(opener, base + '/robots.txt')[2] == b'User-agent: *\n'
    # A missing file is Apache's 404, not Django's.
    site.expect_log(r'AH00128')
    status, _, body = fetch(opener, base + '/static/missing.css')
    assert status == 404 and b'The requested URL was not found on this server' in body


def test_upload_stored_in_media_root_and_served_by_apache(site):
    base = 'http://127.0.0.1:%d' % site.port
    opener, _ = browser()
    status, _, body = fetch(opener, base + '/upload/')
    assert status == 200
    token = csrf_token(body)
    content = ('uploaded through Django %s\n' % uuid.uuid4()).encode()
    boundary = 'swiftwsgi' + uuid.uuid4().hex
    data = (('--%s\r\nContent-Disposition: form-data; name="csrfmiddlewaretoken"\r\n\r\n%s\r\n'
             '--%s\r\nContent-Disposition: form-data; name="file"; filename="notes.txt"\r\n'
             'Content-Type: text/plain\r\n\r\n') % (boundary, token, boundary)).encode() + content + \
        ('\r\n--%s--\r\n' % boundary).encode()
    status, _, body = fetch(opener, base + '/upload/', data,
                            {'Content-Type': 'multipart/form-data; boundary=' + boundary, 'Referer': base + '/upload/'})
    assert status == 200, body
    url = json.loads(body)['url']
    assert url.startswith('/media/uploads/notes')
    with open(os.path.join(site.project, url.lstrip('/')), 'rb') as f:
        assert f.read() == content
    status, headers, served = fetch(opener, base + url)
    assert status == 200 and served == content and 'ETag' in headers
