"""Lateness: a ``DeadlineAlert`` per collector DAG, alerting through the collectors' notifier.

The deadline is measured from when the DAG run was queued (``DAGRUN_QUEUED_AT``), so a run
that waits for a pool slot counts as late too. When it passes and the run is still not
finished, the scheduler queues :func:`collector_deadline_missed` on the triggerer (an
``AsyncCallback``), which sends a ``late`` alert with the same routing, destinations and
suppression as task failures.

The same DAG runs under ``airflow dags test`` (see :mod:`airflow_collectors.compat` for the
workaround that makes it possible).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from airflow.sdk.definitions.callback import AsyncCallback
from airflow.sdk.definitions.deadline import DeadlineAlert, DeadlineReference

from airflow_collectors.alerts.notifier import CollectorAlertNotifier
from core.config import AlertRouting

__all__ = [
    "collector_deadline",
    "collector_deadline_missed",
]


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
