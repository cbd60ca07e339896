#!/usr/bin/python3
"""Load-independent costs of one request: instructions (callgrind) and system calls (strace),
per request, for ours and a reference mod_wsgi and Apache's own static file, so that changes
to the request path can be compared on a busy machine where wall-clock figures are noise.

    bench/counts.py instructions [--scenario hello|daemon|static|file] [--requests 2000]
                                 [--module PATH] [--top 40] [--keep DIR]
    bench/counts.py syscalls     [--scenario ...] [--requests 2000] [--module PATH]

`instructions` runs Apache (event MPM, one child) under valgrind --tool=callgrind with
collection off; after a warm-up it switches collection on in the Apache child (and, in daemon
mode, in the daemon process), sends --requests keep-alive requests one at a time (ab -k -c1),
dumps and prints instructions per request for each process: the total, by shared object
(Apache and APR, our shim, our Swift host, libpython, libc, ...) and the functions with the
most inclusive cost. `syscalls` attaches strace -c -f to the same processes (no valgrind) and
prints system calls per request by name.

--module is the module under test (default: ours, build/mod_swiftwsgi.so, or SWIFTWSGI_MODULE):
give /usr/lib/apache2/modules/mod_wsgi.so (mod_wsgi 4.9) or a PyPI build's module-location
(mod_wsgi 6: WSGIPythonHome is set to its venv) for the reference figures. `static` serves
Apache's own 13-byte file (no WSGI module in the request path).
"""

import argparse
import collections
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, '..', 'Tests', 'integration'))
from harness import APACHE, Apache, MODULE  # noqa: E402
sys.path.insert(0, HERE)
from compare import FILE_APP, HELLO, pypi_home  # noqa: E402

ONE_CHILD = ('StartServers 1\nServerLimit 1\nThreadsPerChild 4\nMaxRequestWorkers 4\n'
             'MinSpareThreads 1\nMaxSpareThreads 4')

SCENARIOS = {
    'hello': ('WSGIScriptAlias /hello {apps}/hello.wsgi application-group=%{GLOBAL}\n', '/hello'),
    'daemon': ('WSGIDaemonProcess bench processes=1 threads=4\n'
               'WSGIScriptAlias /hello {apps}/hello.wsgi process-group=bench application-group=%{GLOBAL}\n',
               '/hello'),
    'static': ('Alias /static/ {root}/static/\n', '/static/hello.txt'),
    'file': ('WSGIScriptAlias /file {apps}/file.wsgi application-group=%{GLOBAL}\n'
             'SetEnv BENCH_FILE {root}/static/small\n', '/file'),
}

# How shared objects are grouped in the report.
GROUPS = [
    (r'/apache2$|mod_[a-z_]+\.so$|libapr', 'Apache + APR'),
    (r'mod_swiftwsgi[^/]*\.so$', 'our shim (C)'),
    (r'libswiftwsgi[^/]*\.so$', 'our host (Swift)'),
    (r'mod_wsgi[^/]*\.so$', 'mod_wsgi'),
    (r'libpython', 'libpython'),
    (r'libc\.so|ld-linux|libm\.so', 'libc'),
]


def group_of(obj):
    for pattern, name in GROUPS:
        if re.search(pattern, obj):
            return name
    return os.path.basename(obj) or '?'


class ValgrindApache(Apache):
    """An Apache whose processes all run under callgrind (each writes its counts at exit).
    With toggle, only what runs inside that function is counted."""

    def __init__(self, *a, outdir, toggle=None, **kw):
        super().__init__(*a, **kw)
        self.outdir = outdir
        self.toggle = toggle

    def start(self, timeout=300):
        rc, out = self.configtest()
        if rc != 0:
            raise RuntimeError('configtest failed:\n' + out)
        cmd = ['valgrind', '--tool=callgrind', '--callgrind-out-file=%s/callgrind.%%p' % self.outdir,
               '--log-file=%s/valgrind.%%p' % self.outdir]
        if self.toggle:
            cmd += ['--collect-atstart=no', '--toggle-collect=' + self.toggle]
        subprocess.run(cmd + [APACHE, '-f', self.conf, '-k', 'start'], env=self.env(), check=True)
        deadline = time.time() + timeout
        import socket
        while time.time() < deadline:
            try:
                with socket.create_connection(('127.0.0.1', self.port), timeout=1):
                    return self
            except OSError:
                time.sleep(0.2)
        raise RuntimeError('Apache did not start:\n' + self.log())

    def stop(self, timeout=300):
        super().stop(timeout)
        # The children write their files as they exit, after the parent is gone.
        time.sleep(2)


def make_server(args, cls=Apache, **kw):
    config, path = SCENARIOS[args.scenario]
    module = os.path.abspath(args.module)
    home = pypi_home(module)
    if home:
        config = 'WSGIPythonHome %s\n' % home + config
    files = {'static/hello.txt': b'Hello World!\n', 'static/small': b'x' * 1024}
    apps = {'hello.wsgi': HELLO, 'file.wsgi': FILE_APP}
    a = cls(config, apps, mpm='event', loglevel='warn', module=module, files=files, mpm_settings=ONE_CHILD, **kw)
    return a, path


def processes(a, daemon):
    """(label, pid) of the Apache child and, in daemon mode, the daemon process: both are
    forked from Apache's parent; the child is the one holding the listening socket."""
    return [('child' if not daemon or holds_listener(pid, a.port) else 'daemon', pid) for pid in a.children()]


def holds_listener(pid, port):
    """Whether pid has the TCP listening socket on port open (Apache's children do; daemon
    processes close it)."""
    inodes = set()
    with open('/proc/net/tcp') as f:
        for line in f.readlines()[1:]:
            fields = line.split()
            if fields[3] == '0A' and int(fields[1].split(':')[1], 16) == port:
                inodes.add(fields[9])
    try:
        for fd in os.listdir('/proc/%d/fd' % pid):
            try:
                link = os.readlink('/proc/%d/fd/%s' % (pid, fd))
            except OSError:
                continue
            m = re.match(r'socket:\[(\d+)\]', link)
            if m and m.group(1) in inodes:
                return True
    except OSError:
        pass
    return False


def ab(port, path, n, concurrency=1):
    """Sends n keep-alive requests. With one connection every answer must be good; with more,
    ab (slowed by strace) miscounts some of its own keep-alive answers as failed "Length"."""
    out = subprocess.run(['ab', '-k', '-c%d' % concurrency, '-n', str(n), '-s', '600', 'http://127.0.0.1:%d%s' % (port, path)],
                         capture_output=True, text=True).stdout
    failed = re.search(r'Failed requests:\s+(\d+)', out)
    non2xx = re.search(r'Non-2xx responses:\s+(\d+)', out)
    done = re.search(r'Complete requests:\s+(\d+)', out)
    if not done or int(done.group(1)) != n or non2xx or (concurrency == 1 and failed and int(failed.group(1))):
        raise RuntimeError('ab did not complete %d good requests:\n%s' % (n, out))


def callgrind_control(*args):
    return subprocess.run(['callgrind_control'] + list(args), capture_output=True, text=True)


def parse_callgrind(path):
    """{object: exclusive Ir} and [(inclusive Ir, function)] from callgrind_annotate."""
    excl = subprocess.run(['callgrind_annotate', '--auto=no', '--threshold=100', path], capture_output=True,
                          text=True).stdout
    incl = subprocess.run(['callgrind_annotate', '--auto=no', '--inclusive=yes', '--threshold=100', path],
                          capture_output=True, text=True).stdout
    total = 0
    m = re.search(r'^\s*([\d,]+) \(100\.0%\)\s+PROGRAM TOTALS', excl, re.M)
    if m:
        total = int(m.group(1).replace(',', ''))
    line = re.compile(r'^\s*([\d,]+) \(\s*[\d.]+%\)\s+(.*?)(?: \[(.*)\])?$')
    by_object = collections.Counter()
    functions = []
    for text, target in ((excl, 'excl'), (incl, 'incl')):
        body = text.split('file:function', 1)[-1]
        for l in body.splitlines():
            m = line.match(l)
            if not m or 'PROGRAM TOTALS' in l or '=>' in l:
                continue
            ir = int(m.group(1).replace(',', ''))
            if target == 'excl':
                by_object[group_of(m.group(3) or '?')] += ir
            else:
                functions.append((ir, m.group(2)))
    return total, by_object, functions


def demangle(names):
    p = subprocess.run(['swift', 'demangle', '--simplified'], input='\n'.join(names), capture_output=True, text=True)
    if p.returncode != 0:
        return names
    out = p.stdout.splitlines()
    return out if len(out) == len(names) else names


def callgrind_run(args, requests, outdir, toggle):
    """One Apache under callgrind serving `requests` requests after the warm-up; {role: file}
    of the counts each process wrote at exit."""
    a, path = make_server(args, ValgrindApache, outdir=outdir, toggle=toggle)
    try:
        a.start()
        ab(a.port, path, args.warmup)
        roles = processes(a, args.scenario == 'daemon')
        if requests:
            ab(a.port, path, requests)
    finally:
        a.cleanup()
    return {role: '%s/callgrind.%d' % (outdir, pid) for role, pid in roles}


def instructions(args):
    """Per-request instructions as the difference between a run of warm-up + N requests and
    a run of the warm-up alone (start-up, the first request's imports and shutdown cancel
    out). The Apache child counts only inside ap_run_process_connection (the request's
    processing; not the event MPM's hand-offs between listener and workers, nor idle
    wake-ups); a daemon process counts everything, in a second pair of runs."""
    outdir = args.keep or tempfile.mkdtemp(prefix='counts-')
    os.makedirs(outdir, exist_ok=True)
    os.chmod(outdir, 0o777)  # Apache's children write their files as its User
    passes = [('child', 'ap_run_process_connection')]
    if args.scenario == 'daemon':
        passes.append(('daemon', None))
    n = args.requests
    print('%s, %s, %d requests (ab -k -c1), instructions per request (callgrind Ir, run of warm-up + %d '
          'requests less a run of the warm-up alone):' % (args.scenario, os.path.basename(args.module), n, n))
    try:
        for role, toggle in passes:
            files = []
            for count in (0, n):
                sub = os.path.join(outdir, '%s-%d' % (role, count))
                os.makedirs(sub, exist_ok=True)
                os.chmod(sub, 0o777)
                files.append(callgrind_run(args, count, sub, toggle).get(role))
            if not all(f and os.path.exists(f) for f in files):
                print('  %s: no counts (%s)' % (role, files))
                continue
            (t0, o0, f0), (t1, o1, f1) = parse_callgrind(files[0]), parse_callgrind(files[1])
            total = (t1 - t0) / n
            print('\n  %s%s: %.0f per request' % (role, ' (inside ap_run_process_connection)' if toggle else '', total))
            objects = {g: (o1[g] - o0.get(g, 0)) / n for g in o1}
            for g, ir in sorted(objects.items(), key=lambda x: -x[1]):
                if ir >= 50:
                    print('    %-22s %8.0f  %4.1f%%' % (g, ir, 100.0 * ir / total if total else 0))
            before = {name: ir for ir, name in f0}
            rows = sorted(((ir - before.get(name, 0)) / n, name) for ir, name in f1)[::-1][:args.top]
            names = demangle([name for _, name in rows])
            print('    inclusive, per request:')
            for (ir, _), name in zip(rows, names):
                print('    %9.0f  %s' % (ir, name[:160]))
    finally:
        if not args.keep:
            shutil.rmtree(outdir, ignore_errors=True)


def syscalls(args):
    a, path = make_server(args)
    try:
        a.start()
        ab(a.port, path, args.warmup)
        procs = processes(a, args.scenario == 'daemon')
        tracers = []
        for label, pid in procs:
            out = tempfile.mktemp(prefix='strace-%s-' % label)
            t = subprocess.Popen(['strace', '-c', '-f', '-q', '-o', out, '-p', str(pid)],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            tracers.append((label, pid, t, out))
        time.sleep(1.5)
        ab(a.port, path, args.requests, args.concurrency)
        time.sleep(0.5)
        print('%s, %s, %d requests (ab -k -c%d), system calls per request (strace -c -f):'
              % (args.scenario, os.path.basename(args.module), args.requests, args.concurrency))
        for label, pid, t, out in tracers:
            t.send_signal(signal.SIGINT)
            t.wait(timeout=30)
            text = open(out).read()
            os.unlink(out)
            rows = []
            for l in text.splitlines():
                f = l.split()
                if len(f) >= 5 and f[0][0].isdigit() and f[-1] != 'total':
                    calls = int(f[3])
                    rows.append((calls, f[-1]))
            rows.sort(reverse=True)
            total = sum(c for c, _ in rows)
            print('\n  %s (pid %d): %.2f per request' % (label, pid, total / args.requests))
            for c, name in rows:
                if c / args.requests >= 0.01:
                    print('    %-20s %.2f' % (name, c / args.requests))
    finally:
        a.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=['instructions', 'syscalls'])
    p.add_argument('--scenario', default='hello', choices=sorted(SCENARIOS))
    p.add_argument('--requests', type=int, default=2000)
    p.add_argument('--warmup', type=int, default=300)
    p.add_argument('--module', default=MODULE)
    p.add_argument('--top', type=int, default=40)
    p.add_argument('--concurrency', type=int, default=1,
                   help='syscalls: concurrent connections (futex calls then show GIL and MPM contention)')
    p.add_argument('--keep', metavar='DIR', help='instructions: keep the callgrind files in DIR')
    args = p.parse_args()
    {'instructions': instructions, 'syscalls': syscalls}[args.what](args)


if __name__ == '__main__':
    main()
