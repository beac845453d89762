"""Tasks that died without reporting (SIGKILL, a lost worker): recorded and alerted once per try.

Two reporters can see such a try: the watch process (:mod:`airflow_collectors.kill_watch`) and
Airflow's heartbeat-timeout callback (the notifier, with no ``exception`` in the context).
Whoever writes the ``collector_runs`` row for the try alerts, as category ``resource`` with
:data:`~airflow_collectors.failures.VANISHED_MESSAGE`; the other finds the row and stays quiet.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from airflow_collectors import metrics
from airflow_collectors.alerts.dispatch import dispatch_alert
from airflow_collectors.alerts.formatter import AlertKind, CollectorAlert
from airflow_collectors.alerts.router import routing_from, should_alert
from airflow_collectors.connections import store_url
from airflow_collectors.failures import VANISHED_MESSAGE
from core.config import AlertRouting
from core.errors import CollectorFailureCategory

__all__ = ["record_and_alert_vanished"]

log = logging.getLogger(__name__)


def _as_datetime(value: object) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            parsed = dt.datetime.fromisoformat(value)
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
    return None


def record_and_alert_vanished(
    *,
    collector: str,
    step: str,
    dag_id: str | None,
    run_id: str | None,
    task_id: str | None,
    map_index: int,
    partition: str | None,
    try_number: int | None,
    max_tries: int | None,
    will_retry: bool,
    started_at: object,
    routing: AlertRouting | Mapping[str, Any],
    store_conn_id: str,
    secrets: Sequence[str] = (),
    log_url: str | None = None,
    detected_by: str = "",
) -> str:
    """Record a try whose process vanished (category ``resource``) and alert, once per try.

    When the store is unreachable the alert is sent anyway. Returns
    ``"recorded+<dispatch outcome>"``, ``"already-recorded"`` or ``"unrecorded+<dispatch outcome>"``.
    """
    from core.store import RunRecord, Store
    from core.store.runs import record_run_once

    category = CollectorFailureCategory.RESOURCE.value
    finished_at = dt.datetime.now(dt.UTC)
    started = _as_datetime(started_at) or finished_at
    error = f"[{category}] {collector}.{step}: {VANISHED_MESSAGE}"
    recorded: bool | None = None
    store = None
    try:
        store = Store.from_url(store_url(store_conn_id))
        store.ensure_core()
        recorded = record_run_once(
            store.engine,
            RunRecord(
                collector=collector,
                step=step,
                status="failed",
                started_at=started,
                finished_at=finished_at,
                errors=[error],
                failure_category=category,
                duration_seconds=max((finished_at - started).total_seconds(), 0.0),
                dag_id=dag_id,
                run_id=run_id,
                task_id=task_id,
                map_index=map_index,
                partition=partition or "",
                try_number=try_number,
            ),
        )
    except Exception as exc:  # noqa: BLE001 - the alert must still go out
        log.warning("Could not record the vanished task in collector_runs: %s", type(exc).__name__)
    finally:
        if store is not None:
            store.dispose()
    if recorded is False:
        log.info(
            "Vanished try %s/%s/%s try %s was already recorded and alerted",
            dag_id,
            run_id,
            task_id,
            try_number,
        )
        return "already-recorded"
    metrics.step_finished(
        collector, step, status="failed", duration_seconds=0.0, category=category, partition=partition
    )
    kind: AlertKind = "retry" if will_retry else "failure"
    shown_task = f"{task_id}[{map_index}]" if task_id and map_index >= 0 else task_id
    details = (f"Detected by: {detected_by}",) if detected_by else ()
    alert = CollectorAlert(
        kind=kind,
        collector=collector,
        category=category,
        dag_id=dag_id,
        task_id=shown_task,
        step=step,
        partition=partition,
        run_id=run_id,
        try_number=try_number,
        max_tries=max_tries,
        error=error,
        log_url=log_url,
        details=details,
    )
    prefix = "recorded" if recorded else "unrecorded"
    resolved = routing_from(routing)
    if not should_alert(resolved, kind, category, try_number):
        log.info("No alert for %s/%s on %s (try %s): not routed", collector, category, kind, try_number)
        return f"{prefix}+not-routed"
    result = dispatch_alert(alert, resolved, store_conn_id=store_conn_id, secrets=secrets)
    outcome = "sent" if result.sent else "suppressed" if result.suppressed else "undelivered"
    return f"{prefix}+{outcome}"
