#!/usr/bin/env python3
"""Writes the seed corpus of the daemon-options fuzz target (Tests/fuzz/corpus/daemon-options/):
WSGIDaemonProcess option lists, one option per line, valid and invalid, covering every kind of
value in apache/swiftwsgi_daemon_options.c's table."""

import os
import sys

SEEDS = {
    'defaults': [],
    'processes-threads': ['processes=2', 'threads=15'],
    'threads-zero': ['threads=0'],
    'user-group': ['user=www-data', 'group=www-data'],
    'user-group-ids': ['user=#33', 'group=#33'],
    'user-root': ['user=root'],
    'umask': ['umask=0007'],
    'umask-bad': ['umask=0999'],
    'paths': ['home=/srv/app', 'chroot=/srv/jail', 'python-home=/srv/venv', 'python-path=/a:/b', 'python-eggs=/tmp/eggs'],
    'relative-home': ['home=relative/dir'],
    'locale': ['lang=en_US.UTF-8', 'locale=en_US.UTF-8', 'display-name=%{GROUP}'],
    'display-name-spaces': ['display-name=my app (wsgi)'],
    'timeouts': ['connect-timeout=15', 'socket-timeout=60', 'graceful-timeout=15', 'request-timeout=60',
                 'inactivity-timeout=300', 'restart-interval=3600', 'queue-timeout=45', 'startup-timeout=15',
                 'shutdown-timeout=5', 'eviction-timeout=10', 'deadlock-timeout=300'],
    'zero-defaults': ['connect-timeout=0', 'socket-timeout=0', 'header-buffer-size=0', 'listen-backlog=0'],
    'buffers': ['header-buffer-size=32768', 'send-buffer-size=65536', 'receive-buffer-size=65536',
                'response-buffer-size=65536', 'stack-size=524288'],
    'limits': ['cpu-time-limit=3600', 'memory-limit=1073741824', 'virtual-memory-limit=8589934592',
               'cpu-priority=-5', 'listen-backlog=100'],
    'maximum-requests': ['maximum-requests=1000'],
    'out-of-range': ['processes=0', 'threads=99999', 'memory-limit=1', 'cpu-priority=21'],
    'overflow': ['maximum-requests=99999999999999999999999', 'request-timeout=-9223372036854775808'],
    'not-numbers': ['processes=two', 'threads=', 'socket-timeout=1.5', 'umask=abc'],
    'ids': ['socket-user=www-data', 'script-user=#0', 'script-group=#33'],
    'script-user-and-group': ['script-user=www-data', 'script-group=www-data'],
    'unknown-users': ['user=nosuchuser', 'group=nosuchgroup', 'socket-user=#', 'script-group=#-1'],
    'supplementary-groups': ['supplementary-groups=adm,www-data'],
    'supplementary-groups-bad': ['supplementary-groups=adm,,nosuchgroup,'],
    'switch-interval': ['switch-interval=0.005'],
    'switch-interval-bad': ['switch-interval=nan', 'switch-interval=1e9', 'switch-interval=-1'],
    'server-metrics': ['server-metrics=On', 'server-metrics=off', 'server-metrics=maybe'],
    'newrelic-and-mod-wsgi-6': ['newrelic-config-file=/etc/nr.ini', 'newrelic-environment=prod',
                                'response-socket-timeout=30', 'interrupt-timeout=10', 'response-flush-delay=100'],
    'not-name-value': ['processes', '=2', 'no-such-option=1', 'processes==2'],
    'repeated': ['processes=2', 'processes=3', 'threads=1', 'threads=2'],
}


def main(directory):
    os.makedirs(directory, exist_ok=True)
    for name, options in SEEDS.items():
        with open(os.path.join(directory, name), 'w') as f:
            f.write('\n'.join(options))


if __name__ == '__main__':
    here = os.path.dirname(os.path.abspath(__file__))
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(here, '..', 'corpus', 'daemon-options'))
