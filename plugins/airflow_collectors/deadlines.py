"""Lateness: a ``DeadlineAlert`` per collector DAG, alerting through the collectors' notifier.

The deadline is measured from when the DAG run was queued (``DAGRUN_QUEUED_AT``), so a run
that waits for a pool slot counts as late too. When it passes and the run is still not
finished, the scheduler queues :func:`collector_deadline_missed` on the triggerer (an
``AsyncCallback``), which sends a ``late`` alert with the same routing, destinations and
suppression as task failures.

``airflow dags test`` is the exception: in Airflow 3.3.2 it runs an in-memory copy of the DAG
whose deadline alerts were never written to the metadata DB, and it crashes when the run
succeeds (``DeadlineAlertModel.get_by_id`` receives the serialized alert instead of its id).
Deadlines only matter under a scheduler anyway, so the factory leaves them out of DAGs parsed
by ``airflow dags test`` (see :func:`deadlines_supported`).
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from airflow_collectors.alerts.notifier import CollectorAlertNotifier
from core.config import AlertRouting

__all__ = [
    "collector_deadline",
    "collector_deadline_missed",
    "deadlines_supported",
]


def deadlines_supported(argv: Sequence[str] | None = None) -> bool:
    """False inside ``airflow dags test`` (see the module docstring), True everywhere else."""
    args = list(sys.argv if argv is None else argv)
    program = Path(args[0]).name if args else ""
    launched_by_airflow = program == "airflow" or (program == "__main__.py" and "airflow" in args[0])
    return not (launched_by_airflow and args[1:3] == ["dags", "test"])


async def collector_deadline_missed(
    *,
    collector: str,
    deadline_minutes: float,
    routing: Mapping[str, Any],
    store_conn_id: str = "collector_db",
    context: Mapping[str, Any] | None = None,
) -> str:
    """Deadline callback (runs in the triggerer; ``context`` holds ``dag_run`` and ``deadline``).

    Backfill runs have no lateness of their own: Airflow creates a deadline for every run of
    the DAG (a 73-run backfill, 73 deadlines), and a backfill queued behind its own
    ``max_active_runs`` is not late in any sense an operator can act on. Their callbacks
    return without alerting.
    """
    dag_run = (context or {}).get("dag_run")
    run_type = dag_run.get("run_type") if isinstance(dag_run, Mapping) else getattr(dag_run, "run_type", None)
    if str(getattr(run_type, "value", run_type)) == "backfill":
        return "skipped: backfill run"
    notifier = CollectorAlertNotifier(
        routing=routing,
        store_conn_id=store_conn_id,
        kind="deadline",
        collector=collector,
        deadline_minutes=deadline_minutes,
    )
    await notifier.async_notify(dict(context or {}))  # type: ignore[arg-type]
    result = notifier.last_result
    if result is None:
        return "not routed"
    return "sent" if result.sent else ("suppressed" if result.suppressed else "not delivered")


def collector_deadline(
    *, collector: str, minutes: float, routing: AlertRouting, store_conn_id: str
) -> DeadlineAlert:
    """The lateness ``DeadlineAlert`` for one collector DAG (kwargs are plain JSON)."""
    return DeadlineAlert(
        reference=DeadlineReference.DAGRUN_QUEUED_AT,
        interval=dt.timedelta(minutes=minutes),
        callback=AsyncCallback(
            collector_deadline_missed,
            kwargs={
                "collector": collector,
                "deadline_minutes": minutes,
                "routing": routing.model_dump(mode="json"),
                "store_conn_id": store_conn_id,
            },
        ),
        name=f"{collector} lateness",
    )
