"""Trac 1.6, the flagship (issue 4), on SQLite, with the configuration of Trac's TracModWSGI page
as examples/trac/setup.sh writes it.

- `example`: exactly what setup.sh makes (its trac.conf included as is, the page's first script
  with site.addsitedir at its top and os.environ['TRAC_ENV'], `Require all granted`, Basic auth
  on /trac/login) and a Subversion repository: a user's whole session, the About page, the
  repository browser and export.
- `projects`: several environments with WSGIPythonHome set to the venv (Debian's Subversion
  bindings through the venv's .pth), the page's `Order deny,allow` / `Allow from all` lines
  (mod_access_compat), the script of `trac-admin deploy`, TRAC_ENV_PARENT_DIR in the page's
  script and `SetEnv trac.env_parent_dir` with the deploy script: the project index and each
  project.
"""

import os
import re
import shutil
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), 'trac'))
import tracsite  # noqa: E402
from tracsite import (TracApache, about, create_ticket, expected_about, form_token, logged_in_as, login,  # noqa: E402
                      make_site)  # noqa: E402

requests = pytest.importorskip('requests')

BIG = bytes(range(256)) * 8192 + os.urandom(3 << 20) + b'\x00\r\n' * 1000   # 5 MB, every byte value
README = b'Hello from Subversion.\n'


@pytest.fixture(scope='module')
def example():
    tracsite.venv()
    apache = TracApache('Include {root}/site/trac.conf\n')
    try:
        site = os.path.join(apache.root, 'site')
        make_site(site, '--svn')
        rev = tracsite.svn_commit(os.path.join(site, 'svn', 'mysite'),
                                  {'README.txt': README, 'data/big.bin': BIG}, 'text and binary')
        apache.start()
        yield apache, rev
        apache.finish()
    finally:
        apache.cleanup()


def test_setup_script_writes_the_pages_configuration(example):
    apache, _ = example
    site = os.path.join(apache.root, 'site')
    with open(os.path.join(site, 'apache', 'trac.wsgi')) as f:
        script = f.read()
    assert script.index('site.addsitedir(') < script.index('import trac.web.main')
    assert "os.environ['TRAC_ENV'] = " in script and "os.environ['PYTHON_EGG_CACHE'] = " in script
    assert 'application = trac.web.main.dispatch_request' in script
    assert 'poolable' not in script   # SQLite: the PostgreSQL lines are not needed
    with open(os.path.join(site, 'trac.conf')) as f:
        conf = f.read()
    assert re.search(r'^WSGIScriptAlias /trac \S+/apache/trac\.wsgi$', conf, re.M)
    assert re.search(r'<Directory \S+/apache>\s+WSGIApplicationGroup %\{GLOBAL\}\s+Require all granted', conf)
    assert '<Location "/trac/login">' in conf and 'AuthType Basic' in conf
    assert not re.search(r'^WSGIPythonHome', conf, re.M)   # the venv comes from site.addsitedir
    # setup.sh is idempotent: a second run keeps the data, and the scripts untouched (Apache
    # would reload a script whose mtime changed).
    scripts = [os.path.join(site, 'apache', 'trac.wsgi'), os.path.join(site, 'deploy', 'cgi-bin', 'trac.wsgi'),
               os.path.join(site, 'trac.conf')]
    before = [os.stat(p).st_mtime_ns for p in scripts]
    make_site(site, '--svn')
    assert [os.stat(p).st_mtime_ns for p in scripts] == before
    assert requests.get(apache.url('/trac/wiki/WikiStart')).status_code == 200


def test_user_session(example):
    apache, _ = example
    base = apache.url('/trac')

    # Anonymous: the wiki, no login yet; the login URL asks for Basic auth.
    r = requests.get(base + '/wiki/WikiStart')
    assert r.status_code == 200 and 'Welcome to Trac' in r.text and logged_in_as(r.text) is None
    r = requests.get(base + '/login')
    assert r.status_code == 401 and r.headers['WWW-Authenticate'].startswith('Basic')
    apache.expect_log(r'AH01617: user admin: authentication failure for "/trac/login": Password Mismatch')
    assert requests.get(base + '/login', auth=('admin', 'wrong')).status_code == 401

    # Logging in: REMOTE_USER reaches Trac, which sets its trac_auth cookie.
    s = login(base)
    assert logged_in_as(s.get(base + '/wiki/WikiStart').text) == 'admin'

    # A ticket through the web form (form token and its cookie).
    ticket = create_ticket(s, base, 'Ticket from the mod_swiftwsgi test suite', 'Description with ünïcode.')
    page = s.get(base + '/ticket/%d' % ticket).text
    assert 'Ticket from the mod_swiftwsgi test suite' in page and 'ünïcode' in page
    # Without the form token the POST is refused.
    r = s.post(base + '/newticket', data={'field_summary': 'no token', 'submit': 'Create ticket'})
    assert r.status_code == 400

    # A comment on the ticket.
    token = form_token(s, base + '/ticket/%d' % ticket)
    page = s.get(base + '/ticket/%d' % ticket).text
    times = dict(re.findall(r'name="(start_time|view_time)"\s+value="(\d+)"', page))
    r = s.post(base + '/ticket/%d' % ticket, data=dict(
        times, __FORM_TOKEN=token, comment='A comment, through the module.', action='leave',
        submit='Submit changes'))
    assert r.status_code == 200 and 'A comment, through the module.' in r.text, r.text[:2000]

    # A wiki page: create it, then edit it.
    for version, text in ((0, '= Test page =\nFirst version.'),
                          (1, '= Test page =\nEdited through mod_swiftwsgi, version two.')):
        token = form_token(s, base + '/wiki/TestPage?action=edit')
        r = s.post(base + '/wiki/TestPage', data={'__FORM_TOKEN': token, 'action': 'edit', 'version': str(version),
                                                  'text': text, 'comment': 'edit %d' % version,
                                                  'save': 'Submit changes'})
        assert r.status_code == 200 and 'Your changes have been saved in version %d' % (version + 1) in r.text
    assert 'Edited through mod_swiftwsgi, version two.' in s.get(base + '/wiki/TestPage').text
    history = s.get(base + '/wiki/TestPage?action=history').text
    assert 'href="/trac/wiki/TestPage?version=2"' in history and 'edit 1' in history

    # A binary attachment of several MB, uploaded through the form and downloaded byte-identical.
    url = base + '/attachment/ticket/%d/?action=new' % ticket
    token = form_token(s, url)
    r = s.post(url, data={'__FORM_TOKEN': token, 'action': 'new', 'realm': 'ticket', 'id': str(ticket),
                          'description': 'five megabytes'},
               files={'attachment': ('blob.bin', BIG, 'application/octet-stream')})
    assert r.status_code == 200 and 'blob.bin' in r.text, r.text[:2000]
    for _ in range(3):  # on the same keep-alive connection, several times
        r = s.get(base + '/raw-attachment/ticket/%d/blob.bin' % ticket)
        assert r.status_code == 200 and r.headers['Content-Length'] == str(len(BIG))
        assert r.content == BIG
    r = requests.get(base + '/attachment/ticket/%d/blob.bin?format=raw' % ticket)   # anonymous too
    assert r.status_code == 200 and r.content == BIG

    # Timeline and search see all of it.
    timeline = s.get(base + '/timeline', params={'daysback': '1', 'ticket': 'on', 'wiki': 'on'}).text
    assert 'Ticket from the mod_swiftwsgi test suite' in timeline and 'TestPage' in timeline
    found = s.get(base + '/search', params={'q': 'swiftwsgi', 'ticket': 'on', 'wiki': 'on'}).text
    assert '/ticket/%d' % ticket in found and '/wiki/TestPage' in found

    # Not found: an unknown path, a missing ticket, a missing attachment.
    r = s.get(base + '/no/such/page')
    assert r.status_code == 404 and 'No handler matched request' in r.text
    assert s.get(base + '/ticket/999999').status_code == 404
    assert s.get(base + '/raw-attachment/ticket/%d/missing.bin' % ticket).status_code == 404

    # Static resources: Last-Modified, then 304 for If-Modified-Since.
    css = s.get(base + '/chrome/common/css/trac.css')
    assert css.status_code == 200 and 'text/css' in css.headers['Content-Type']
    again = s.get(base + '/chrome/common/css/trac.css', headers={'If-Modified-Since': css.headers['Last-Modified']})
    assert again.status_code == 304 and again.content == b''
    png = requests.get(base + '/chrome/common/trac_logo_mini.png')
    assert png.status_code == 200 and png.content.startswith(b'\x89PNG')
    r = requests.get(base + '/chrome/common/trac_logo_mini.png',
                     headers={'If-Modified-Since': png.headers['Last-Modified']})
    assert r.status_code == 304

    # Logging out (a POST with the form token) ends the session.
    token = form_token(s, base + '/wiki/WikiStart')
    r = s.post(base + '/logout', data={'__FORM_TOKEN': token})
    assert r.status_code == 200 and logged_in_as(r.text) is None


def test_about_page_shows_the_module(example):
    apache, _ = example
    version, process_group, application_group = eval(apache.module_version())
    s = login(apache.url('/trac'))
    line = about(s, apache.url('/trac'))
    assert application_group == ''   # %{GLOBAL}, as mod_wsgi reports it
    assert line == expected_about(version, process_group, application_group), line
    assert line.endswith('WSGIApplicationGroup %{GLOBAL})')   # the <Directory> block's group


def test_subversion_browser_and_export(example):
    apache, rev = example
    base = apache.url('/trac')
    r = requests.get(base + '/browser/trunk')
    assert r.status_code == 200 and 'README.txt' in r.text and 'data' in r.text, r.text[-3000:]
    r = requests.get(base + '/browser/trunk/data')
    assert r.status_code == 200 and 'big.bin' in r.text
    r = requests.get(base + '/browser/trunk/README.txt')
    assert r.status_code == 200 and 'Hello from Subversion.' in r.text
    assert requests.get(base + '/changeset/%d' % rev).status_code == 200
    assert 'text and binary' in requests.get(base + '/log/trunk').text
    r = requests.get(base + '/export/%d/trunk/README.txt' % rev)
    assert r.status_code == 200 and r.content == README
    with requests.Session() as s:
        for _ in range(2):
            r = s.get(base + '/export/%d/trunk/data/big.bin' % rev)
            assert r.status_code == 200 and r.content == BIG, (r.status_code, len(r.content))
    # A commit made while Trac runs shows up (sync_per_request).
    rev2 = tracsite.svn_commit(os.path.join(apache.root, 'site', 'svn', 'mysite'),
                               {'README.txt': README + b'Second revision.\n'}, 'second commit')
    r = requests.get(base + '/export/%d/trunk/README.txt' % rev2)
    assert r.status_code == 200 and r.content.endswith(b'Second revision.\n')
    assert requests.get(base + '/browser/trunk/no-such-file').status_code == 404


# ---- several environments --------------------------------------------------------------------

PROJECTS = ('alpha', 'beta', 'gamma')

PROJECTS_CONFIG = '''
WSGIPythonHome {venv}

# The page's script with TRAC_ENV_PARENT_DIR (setup.sh writes it for several projects).
WSGIScriptAlias /projects {site}/apache/trac.wsgi
# trac-admin deploy's script: one environment (alpha) ...
WSGIScriptAlias /trac {site}/deploy/cgi-bin/trac.wsgi
# ... or, with trac.env_parent_dir in the request's environ, all of them.
WSGIScriptAlias /envs {site}/deploy/cgi-bin/trac.wsgi
<Location /envs>
    SetEnv trac.env_parent_dir {site}/projects
</Location>

# The page's <Directory> blocks, Order/Allow as written there (mod_access_compat).
<Directory {site}/apache>
    WSGIApplicationGroup %{GLOBAL}
    Order deny,allow
    Allow from all
</Directory>
<Directory {site}/deploy/cgi-bin>
    WSGIApplicationGroup %{GLOBAL}
    Order deny,allow
    Allow from all
</Directory>

<LocationMatch "^/(trac|projects/[^/]+|envs/[^/]+)/login$">
    AuthType Basic
    AuthName "Trac"
    AuthUserFile "{site}/htpasswd"
    Require valid-user
</LocationMatch>
'''


@pytest.fixture(scope='module')
def projects():
    venv = tracsite.venv()
    # Outside the Apache root, which the harness opens with Require: only the page's
    # Order/Allow lines open the site.
    site = tempfile.mkdtemp(prefix='swiftwsgi-trac-site-')
    os.chmod(site, 0o755)
    apache = TracApache(PROJECTS_CONFIG.replace('{venv}', venv).replace('{site}', site))
    try:
        args = ['--svn']
        for p in PROJECTS:
            args += ['--project', p]
        make_site(site, *args)
        rev = tracsite.svn_commit(os.path.join(site, 'svn', 'beta'), {'data/big.bin': BIG}, 'binary in beta')
        apache.start()
        yield apache, site, rev
        apache.finish()
    finally:
        apache.cleanup()
        shutil.rmtree(site, ignore_errors=True)


def test_parent_dir_script_and_project_index(projects):
    apache, site, _ = projects
    with open(os.path.join(site, 'apache', 'trac.wsgi')) as f:
        assert "os.environ['TRAC_ENV_PARENT_DIR'] = %r" % os.path.join(site, 'projects') in f.read()
    for mount in ('/projects', '/envs'):
        index = requests.get(apache.url(mount + '/'))
        assert index.status_code == 200 and 'Available Projects' in index.text, index.text[:2000]
        for p in PROJECTS:
            assert 'href="%s/%s"' % (mount, p) in index.text, index.text
        for p in PROJECTS:
            r = requests.get(apache.url('%s/%s/wiki/WikiStart' % (mount, p)))
            assert r.status_code == 200 and re.search(r'<title>\s*%s\s*</title>' % p, r.text), r.text[:600]
        assert requests.get(apache.url(mount + '/nosuchproject/wiki')).status_code == 404


def test_deploy_script(projects):
    apache, site, _ = projects
    with open(os.path.join(site, 'deploy', 'cgi-bin', 'trac.wsgi')) as f:
        assert 'def application(environ, start_request)' in f.read()
    r = requests.get(apache.url('/trac/wiki/WikiStart'))
    assert r.status_code == 200 and re.search(r'<title>\s*alpha\s*</title>', r.text)
    s = login(apache.url('/trac'))
    ticket = create_ticket(s, apache.url('/trac'), 'Ticket in alpha through the deploy script')
    # The same environment through the page's script sees it.
    r = requests.get(apache.url('/projects/alpha/ticket/%d' % ticket))
    assert 'Ticket in alpha through the deploy script' in r.text


def test_projects_are_separate(projects):
    apache, _, _ = projects
    s = login(apache.url('/projects/beta'))
    assert s.get(apache.url('/projects/beta/admin')).status_code == 200
    ticket = create_ticket(s, apache.url('/projects/beta'), 'Only in beta')
    assert 'Only in beta' in requests.get(apache.url('/envs/beta/ticket/%d' % ticket)).text
    r = requests.get(apache.url('/projects/gamma/ticket/%d' % ticket))
    assert 'Only in beta' not in r.text
    # The login of one project is not the login of another.
    assert logged_in_as(s.get(apache.url('/projects/gamma/wiki/WikiStart')).text) is None
    assert s.get(apache.url('/projects/gamma/admin')).status_code in (403, 404)
    g = login(apache.url('/envs/gamma'))
    line = about(g, apache.url('/envs/gamma'))
    assert 'WSGIApplicationGroup %{GLOBAL}' in line


def test_subversion_through_the_venv(projects):
    apache, _, rev = projects
    # WSGIPythonHome is the venv: Debian's bindings come through the venv's .pth file.
    r = requests.get(apache.url('/projects/beta/browser/trunk/data'))
    assert r.status_code == 200 and 'big.bin' in r.text
    r = requests.get(apache.url('/envs/beta/export/%d/trunk/data/big.bin' % rev))
    assert r.status_code == 200 and r.content == BIG
