# The script Flask 3's deployment page gives mod_wsgi-express: in this directory, with the
# venv active,
#
#     . .venv/bin/activate
#     swiftwsgi-express start-server wsgi.py --processes 4
#
# (the daemon's home= is this directory, first on sys.path, so `app` imports from here).
from app import app

application = app
