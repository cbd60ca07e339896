#!/usr/bin/env bash
# Trac 1.6 for mod_swiftwsgi (or mod_wsgi), with the configuration of Trac's TracModWSGI page.
#
#   examples/trac/setup.sh [--venv DIR] [--site DIR] [--project NAME]... [--db URI] [--svn]
#                          [--url /trac] [--admin NAME] [--admin-password PW] [--no-apt] [--venv-only]
#
# As root on Debian 12; idempotent (run it again to add a project or after a change of
# requirements.txt). It
#   1. apt-get installs what is missing (checked with dpkg-query first): Apache, Debian's Python
#      3.11 with venv and headers, gcc and libpq-dev (psycopg2 is built from source),
#      PostgreSQL, Subversion and Debian's python3-subversion bindings;
#   2. makes a venv with /usr/bin/python3.11 (--venv, $TRAC_VENV, default examples/trac/.venv)
#      and pip-installs requirements.txt (Trac, psycopg2 built against libpq-dev);
#   3. makes Debian's Subversion bindings, and nothing else of /usr/lib/python3/dist-packages,
#      visible to the venv: VENV/debian-svn/{svn,libsvn} are symlinks, named by a .pth file;
#   4. in the site directory (--site, $TRAC_SITE, default examples/trac/site):
#        projects/NAME/      a Trac environment per --project (default: mysite), admin user with
#                            TRAC_ADMIN; SQLite, or PostgreSQL with --db postgres://USER[:PW]@HOST[:PORT]/DB
#                            (each project in its own schema of that database)
#        svn/NAME/           with --svn: a Subversion repository per project, Trac's default repository
#        apache/trac.wsgi    the page's first script (site.addsitedir of the venv at its top,
#                            TRAC_ENV, or TRAC_ENV_PARENT_DIR for several projects, PYTHON_EGG_CACHE,
#                            application = trac.web.main.dispatch_request); with PostgreSQL
#                            also the page's `poolable = False` lines
#        deploy/             `trac-admin deploy` of the first project: cgi-bin/trac.wsgi, htdocs/
#        htpasswd            the admin's password for Basic auth on /trac/login
#        trac.conf           the httpd.conf snippet: WSGIScriptAlias, <Directory> with
#                            WSGIApplicationGroup %{GLOBAL}, Basic auth on the login URL
#
# --venv-only stops after step 3. --no-apt skips step 1. Without --admin-password (or
# $TRAC_ADMIN_PASSWORD) a new admin gets a random password, kept in SITE/admin-password.
# Apache's User (www-data) must be able to read the venv and the site: not the case under /root.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
python=/usr/bin/python3.11
requirements="$here/requirements.txt"

venv="${TRAC_VENV:-$here/.venv}"
site="${TRAC_SITE:-$here/site}"
projects=()
db=sqlite
svn=0
url=/trac
admin=admin
password="${TRAC_ADMIN_PASSWORD:-}"
apt=1
venv_only=0
usage() { sed -n '4,5p' "$0" | sed 's/^#  *//' >&2; exit 2; }
while [ $# -gt 0 ]; do
  case "$1" in
    --venv) venv="$2"; shift 2 ;;
    --site) site="$2"; shift 2 ;;
    --project) projects+=("$2"); shift 2 ;;
    --db) db="$2"; shift 2 ;;
    --svn) svn=1; shift ;;
    --url) url="${2%/}"; shift 2 ;;
    --admin) admin="$2"; shift 2 ;;
    --admin-password) password="$2"; shift 2 ;;
    --no-apt) apt=0; shift ;;
    --venv-only) venv_only=1; shift ;;
    -h|--help) usage ;;
    *) echo "setup.sh: unknown argument $1" >&2; usage ;;
  esac
done
[ ${#projects[@]} -gt 0 ] || projects=(mysite)
for p in "${projects[@]}"; do
  [[ "$p" =~ ^[A-Za-z][A-Za-z0-9_]*$ ]] || { echo "setup.sh: project names are letters, digits and _: $p" >&2; exit 2; }
done
case "$db" in
  sqlite|postgres://*) ;;
  *) echo "setup.sh: --db is sqlite or postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE" >&2; exit 2 ;;
esac
[ "$(id -u)" -eq 0 ] || { echo "setup.sh: run it as root" >&2; exit 1; }
log() { echo "setup.sh: $*" >&2; }

# 1. Debian packages.
if [ $apt -eq 1 ]; then
  packages=(apache2 apache2-utils python3.11 python3.11-venv python3.11-dev gcc libpq-dev
            postgresql subversion python3-subversion)
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >&2
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi
fi

# 2. The venv, with Trac and psycopg2 from PyPI.
umask 022
want="$(cat "$requirements" <(echo "$python")| sha256sum | cut -d' ' -f1)"
stamp="$venv/.requirements.sha256"
if [ -e "$venv" ] && { ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
                       || ! grep -q '^home = /usr/bin$' "$venv/pyvenv.cfg" 2>/dev/null; }; then
  log "$venv is not a venv of $python: recreating it"
  rm -rf "$venv"
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  [ -e "$venv" ] || { log "creating $venv with $python"; "$python" -m venv "$venv"; }
  log "installing $(grep -v '^#' "$requirements" | tr '\n' ' ')into $venv (psycopg2 from source)"
  # A PYTHONHOME/PYTHONPATH of the calling shell (pyenv...) must not leak into pip.
  if ! env -u PYTHONHOME -u PYTHONPATH -u PIP_REQUIRE_VIRTUALENV "$venv/bin/python" -m pip install \
        --quiet --disable-pip-version-check --no-binary psycopg2 -r "$requirements" \
        2> >(grep -v '^DEPRECATION: --no-binary' >&2); then
    log "pip install failed"
    exit 3
  fi
  echo "$want" > "$stamp"
fi
purelib="$("$venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# 3. Debian's Subversion bindings, and only them, for the venv.
mkdir -p "$venv/debian-svn"
for pkg in svn libsvn; do
  ln -sfn "/usr/lib/python3/dist-packages/$pkg" "$venv/debian-svn/$pkg"
done
echo "$venv/debian-svn" > "$purelib/debian-svn-bindings.pth"
chmod -R a+rX "$venv"
[ $venv_only -eq 0 ] || exit 0

# 4. The site: Trac environments, scripts, the httpd.conf snippet.
trac_admin() { "$venv/bin/trac-admin" "$@"; }
mkdir -p "$site"/{projects,apache,eggs}
[ $svn -eq 0 ] || mkdir -p "$site/svn"
new_admin=0
for p in "${projects[@]}"; do
  env="$site/projects/$p"
  if [ ! -f "$env/VERSION" ]; then
    if [ "$db" = sqlite ]; then
      uri=sqlite:db/trac.db
    else
      # One schema per project; Trac creates it.
      case "$db" in *\?*) uri="$db&schema=$p" ;; *) uri="$db?schema=$p" ;; esac
    fi
    log "creating the Trac environment $env ($uri)"
    trac_admin "$env" initenv "$p" "$uri" >/dev/null
    trac_admin "$env" config set attachment max_size 67108864
  fi
  trac_admin "$env" permission list "$admin" 2>/dev/null | grep -Eq "^$admin +TRAC_ADMIN *\$" \
    || trac_admin "$env" permission add "$admin" TRAC_ADMIN
  if [ $svn -eq 1 ]; then
    repo="$site/svn/$p"
    [ -d "$repo" ] || { log "creating the Subversion repository $repo"; svnadmin create "$repo"; }
    trac_admin "$env" config set components 'tracopt.versioncontrol.svn.*' enabled
    if ! trac_admin "$env" repository list 2>/dev/null | grep -q "$repo"; then
      trac_admin "$env" repository add '(default)' "$repo" svn
      # Trac reads new revisions at each request (or add a post-commit hook calling
      # `trac-admin ENV changeset added`, see TracRepositoryAdmin, and drop this).
      trac_admin "$env" repository set '(default)' sync_per_request true
    fi
  fi
done
# Redeployed when Trac changes (static files of its version); the scripts keep their mtime
# otherwise, so that Apache does not reload them for nothing.
if [ "$(cat "$site/deploy/.deployed" 2>/dev/null)" != "$want ${projects[0]}" ]; then
  trac_admin "$site/projects/${projects[0]}" deploy "$site/deploy" >/dev/null
  echo "$want ${projects[0]}" > "$site/deploy/.deployed"
fi
# Writes a file only when its content changes.
install_text() { if ! cmp -s "$1.new" "$1"; then mv "$1.new" "$1"; else rm -f "$1.new"; fi; }

if [ ${#projects[@]} -eq 1 ]; then
  where="os.environ['TRAC_ENV'] = '$site/projects/${projects[0]}'"
  login="<Location \"$url/login\">"
  login_end="</Location>"
else
  # Several environments in one directory: the page's TRAC_ENV_PARENT_DIR, with Trac's project index.
  where="os.environ['TRAC_ENV_PARENT_DIR'] = '$site/projects'"
  login="<LocationMatch \"^$url/[^/]+/login\$\">"
  login_end="</LocationMatch>"
fi
pool=""
if [ "$db" != sqlite ]; then
  pool="
# Several Trac environments on PostgreSQL in one process: no connection pooling, so each request
# closes its connection (TracModWSGI, \"Trac with PostgreSQL\").
import trac.db.postgres_backend
trac.db.postgres_backend.PostgreSQLConnection.poolable = False
"
fi
cat > "$site/apache/trac.wsgi.new" <<WSGI
# Trac through mod_swiftwsgi, the script of Trac's TracModWSGI page (written by examples/trac/setup.sh).
import site
site.addsitedir('$purelib')

import os

$where
os.environ['PYTHON_EGG_CACHE'] = '$site/eggs'
$pool
import trac.web.main
application = trac.web.main.dispatch_request
WSGI
install_text "$site/apache/trac.wsgi"

cat > "$site/trac.conf.new" <<CONF
# Trac through mod_swiftwsgi with the configuration of Trac's TracModWSGI page (written by
# examples/trac/setup.sh). Needs the modules wsgi (LoadModule wsgi_module .../mod_swiftwsgi.so),
# auth_basic, authn_file, authz_user and authz_core, all enabled on a stock Debian Apache.
#
# trac.wsgi adds the venv with site.addsitedir, after Debian's own dist-packages. A server that
# runs only this venv's Python applications can use it as Python's home instead:
#WSGIPythonHome $venv

WSGIScriptAlias $url $site/apache/trac.wsgi
# The script trac-admin deploy wrote works the same, with the <Directory> below set to
# $site/deploy/cgi-bin and WSGIPythonHome above (or WSGIPythonPath $purelib):
#WSGIScriptAlias $url $site/deploy/cgi-bin/trac.wsgi

<Directory $site/apache>
    WSGIApplicationGroup %{GLOBAL}
    Require all granted
    # The page's "Order deny,allow" and "Allow from all" (mod_access_compat) instead of Require
    # open the directory only where no enclosing section has a Require: Debian's apache2.conf
    # has "Require all denied" for <Directory />, which then wins (403, AH01630).
</Directory>

$login
    AuthType Basic
    AuthName "Trac"
    AuthUserFile "$site/htpasswd"
    Require valid-user
$login_end
CONF
install_text "$site/trac.conf"

if [ -n "$password" ]; then
  htpasswd -B -b $([ -f "$site/htpasswd" ] || echo -c) "$site/htpasswd" "$admin" "$password" 2>/dev/null
elif ! grep -q "^$admin:" "$site/htpasswd" 2>/dev/null; then
  password="$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
  htpasswd -B -b $([ -f "$site/htpasswd" ] || echo -c) "$site/htpasswd" "$admin" "$password" 2>/dev/null
  (umask 077 && echo "$password" > "$site/admin-password")
  new_admin=1
fi

# Apache's User writes the environments (database, attachments, log) and the egg cache.
chown -R www-data:www-data "$site/projects" "$site/eggs"
[ $svn -eq 0 ] || chown -R www-data:www-data "$site/svn"
chown root:www-data "$site/htpasswd" && chmod 640 "$site/htpasswd"
chmod -R a+rX "$site/apache" "$site/deploy" "$site/trac.conf"
chmod a+rx "$site"
if ! runuser -u www-data -- test -r "$site/apache/trac.wsgi" -a -x "$venv/bin/python" 2>/dev/null; then
  log "warning: www-data cannot read $site or $venv (a directory above them is closed): use --site/--venv elsewhere, e.g. under /srv/trac"
fi

log "done: include $site/trac.conf in Apache's configuration (e.g. ln -s $site/trac.conf /etc/apache2/conf-enabled/trac.conf)"
if [ ${#projects[@]} -eq 1 ]; then log "Trac at $url/, log in at $url/login"; else log "project index at $url/"; fi
[ $new_admin -eq 0 ] || log "user $admin, password in $site/admin-password"
