#!/usr/bin/env bash
# Tests need PostgreSQL at 127.0.0.1:5432 (trust auth). Start the local cluster if it is down;
# under CI=true a missing server is a hard failure, never a silent skip.
set -euo pipefail
source "$(dirname "$0")/env.sh"
check() { "$VENV/bin/python" - <<'PY'
import sys, psycopg2
try:
    psycopg2.connect(host="127.0.0.1", port=5432, user="postgres", dbname="postgres", connect_timeout=3).close()
except Exception as exc:
    print(f"PostgreSQL not reachable: {type(exc).__name__}", file=sys.stderr); sys.exit(1)
PY
}
check 2>/dev/null && exit 0
if command -v pg_ctlcluster >/dev/null && [[ -d /etc/postgresql ]]; then
  echo "ensure_postgres: starting the local PostgreSQL cluster"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  for _ in $(seq 1 30); do check 2>/dev/null && exit 0; sleep 1; done
fi
check || { echo "ensure_postgres: PostgreSQL at 127.0.0.1:5432 is required for the test suite" >&2; exit 1; }
