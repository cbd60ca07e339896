#!/usr/bin/env bash
# Creates the Flask example's virtual environment with Debian's Python 3.11 and installs
# requirements.txt from PyPI into it. Idempotent: an up-to-date venv is left alone.
#
#   examples/flask/setup-venv.sh [VENV_DIR]      (default: examples/flask/.venv)
#
# Needs Debian's python3.11-venv package. The venv must be readable by Apache's User.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${1:-$here/.venv}"
python=/usr/bin/python3.11
requirements="$here/requirements.txt"
stamp="$venv/.requirements.sha256"

if [ ! -x "$python" ]; then
  echo "setup-venv: $python not found (apt-get install python3.11 python3.11-venv)" >&2
  exit 1
fi
want="$(sha256sum "$requirements" | cut -d' ' -f1)"

# Recreate a venv that is broken or was made by another Python.
if [ -e "$venv" ]; then
  if ! "$venv/bin/python" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
     || ! grep -q '^home = /usr/bin$' "$venv/pyvenv.cfg" 2>/dev/null; then
    echo "setup-venv: $venv is not a venv of $python: recreating it" >&2
    rm -rf "$venv"
  fi
fi

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
  exit 0
fi

if [ ! -e "$venv" ]; then
  echo "setup-venv: creating $venv with $python" >&2
  (umask 022 && "$python" -m venv "$venv")
fi
echo "setup-venv: installing $requirements into $venv" >&2
# env -u: a pyenv or other PYTHON* setting of the calling shell must not leak into pip.
(umask 022 && env -u PYTHONHOME -u PYTHONPATH -u PIP_REQUIRE_VIRTUALENV \
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements")
echo "$want" > "$stamp"
