"""Which store a console command talks to: ``--db``, ``$COLLECTOR_DB_URL``, the
``collector_db`` connection, or (only with ``$COLLECTOR_EMBEDDED=1``, as for tasks) the
embedded SQLite store.

The connection is read by a *lookup*: ``python -m core.cli`` (no Airflow) reads
``$AIRFLOW_CONN_COLLECTOR_DB``; ``python -m airflow_collectors.cli`` reads every Airflow
connection source (metadata DB, secrets backends, environment). Both turn the fields into a
URL with :func:`core.connections.store_url_from_connection`, as tasks do.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any

from core.connections import (
    connection_from_env,
    embedded_mode,
    missing_store_connection,
    store_url_from_connection,
)

__all__ = ["STORE_CONN_ID", "ConnectionLookup", "resolve_store_url"]

#: ``conn_id -> fields`` (``None`` when the connection is not defined).
ConnectionLookup = Callable[[str], Mapping[str, Any] | None]

STORE_CONN_ID = "collector_db"


def resolve_store_url(
    explicit: str | None = None,
    *,
    lookup: ConnectionLookup = connection_from_env,
    conn_id: str = STORE_CONN_ID,
) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("COLLECTOR_DB_URL"):
        return os.environ["COLLECTOR_DB_URL"]
    fields = lookup(conn_id)
    if fields is None:
        if embedded_mode():
            return None
        raise missing_store_connection(conn_id)
    return store_url_from_connection(fields, conn_id)
