# Sourced by the other scripts: the project's local Airflow environment (no server needed).
# shellcheck shell=bash
PROJECT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PROJECT_ROOT
# The embedded store (SQLite under $COLLECTOR_STATE_DIR) when no collector_db connection exists:
# on for this local environment (demo, console, tests); never set in the image or a cluster.
export COLLECTOR_EMBEDDED="${COLLECTOR_EMBEDDED:-1}"
export COLLECTOR_STATE_DIR="${COLLECTOR_STATE_DIR:-$PROJECT_ROOT/.local}"
export AIRFLOW_HOME="${AIRFLOW_HOME:-$COLLECTOR_STATE_DIR/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$PROJECT_ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$PROJECT_ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES="False"
export AIRFLOW__CORE__UNIT_TEST_MODE="${AIRFLOW__CORE__UNIT_TEST_MODE:-False}"
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN:-sqlite:///$AIRFLOW_HOME/airflow.db}"
export AIRFLOW__LOGGING__LOGGING_LEVEL="${AIRFLOW__LOGGING__LOGGING_LEVEL:-INFO}"
export PYTHONPATH="$PROJECT_ROOT/plugins${PYTHONPATH:+:$PYTHONPATH}"
export VENV="${VENV:-$PROJECT_ROOT/.venv}"
export PATH="$VENV/bin:$PATH"
