"""``python -m airflow_collectors.cli COMMAND``: the console commands of ``core.cli`` (run,
summary, search, migrate, status) with connections read the way tasks read them.

``python -m core.cli`` knows no Airflow: it reads connections from ``$AIRFLOW_CONN_<ID>`` only.
On a deployment the ``collector_db`` connection (and the tokens) usually live in Airflow's
metadata DB, set in the UI or by ``airflow_settings.yaml``, or in a secrets backend: this entry
point looks them up through Airflow's connection sources, so a one-off repair run on a worker
talks to the same store and uses the same credentials as the scheduled tasks.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_collectors.connections import fields_of
from core.cli.__main__ import main as console_main

__all__ = ["airflow_connection", "main"]


def airflow_connection(conn_id: str) -> Mapping[str, Any] | None:
    """Fields of ``conn_id`` from Airflow's secrets backends, environment and metadata DB."""
    from airflow.models import Connection
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = Connection.get_connection_from_secrets(conn_id)
    except AirflowNotFoundException:
        return None
    return fields_of(conn)


def main(argv: Sequence[str] | None = None) -> int:
    return console_main(argv, lookup=airflow_connection)


if __name__ == "__main__":
    sys.exit(main())
