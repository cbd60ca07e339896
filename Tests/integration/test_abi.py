"""The ABI handshake: the module checks the Swift host library's ABI version and struct sizes
before anything crosses, and refuses a library of another build with a clear message (stop and
start Apache) instead of crashing on a struct of another layout. Three libraries of another ABI:
a stub that refuses the handshake, a stub of a build that predates it (ABI 16), and (the case the
check exists for) the real library still loaded when a graceful restart brings in a module of
another ABI: the library is never unloaded."""

import os
import shutil
import signal
import subprocess
import tempfile
import time

import pytest

from harness import APACHE, MODULE, OURS, REPO, Apache

pytestmark = pytest.mark.skipif(not OURS, reason='mod_swiftwsgi only: the ABI between its shim and its library')

ABI_INCLUDE = os.path.join(REPO, 'Sources', 'CSwiftWSGI', 'include')
# build/mod_swiftwsgi-py312.so's library is build/libswiftwsgi-py312.so (make PYTHON=...).
LIBRARY_NAME = 'swiftwsgi' + os.path.basename(MODULE)[len('mod_swiftwsgi'):-len('.so')]
HOST_LIBRARY = os.path.join(os.path.dirname(MODULE), 'lib%s.so' % LIBRARY_NAME)
REFUSAL = 'stop Apache and start it again'

CONFIG = """
WSGIScriptAlias /hello {apps}/hello.wsgi
"""
APPS = {'hello.wsgi': 'def application(environ, start_response):\n'
                      '    start_response("200 OK", [("Content-Type", "text/plain")])\n'
                      '    return [b"hello"]\n'}


def library_symbols():
    """The library functions the module references."""
    out = subprocess.run(['nm', '-D', '--undefined-only', MODULE], capture_output=True, text=True, check=True).stdout
    return sorted({line.split()[-1] for line in out.splitlines() if line.split()[-1].startswith('swiftwsgi_')})


def stub_library(directory, handshake):
    """A stub host library beside a copy of the module: every function but the version and the
    handshake aborts when called (a crash the test sees); handshake: the C body of the
    handshake, or None for a library that predates it."""
    lines = ['#include <stdio.h>', '#include <stdlib.h>', '#include <string.h>',
             'int swiftwsgi_abi_version(void) { return 16; }']
    for name in library_symbols():
        if name in ('swiftwsgi_abi_version', 'swiftwsgi_abi_handshake'):
            continue
        lines.append('void %s(void) { fprintf(stderr, "STUB: %s called\\n"); abort(); }' % (name, name))
    if handshake is not None:
        lines.append('int swiftwsgi_abi_handshake(int version, const size_t *sizes, size_t count, char *error, '
                     'size_t length) { ' + handshake + ' }')
    source = os.path.join(directory, 'stub.c')
    with open(source, 'w') as f:
        f.write('\n'.join(lines) + '\n')
    subprocess.run(['cc', '-shared', '-fPIC', '-o', os.path.join(directory, 'lib%s.so' % LIBRARY_NAME), source],
                   check=True)
    shutil.copy(MODULE, os.path.join(directory, 'mod_swiftwsgi.so'))
    return os.path.join(directory, 'mod_swiftwsgi.so')


FUTURE = ('(void)sizes; (void)count; snprintf(error, length, "the Swift host library speaks ABI 99, '
          'this module ABI %d", version); return -1;')


@pytest.mark.parametrize('handshake', [FUTURE, None], ids=['refuses', 'predates-handshake'])
def test_library_of_another_abi_is_refused_before_anything_crosses(handshake):
    with tempfile.TemporaryDirectory() as directory:
        module = stub_library(directory, handshake)
        apache = Apache(CONFIG, APPS, module=module)
        try:
            rc, out = apache.configtest()
            assert rc != 0, out
            assert 'SWW0910' in out and REFUSAL in out, out
            assert 'ABI 99' in out if handshake else 'speaks ABI 16 (it predates the handshake)' in out, out
            assert 'STUB:' not in out and 'Segmentation' not in out, out
            # Starting fails the same way, and leaves no server running.
            p = subprocess.run([APACHE, '-f', apache.conf, '-k', 'start'], env=apache.env(),
                               capture_output=True, text=True)
            assert p.returncode != 0
            assert REFUSAL in p.stdout + p.stderr and 'STUB:' not in p.stdout + p.stderr
            assert apache.pid() is None
        finally:
            apache.cleanup()


def build_module(directory, abi_version):
    """The module's shim built with another SWIFTWSGI_ABI_VERSION, linked to directory's library."""
    build = os.path.join(directory, 'shim')
    shutil.copytree(os.path.join(REPO, 'apache'), build, ignore=shutil.ignore_patterns('.libs', '*.o', '*.lo', '*.la', '*.slo'))
    sources = sorted(f for f in os.listdir(build) if f.endswith('.c'))
    subprocess.run(['apxs', '-c', '-o', 'mod_swiftwsgi.la', '-I' + ABI_INCLUDE, '-DSWIFTWSGI_SHIM',
                    '-DSWIFTWSGI_ABI_VERSION=%d' % abi_version, *sources, '-L' + directory, '-l' + LIBRARY_NAME,
                    '-Wl,-rpath=' + directory],
                   cwd=build, check=True, capture_output=True)
    return os.path.join(build, '.libs', 'mod_swiftwsgi.so')


def test_graceful_restart_into_a_module_of_another_abi_is_refused():
    with tempfile.TemporaryDirectory() as directory:
        os.chmod(directory, 0o755)
        shutil.copy(HOST_LIBRARY, os.path.join(directory, os.path.basename(HOST_LIBRARY)))
        module = os.path.join(directory, 'mod_swiftwsgi.so')
        shutil.copy(MODULE, module)
        other = build_module(directory, 99)
        apache = Apache(CONFIG, APPS, module=module)
        try:
            apache.start()
            assert apache.get('/hello').status == 200
            parent, children = apache.pid(), apache.children()
            # The upgrade: a new module file, then a graceful restart; the library loaded at start
            # stays (it is never unloaded), so the new module meets a library of another ABI.
            # (`apache2 -k graceful` would load the pair on disk in a process of its own first:
            # after a real upgrade, a new module and a new library, which agree; the signal is
            # what reaches the running server.)
            shutil.copy(other, module + '.new')
            os.rename(module + '.new', module)
            start = apache.log_size()
            os.kill(parent, signal.SIGUSR1)
            assert apache.wait_for_log('SWW0910', start, timeout=20), apache.log(start)
            log = apache.log(start)
            assert 'speaks ABI' in log and 'this module ABI 99' in log and REFUSAL in log, log
            assert 'Segmentation' not in log and 'exit signal' not in log, log
            deadline = time.time() + 20
            while time.time() < deadline and any(alive(p) for p in [parent] + children):
                time.sleep(0.1)
            assert not alive(parent), 'Apache kept running after the refused restart'
        finally:
            for pid in [parent] + children if 'parent' in locals() else []:
                if alive(pid):
                    os.kill(pid, signal.SIGKILL)
            apache.cleanup()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is not running.
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().split(')')[-1].split()[0] != 'Z'
    except OSError:
        return False
