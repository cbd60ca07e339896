"""mod_swiftwsgi: Apache's mod_wsgi drop-in with its core in Swift, as a Python package.

A wheel holds, in ``mod_swiftwsgi/server/``, the Apache module built for one Python
(``mod_swiftwsgi-py3X.so``), its host library (``libswiftwsgi-py3X.so``) and ``swiftwsgi-express``;
the console script ``swiftwsgi-express`` runs that program for this Python (see
:mod:`mod_swiftwsgi.express`). ``mod_swiftwsgi.server`` is also the Django application that adds
``manage.py runswiftwsgi`` (``INSTALLED_APPS += ['mod_swiftwsgi.server']``), as ``mod_wsgi.server``
does for ``runmodwsgi``.
"""

import os
import sys

__all__ = ['module_location', 'express_executable', 'server_directory']

# The wheel's version; scripts/build-wheel writes _version.py (an sdist or checkout has none).
try:
    from ._version import version as __version__
except ImportError:  # pragma: no cover - a checkout
    __version__ = '0+checkout'


def server_directory():
    """The directory that holds the module, its host library and swiftwsgi-express."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), 'server')


def module_location():
    """The path of the Apache module built for this Python (what LoadModule names), or None
    when this copy of the package carries no binaries (a source checkout)."""
    path = os.path.join(server_directory(), 'mod_swiftwsgi-py%d%d.so' % sys.version_info[:2])
    return path if os.path.exists(path) else None


def express_executable():
    """The bundled swiftwsgi-express program, or None when there is none (a source checkout)."""
    path = os.path.join(server_directory(), 'swiftwsgi-express')
    return path if os.access(path, os.X_OK) else None
