"""Trac 1.6, the flagship, served with the configuration of Trac's TracModWSGI page: a user's
session end to end (SQLite environments; `trac-admin deploy`'s script and the page's own
script; TRAC_ENV_PARENT_DIR with several environments)."""

import os
import re
import shutil
import subprocess
import time

import pytest

from harness import Apache, OURS

SINGLE_MPM = True
TRAC_VENV = '/var/cache/swiftwsgi-tests/trac-venv'
TRAC_REQUIREMENT = 'Trac>=1.6,<1.7'

requests = pytest.importorskip('requests')


def trac_venv():
    admin = os.path.join(TRAC_VENV, 'bin', 'trac-admin')
    if not os.path.exists(admin):
        os.makedirs(os.path.dirname(TRAC_VENV), exist_ok=True)
        subprocess.run(['/usr/bin/python3.11', '-m', 'venv', TRAC_VENV], check=True)
        r = subprocess.run([os.path.join(TRAC_VENV, 'bin', 'pip'), 'install', '-q', TRAC_REQUIREMENT],
                           capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(TRAC_VENV, ignore_errors=True)
            pytest.skip('Trac could not be installed from PyPI: ' + r.stderr[-500:])
    subprocess.run(['chmod', '-R', 'a+rX', TRAC_VENV], check=True)
    return admin


def trac_admin(admin, env, *args):
    subprocess.run([admin, env] + list(args), check=True, capture_output=True)


# The seed page's first form of the script.
SEED_SCRIPT = '''
import os

os.environ['TRAC_ENV'] = %(env)r
os.environ['PYTHON_EGG_CACHE'] = %(eggs)r

import trac.web.main
application = trac.web.main.dispatch_request
'''

SEED_SITEDIR_SCRIPT = '''
import site
site.addsitedir(%(site)r)

import os
os.environ['TRAC_ENV_PARENT_DIR'] = %(parent)r
os.environ['PYTHON_EGG_CACHE'] = %(eggs)r

import trac.web.main
application = trac.web.main.dispatch_request
'''

CONFIG = '''
LoadModule access_compat_module /usr/lib/apache2/modules/mod_access_compat.so
WSGIPythonHome {venv}

WSGIScriptAlias /trac {root}/deploy/cgi-bin/trac.wsgi

<Directory {root}/deploy/cgi-bin>
    WSGIApplicationGroup %{GLOBAL}
    Order deny,allow
    Allow from all
</Directory>

<Location "/trac/login">
    AuthType Basic
    AuthName "Trac"
    AuthUserFile "{root}/htpasswd"
    Require valid-user
</Location>

WSGIScriptAlias /seed {root}/scripts/seed.wsgi
# The seed script's os.environ['TRAC_ENV'] is process-wide (putenv) and Trac prefers it to a
# parent directory: the projects index sets both in the request environ, which Trac reads first.
WSGIScriptAlias /projects {root}/scripts/projects.wsgi
<Location /projects>
    SetEnv trac.env_path ""
    SetEnv trac.env_parent_dir {root}/state/envs
</Location>
<Directory {root}/scripts>
    WSGIApplicationGroup %{GLOBAL}
    Order deny,allow
    Allow from all
</Directory>
<LocationMatch "^/projects/[^/]+/login">
    AuthType Basic
    AuthName "Trac"
    AuthUserFile "{root}/htpasswd"
    Require valid-user
</LocationMatch>
'''


@pytest.fixture(scope='module')
def trac():
    admin = trac_venv()
    apache = Apache(CONFIG.replace('{venv}', TRAC_VENV))
    root = apache.root
    parent = os.path.join(apache.state, 'envs')
    os.makedirs(parent)
    for name in ('main', 'alpha', 'beta'):
        env = os.path.join(parent, name)
        trac_admin(admin, env, 'initenv', 'Project %s' % name, 'sqlite:db/trac.db')
        trac_admin(admin, env, 'permission', 'add', 'admin', 'TRAC_ADMIN')
        trac_admin(admin, env, 'config', 'set', 'attachment', 'max_size', str(16 << 20))
    trac_admin(admin, os.path.join(parent, 'main'), 'deploy', os.path.join(root, 'deploy'))
    os.makedirs(os.path.join(root, 'scripts'))
    eggs = os.path.join(apache.state, 'eggs')
    site_packages = subprocess.run([os.path.join(TRAC_VENV, 'bin', 'python'), '-c',
                                    'import sysconfig; print(sysconfig.get_paths()["purelib"])'],
                                   capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(root, 'scripts', 'seed.wsgi'), 'w') as f:
        f.write(SEED_SCRIPT % {'env': os.path.join(parent, 'alpha'), 'eggs': eggs})
    with open(os.path.join(root, 'scripts', 'projects.wsgi'), 'w') as f:
        f.write(SEED_SITEDIR_SCRIPT % {'site': site_packages, 'parent': parent, 'eggs': eggs})
    subprocess.run(['htpasswd', '-bc', os.path.join(root, 'htpasswd'), 'admin', 'admin-password'],
                   check=True, capture_output=True)
    subprocess.run(['chown', '-R', 'www-data:www-data', apache.state], check=True)
    subprocess.run(['chmod', '-R', 'a+rX', root], check=True)
    apache.start()
    yield apache
    apache.stop()
    log = apache.log()
    apache.cleanup()
    assert 'still did not exit' not in log and 'Segmentation' not in log


def login(trac, base):
    s = requests.Session()
    r = s.get(base + '/login', auth=('admin', 'admin-password'))
    assert r.status_code == 200, r.text[:500]
    assert 'trac_auth' in s.cookies
    return s


def form_token(session, url):
    r = session.get(url)
    assert r.status_code == 200, r.status_code
    return re.search(r'name="__FORM_TOKEN" value="([^"]+)"', r.text).group(1)


def test_deployed_trac_full_session(trac):
    base = 'http://127.0.0.1:%d/trac' % trac.port
    assert requests.get(base + '/wiki/WikiStart').status_code == 200
    s = login(trac, base)

    # About: Trac reports the WSGI frontend with the module's version and groups.
    about = s.get(base + '/about').text
    assert 'mod_wsgi' in about

    # A ticket through the web form (form token and session cookie).
    token = form_token(s, base + '/newticket')
    r = s.post(base + '/newticket', data={'__FORM_TOKEN': token, 'field_summary': 'Made by the test suite',
                                          'field_description': 'Ticket body', 'field_type': 'defect',
                                          'submit': 'Create ticket'})
    assert r.status_code == 200 and re.search(r'/ticket/\d+$', r.url), r.url
    ticket = r.url.rsplit('/', 1)[1]
    assert 'Made by the test suite' in s.get(base + '/ticket/' + ticket).text

    # A wiki edit.
    token = form_token(s, base + '/wiki/TestPage?action=edit')
    r = s.post(base + '/wiki/TestPage', data={'__FORM_TOKEN': token, 'action': 'edit', 'version': '0',
                                              'text': '= Test page =\nEdited through mod_swiftwsgi.', 'save': 'Submit changes'})
    assert r.status_code == 200
    assert 'Edited through mod_swiftwsgi' in s.get(base + '/wiki/TestPage').text

    # A multi-MB binary attachment, downloaded byte-identical.
    data = bytes(range(256)) * 16384 + b'\x00' * 1000 + os.urandom(1 << 20)
    token = form_token(s, base + '/attachment/ticket/%s/?action=new' % ticket)
    r = s.post(base + '/attachment/ticket/%s/?action=new' % ticket,
               data={'__FORM_TOKEN': token, 'action': 'new', 'realm': 'ticket', 'id': ticket},
               files={'attachment': ('blob.bin', data, 'application/octet-stream')})
    assert r.status_code == 200, r.status_code
    for _ in range(3):  # several times, on keep-alive connections
        r = s.get(base + '/raw-attachment/ticket/%s/blob.bin' % ticket)
        assert r.status_code == 200 and r.content == data

    assert s.get(base + '/timeline').status_code == 200
    assert 'Made by the test suite' in s.get(base + '/search', params={'q': 'suite', 'ticket': 'on'}).text
    assert s.get(base + '/no-such-page').status_code == 404

    css = s.get(base + '/chrome/common/css/trac.css')
    assert css.status_code == 200
    again = s.get(base + '/chrome/common/css/trac.css', headers={'If-Modified-Since': css.headers['Last-Modified']})
    assert again.status_code == 304


def test_seed_script_with_trac_env(trac):
    r = requests.get('http://127.0.0.1:%d/seed/wiki/WikiStart' % trac.port)
    assert r.status_code == 200 and 'Project alpha' in r.text


def test_env_parent_dir_and_project_index(trac):
    base = 'http://127.0.0.1:%d/projects' % trac.port
    index = requests.get(base + '/')
    assert index.status_code == 200
    for name in ('main', 'alpha', 'beta'):
        assert '/projects/%s' % name in index.text, index.text[-3000:]
    assert 'Project beta' in requests.get(base + '/beta/wiki/WikiStart').text
    s = login(trac, base + '/beta')
    assert s.get(base + '/beta/admin').status_code == 200
