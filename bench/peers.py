"""The other Python servers bench/compare.py measures beside mod_swiftwsgi and mod_wsgi: Granian,
uWSGI and gunicorn from PyPI, each installed on first use into a cached venv of the Python the
module embeds (/var/cache/swiftwsgi-bench/NAME-pyXY; BENCH_CACHE overrides the folder), and
mod_wsgi 6.1.1 from PyPI built for that Python. Each server runs the same hello-world
application; behind Apache they are reached through mod_proxy_http (Granian, gunicorn) or
mod_proxy_uwsgi (uWSGI), as their documentation deploys them."""

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CACHE = os.environ.get('BENCH_CACHE', '/var/cache/swiftwsgi-bench')

# What pip installs for each peer (the versions measured are printed with the results).
REQUIREMENTS = {
    'granian': 'granian',
    'gunicorn': 'gunicorn',
    'uwsgi': 'uwsgi',
    'mw611': 'mod_wsgi==6.1.1',
}


def venv(name, python):
    """The cached venv holding peer `name` for `python` (made and installed on first use, a few
    minutes for uWSGI and mod_wsgi, which compile)."""
    version = subprocess.run([python, '-c', 'import sys; print("%d%d" % sys.version_info[:2])'],
                             capture_output=True, text=True, check=True).stdout.strip()
    path = os.path.join(CACHE, '%s-py%s' % (name, version))
    marker = os.path.join(path, '.installed')
    if not os.path.exists(marker):
        os.makedirs(CACHE, exist_ok=True)
        print('installing %s into %s ...' % (REQUIREMENTS[name], path), flush=True)
        subprocess.run([python, '-m', 'venv', '--clear', path], check=True)
        r = subprocess.run([os.path.join(path, 'bin', 'pip'), 'install', '-q', REQUIREMENTS[name]],
                           capture_output=True, text=True)
        if r.returncode != 0:
            shutil.rmtree(path, ignore_errors=True)
            sys.exit('pip could not install %s: %s' % (REQUIREMENTS[name], r.stderr[-800:]))
        open(marker, 'w').close()
    return path


def installed_version(path, distribution):
    r = subprocess.run([os.path.join(path, 'bin', 'python'), '-c',
                        'import importlib.metadata as m; print(m.version(%r))' % distribution],
                       capture_output=True, text=True)
    return r.stdout.strip() or '?'


def mod_wsgi_611(python):
    """The module of mod_wsgi 6.1.1 from PyPI built for python (its venv is its WSGIPythonHome)."""
    path = venv('mw611', python)
    return subprocess.run([os.path.join(path, 'bin', 'mod_wsgi-express'), 'module-location'],
                          capture_output=True, text=True, check=True).stdout.strip()


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(('127.0.0.1', port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


class Peer:
    """One server process group (its own session, stopped as a whole) serving app_source's
    `application` on a loopback port."""

    def __init__(self, name, python, app_source, workers=2, threads=16):
        self.name = name
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix='bench-%s-' % name)
        with open(os.path.join(self.dir, 'benchapp.py'), 'w') as f:
            f.write(app_source)
        self.venv = venv(name, python)
        bin_ = os.path.join(self.venv, 'bin')
        self.log = open(os.path.join(self.dir, 'server.log'), 'w')
        if name == 'granian':
            cmd = [os.path.join(bin_, 'granian'), '--interface', 'wsgi', '--host', '127.0.0.1', '--port',
                   str(self.port), '--workers', str(workers), '--no-ws', '--log-level', 'warning', 'benchapp:application']
            self.version = 'Granian ' + installed_version(self.venv, 'granian')
        elif name == 'gunicorn':
            cmd = [os.path.join(bin_, 'gunicorn'), '--bind', '127.0.0.1:%d' % self.port, '--workers', str(workers),
                   '--worker-class', 'gthread', '--threads', str(threads), '--log-level', 'warning',
                   'benchapp:application']
            self.version = 'gunicorn %s (gthread)' % installed_version(self.venv, 'gunicorn')
        elif name == 'uwsgi':
            cmd = [os.path.join(bin_, 'uwsgi'), '--socket', '127.0.0.1:%d' % self.port, '--master', '--processes',
                   str(workers), '--threads', str(threads), '--module', 'benchapp:application', '--disable-logging',
                   '--need-app', '--die-on-term']
            self.version = 'uWSGI ' + installed_version(self.venv, 'uwsgi')
        else:
            raise ValueError(name)
        self.process = subprocess.Popen(cmd, cwd=self.dir, stdout=self.log, stderr=subprocess.STDOUT,
                                        start_new_session=True, env={'PATH': '/usr/bin:/bin', 'LANG': 'C.UTF-8',
                                                                     'PYTHONPATH': self.dir})
        if not wait_port(self.port):
            self.stop()
            raise RuntimeError('%s did not start:\n%s' % (name, open(os.path.join(self.dir, 'server.log')).read()))

    def pids(self):
        out = subprocess.run(['ps', '-eo', 'pid=,sid='], capture_output=True, text=True).stdout
        return [int(p) for p, s in (l.split() for l in out.splitlines()) if int(s) == self.process.pid]

    def stop(self):
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)
