#!/usr/bin/env bash
# The embedded default, end to end: install, prepare a local SQLite AIRFLOW_HOME, run the
# Discord collector DAG through real Airflow on the bundled sample exports, print a summary.
set -euo pipefail
source "$(dirname "$0")/env.sh"
cd "$PROJECT_ROOT"
"$PROJECT_ROOT/scripts/bootstrap.sh"
mkdir -p "$AIRFLOW_HOME" "$COLLECTOR_STATE_DIR"

echo "== Airflow metadata database (SQLite) in $AIRFLOW_HOME"
airflow db migrate >"$COLLECTOR_STATE_DIR/airflow-db-migrate.log" 2>&1 || { cat "$COLLECTOR_STATE_DIR/airflow-db-migrate.log"; exit 1; }
for pool in github_api:4 slack_api:2 discord_api:2 pinecone:2; do
  airflow pools set "${pool%%:*}" "${pool##*:}" "collector pool" >/dev/null
done

DAG_ID="${DAG_ID:-collect_discord}"
echo "== airflow dags test $DAG_ID (log: $COLLECTOR_STATE_DIR/dags-test.log)"
if ! airflow dags test "$DAG_ID" >"$COLLECTOR_STATE_DIR/dags-test.log" 2>&1; then
  tail -n 60 "$COLLECTOR_STATE_DIR/dags-test.log"; echo "demo: the DAG run failed (full log above)" >&2; exit 1
fi
grep -oE "[a-z_]+\.(validate|collect|sync_pinecone) finished: .* in [0-9.]+s" "$COLLECTOR_STATE_DIR/dags-test.log" | sed 's/^/  /' || true
grep -oE "DagRun Finished: dag_id=[^,]*|state=(success|failed)" "$COLLECTOR_STATE_DIR/dags-test.log" | tail -n 2 | tr '\n' ' ' | sed 's/^/  /'; echo

echo
echo "== What is stored"
python -m core.cli summary
echo
echo "== A taste of what the vector index would hold (python -m core.cli search WORDS)"
python -m core.cli search --limit 3 build
cat <<TXT

Data lives in $COLLECTOR_STATE_DIR/collector.db (SQLite); run this again and nothing is stored twice.
Open the Airflow UI:   scripts/ui.sh   (PostgreSQL metadata, so UI backfills work; prints the URL and the admin password file)
Run outside Airflow:   source scripts/env.sh && python -m core.cli run discord
TXT
