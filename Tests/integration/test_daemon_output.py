"""The tests of test_output.py, with every application in a daemon process: request semantics in
daemon mode are those of embedded mode (only environ's process keys differ)."""

from test_output import *  # noqa: F401,F403 (the tests, APPS, FILES, setup_server)
from test_output import CONFIG as EMBEDDED_CONFIG

CONFIG = 'WSGIDaemonProcess semantics processes=2 threads=4\nWSGIProcessGroup semantics\n' + EMBEDDED_CONFIG
SINGLE_MPM = True
