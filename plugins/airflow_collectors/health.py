"""The ``collector_health`` DAG: freshness of every collector, alerting when one went stale.

Hourly, it reads ``collector_runs`` and ``collector_checkpoints`` (through
:mod:`core.store.status`), logs the status table, and sends a ``stale`` alert (same routing,
destinations and suppression as task failures) for each collector without a successful
``collect`` within its expected interval. Nothing is read at parse time.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, CronTriggerTimetable, task

__all__ = ["HEALTH_DAG_ID", "build_health_dag", "run_health_check"]

log = logging.getLogger(__name__)

HEALTH_DAG_ID = "collector_health"


def run_health_check(config_path: Path | None = None, *, now: dt.datetime | None = None) -> dict[str, Any]:
    """Compute every collector's status, log the table, alert for stale ones; return a summary."""
    from airflow_collectors.alerts.dispatch import dispatch_alert
    from airflow_collectors.alerts.formatter import STALE_CATEGORY, CollectorAlert
    from airflow_collectors.connections import store_url
    from airflow_collectors.dag_factory import collectors_file_path
    from core.config import load_collectors_file
    from core.store import Store
    from core.store.status import (
        collector_status,
        expectations_from_settings,
        format_age,
        format_status_table,
    )

    settings = load_collectors_file(config_path or collectors_file_path(), check_paths=False)
    at = now or dt.datetime.now(dt.UTC)
    store = Store.from_url(store_url(settings.defaults.store_conn_id))
    try:
        store.ensure_core()
        statuses = collector_status(store.engine, expectations_from_settings(settings), now=at)
    finally:
        store.dispose()
    log.info(
        "Collector status (%s):\n%s", at.isoformat(timespec="seconds"), format_status_table(statuses, at)
    )
    stale = [s for s in statuses if s.stale]
    sent = []
    for status in stale:
        details = [
            f"Last success: {format_age(status.last_success_at, at)}"
            + (
                f" ({status.last_success_at.isoformat(timespec='seconds')})" if status.last_success_at else ""
            ),
            f"Expected interval: {status.expected_interval}",
        ]
        if status.last_failure_at:
            details.append(
                f"Last failure: {format_age(status.last_failure_at, at)}, "
                f"{status.last_failure_category or 'unknown'} in {status.last_failure_step}"
            )
        if status.failures:
            details.append(f"Failed attempts in the last 7 days: {status.failures}")
        alert = CollectorAlert(
            kind="stale",
            collector=status.collector,
            category=STALE_CATEGORY,
            dag_id=f"collect_{status.collector}",
            error=status.last_failure_error or "",
            details=tuple(details),
        )
        result = dispatch_alert(alert, settings.alerts, store_conn_id=settings.defaults.store_conn_id)
        if result.sent:
            sent.append(status.collector)
    return {
        "checked": len(statuses),
        "stale": [s.collector for s in stale],
        "alerts_sent": sent,
    }


@task(
    task_id="check_freshness",
    doc_md="**check_freshness**: reads every collector's last successful collect from the store, "
    "logs the status table and sends a `stale` alert for each collector past its expected interval.",
)
def check_freshness() -> dict[str, Any]:
    """Freshness check of every collector in collectors.yaml (see docs/operations.md)."""
    return run_health_check()


def _owner() -> str:
    """``defaults.owner`` of collectors.yaml (the collector DAGs' owner), ``collectors`` if unreadable."""
    from airflow_collectors.dag_factory import collectors_file_path
    from core.config import load_collectors_file

    try:
        return load_collectors_file(collectors_file_path(), check_paths=False).defaults.owner
    except Exception:  # noqa: BLE001 - a broken collectors.yaml is reported by the collector DAGs' file
        return "collectors"


def build_health_dag(
    *, dag_id: str = HEALTH_DAG_ID, cron: str = "30 * * * *", owner: str | None = None
) -> DAG:
    dag = DAG(
        dag_id=dag_id,
        description="Alert when a collector has had no successful collect within its expected interval",
        schedule=CronTriggerTimetable(cron, timezone="UTC"),
        start_date=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["collector", "health"],
        doc_md=(
            "### Collector health\n\nHourly freshness check of every collector in `collectors.yaml`: "
            "logs the status table (`python -m core.cli status` prints the same) and alerts for each "
            "collector without a successful collect within `expected_interval_hours`. "
            "See docs/operations.md."
        ),
        default_args={"owner": owner or _owner(), "retries": 1, "retry_delay": dt.timedelta(minutes=5)},
    )
    with dag:
        check_freshness()
    return dag
