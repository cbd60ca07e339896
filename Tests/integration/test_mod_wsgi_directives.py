"""The directives mod_wsgi 4.9, 5 and 6 have beyond the basic ones (WSGIVerboseDebugging,
WSGISocketRotation, WSGIServerMetrics, WSGIIgnoreActivity, WSGIAcceptMutex, WSGISwitchInterval,
WSGISlowRequests, WSGINewRelic*, WSGIPassApacheRequest), the proxy headers X-Host, X-Scheme,
X-HTTPS and X-Forwarded-Script-Name, and WSGIPassAuthorization in .htaccess (FileInfo).

Against a reference mod_wsgi each test runs where that version has the feature
(SWIFTWSGI_MODULE=$(mod_wsgi-express module-location) for PyPI's 5.x or 6.x)."""

import json
import time

import pytest

from harness import Apache, OURS, configtest, json_from, mod_wsgi_versions

SINGLE_MPM = True

ENV_APP = '''
import json, os, sys
def application(environ, start_response):
    keys = ('HTTP_HOST', 'SCRIPT_NAME', 'PATH_INFO', 'wsgi.url_scheme', 'mod_wsgi.ignore_activity',
            'HTTP_AUTHORIZATION')
    out = {k: environ.get(k) for k in keys}
    out['switchinterval'] = sys.getswitchinterval()
    out['NEW_RELIC_CONFIG_FILE'] = os.environ.get('NEW_RELIC_CONFIG_FILE')
    out['NEW_RELIC_ENVIRONMENT'] = os.environ.get('NEW_RELIC_ENVIRONMENT')
    start_response('200 OK', [('Content-Type', 'application/json')])
    return [json.dumps(out).encode()]
'''

APPS = {'env.wsgi': ENV_APP, 'pid.wsgi': '''
import os
def application(environ, start_response):
    start_response('200 OK', [('Content-Type', 'text/plain')])
    return [str(os.getpid()).encode()]
'''}

FILES = {
    'fileinfo/env.wsgi': ENV_APP,
    'fileinfo/.htaccess': 'WSGIPassAuthorization On\n',
    'authconfig/env.wsgi': ENV_APP,
    'authconfig/.htaccess': 'WSGIPassAuthorization On\n',
    'all/env.wsgi': ENV_APP,
    'all/.htaccess': 'WSGIApplicationGroup %{GLOBAL}\n',
}

CONFIG = '''
WSGIVerboseDebugging Off
WSGISocketRotation Off
WSGIAcceptMutex default
WSGIServerMetrics On
WSGIPassApacheRequest Off
WSGIScriptAlias /env {apps}/env.wsgi
WSGIScriptAlias /quiet {apps}/env.wsgi
<Location /quiet>
    WSGIIgnoreActivity On
</Location>
WSGIDaemonProcess idle threads=2 inactivity-timeout=2
WSGIScriptAlias /idle-busy {apps}/pid.wsgi process-group=idle application-group=%{GLOBAL}
WSGIScriptAlias /idle-quiet {apps}/pid.wsgi process-group=idle application-group=%{GLOBAL}
<Location /idle-quiet>
    WSGIIgnoreActivity On
</Location>
WSGIScriptAlias /proxy {apps}/env.wsgi
<Location /proxy>
    WSGITrustedProxyHeaders X-Host X-Scheme X-Forwarded-Script-Name
    WSGITrustedProxies 127.0.0.1
</Location>
WSGIScriptAlias /https {apps}/env.wsgi
<Location /https>
    WSGITrustedProxyHeaders X-HTTPS
</Location>
WSGIScriptAlias /fileinfo {root}/fileinfo/env.wsgi
WSGIScriptAlias /authconfig {root}/authconfig/env.wsgi
WSGIScriptAlias /all {root}/all/env.wsgi
<Directory {root}/all>
    AllowOverride All
</Directory>
<Directory {root}/fileinfo>
    AllowOverride FileInfo
</Directory>
<Directory {root}/authconfig>
    AllowOverride AuthConfig
</Directory>
'''


def env(server, path, **headers):
    r = server.get(path, headers=headers)
    assert r.status == 200, r
    return json.loads(r.body)


@mod_wsgi_versions(below=(6,))  # mod_wsgi 6 no longer puts it in environ
def test_ignore_activity_reaches_environ(server):
    assert env(server, '/env')['mod_wsgi.ignore_activity'] == '0'
    assert env(server, '/quiet')['mod_wsgi.ignore_activity'] == '1'


def test_ignore_activity_lets_inactivity_timeout_fire(server):
    first = server.get('/idle-busy').body
    for _ in range(7):  # 3.5 s of requests that count: the daemon stays
        time.sleep(0.5)
        assert server.get('/idle-busy').body == first
    deadline = time.time() + 10
    while time.time() < deadline:  # requests that do not count: inactivity-timeout=2 fires
        time.sleep(0.5)
        r = server.get('/idle-quiet')
        assert r.status == 200, r
        if r.body != first:
            return
    pytest.fail('the daemon process was never replaced while only WSGIIgnoreActivity requests came')


def test_x_host_x_scheme_x_forwarded_script_name(server):
    e = env(server, '/proxy/x', **{'X-Host': 'example.org:8443', 'X-Scheme': 'https',
                                   'X-Forwarded-Script-Name': '/mounted'})
    assert e['HTTP_HOST'] == 'example.org:8443'
    assert e['wsgi.url_scheme'] == 'https'
    assert e['SCRIPT_NAME'] == '/mounted' and e['PATH_INFO'] == '/x'
    assert env(server, '/proxy', **{'X-Scheme': 'http'})['wsgi.url_scheme'] == 'http'


def test_x_https(server):
    assert env(server, '/https', **{'X-HTTPS': 'on'})['wsgi.url_scheme'] == 'https'
    assert env(server, '/https', **{'X-HTTPS': '1'})['wsgi.url_scheme'] == 'https'
    assert env(server, '/https', **{'X-HTTPS': 'off'})['wsgi.url_scheme'] == 'http'
    assert env(server, '/https')['wsgi.url_scheme'] == 'http'


def test_pass_authorization_in_htaccess_needs_fileinfo(server):
    server.expect_log(r'WSGIPassAuthorization not allowed here')
    assert env(server, '/fileinfo', Authorization='Bearer token')['HTTP_AUTHORIZATION'] == 'Bearer token'
    assert server.get('/authconfig', headers={'Authorization': 'Bearer token'}).status == 500


def test_application_group_is_not_for_htaccess(server):
    server.expect_log(r'WSGIApplicationGroup not allowed here')
    assert server.get('/all').status == 500


def run_with(config, path='/env'):
    return json_from(config + '\nWSGIScriptAlias /env {apps}/env.wsgi', APPS, path)


@mod_wsgi_versions(minimum=(6,))
def test_switch_interval():
    assert run_with('WSGISwitchInterval 0.0125')['switchinterval'] == pytest.approx(0.0125)


@pytest.mark.ours_only  # mod_wsgi 5 initialises the agent itself (newrelic.agent.initialize)
def test_newrelic_settings_reach_the_environment():
    e = run_with('WSGINewRelicConfigFile /etc/newrelic.ini\nWSGINewRelicEnvironment staging')
    assert e['NEW_RELIC_CONFIG_FILE'] == '/etc/newrelic.ini'
    assert e['NEW_RELIC_ENVIRONMENT'] == 'staging'


ON_OFF = ['WSGIVerboseDebugging', 'WSGISocketRotation', 'WSGIServerMetrics', 'WSGIIgnoreActivity',
          'WSGIPassApacheRequest']
SERVER_ONLY = ['WSGIVerboseDebugging On', 'WSGISocketRotation Off', 'WSGIServerMetrics On', 'WSGIAcceptMutex default']

GOOD = [
    *['%s Off' % d for d in ON_OFF],
    *['%s On' % d for d in ON_OFF if d != 'WSGIPassApacheRequest'],
    'WSGIAcceptMutex default', 'WSGIAcceptMutex fcntl', 'WSGIAcceptMutex flock', 'WSGIAcceptMutex sysvsem',
    'WSGIAcceptMutex posixsem', 'WSGIAcceptMutex pthread',
    '<Location /x>\nWSGIIgnoreActivity On\nWSGIPassApacheRequest Off\n</Location>',
    '<Directory /tmp>\nWSGIPassApacheRequest Off\n</Directory>',
    'WSGITrustedProxyHeaders X-Host X-Scheme X-HTTPS X-Forwarded-Script-Name',
    pytest.param('WSGINewRelicConfigFile /etc/newrelic.ini\nWSGINewRelicEnvironment production',
                 marks=mod_wsgi_versions(below=(6,))),
    pytest.param('WSGISwitchInterval 0.002', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGISlowRequests 2.5', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGISlowRequests 0', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGITelemetryService unix:/tmp/telemetry.sock interval=2', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGITelemetryOptions +CaptureUserAgent', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGITelemetryOptions None', marks=mod_wsgi_versions(minimum=(6,))),
]


@pytest.mark.parametrize('config', GOOD)
def test_accepted(config):
    rc, out = configtest(config)
    assert rc == 0, out


BAD = [
    *[('%s Sometimes' % d, d, 'On or Off') for d in ON_OFF],
    *[('<Location /x>\n%s\n</Location>' % d, d.split()[0], 'not allowed') for d in SERVER_ONLY],
    ('WSGIAcceptMutex bogus', 'WSGIAcceptMutex', 'bogus'),
    pytest.param('WSGISwitchInterval 0', 'WSGISwitchInterval', 'positive', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGISwitchInterval fast', 'WSGISwitchInterval', 'positive', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGISlowRequests -1', 'WSGISlowRequests', 'non-negative', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('<Location /x>\nWSGISwitchInterval 0.1\n</Location>', 'WSGISwitchInterval', 'not allowed',
                 marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('<Location /x>\nWSGINewRelicConfigFile /x\n</Location>', 'WSGINewRelicConfigFile', 'not allowed',
                 marks=mod_wsgi_versions(below=(6,))),
    # WSGIPerInterpreterGIL, WSGIFreeThreading, <WSGIInterpreterOptions>: test_gil_config.py
    pytest.param('WSGIFreeThreading Maybe', 'WSGIFreeThreading', 'On or Off', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('<Location /x>\nWSGIPerInterpreterGIL On\n</Location>', 'WSGIPerInterpreterGIL', 'not allowed',
                 marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGITelemetryService udp:host:9', 'WSGITelemetryService', 'unix:', marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGITelemetryService unix:/x interval=0.1', 'WSGITelemetryService', '0.5',
                 marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGITelemetryOptions +CaptureUserAgent None', 'WSGITelemetryOptions', 'mixed',
                 marks=mod_wsgi_versions(minimum=(6,))),
    pytest.param('WSGITelemetryOptions Bogus', 'WSGITelemetryOptions', 'Bogus', marks=mod_wsgi_versions(minimum=(6,))),
    # mod_wsgi accepts On and hands applications apache.request_rec, which we do not provide.
    pytest.param('WSGIPassApacheRequest On', 'WSGIPassApacheRequest', 'request_rec', marks=pytest.mark.ours_only),
]


@pytest.mark.parametrize('config,name,reason', BAD)
def test_refused(config, name, reason):
    rc, out = configtest(config)
    assert rc != 0, out
    if OURS:
        assert name in out and reason in out, out
