#!/usr/bin/env bash
# Prepares the Django example: a venv of Debian's Python 3.11 with Django from PyPI and
# python/mod_swiftwsgi (the runswiftwsgi command), the SQLite database, the admin user and
# the collected static files. Idempotent.
#
#   examples/django/setup.sh [--data-owner USER]
#
# The venv is examples/django/.venv, the state (database, secret key, admin password, uploads)
# examples/django/.data ($SWIFTWSGI_DJANGO_DATA); --data-owner gives .data to the user the
# application runs as (www-data when served by root).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$here/.venv"
data="${SWIFTWSGI_DJANGO_DATA:-$here/.data}"
owner=""
[ "${1:-}" = "--data-owner" ] && owner="${2:?--data-owner needs a user}"
say() { echo "django/setup: $*" >&2; }

if [ ! -x "$venv/bin/python" ]; then
  say "creating $venv with /usr/bin/python3.11"
  /usr/bin/python3.11 -m venv "$venv"
fi
if ! "$venv/bin/python" -c 'import django, wheel' 2>/dev/null; then
  say "installing $here/requirements.txt"
  "$venv/bin/python" -m pip install -q -r "$here/requirements.txt" wheel
fi
# The Django application of python/mod_swiftwsgi (runswiftwsgi), copied from this checkout: its
# pure-Python part, which runs this checkout's swiftwsgi-express ($SWIFTWSGI_EXPRESS or PATH).
site_packages=$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
rm -rf "$site_packages/mod_swiftwsgi" "$site_packages"/django_swiftwsgi*
cp -r "$repo/python/mod_swiftwsgi" "$site_packages/mod_swiftwsgi"

mkdir -p "$data/media"
export SWIFTWSGI_DJANGO_DATA="$data"
cd "$here"
"$venv/bin/python" manage.py migrate -v0
"$venv/bin/python" manage.py collectstatic --noinput -v0
if [ ! -s "$data/admin-password" ]; then
  (umask 077; "$venv/bin/python" -c 'import secrets; print(secrets.token_urlsafe(12))' > "$data/admin-password")
fi
if ! DJANGO_SUPERUSER_PASSWORD="$(cat "$data/admin-password")" \
     "$venv/bin/python" manage.py createsuperuser --noinput --username admin --email admin@example.com 2>/dev/null; then
  : # already there
fi
[ -e "$data/media/hello.txt" ] || echo 'a file under MEDIA_ROOT, served by Apache' > "$data/media/hello.txt"
if [ -n "$owner" ]; then
  chown -R "$owner" "$data"
fi
say "ready: cd $here && .venv/bin/python manage.py runswiftwsgi --port 8000"
