#!/usr/bin/env bash
# Create .venv and install the pinned dependencies (idempotent: skipped when nothing changed).
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
  for candidate in python3.11 python3.12 python3; do
    if command -v "$candidate" >/dev/null && "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      PYTHON="$candidate"; break
    fi
  done
fi
[[ -n "$PYTHON" ]] || { echo "bootstrap: Python 3.11 or newer is required" >&2; exit 1; }

if ! command -v git >/dev/null; then
  echo "bootstrap: installing git (Debian package)"; apt-get update -qq && apt-get install -y -qq git >/dev/null
fi

stamp="$VENV/.installed"
want="$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
echo "bootstrap: installing pinned dependencies into $VENV (first run takes a minute or two)"
[[ -x "$VENV/bin/python" ]] || "$PYTHON" -m venv "$VENV"
quiet_pip() {  # pip's own noise about local index locations that do not exist here
  "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" 2> >(grep -v "^WARNING: Location " >&2)
}
quiet_pip --upgrade "pip==26.3"
quiet_pip -r requirements-dev.txt -c constraints.txt
echo "$want" > "$stamp"
