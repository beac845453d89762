"""Which store a console command talks to: ``--db``, ``$COLLECTOR_DB_URL``, the Airflow
connection variable ``$AIRFLOW_CONN_COLLECTOR_DB``, or the embedded SQLite default."""

from __future__ import annotations

import json
import os

__all__ = ["resolve_store_url"]


def resolve_store_url(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("COLLECTOR_DB_URL"):
        return os.environ["COLLECTOR_DB_URL"]
    conn = os.environ.get("AIRFLOW_CONN_COLLECTOR_DB")
    if not conn:
        return None
    if conn.lstrip().startswith("{"):
        fields = json.loads(conn)
        login = fields.get("login") or ""
        password = fields.get("password")
        auth = f"{login}:{password}@" if password else (f"{login}@" if login else "")
        port = f":{fields['port']}" if fields.get("port") else ""
        return f"postgresql://{auth}{fields.get('host', 'localhost')}{port}/{fields.get('schema') or ''}"
    return conn
