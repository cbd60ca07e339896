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
    bench/compare.py gil     [--python 3.12] [--seconds 5] [--rounds 5] [--iterations 400000] [--smoke]
    bench/compare.py peers   [--peers LIST] [--seconds 5] [--rounds 5] [--smoke]
    bench/compare.py groups  [--groups 40] [--peers mod_wsgi-6.1.1] [--seconds 5] [--rounds 5] [--smoke]
    bench/compare.py quick   [--seconds 3] [--rounds 3] [--smoke]   # `make bench-quick`

`peers` (issue 22) measures hello world through every server in one run, interleaved: Apache's
own 13-byte file; ours, mod_wsgi 4.9 (Debian's) and mod_wsgi 6.1.1 (PyPI, built for the Python
ours embeds), each embedded and in daemon mode (processes=2 threads=16); Granian (2 workers)
behind Apache's mod_proxy_http and alone; uWSGI (2 processes x 16 threads) behind
mod_proxy_uwsgi; gunicorn (2 gthread workers x 16 threads) behind mod_proxy_http. The peers come
from PyPI into cached venvs (bench/peers.py; installed on first use). It prints requests/s per
round, medians, the ratios that matter (ours against static, against each mod_wsgi, against each
peer behind Apache) and each server's resident memory per process. --peers picks a subset of
mod_wsgi-4.9,mod_wsgi-6.1.1,granian,uwsgi,gunicorn.

`groups` rotates hello-world requests over --groups application groups (sub-interpreters) in
embedded mode, against the same server's one group, for ours and mod_wsgi 4.9 (6.1.1 too with
--peers mod_wsgi-6.1.1), and reports MB per sub-interpreter per child: the children's mean
resident size with every group loaded less that with the main interpreter only, over the groups.

`quick` (`make bench-quick`, about two minutes) runs hello world and a 256 KB file through
wsgi.file_wrapper, embedded and daemon, ours against the reference, with Apache's own files in the
same server, 3 rounds of 3 s, and prints the ratios. It is a quick look after a change to the
request path, not a gate: on a busy machine single figures move by tens of percent.

`gil` (issue 15) starts four servers at once: the reference and ours, each with
WSGIPerInterpreterGIL Off and On, the same configuration otherwise. Each has one daemon process
(processes=1 threads=4) holding two application groups, /a and /b, whose requests run a pure-Python
loop (--iterations; about 30 ms at the default on the 2-core build machine). A round drives /a and /b
at the same time with two wrk instances of 2 connections each (4 clients), server after server
(every other round in reverse order); the report gives requests/s, the split between the groups,
the daemon's CPU use in cores and the machine's, and the ratios On/Off per module and ours/reference
(of the medians, and the median of the rounds' ratios). Needs builds for Python 3.12+. With own GIL the two groups' interpreters can
run on two cores at once: On/Off approaches 2x on 2 cores (issue 15's goal: at least 1.7x); with one
shared GIL it stays near 1x. Before the rounds it shows what proves an own GIL besides the speed:
each group's interpreter config on 3.13+ (`_interpreters.get_config().gil`: own or shared), and the
error log's "own GIL" lines (mod_wsgi 6 and ours log them at info level when they create such an
interpreter; the servers run with `LogLevel warn wsgi:info`). In the same run (the same Off
servers, interleaved) it measures hello world in embedded mode, wrk -t2 -c16, as `hello` does:
the ratio ours/reference with the directive Off. --python X.Y is short for
SWIFTWSGI_MODULE=build/mod_swiftwsgi-pyXY.so and --reference from /opt/mw6-pyXY's
`mod_wsgi-express module-location`. --smoke: one 1-second round, a short loop, no warm-up; exits
non-zero when a server served nothing (a check that the benchmark still runs, not a measurement).

--telemetry ours|reference|both gives that side WSGITelemetryService (interval=1) and
WSGISlowRequests 10, to a unix datagram socket this script drains (what the request path pays for
telemetry; with ours as the reference too, its cost against ours without it):

    bench/compare.py hello --reference build/mod_swiftwsgi.so --telemetry ours

--server-status ours|reference|both loads mod_status (/server-status, ExtendedStatus On as it
defaults to) into that side's Apache. With ours as the reference too, it measures what the
status section costs:

    bench/compare.py hello --reference build/mod_swiftwsgi.so --server-status ours
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
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Apache, MODULE, REPO, parse_log_line  # noqa: E402

MOD_WSGI = '/usr/lib/apache2/modules/mod_wsgi.so'
# Set by main(): the reference module and the WSGIPythonHome it needs ('' for none), and the
# sides ('mod_wsgi' the reference, 'mod_swiftwsgi' ours) whose Apache loads mod_status.
REFERENCE = MOD_WSGI
REFERENCE_HOME = ''
STATUS_SIDES = set()
STATUS_CONFIG = '''
LoadModule status_module {modules}/mod_status.so
<Location /server-status>
    SetHandler server-status
</Location>
'''
# The sides that send telemetry, and the socket it goes to (drained by a thread of this script).
TELEMETRY_SIDES = set()
TELEMETRY_SOCKET = '/tmp/swiftwsgi-bench-telemetry.sock'
TELEMETRY_CONFIG = 'WSGITelemetryService unix:%s interval=1\nWSGISlowRequests 10\n' % TELEMETRY_SOCKET


def drain_telemetry():
    """Receives and drops the telemetry datagrams, as an ingester that keeps up would."""
    import socket
    import threading
    if os.path.exists(TELEMETRY_SOCKET):
        os.unlink(TELEMETRY_SOCKET)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(TELEMETRY_SOCKET)
    os.chmod(TELEMETRY_SOCKET, 0o666)
    import atexit
    atexit.register(os.unlink, TELEMETRY_SOCKET)
    threading.Thread(target=lambda: [s.recv(65536) for _ in iter(int, 1)], daemon=True).start()


# How each side is named in the results: the module's file when the reference is not mod_wsgi
# (e.g. ours against ours), and whether mod_status is loaded.
LABELS = {}


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
        side_config = STATUS_CONFIG + config if name in STATUS_SIDES else config
        side_config = TELEMETRY_CONFIG + side_config if name in TELEMETRY_SIDES else side_config
        LABELS[name] = (name if REFERENCE == MOD_WSGI or name == 'mod_swiftwsgi' else 'reference') \
            + (' +mod_status' if name in STATUS_SIDES else '') + (' +telemetry' if name in TELEMETRY_SIDES else '')
        servers[name] = start_server(LABELS[name], module, side_config, apps, mpm=mpm, files=files, settings=settings)
    return servers


def start_server(name, module, config, apps, mpm='event', loglevel='warn', files=None, settings=None):
    """One Apache with `module` (given WSGIPythonHome when it is the reference from PyPI); prints
    Apache's start-up line, which names the module's and the embedded Python's versions."""
    if module == REFERENCE and REFERENCE_HOME:
        config = 'WSGIPythonHome %s\n' % REFERENCE_HOME + config
    a = Apache(config, apps, mpm=mpm, loglevel=loglevel, module=module, files=files,
               mpm_settings=settings or MPM[mpm])
    a.start()
    deadline = time.time() + 5
    while not re.search(r'AH00489: ', a.log()) and time.time() < deadline:
        time.sleep(0.1)
    banner = re.search(r'AH00489: (.*)', a.log())
    print('%-18s %s: %s' % (name, module, banner.group(1) if banner else '(no start-up line)'))
    return a


def report(title, results, unit, higher_is_better=True):
    print('\n%s' % title)
    names = list(results)
    for n in names:
        print('  %-14s %s  median %.1f %s' % (LABELS.get(n, n), ' '.join('%.1f' % x for x in results[n]),
                                             median(results[n]), unit))
    ours, theirs = median(results['mod_swiftwsgi']), median(results['mod_wsgi'])
    ratio = ours / theirs if higher_is_better else theirs / ours
    print('  ratio %s / %s: %.2fx' % (LABELS.get('mod_swiftwsgi', 'mod_swiftwsgi'), LABELS.get('mod_wsgi', 'mod_wsgi'), ratio))
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


# The CPU-bound application of `gil`: the same fixed pure-Python loop per request in every
# server and group. ?info answers which process and interpreter serve the group and, on 3.13+,
# whether that interpreter has its own GIL (3.12 has no way to ask from Python).
CPU_APP = """
import os

ITERATIONS = %d


def work(n):
    x = 0
    for i in range(n):
        x = (x * 31 + i) & 0xffff
    return x


def gil():
    try:
        import _interpreters
        return _interpreters.get_config(_interpreters.get_current()[0]).gil
    except Exception:
        return 'unknown'


def application(environ, start_response):
    if environ.get('QUERY_STRING') == 'info':
        body = '%%d %%s %%s' %% (os.getpid(), environ.get('mod_wsgi.application_group'), gil())
    else:
        body = str(work(ITERATIONS))
    body = body.encode()
    start_response('200 OK', [('Content-Type', 'text/plain'), ('Content-Length', str(len(body)))])
    return [body]
"""

GIL_CONFIG = """
WSGIPerInterpreterGIL {gil}
WSGIDaemonProcess gil processes=1 threads=4
WSGIScriptAlias /a {apps}/cpu.wsgi process-group=gil application-group=a
WSGIScriptAlias /b {apps}/cpu.wsgi process-group=gil application-group=b
WSGIScriptAlias /hello {apps}/hello.wsgi application-group=%{GLOBAL}
"""

GROUPS = ('/a', '/b')


def wrk_groups(port, seconds, connections=2):
    """Drives every path of GROUPS at once, one wrk -t1 -cN each; their requests/s, in order,
    and a list of problems (non-2xx answers, socket errors)."""
    procs = [subprocess.Popen(['wrk', '-t1', '-c%d' % connections, '-d%ds' % seconds, '--timeout', '30s',
                               'http://127.0.0.1:%d%s' % (port, path)],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
             for path in GROUPS]
    rates, problems = [], []
    for path, proc in zip(GROUPS, procs):
        out = proc.communicate()[0]
        m = re.search(r'Requests/sec:\s+([\d.]+)', out)
        rates.append(float(m.group(1)) if m else 0.0)
        for pattern in (r'Non-2xx or 3xx responses: \d+', r'Socket errors: .*'):
            e = re.search(pattern, out)
            if e:
                problems.append('%s: %s' % (path, e.group(0)))
    return rates, problems


def cpu_seconds(pid):
    """User + system CPU time of process pid (all its threads), in seconds."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def busy_seconds():
    """CPU seconds the whole machine has spent busy (all cores; /proc/stat, less idle and iowait)."""
    with open('/proc/stat') as f:
        ticks = [int(x) for x in f.readline().split()[1:]]
    return (sum(ticks[:8]) - ticks[3] - ticks[4]) / os.sysconf('SC_CLK_TCK')


def group_info(a, path):
    """(daemon pid, application group, gil) as the group's ?info request answers."""
    r = a.get(path + '?info', timeout=60)
    if r.status != 200:
        raise RuntimeError('%s?info answered %s: %s\n%s' % (path, r.status, r.body, a.log()[-3000:]))
    pid, group, gil = r.body.decode().split()
    return int(pid), group, gil


def bench_gil(args):
    if args.smoke:
        args.seconds, args.rounds, args.iterations = 1, 1, min(args.iterations, 50000)
    print('load average at start: %.2f %.2f %.2f' % os.getloadavg())
    apps = {'cpu.wsgi': CPU_APP % args.iterations, 'hello.wsgi': HELLO}
    servers = {}
    try:
        for module, label in ((REFERENCE, 'mod_wsgi'), (MODULE, 'mod_swiftwsgi')):
            for gil in ('Off', 'On'):
                servers['%s %s' % (label, gil)] = start_server('%s %s' % (label, gil), module,
                                                               GIL_CONFIG.replace('{gil}', gil), apps,
                                                               loglevel='warn wsgi:info')
        # What proves an own GIL, besides the speed. The ?info requests also create the groups'
        # interpreters, so the log lines of their creation are there afterwards.
        print('\nwho serves the groups (daemon pid, application group, gil from _interpreters on 3.13+):')
        daemon = {}
        for n, a in servers.items():
            infos = [group_info(a, path) for path in GROUPS]
            daemon[n] = infos[0][0]
            same = 'one process' if len({i[0] for i in infos}) == 1 else 'NOT one process'
            own_gil_lines = [l for l in a.log().splitlines() if re.search(r'own GIL', l, re.I)]
            print('  %-22s %s (%s); error log lines "own GIL": %d' % (
                n, ', '.join('%d %s %s' % i for i in infos), same, len(own_gil_lines)))
            for l in own_gil_lines:
                print('      ' + (parse_log_line(l) or {}).get('message', l))
        if not args.smoke:
            for a in servers.values():  # warm-up
                wrk_groups(a.port, 2)
            for n in ('mod_wsgi Off', 'mod_swiftwsgi Off'):
                wrk(servers[n].port, '/hello', 2)
        rps = {n: [] for n in servers}
        split = {n: [] for n in servers}
        cores = {n: [] for n in servers}
        busy = {n: [] for n in servers}
        hello = {'mod_wsgi': [], 'mod_swiftwsgi': []}
        problems = []
        for r in range(args.rounds):
            # Every other round in the reverse order, so that no server always follows the same one.
            for n in list(servers)[::1 if r % 2 == 0 else -1]:
                a = servers[n]
                cpu0, busy0, t0 = cpu_seconds(daemon[n]), busy_seconds(), time.perf_counter()
                rates, errors = wrk_groups(a.port, args.seconds)
                elapsed = time.perf_counter() - t0
                cores[n].append((cpu_seconds(daemon[n]) - cpu0) / elapsed)
                busy[n].append((busy_seconds() - busy0) / elapsed)
                rps[n].append(sum(rates))
                split[n].append(rates)
                problems += ['%s: %s' % (n, e) for e in errors]
            for n in hello:
                hello[n].append(wrk(servers[n + ' Off'].port, '/hello', args.seconds))
        print('\nload average at end: %.2f %.2f %.2f' % os.getloadavg())
        print('\nCPU-bound: groups /a and /b in one daemon process (processes=1 threads=4), '
              '%d iterations per request,\n2 clients per group at once (wrk -t1 -c2 each), %d s rounds, '
              'requests/s (both groups):' % (args.iterations, args.seconds))
        for n in servers:
            print('  %-18s %s  median %.1f rps' % (n, ' '.join('%.1f' % x for x in rps[n]), median(rps[n])))
            print('  %-18s /a %.1f + /b %.1f rps; daemon CPU %.2f cores (%.0f ms a request), machine busy %.2f of %d' % (
                '', median([r[0] for r in split[n]]), median([r[1] for r in split[n]]), median(cores[n]),
                1000 * median(cores[n]) / median(rps[n]) if median(rps[n]) else float('nan'),
                median(busy[n]), os.cpu_count()))
        print('  (medians; "machine busy" beyond the daemon\'s CPU and ~0.1 for wrk and Apache is other work'
              ' on the machine;\n   the benchmark itself adds about 4 to the load average)')
        for e in problems:
            print('  warning: ' + e)
        m = {n: median(x) for n, x in rps.items()}

        def ratio(label, top, bottom, note=''):
            # The ratio of the medians, and the median of the rounds' own ratios (each round's two
            # figures were measured seconds apart: less exposed to the machine's drift).
            per_round = [t / b for t, b in zip(rps[top], rps[bottom]) if b]
            print('  ratio %-28s %.2fx  (median of the rounds\' ratios %.2fx)%s' % (
                label + ':', m[top] / m[bottom] if m[bottom] else float('nan'), median(per_round), note))
        ratio('On/Off, mod_wsgi', 'mod_wsgi On', 'mod_wsgi Off')
        ratio('On/Off, mod_swiftwsgi', 'mod_swiftwsgi On', 'mod_swiftwsgi Off', '  issue 15 goal: at least 1.70x')
        ratio('mod_swiftwsgi/mod_wsgi, On', 'mod_swiftwsgi On', 'mod_wsgi On')
        ratio('mod_swiftwsgi/mod_wsgi, Off', 'mod_swiftwsgi Off', 'mod_wsgi Off')
        report('hello world, embedded mode, event MPM, WSGIPerInterpreterGIL Off (same servers), '
               'wrk -t2 -c16 -d%ds, requests/s' % args.seconds, hello, 'rps')
        if args.smoke:
            empty = [n for n, x in list(rps.items()) + list(hello.items()) if not min(x) > 0]
            if empty or problems:
                sys.exit('smoke run failed: no requests served by %s; %s' % (', '.join(empty) or 'none', problems))
            print('\nsmoke run: every server answered')
    finally:
        for a in servers.values():
            a.cleanup()

# ---- Many servers side by side: peers, groups, quick (issue 22) ------------------------------
#
# A target is one URL of one running server. Rounds visit every target in turn (every other
# round in reverse order, so no target always follows the same one); the figures are medians
# over the rounds and ratios of medians.

SIDES_CONFIG = '''
WSGIDaemonProcess bench processes=2 threads=16
WSGIScriptAlias /hello {apps}/hello.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /dhello {apps}/hello.wsgi process-group=bench application-group=%{GLOBAL}
WSGIScriptAlias /file {apps}/file.wsgi application-group=%{GLOBAL}
WSGIScriptAlias /dfile {apps}/file.wsgi process-group=bench application-group=%{GLOBAL}
Alias /static/ {root}/static/
SetEnv BENCH_FILE {root}/static/file
'''
STATIC_HELLO = b'Hello World!\n'  # Apache's own 13-byte file

PROXY_CONFIG = '''
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_http_module {modules}/mod_proxy_http.so
LoadModule proxy_uwsgi_module {modules}/mod_proxy_uwsgi.so
'''

PEER_HELLO = HELLO  # the same application everywhere


class Target:
    def __init__(self, label, port, path, group):
        self.label, self.port, self.path, self.group = label, port, path, group


def start_module_server(label, module, apps, files, config=SIDES_CONFIG, settings=None):
    """An Apache with module (mod_swiftwsgi or a mod_wsgi) serving config; a mod_wsgi from PyPI
    gets WSGIPythonHome set to its venv."""
    home = pypi_home(module)
    if home:
        config = 'WSGIPythonHome %s\n' % home + config
    a = Apache(config, apps, mpm='event', loglevel='warn', module=module, files=files,
               mpm_settings=settings or MPM['event'])
    a.start()
    deadline = time.time() + 5
    while not re.search(r'AH00489: ', a.log()) and time.time() < deadline:
        time.sleep(0.1)
    banner = re.search(r'AH00489: (.*)', a.log())
    print('%-24s %s: %s' % (label, module, banner.group(1) if banner else '(no start-up line)'), flush=True)
    return a


def interleaved(targets, rounds, seconds, warmup=2, script=None):
    """{label: [requests/s of each round]}, wrk -t2 -c16 on each target in turn."""
    for t in targets:
        if warmup:
            wrk(t.port, t.path, warmup, script=script)
    results = {t.label: [] for t in targets}
    for r in range(rounds):
        order = targets if r % 2 == 0 else targets[::-1]
        for t in order:
            results[t.label].append(wrk(t.port, t.path, seconds, script=script))
        print('  round %d: %s' % (r + 1, ', '.join('%s %.0f' % (t.label, results[t.label][-1]) for t in targets)),
              flush=True)
    return results


def print_table(title, results, ratios, unit='rps'):
    print('\n%s' % title)
    width = max(len(k) for k in results)
    for label, xs in results.items():
        print('  %-*s  median %9.1f %s   (%s)' % (width, label, median(xs), unit, ' '.join('%.0f' % x for x in xs)))
    m = {k: median(v) for k, v in results.items()}
    print('  ratios of medians:')
    for top, bottom in ratios:
        if top in m and bottom in m and m[bottom]:
            print('    %-*s / %-*s  %.2fx' % (width, top, width, bottom, m[top] / m[bottom]))
    return m


def mean_rss_mb(pids):
    values = []
    for pid in pids:
        try:
            values.append(rss_kb(pid) / 1024.0)
        except (OSError, AttributeError):
            pass
    return sum(values) / len(values) if values else float('nan')


def apache_processes(a, port):
    """(children, daemons) pids of one Apache: children hold the listening socket."""
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from counts import holds_listener
    children, daemons = [], []
    for pid in a.children():
        (children if holds_listener(pid, port) else daemons).append(pid)
    return children, daemons


def python_for_module():
    """The interpreter ours embeds (the peers run on it too)."""
    from harness import PYTHON
    return PYTHON


def smoke_check(results):
    empty = [k for k, v in results.items() if not min(v) > 0]
    if empty:
        sys.exit('smoke run failed: nothing served by %s' % ', '.join(empty))
    print('\nsmoke run: every target answered')


def bench_peers(args):
    """hello world through every server: Apache's static file, ours and mod_wsgi 4.9 and 6.1.1
    (embedded and daemon), Granian behind Apache and alone, uWSGI and gunicorn behind Apache."""
    import peers
    python = python_for_module()
    if args.smoke:
        args.rounds, args.seconds = 1, 1
    apps = {'hello.wsgi': HELLO, 'file.wsgi': FILE_APP}
    files = {'static/hello.txt': STATIC_HELLO, 'static/file': b'x' * 1024}
    servers, procs = [], []
    targets = []
    try:
        wanted = set(args.peers.split(','))
        modules = [('ours', MODULE)]
        if 'mod_wsgi-4.9' in wanted:
            modules.append(('mod_wsgi 4.9', MOD_WSGI))
        if 'mod_wsgi-6.1.1' in wanted:
            modules.append(('mod_wsgi 6.1.1', peers.mod_wsgi_611(python)))
        for label, module in modules:
            a = start_module_server(label, module, apps, files)
            servers.append((label, a))
            if label == 'ours':
                targets.append(Target('Apache static', a.port, '/static/hello.txt', a))
            targets.append(Target('%s embedded' % label, a.port, '/hello', a))
            targets.append(Target('%s daemon' % label, a.port, '/dhello', a))
        proxied = [p for p in ('granian', 'uwsgi', 'gunicorn') if p in wanted]
        if proxied:
            started = {name: peers.Peer(name, python, PEER_HELLO) for name in proxied}
            procs.extend(started.values())
            config = PROXY_CONFIG + ''.join(
                'ProxyPass /%s/ %s://127.0.0.1:%d/\n' % (name, 'uwsgi' if name == 'uwsgi' else 'http', p.port)
                for name, p in started.items())
            a = start_module_server('Apache mod_proxy', MODULE, {}, {}, config=config)
            servers.append(('proxy', a))
            for name, p in started.items():
                print('%-24s %s on port %d' % (name, p.version, p.port))
                targets.append(Target('%s behind Apache' % name, a.port, '/%s/hello' % name, p))
            if 'granian' in started:
                targets.append(Target('granian alone', started['granian'].port, '/hello', started['granian']))
        print('\nload average at start: %.2f %.2f %.2f' % os.getloadavg())
        results = interleaved(targets, args.rounds, args.seconds, warmup=0 if args.smoke else 2)
        print('load average at end: %.2f %.2f %.2f' % os.getloadavg())
        ratios = [('ours embedded', 'Apache static'), ('ours daemon', 'Apache static'),
                  ('ours embedded', 'mod_wsgi 4.9 embedded'), ('ours daemon', 'mod_wsgi 4.9 daemon'),
                  ('ours embedded', 'mod_wsgi 6.1.1 embedded'), ('ours daemon', 'mod_wsgi 6.1.1 daemon'),
                  ('ours daemon', 'granian behind Apache'), ('ours daemon', 'uwsgi behind Apache'),
                  ('ours daemon', 'gunicorn behind Apache'), ('granian alone', 'Apache static')]
        print_table('hello world, wrk -t2 -c16 -d%ds, %d interleaved rounds, requests/s (event MPM 2 x 25; '
                    'daemons and peers 2 processes x 16 threads, Granian 2 workers)' % (args.seconds, args.rounds),
                    results, ratios)
        print('\nresident memory after the rounds (mean per process, MB):')
        for label, a in servers:
            if label == 'proxy':
                continue
            children, daemons = apache_processes(a, a.port)
            print('  %-16s Apache children %.1f, daemon processes %.1f' % (label, mean_rss_mb(children), mean_rss_mb(daemons)))
        for p in procs:
            print('  %-16s processes %.1f (%d)' % (p.name, mean_rss_mb(p.pids()), len(p.pids())))
        if args.smoke:
            smoke_check(results)
    finally:
        for _, a in servers:
            a.cleanup()
        for p in procs:
            p.stop()


GROUPS_LUA = '''-- wrk script: requests rotate over the application groups /g0 ... /gN-1.
local n = %d
local i = 0
request = function()
    i = i + 1
    return wrk.format(nil, "/g" .. (i %% n))
end
'''


def bench_groups(args):
    """Many application groups (sub-interpreters) per child: requests rotating over --groups
    groups, against the same server's one group, for ours and mod_wsgi 4.9 (and 6.1.1 with
    --peers mod_wsgi-6.1.1); memory per sub-interpreter per child from the children's resident
    size with only the main interpreter and with every group loaded."""
    import peers
    import tempfile
    n = args.groups
    if args.smoke:
        args.rounds, args.seconds = 1, 1
    config = 'WSGIScriptAlias /hello {apps}/hello.wsgi application-group=%{GLOBAL}\n' + ''.join(
        'WSGIScriptAlias /g%d {apps}/hello.wsgi application-group=g%d\n' % (i, i) for i in range(n))
    modules = [('ours', MODULE), ('mod_wsgi 4.9', MOD_WSGI)]
    if 'mod_wsgi-6.1.1' in args.peers.split(','):
        modules.append(('mod_wsgi 6.1.1', peers.mod_wsgi_611(python_for_module())))
    script = tempfile.NamedTemporaryFile('w', suffix='.lua', delete=False)
    script.write(GROUPS_LUA % n)
    script.close()
    servers = []
    try:
        memory = {}
        for label, module in modules:
            a = start_module_server(label, module, {'hello.wsgi': HELLO}, {}, config=config)
            servers.append((label, a))
            children = apache_processes(a, a.port)[0]
            wrk(a.port, '/hello', 2)   # every child has Python and the main interpreter's app
            one = mean_rss_mb(children)
            # Every group in every child: creating 2 x N sub-interpreters takes seconds, so rotate
            # until the rate settles (two runs within 20%), 30 s at most.
            last, deadline = 0.0, time.time() + 30
            while time.time() < deadline:
                rate = wrk(a.port, '/', 2, script=script.name)
                if last and abs(rate - last) <= 0.2 * max(rate, last):
                    break
                last = rate
            children = apache_processes(a, a.port)[0]
            memory[label] = (one, mean_rss_mb(children), len(children))
        targets = []
        for label, a in servers:
            targets.append(Target('%s, %d groups' % (label, n), a.port, '/', a))
            targets.append(Target('%s, one group' % label, a.port, '/g0', a))
        print('\nload average at start: %.2f %.2f %.2f' % os.getloadavg())
        results = {}
        for r in range(args.rounds):
            order = targets if r % 2 == 0 else targets[::-1]
            for t in order:
                results.setdefault(t.label, []).append(
                    wrk(t.port, t.path, args.seconds, script=script.name if t.path == '/' else None))
        results = {t.label: results[t.label] for t in targets}
        ratios = [('ours, %d groups' % n, 'mod_wsgi 4.9, %d groups' % n),
                  ('ours, %d groups' % n, 'mod_wsgi 6.1.1, %d groups' % n),
                  ('ours, %d groups' % n, 'ours, one group'),
                  ('mod_wsgi 4.9, %d groups' % n, 'mod_wsgi 4.9, one group')]
        print_table('hello world rotating over %d application groups (embedded, event MPM 2 x 25), wrk -t2 -c16 '
                    '-d%ds, %d interleaved rounds, requests/s' % (n, args.seconds, args.rounds), results, ratios)
        print('\nresident memory per Apache child (mean over the children), MB:')
        per = {}
        for label, (one, many, count) in memory.items():
            per[label] = (many - one) / n
            print('  %-16s main interpreter only %.1f, %d groups loaded %.1f: %.2f MB per sub-interpreter (%d children)'
                  % (label, one, n, many, per[label], count))
        for label in per:
            if label != 'ours' and per[label]:
                print('  MB per sub-interpreter, ours / %s: %.2fx' % (label, per['ours'] / per[label]))
        if args.smoke:
            smoke_check(results)
    finally:
        for _, a in servers:
            a.cleanup()
        os.unlink(script.name)


def bench_quick(args):
    """About two minutes: hello world and file_wrapper, embedded and daemon, ours against mod_wsgi
    4.9 and Apache's static files in the same servers (3 rounds of 3 s). Ratios only: not a gate."""
    if args.smoke:
        args.rounds, args.seconds = 1, 1
    size = 256 * 1024
    apps = {'hello.wsgi': HELLO, 'file.wsgi': FILE_APP}
    files = {'static/hello.txt': STATIC_HELLO, 'static/file': os.urandom(size)}
    servers, targets = [], []
    try:
        for label, module in (('ours', MODULE), ('mod_wsgi', REFERENCE)):
            a = start_module_server(label, module, apps, files)
            servers.append(a)
            if label == 'ours':
                targets.append(Target('static hello', a.port, '/static/hello.txt', a))
                targets.append(Target('static file', a.port, '/static/file', a))
            for mode, prefix in (('embedded', ''), ('daemon', 'd')):
                targets.append(Target('%s hello %s' % (label, mode), a.port, '/%shello' % prefix, a))
                targets.append(Target('%s file %s' % (label, mode), a.port, '/%sfile' % prefix, a))
        results = interleaved(targets, args.rounds, args.seconds, warmup=0 if args.smoke else 1)
        ratios = [('ours hello embedded', 'mod_wsgi hello embedded'), ('ours hello daemon', 'mod_wsgi hello daemon'),
                  ('ours file embedded', 'mod_wsgi file embedded'), ('ours file daemon', 'mod_wsgi file daemon'),
                  ('ours hello embedded', 'static hello'), ('ours hello daemon', 'static hello'),
                  ('ours file embedded', 'static file'), ('ours file daemon', 'static file')]
        print_table('quick: wrk -t2 -c16 -d%ds, %d interleaved rounds, requests/s (file: %d KB through '
                    'wsgi.file_wrapper, or Apache\'s own)' % (args.seconds, args.rounds, size // 1024),
                    results, ratios)
        if args.smoke:
            smoke_check(results)
    finally:
        for a in servers:
            a.cleanup()



def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('what', choices=['hello', 'daemon', 'files', 'rss', 'gil', 'peers', 'groups', 'quick'])
    p.add_argument('--mpm', default='event', choices=['event', 'prefork'])
    p.add_argument('--seconds', type=int, help='seconds per round (default 5; quick: 3)')
    p.add_argument('--rounds', type=int, help='rounds (default 5; quick: 3)')
    p.add_argument('--megabytes', type=int, default=100)
    p.add_argument('--requests', type=int, default=100000)
    p.add_argument('--iterations', type=int, default=400000,
                   help="gil: the loop's length per request (default %(default)s, about 30 ms here)")
    p.add_argument('--smoke', action='store_true',
                   help='gil, peers, groups, quick: one 1-second round (gil: of a short loop), no warm-up; '
                        'fails when a server served nothing')
    p.add_argument('--peers', default='mod_wsgi-4.9,mod_wsgi-6.1.1,granian,uwsgi,gunicorn',
                   help='peers: the servers beside ours (default %(default)s); groups: mod_wsgi-6.1.1 adds it')
    p.add_argument('--groups', type=int, default=40, help='groups: application groups per child (default %(default)s)')
    p.add_argument('--python', metavar='X.Y',
                   help='ours = build/mod_swiftwsgi-pyXY.so (make PYTHON=...), reference = the mod_wsgi '
                        'of the venv /opt/mw6-pyXY (overrides SWIFTWSGI_MODULE and --reference)')
    p.add_argument('--reference', default=MOD_WSGI, metavar='PATH',
                   help='the mod_wsgi to compare with (default %(default)s); e.g. '
                        '`mod_wsgi-express module-location` of a venv of the Python ours embeds')
    p.add_argument('--reference-home', metavar='DIR',
                   help="WSGIPythonHome for the reference (default: a PyPI build's venv, else none)")
    p.add_argument('--server-status', choices=['ours', 'reference', 'both'],
                   help='load mod_status (/server-status) into that side\'s Apache')
    p.add_argument('--telemetry', choices=['ours', 'reference', 'both'],
                   help='WSGITelemetryService (and WSGISlowRequests) on that side')
    args = p.parse_args()
    if args.seconds is None:
        args.seconds = 3 if args.what == 'quick' else 5
    if args.rounds is None:
        args.rounds = 3 if args.what == 'quick' else 5
    global REFERENCE, REFERENCE_HOME, MODULE, STATUS_SIDES, TELEMETRY_SIDES
    TELEMETRY_SIDES = {'ours': {'mod_swiftwsgi'}, 'reference': {'mod_wsgi'}, 'both': {'mod_wsgi', 'mod_swiftwsgi'},
                       None: set()}[args.telemetry]
    if TELEMETRY_SIDES:
        drain_telemetry()
    STATUS_SIDES = {'ours': {'mod_swiftwsgi'}, 'reference': {'mod_wsgi'}, 'both': {'mod_wsgi', 'mod_swiftwsgi'},
                    None: set()}[args.server_status]
    if args.python:
        tag = 'py' + args.python.replace('.', '')
        MODULE = os.path.join(REPO, 'build', 'mod_swiftwsgi-%s.so' % tag)
        express = '/opt/mw6-%s/bin/mod_wsgi-express' % tag
        if not os.path.exists(express):
            sys.exit('missing %s (make the venv: python%s -m venv /opt/mw6-%s && /opt/mw6-%s/bin/pip install mod_wsgi)'
                     % (express, args.python, tag, tag))
        args.reference = subprocess.run([express, 'module-location'], capture_output=True, text=True,
                                        check=True).stdout.strip()
    REFERENCE = os.path.abspath(args.reference)
    REFERENCE_HOME = pypi_home(REFERENCE) if args.reference_home is None else args.reference_home
    for path in (REFERENCE, MODULE):
        if not os.path.exists(path):
            sys.exit('missing %s (install libapache2-mod-wsgi-py3 / run make)' % path)
    {'hello': bench_hello, 'daemon': lambda a: bench_hello(a, daemon=True), 'files': bench_files, 'rss': bench_rss,
     'gil': bench_gil, 'peers': bench_peers, 'groups': bench_groups, 'quick': bench_quick}[args.what](args)


if __name__ == '__main__':
    main()
