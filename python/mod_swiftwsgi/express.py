"""The ``swiftwsgi-express`` console script: runs the bundled program for this Python.

It replaces this process with ``mod_swiftwsgi/server/swiftwsgi-express``, telling it which
Python it serves (``SWIFTWSGI_EXPRESS_PYTHON``: it picks the module built for that Python and
loads that Python's libpython before it) and, in a virtual environment, the environment
(``VIRTUAL_ENV``: its WSGIPythonHome), as if the environment were activated. Every argument goes
to the program unchanged: ``swiftwsgi-express start-server app.wsgi``, ``module-config``,
``install-module``, ``module-location``.
"""

import os
import sys

from . import express_executable


def command_environment(environ=None):
    """The environment the program runs in: this one, plus which Python and venv it serves."""
    env = dict(os.environ if environ is None else environ)
    env['SWIFTWSGI_EXPRESS_PYTHON'] = sys.executable
    if sys.prefix != sys.base_prefix:
        env['VIRTUAL_ENV'] = sys.prefix
    return env


def exec_express(arguments):
    """Replaces this process with swiftwsgi-express and `arguments` (Apache then replaces it:
    Ctrl-C and SIGTERM reach Apache)."""
    program = express_executable()
    if program is None:
        sys.exit('swiftwsgi-express: this mod_swiftwsgi package carries no binaries (a source checkout?): '
                 'install the wheel (pip install mod-swiftwsgi) or build with make')
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(program, [program] + list(arguments), command_environment())


def main():
    exec_express(sys.argv[1:])


if __name__ == '__main__':
    main()
