"""The PEP 517 build backend of mod_swiftwsgi's sdist (pyproject.toml names it): `pip install
mod_swiftwsgi-VERSION.tar.gz` builds the module for the Python running pip, as
`pip install mod_wsgi` does, and needs what a source build needs: the Swift 6 toolchain
(`$SWIFT`, else `swift` on PATH or in /opt/swift/usr/bin), Apache's `apxs` (apache2-dev), make, and that
Python's headers and shared libpython. When one is missing it fails at once, saying which, and
where the wheels that need none of them come from.

The wheel it builds is scripts/build-wheel's for this machine: the binaries keep their rpath to
this Python's libpython and the tag is linux_<arch> (`make wheel` makes the portable ones).
`make sdist` (build_sdist) packs the files git tracks plus PKG-INFO.
"""

import importlib.util
import io
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SWIFT_DEFAULT = '/opt/swift/usr/bin'
WHEELS = ('prebuilt wheels need none of this: pip install mod_swiftwsgi-VERSION-cp3X-cp3X-manylinux_2_35_x86_64.whl, '
          'built for your Python with `make wheel PYTHON=/path/to/python3.X` where the toolchain is '
          '(docs/install.md, "With pip")')


def version():
    with open(os.path.join(REPO, 'Sources', 'PythonHost', 'PythonRuntime.swift')) as f:
        m = re.search(r'static let version = \(major: (\d+), minor: (\d+), micro: (\d+)\)', f.read())
    return '.'.join(m.groups())


def missing_prerequisites():
    """What a source build lacks on this machine, as sentences."""
    missing = []
    # $SWIFT names the swift program, as for make; else PATH, else the usual install location.
    swift = os.environ.get('SWIFT')
    if swift:
        found = os.access(swift, os.X_OK)
    else:
        found = shutil.which('swift', path=os.environ.get('PATH', '') + os.pathsep + SWIFT_DEFAULT)
    if not found:
        missing.append('the Swift 6 toolchain (%s; https://www.swift.org/install/linux/)'
                       % ('$SWIFT=%s is not a program' % swift if swift else 'swift is not on PATH nor in ' + SWIFT_DEFAULT))
    if not shutil.which('apxs'):
        missing.append("Apache's apxs (apt-get install apache2-dev)")
    for tool, package in (('make', 'make'), ('readelf', 'binutils'), ('strip', 'binutils')):
        if not shutil.which(tool):
            missing.append('%s (apt-get install %s)' % (tool, package))
    if not sys.version_info[:2] >= (3, 10) or sys.version_info[:2] > (3, 13):
        missing.append('a supported Python: this is %d.%d, mod_swiftwsgi builds for CPython 3.10 to 3.13'
                       % sys.version_info[:2])
    return missing


def _check():
    missing = missing_prerequisites()
    if missing:
        raise SystemExit('mod_swiftwsgi cannot be built from source here: missing %s.\nThe %s.'
                         % ('; '.join(missing), WHEELS))


def get_requires_for_build_wheel(config_settings=None):
    _check()
    return []


def get_requires_for_build_sdist(config_settings=None):
    return []


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    _check()
    env = dict(os.environ, PATH=os.environ.get('PATH', '') + os.pathsep + SWIFT_DEFAULT)
    out = tempfile.mkdtemp(prefix='swiftwsgi-sdist-wheel-')
    # DEFAULT_PYTHON=/nonexistent: the module gets the versioned names (mod_swiftwsgi-py3X.so)
    # even for Debian's python3.11, as the wheel names them.
    command = ['make', '-C', REPO, 'local-wheel', 'PYTHON=' + sys.executable, 'DEFAULT_PYTHON=/nonexistent',
               'WHEEL_OUT=' + out]
    r = subprocess.run(command, env=env, stdout=sys.stderr)
    if r.returncode != 0:
        raise SystemExit('mod_swiftwsgi: %s failed (see above)' % ' '.join(command))
    (name,) = [n for n in os.listdir(out) if n.endswith('.whl')]
    os.makedirs(wheel_directory, exist_ok=True)
    shutil.move(os.path.join(out, name), os.path.join(wheel_directory, name))
    shutil.rmtree(out, ignore_errors=True)
    return name


def _tracked_files():
    r = subprocess.run(['git', '-C', REPO, 'ls-files', '-z'], capture_output=True)
    if r.returncode != 0:
        raise SystemExit('build_sdist needs the git checkout (git ls-files)')
    return [f for f in r.stdout.decode().split('\0') if f and os.path.isfile(os.path.join(REPO, f))]


def build_sdist(sdist_directory, config_settings=None):
    # PKG-INFO is the wheel's METADATA (scripts/build-wheel, a script without .py).
    spec = importlib.util.spec_from_loader('build_wheel_script', loader=None)
    script = importlib.util.module_from_spec(spec)
    script.__file__ = os.path.join(REPO, 'scripts', 'build-wheel')
    with open(script.__file__) as f:
        exec(compile(f.read(), script.__file__, 'exec'), script.__dict__)
    v = version()
    base = 'mod_swiftwsgi-%s' % v
    os.makedirs(sdist_directory, exist_ok=True)
    path = os.path.join(sdist_directory, base + '.tar.gz')
    pkg_info = script.metadata(v, None).encode()

    def clean(info):
        info.uid = info.gid = 0
        info.uname = info.gname = 'root'
        info.mtime = 1577836800
        return info

    with tarfile.open(path, 'w:gz', format=tarfile.PAX_FORMAT) as tar:
        for f in sorted(_tracked_files()):
            tar.add(os.path.join(REPO, f), arcname=base + '/' + f, filter=clean)
        info = clean(tarfile.TarInfo(base + '/PKG-INFO'))
        info.size = len(pkg_info)
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(pkg_info))
    return os.path.basename(path)
