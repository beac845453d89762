#!/usr/bin/env bash
# docker-compose.yaml: the postgres image runs this once, on an empty data volume. Creates the
# collector store's role and database (AIRFLOW_CONN_COLLECTOR_DB points at them).
set -euo pipefail
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
  -v pw="$COLLECTOR_DB_PASSWORD" <<'SQL'
CREATE ROLE collector LOGIN PASSWORD :'pw';
CREATE DATABASE collectors OWNER collector;
SQL
