# WSGI entry point of the Flask example, as Flask's "mod_wsgi (Apache)" page writes it: put
# the application's directory on the Python path, then import the Flask object as
# `application`. Flask itself comes from the virtual environment that httpd.conf names with
# python-home= (made by setup-venv.sh with Debian's /usr/bin/python3.11).

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from app import app as application  # noqa: E402
