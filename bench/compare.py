#!/usr/bin/python3
"""Side-by-side benchmarks of mod_swiftwsgi against a reference mod_wsgi: Debian's
(libapache2-mod-wsgi-py3, the default) or, with --reference, another build such as mod_wsgi 6 from
PyPI for the Python ours was built for (`make PYTHON=...`):

    SWIFTWSGI_MODULE=build/mod_swiftwsgi-py312.so bench/compare.py hello \
        --reference $(/opt/mw6-py312/bin/mod_wsgi-express module-location)

A PyPI build gets WSGIPythonHome set to its venv, as `mod_wsgi-express module-config` prints
(--reference-home overrides it). Both modules run the same application under identical Apache
settings, in one run, in interleaved rounds (mod_wsgi, ours, mod_wsgi, ours, ...). These
machines are small and noisy: the script prints per-round figures, medians and ratios; quote the ratios.

    bench/compare.py hello   [--mpm event|prefork] [--seconds 5] [--rounds 5]
    bench/compare.py daemon  [--seconds 5] [--rounds 5]     # daemon mode, both modules
    bench/compare.py files   [--rounds 5] [--megabytes 100]  # file_wrapper download + upload, embedded and daemon
    bench/compare.py rss     [--requests 100000]             # one child's RSS over 100k requests
"""

import argparse
import hashlib
import http.client
import os
import re
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'Tests', 'integration'))
from harness import Apache, MODULE  # noqa: E402

MOD_WSGI = '/usr/lib/apache2/modules/mod_wsgi.so'
# Set by main(): the reference module and the WSGIPythonHome it needs ('' for none).
REFERENCE = MOD_WSGI
REFERENCE_HOME = ''


def pypi_home(module):
    """The venv (or prefix) a mod_wsgi from PyPI was installed into, for WSGIPythonHome: such a
    module is <prefix>/lib/pythonX.Y/site-packages/mod_wsgi/server/mod_wsgi-*.so. Without it, a
    mod_wsgi built for a Python outside the system paths finds no standard library (or, for a
    pyenv copy, looks in the original prefix, which Apache's user cannot read). '' otherwise."""
    parts = os.path.realpath(module).split(os.sep)
    if len(parts) > 6 and parts[-4:-1] == ['site-packages', 'mod_wsgi', 'server']:
        return os.sep.join(parts[:-6])
    return ''

HELLO = '''
def application(environ, start_response):
    body = b'Hello World!'
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
'''

FILE_APP = '''
import os
def application(environ, start_response):
    f = open(environ['BENCH_FILE'], 'rb')
    start_response('200 OK', [('Content-Type', 'application/octet-stream')])
    return environ['wsgi.file_wrapper'](f, 65536)
'''

UPLOAD_APP = '''
def application(environ, start_response):
    inp = environ['wsgi.input']
    n = 0
    while True:
        b = inp.read(65536)
        if not b:
            break
        n += len(b)
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(n).encode()]
'''

RSS_APP = '''
def application(environ, start_response):
    body = environ['wsgi.input'].read()
    if environ.get('QUERY_STRING') == 'log':
        environ['wsgi.errors'].write('bench log line\\n')
    start_response('200 OK', [('Content-Type', 'text/plain'), ('X-A', '1'), ('X-B', '2'), ('X-C', str(len(environ)))])
    class Body:
        def __iter__(self):
            yield b'part one;'
            yield body
            yield b';part three'
        def close(self):
            pass
    return Body()
'''

MPM = {
    'event': 'StartServers 2\nServerLimit 4\nThreadsPerChild 25\nMaxRequestWorkers 50\nMinSpareThreads 25\nMaxSpareThreads 75',
    'prefork': 'StartServers 16\nMinSpareServers 16\nMaxSpareServers 32\nServerLimit 40\nMaxRequestWorkers 32',
}


def median(xs):
    return statistics.median(xs) if xs else float('nan')


def wrk(port, path, seconds, connections=16, script=None):
    cmd = ['wrk', '-t2', '-c%d' % connections, '-d%ds' % seconds]
    if script:
        cmd += ['-s', script]
    out = subprocess.run(cmd + ['http://127.0.0.1:%d%s' % (port, path)], capture_output=True, text=True).stdout
    m = re.search(r'Requests/sec:\s+([\d.]+)', out)
    errors = re.search(r'Non-2xx or 3xx responses: (\d+)', out)
    if errors:
        print('  warning: %s non-2xx responses' % errors.group(1))
    return float(m.group(1)) if m else 0.0


def start_pair(config, apps, mpm='event', files=None, settings=None):
    servers = {}
    for name, module in (('mod_wsgi', REFERENCE), ('mod_swiftwsgi', MODULE)):
        if name == 'mod_wsgi' and REFERENCE_HOME:
            config = 'WSGIPythonHome %s\n' % REFERENCE_HOME + config
        a = Apache(config, apps, mpm=mpm, loglevel='warn', module=module, files=files,
                   mpm_settings=settings or MPM[mpm])
        a.start()
        servers[name] = a
        # Apache's start-up line names the module's and the embedded Python's versions.
        deadline = time.time() + 5
        while not re.search(r'AH00489: ', a.log()) and time.time() < deadline:
            time.sleep(0.1)
        banner = re.search(r'AH00489: (.*)', a.log())
        print('%-14s %s: %s' % (name, module, banner.group(1) if banner else '(no start-up line)'))
    return servers


def report(title, results, unit, higher_is_better=True):
    print('\n%s' % title)
    names = list(results)
    for n in names:
        print('  %-14s %s  median %.1f %s' % (n, ' '.join('%.1f' % x for x in results[n]), median(results[n]), unit))
    ours, theirs = median(results['mod_swiftwsgi']), median(results['mod_wsgi'])
    ratio = ours / theirs if higher_is_better else theirs / ours
    print('  ratio mod_swiftwsgi / mod_wsgi: %.2fx' % ratio)
    return ratio


def bench_hello(args, daemon=False):
    if daemon:
        config = ('WSGIDaemonProcess bench processes=2 threads=16\n'
                  'WSGIScriptAlias /hello {apps}/hello.wsgi process-group=bench application-group=%{GLOBAL}\n')
    else:
        config = 'WSGIScriptAlias /hello {apps}/hello.wsgi application-group=%{GLOBAL}\n'
    servers = start_pair(config, {'hello.wsgi': HELLO}, mpm=args.mpm)
    try:
        for a in servers.values():  # warm-up
            wrk(a.port, '/hello', 2)
        results = {n: [] for n in servers}
        for _ in range(args.rounds):
            for n, a in servers.items():
                results[n].append(wrk(a.port, '/hello', args.seconds))
        mode = 'daemon mode (2 processes x 16 threads)' if daemon else 'embedded mode, %s MPM' % args.mpm
        report('hello world, %s, wrk -t2 -c16 -d%ds, requests/s' % (mode, args.seconds), results, 'rps')
    finally:
        for a in servers.values():
            a.cleanup()


def timed_download(port, path):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
    started = time.perf_counter()
    conn.request('GET', path)
    r = conn.getresponse()
    n = 0
    while True:
        b = r.read(1 << 20)
        if not b:
            break
        n += len(b)
    elapsed = time.perf_counter() - started
    conn.close()
    return n / elapsed / 1e6, n


def timed_upload(port, path, data):
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=120)
    started = time.perf_counter()
    conn.request('POST', path, body=data, headers={'Content-Type': 'application/octet-stream'})
    r = conn.getresponse()
    body = r.read()
    elapsed = time.perf_counter() - started
    conn.close()
    assert int(body) == len(data), body
    return len(data) / elapsed / 1e6


def bench_files(args):
    size = args.megabytes << 20
    config = '''
WSGIScriptAlias /file {apps}/file.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /upload {apps}/upload.wsgi application-group=%{GLOBAL}
Alias /static/ {root}/static/
SetEnv BENCH_FILE {root}/static/big
'''
    daemon_config = config + '''
WSGIDaemonProcess files processes=1 threads=4
WSGIScriptAlias /dfile {apps}/file.wsgi process-group=files application-group=%{GLOBAL}
WSGIScriptAlias /dupload {apps}/upload.wsgi process-group=files application-group=%{GLOBAL}
'''
    servers = start_pair(daemon_config, {'file.wsgi': FILE_APP, 'upload.wsgi': UPLOAD_APP})
    try:
        for a in servers.values():
            os.makedirs(os.path.join(a.root, 'static'), exist_ok=True)
            with open(os.path.join(a.root, 'static', 'big'), 'wb') as f:
                f.write(os.urandom(1 << 20) * args.megabytes)
            os.chmod(os.path.join(a.root, 'static', 'big'), 0o644)
        data = os.urandom(1 << 20) * args.megabytes
        cases = [('file_wrapper embedded', '/file'), ('file_wrapper daemon', '/dfile'), ('static file', '/static/big')]
        dl = {(n, c): [] for n in servers for c, _ in cases}
        up = {n: [] for n in servers}
        dup = {n: [] for n in servers}
        for n, a in servers.items():
            for _, path in cases:
                timed_download(a.port, path)  # warm the page cache and the processes
        for _ in range(args.rounds):
            for n, a in servers.items():
                for c, path in cases:
                    mbps, got = timed_download(a.port, path)
                    assert got == size, (n, c, got)
                    dl[(n, c)].append(mbps)
                up[n].append(timed_upload(a.port, '/upload', data))
                dup[n].append(timed_upload(a.port, '/dupload', data))
        print('\n%d MB downloads, MB/s (median of %d)' % (args.megabytes, args.rounds))
        for (n, c), xs in dl.items():
            print('  %-14s %-22s %s  median %.0f' % (n, c, ' '.join('%.0f' % x for x in xs), median(xs)))
        m = {k: median(v) for k, v in dl.items()}
        print('  ours/mod_wsgi, file_wrapper embedded:        %.2fx' % (m[('mod_swiftwsgi', 'file_wrapper embedded')] / m[('mod_wsgi', 'file_wrapper embedded')]))
        print('  ours/static file (same Apache):              %.2fx' % (m[('mod_swiftwsgi', 'file_wrapper embedded')] / m[('mod_swiftwsgi', 'static file')]))
        print('  mod_wsgi/static file (same Apache):          %.2fx' % (m[('mod_wsgi', 'file_wrapper embedded')] / m[('mod_wsgi', 'static file')]))
        print('  ours daemon/mod_wsgi embedded:               %.2fx' % (m[('mod_swiftwsgi', 'file_wrapper daemon')] / m[('mod_wsgi', 'file_wrapper embedded')]))
        print('  mod_wsgi daemon/mod_wsgi embedded:           %.2fx' % (m[('mod_wsgi', 'file_wrapper daemon')] / m[('mod_wsgi', 'file_wrapper embedded')]))
        report('%d MB upload through wsgi.input (64 KB reads), MB/s' % args.megabytes, up, 'MB/s')
        report('%d MB upload through wsgi.input in daemon mode (64 KB reads), MB/s' % args.megabytes, dup, 'MB/s')
    finally:
        for a in servers.values():
            a.cleanup()


def rss_kb(pid):
    with open('/proc/%d/status' % pid) as f:
        return int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))


def bench_rss(args):
    config = 'WSGIScriptAlias /app {apps}/app.wsgi application-group=%{GLOBAL}\n'
    one_child = 'StartServers 1\nMinSpareServers 1\nMaxSpareServers 1\nServerLimit 1\nMaxRequestWorkers 1\nMaxConnectionsPerChild 0'
    lua = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'post.lua')
    servers = start_pair(config, {'app.wsgi': RSS_APP}, mpm='prefork', settings=one_child)
    try:
        for n, a in servers.items():
            child = a.children()[0]
            per = max(1, args.requests // 10)
            # warm-up
            subprocess.run(['wrk', '-t1', '-c1', '-d2s', '-s', lua, 'http://127.0.0.1:%d/app' % a.port], capture_output=True)
            series = [rss_kb(child)]
            for _ in range(10):
                sent = 0
                while sent < per:
                    out = subprocess.run(['wrk', '-t1', '-c1', '-d1s', '-s', lua, 'http://127.0.0.1:%d/app' % a.port],
                                         capture_output=True, text=True).stdout
                    m = re.search(r'(\d+) requests in', out)
                    sent += int(m.group(1)) if m else 0
                series.append(rss_kb(child))
            growth = (series[-1] - series[0]) / series[0] * 100
            print('\n%s, one prefork child, RSS in kB every ~%d requests after warm-up:' % (n, per))
            print('  ' + ' '.join(str(x) for x in series))
            print('  growth over %d requests: %+.1f%% (%s)' % (per * 10, growth, 'flat' if abs(growth) <= 5 else 'NOT flat'))
    finally:
        for a in servers.values():
            a.cleanup()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=['hello', 'daemon', 'files', 'rss'])
    p.add_argument('--mpm', default='event', choices=['event', 'prefork'])
    p.add_argument('--seconds', type=int, default=5)
    p.add_argument('--rounds', type=int, default=5)
    p.add_argument('--megabytes', type=int, default=100)
    p.add_argument('--requests', type=int, default=100000)
    p.add_argument('--reference', default=MOD_WSGI, metavar='PATH',
                   help='the mod_wsgi to compare with (default %(default)s); e.g. '
                        '`mod_wsgi-express module-location` of a venv of the Python ours embeds')
    p.add_argument('--reference-home', metavar='DIR',
                   help="WSGIPythonHome for the reference (default: a PyPI build's venv, else none)")
    args = p.parse_args()
    global REFERENCE, REFERENCE_HOME
    REFERENCE = os.path.abspath(args.reference)
    REFERENCE_HOME = pypi_home(REFERENCE) if args.reference_home is None else args.reference_home
    for path in (REFERENCE, MODULE):
        if not os.path.exists(path):
            sys.exit('missing %s (install libapache2-mod-wsgi-py3 / run make)' % path)
    {'hello': bench_hello, 'daemon': lambda a: bench_hello(a, daemon=True), 'files': bench_files, 'rss': bench_rss}[args.what](args)


if __name__ == '__main__':
    main()
