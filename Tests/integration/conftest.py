"""Fixtures: a private Apache per test module (and per MPM), and an error-log check after
every test that fails it on crashes and on error lines it did not declare expected.

Run (as root, from the repository root):
    /usr/bin/python3 -m pytest Tests/integration
Environment:
    SWIFTWSGI_MODULE  the module to load as wsgi_module (default: build/mod_swiftwsgi.so);
                      /usr/lib/apache2/modules/mod_wsgi.so runs the suite against Debian's
                      mod_wsgi, skipping the tests marked ours_only
    SWIFTWSGI_MPMS    MPMs to run each server module under (default: event,prefork)
    SWIFTWSGI_OURS    1/0: whether the module is mod_swiftwsgi (default: guessed from its name)
    SWIFTWSGI_PYTHON  the interpreter the module embeds, for a module built with
                      `make PYTHON=...` (default: Debian's /usr/bin/python3.11)
    SWIFTWSGI_PRELOAD, SWIFTWSGI_SANITIZER_LOGS  set by scripts/sanitize-test (see harness.py):
                      any sanitizer report written during a test fails it
"""

import os

import pytest

from harness import Apache, DEBIAN_PYTHON, ONE_PREFORK_CHILD, OURS, new_sanitizer_reports, sanitizer_reports

MPMS = [m for m in os.environ.get('SWIFTWSGI_MPMS', 'event,prefork').split(',') if m]


def pytest_configure(config):
    config.addinivalue_line('markers', 'ours_only: behaviour mod_swiftwsgi has and Debian\'s mod_wsgi lacks')
    config.addinivalue_line('markers', 'single_mpm: run under the first MPM only')
    config.addinivalue_line('markers', 'threaded_mpm: needs several worker threads per child (skipped under prefork)')


def pytest_collection_modifyitems(config, items):
    if not DEBIAN_PYTHON:
        # examples/trac/setup.sh gives Trac Debian's Subversion bindings (python3-subversion),
        # which exist for Debian's Python 3.11 only.
        trac = pytest.mark.skip(reason="Trac needs Debian's Subversion bindings, built for Debian's Python 3.11 only")
        # These build their venvs with Debian's /usr/bin/python3.11 (Mercurial's C extensions,
        # mod_wsgi-express's generated WSGIPythonHome), which another Python cannot load.
        debian_venv = pytest.mark.skip(reason="its cached venv is of Debian's Python 3.11, not the module's")
        for item in items:
            if item.module.__name__.startswith('test_trac'):
                item.add_marker(trac)
            elif item.module.__name__ in ('test_mercurial', 'test_mod_wsgi_express'):
                item.add_marker(debian_venv)
    if OURS:
        return
    skip = pytest.mark.skip(reason='mod_swiftwsgi only (running against mod_wsgi)')
    for item in items:
        if 'ours_only' in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _skip_unthreaded(request):
    if 'threaded_mpm' in request.keywords and 'server' in request.fixturenames:
        if request.getfixturevalue('server').mpm == 'prefork':
            pytest.skip('needs a threaded MPM')


def _mpms(module):
    if getattr(module, 'SINGLE_MPM', False):
        return MPMS[:1]
    return MPMS


def pytest_generate_tests(metafunc):
    if 'server' in metafunc.fixturenames:
        metafunc.parametrize('mpm', _mpms(metafunc.module), scope='module')


@pytest.fixture(scope='module')
def server(request, mpm):
    """The module's Apache: CONFIG (snippet) and APPS (file name -> source) from the module."""
    module = request.module
    # MPM_SETTINGS: {mpm: settings} replacing harness.MPM_SETTINGS' (e.g. a single child).
    apache = Apache(getattr(module, 'CONFIG', ''), getattr(module, 'APPS', {}), mpm=mpm,
                    files=getattr(module, 'FILES', {}), mpm_settings=getattr(module, 'MPM_SETTINGS', {}).get(mpm))
    setup = getattr(module, 'setup_server', None)
    if setup:
        setup(apache)
    apache.start()
    yield apache
    before = sanitizer_reports()
    apache.stop()
    tail = apache.log()
    apache.cleanup()
    reports = new_sanitizer_reports(before)
    assert not reports, 'sanitizer reports while the server stopped:\n' + '\n'.join(reports)
    # Debian's mod_wsgi 4.9.4 with Python 3.11 leaves embedded-mode children hanging in
    # Py_Finalize at stop, so Apache kills them (GrahamDumpleton/mod_wsgi#799, #730): a clean
    # stop is checked for mod_swiftwsgi only.
    if OURS:
        bad = [line for line in tail.splitlines() if 'still did not exit' in line or 'AH00046' in line]
        assert not bad, 'Apache had to kill children at stop:\n' + '\n'.join(bad)


@pytest.fixture(scope='module')
def one_child(request):
    """The module's CONFIG and APPS in an Apache with exactly one prefork child, for tests that
    watch one process (its memory, its allocated blocks). No error-log check: the tests read
    the log themselves."""
    module = request.module
    apache = Apache(getattr(module, 'CONFIG', ''), getattr(module, 'APPS', {}), mpm='prefork',
                    mpm_settings=ONE_PREFORK_CHILD)
    apache.start()
    yield apache
    apache.cleanup()


@pytest.fixture(autouse=True)
def check_error_log(request):
    """Fails the test on crash lines or undeclared error lines written during it."""
    if 'server' not in request.fixturenames:
        yield
        return
    apache = request.getfixturevalue('server')
    start = apache.log_size()
    yield
    bad = apache.unexpected_lines(start)
    assert not bad, 'unexpected error-log lines:\n' + '\n'.join(bad)


@pytest.fixture(autouse=True)
def check_sanitizer_reports():
    """Fails the test on any AddressSanitizer/UndefinedBehaviorSanitizer report written during it
    (sanitizer runs only: scripts/sanitize-test)."""
    before = sanitizer_reports()
    yield
    reports = new_sanitizer_reports(before)
    assert not reports, 'sanitizer reports:\n' + '\n'.join(reports)
