#!/usr/bin/env bash
# The Airflow UI for triggering and backfilling collectors, on a PostgreSQL metadata database.
#
#   scripts/ui.sh        # then open the printed URL; Ctrl-C stops every service
#
# Runs what `airflow standalone` runs (api-server, scheduler, dag-processor, triggerer;
# LocalExecutor), but each as its own process and with the metadata in PostgreSQL: on SQLite a
# backfill from the UI answers 503, creates no runs and kills the scheduler (ObjectDeletedError),
# because SQLite serialises the API server's and the scheduler's writes (README "The Airflow UI").
#
# Environment (all optional):
#   UI_METADATA_URL  Airflow's metadata database  (postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_ui)
#   UI_STORE_URL     the collector store, given to the tasks as the collector_db connection
#                    (postgresql://postgres@127.0.0.1:5432/collectors_ui); ignored when
#                    AIRFLOW_CONN_COLLECTOR_DB is set
#   UI_PORT          the API server's port (8080)
#   AIRFLOW_HOME     .local/airflow-ui: airflow.cfg, logs, the generated admin password
#   COLLECTORS_CONFIG  the collectors.yaml to serve (include/collectors.yaml)
# Both databases are created when missing; the metadata is migrated and airflow_settings.yaml's
# pools and variables applied on every start (idempotent).
set -euo pipefail
STATE_DIR="${COLLECTOR_STATE_DIR:-$(cd "$(dirname "$0")/.." && pwd)/.local}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$STATE_DIR/airflow-ui}"
# shellcheck source=scripts/env.sh
source "$(dirname "$0")/env.sh"

UI_PORT="${UI_PORT:-8080}"
UI_METADATA_URL="${UI_METADATA_URL:-postgresql+psycopg2://postgres@127.0.0.1:5432/airflow_ui}"
UI_STORE_URL="${UI_STORE_URL:-postgresql://postgres@127.0.0.1:5432/collectors_ui}"
mkdir -p "$AIRFLOW_HOME/logs"

create_database() {  # create_database URL: CREATE DATABASE when it does not exist yet
  "$VENV/bin/python" - "$1" <<'PY'
import sys

import psycopg2
from psycopg2 import sql
from sqlalchemy.engine import make_url

url = make_url(sys.argv[1])
if not url.drivername.startswith("postgresql") or not url.database:
    sys.exit(f"ui.sh: expected a postgresql URL with a database name, got {url.render_as_string(hide_password=True)}")
params = {"host": url.host or "127.0.0.1", "port": url.port or 5432, "user": url.username or "postgres"}
if url.password:
    params["password"] = url.password
try:
    admin = psycopg2.connect(dbname="postgres", connect_timeout=5, **params)
except psycopg2.OperationalError as exc:
    sys.exit(f"ui.sh: PostgreSQL at {params['host']}:{params['port']} is not reachable ({type(exc).__name__})")
admin.autocommit = True
with admin.cursor() as cursor:
    cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (url.database,))
    if cursor.fetchone() is None:
        cursor.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(url.database)))
        print(f"ui.sh: created database {url.database}")
admin.close()
PY
}

create_database "$UI_METADATA_URL"
if [[ -z "${AIRFLOW_CONN_COLLECTOR_DB:-}" ]]; then
  create_database "$UI_STORE_URL"
  export AIRFLOW_CONN_COLLECTOR_DB="$UI_STORE_URL"
fi

# The API and JWT secrets: Airflow generates them into $AIRFLOW_HOME/airflow.cfg on the first
# start, which every service below reads, so the tasks' tokens verify everywhere.
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="$UI_METADATA_URL"
export AIRFLOW__CORE__EXECUTOR="${AIRFLOW__CORE__EXECUTOR:-LocalExecutor}"
export AIRFLOW__API__PORT="$UI_PORT"
export AIRFLOW__API__BASE_URL="${AIRFLOW__API__BASE_URL:-http://localhost:$UI_PORT}"
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="${AIRFLOW__CORE__EXECUTION_API_SERVER_URL:-http://127.0.0.1:$UI_PORT/execution/}"
PASSWORDS="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-$AIRFLOW_HOME/simple_auth_manager_passwords.json.generated}"

airflow db migrate >"$AIRFLOW_HOME/logs/ui-db-migrate.log" 2>&1 \
  || { tail -n 40 "$AIRFLOW_HOME/logs/ui-db-migrate.log" >&2; exit 1; }
"$VENV/bin/python" "$PROJECT_ROOT/scripts/apply_airflow_settings.py"

pids=()
stop() {
  trap - EXIT INT TERM
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'stop; exit 0' INT TERM
for service in api-server scheduler dag-processor triggerer; do
  airflow "$service" >"$AIRFLOW_HOME/logs/ui-$service.log" 2>&1 &
  pids+=("$!")
done

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$UI_PORT/api/v2/monitor/health" >/dev/null 2>&1; then
    break
  fi
  sleep 1
done
cat <<EOF
The Airflow UI: $AIRFLOW__API__BASE_URL
  users:     ${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS:-admin:admin} (SimpleAuthManager)
  passwords: $PASSWORDS (generated on the first start)
  metadata:  PostgreSQL database ${UI_METADATA_URL##*/}
  logs:      $AIRFLOW_HOME/logs/ui-*.log
Ctrl-C stops every service.
EOF
# The first service to exit (a crash) stops the others.
status=0
wait -n "${pids[@]}" || status=$?
echo "ui.sh: a service exited with status $status; stopping the others (logs: $AIRFLOW_HOME/logs/ui-*.log)" >&2
exit "$status"
