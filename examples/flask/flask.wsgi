# WSGI entry point of the Flask example (app.py), with Flask installed from PyPI into a
# virtual environment made by setup-venv.sh with Debian's /usr/bin/python3.11.
#
# The venv is added to this interpreter's sys.path here rather than with WSGIPythonHome:
# WSGIPythonHome applies to the whole Apache process (every application group), while
# site.addsitedir() below affects only the application group that loads this script, so
# other applications on the same server keep Debian's Python untouched.
#
# The venv is looked up in $SWIFTWSGI_FLASK_VENV (Apache's process environment, e.g.
# exported in /etc/apache2/envvars), else in .venv next to this file.

import os
import site
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
VENV = os.environ.get('SWIFTWSGI_FLASK_VENV') or os.path.join(HERE, '.venv')
SITE_PACKAGES = os.path.join(VENV, 'lib', 'python%d.%d' % sys.version_info[:2],
                             'site-packages')

if not os.path.isdir(SITE_PACKAGES):
    raise RuntimeError(
        'no virtual environment for Python %d.%d at %s: run %s/setup-venv.sh'
        % (sys.version_info[:2] + (VENV, HERE)))

# site.addsitedir appends the venv (and its .pth files) to sys.path; move the new entries
# to the front so that the venv's packages win over any Debian python3-* package.
_before = list(sys.path)
site.addsitedir(SITE_PACKAGES)
_added = [p for p in sys.path if p not in _before]
sys.path[:] = _added + [p for p in sys.path if p not in _added]
if HERE not in sys.path:
    sys.path.insert(0, HERE)

from app import app as application  # noqa: E402
