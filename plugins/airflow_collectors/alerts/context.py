"""Alerts built from Airflow callback contexts: a failed or retried task, a missed deadline."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from airflow_collectors.alerts.formatter import LATE_CATEGORY, AlertKind, CollectorAlert
from airflow_collectors.connections import resolve_connections, secret_values
from airflow_collectors.failures import CollectorStepFailed, committed_summary
from airflow_collectors.operator import CATEGORY_XCOM_KEY
from core.errors import CollectorFailureCategory, classify_failure, sanitize_exception_message, sanitize_text

__all__ = [
    "alert_from_deadline_context",
    "alert_from_task_context",
    "task_and_instance",
    "task_log_url",
    "task_secrets",
]


def task_and_instance(context: Mapping[str, Any]) -> tuple[Any, Any]:
    """``(task, ti)`` of a task callback context."""
    ti = context.get("ti") or context.get("task_instance")
    return context.get("task") or getattr(ti, "task", None), ti


def task_secrets(task: Any) -> list[str]:
    """The literal secrets of the task's connections (empty when they cannot be read)."""
    conn_ids = list(getattr(task, "connection_ids", []) or [])
    try:
        return secret_values(resolve_connections(conn_ids)) if conn_ids else []
    except Exception:  # noqa: BLE001 - pattern-based redaction still applies
        return []


def task_log_url(ti: Any) -> str | None:
    try:
        return getattr(ti, "log_url", None)
    except Exception:  # noqa: BLE001 - no base_url configured
        return None


def _category_of(exception: object, ti: Any) -> str:
    if isinstance(exception, CollectorStepFailed):
        return exception.category.value
    pushed = None
    if ti is not None:
        try:
            pushed = ti.xcom_pull(task_ids=ti.task_id, key=CATEGORY_XCOM_KEY, map_indexes=ti.map_index)
        except Exception:  # noqa: BLE001 - the category is best effort, the alert is not
            pushed = None
    if isinstance(pushed, list):
        pushed = pushed[0] if pushed else None
    if isinstance(pushed, str) and pushed in CollectorFailureCategory._value2member_map_:
        return pushed
    if isinstance(exception, BaseException):
        if type(exception).__name__ == "AirflowTaskTimeout":
            return CollectorFailureCategory.TIMEOUT.value
        return classify_failure(exception).value
    return CollectorFailureCategory.UNKNOWN.value


def _error_text(exception: object, secrets: Sequence[str]) -> str:
    if exception is None:
        return ""
    if isinstance(exception, BaseException):
        if isinstance(exception, CollectorStepFailed):
            return sanitize_text(str(exception), secrets)
        return sanitize_exception_message(exception, secrets)
    return sanitize_text(str(exception), secrets)


def alert_from_task_context(context: Mapping[str, Any], kind: AlertKind) -> tuple[CollectorAlert, list[str]]:
    """The alert for a failed/retried collector task, and the literal secrets to redact."""
    task, ti = task_and_instance(context)
    exception = context.get("exception")
    secrets = task_secrets(task)
    map_index = getattr(ti, "map_index", None)
    task_id = getattr(ti, "task_id", None)
    if task_id and isinstance(map_index, int) and map_index >= 0:
        task_id = f"{task_id}[{map_index}]"
    details: tuple[str, ...] = ()
    if isinstance(exception, CollectorStepFailed):
        summary = committed_summary(exception.committed, exception.checkpoints_moved)
        details = (summary,) if summary else ()
    alert = CollectorAlert(
        kind=kind,
        collector=str(getattr(task, "collector_name", None) or getattr(ti, "dag_id", "unknown")),
        category=_category_of(exception, ti),
        dag_id=getattr(ti, "dag_id", None),
        task_id=task_id,
        step=getattr(task, "step", None),
        partition=getattr(task, "partition", None),
        run_id=getattr(ti, "run_id", None) or context.get("run_id"),
        try_number=getattr(ti, "try_number", None),
        max_tries=getattr(ti, "max_tries", None),
        error=_error_text(exception, secrets),
        log_url=task_log_url(ti),
        details=details,
    )
    return alert.sanitized(secrets), secrets


def alert_from_deadline_context(
    context: Mapping[str, Any], *, collector: str | None = None, deadline_minutes: float | None = None
) -> CollectorAlert:
    """The lateness alert from the deadline callback's context (``dag_run``, ``deadline``)."""
    dag_run = context.get("dag_run") or {}
    deadline = context.get("deadline") or {}
    dag_id = dag_run.get("dag_id")
    run_id = dag_run.get("dag_run_id") or dag_run.get("run_id")
    details = []
    if dag_run.get("queued_at"):
        details.append(f"Queued at: {dag_run['queued_at']}")
    if deadline.get("deadline_time"):
        details.append(f"Deadline: {deadline['deadline_time']}")
    if deadline_minutes:
        details.append(f"Deadline is {deadline_minutes:g} minute(s) after the run was queued")
    if dag_run.get("state"):
        details.append(f"Run state: {dag_run['state']}")
    log_url = None
    if dag_id and run_id:
        from urllib.parse import quote

        from airflow.sdk import conf

        base = conf.get("api", "base_url", fallback="http://localhost:8080/")
        log_url = f"{base.rstrip('/')}/dags/{dag_id}/runs/{quote(str(run_id))}"
    return CollectorAlert(
        kind="deadline",
        collector=collector or str(dag_id or "unknown"),
        category=LATE_CATEGORY,
        dag_id=dag_id,
        run_id=run_id,
        details=tuple(details),
        log_url=log_url,
    ).sanitized()
