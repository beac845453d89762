"""Collector alerts: one notifier for task failures, retries, missed deadlines and stale collectors.

Routing comes from ``alerts:`` in ``include/collectors.yaml`` (:class:`core.config.AlertRouting`):

* ``immediate`` categories alert on the first failure. With :class:`CollectorRetryPolicy`
  the default immediate categories (auth, permission, validation, command) are never
  retried, so the task goes straight to ``failed`` and ``on_failure_callback`` alerts once.
  Should an immediate category be retried (a custom routing), ``on_retry_callback`` alerts
  on try 1 only.
* ``on_final_failure`` categories (rate_limit, network, timeout, unknown) are retried;
  ``on_retry_callback`` stays quiet and ``on_failure_callback`` alerts once retries are
  exhausted.
* A category in neither list never alerts from a task (it is still in the log, run history
  and metrics).

A task that died without reporting (SIGKILL, a lost worker: see
:mod:`airflow_collectors.kill_watch`) reaches the notifier through Airflow's
heartbeat-timeout callback, with no ``exception`` in the context: it is recorded in
``collector_runs`` and alerted as category ``resource`` with
:data:`~airflow_collectors.failures.VANISHED_MESSAGE`, once per try.

Repeated alerts for the same collector and category within ``repeat_suppression_minutes``
are suppressed through the store's ``collector_alerts`` table (see
:mod:`core.store.alerts`); the next alert that goes out says how many were held back.

Destinations: a Slack incoming webhook through the Slack provider's
:class:`~airflow.providers.slack.hooks.slack_webhook.SlackWebhookHook`
(``slack_conn_id``), and any number of generic JSON webhooks (``webhook_conn_ids``: an
``http`` connection whose host or password holds the URL; ``{"format": "discord"}`` in its
extra posts Discord's ``content`` shape). Every text that leaves is sanitized here, at the
edge, again: the collector's credentials and the webhook URLs are redacted literally, and
token-shaped strings by pattern.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import BaseNotifier

from airflow_collectors import metrics
from airflow_collectors.connections import connection_fields, resolve_connections, secret_values, store_url
from airflow_collectors.failures import VANISHED_MESSAGE, CollectorStepFailed, committed_summary
from airflow_collectors.operator import CATEGORY_XCOM_KEY
from core.config import AlertRouting
from core.errors import CollectorFailureCategory, classify_failure, sanitize_exception_message, sanitize_text

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = [
    "CATEGORY_ADVICE",
    "AlertKind",
    "CollectorAlert",
    "CollectorAlertNotifier",
    "DispatchResult",
    "alert_from_task_context",
    "deliver_alert",
    "dispatch_alert",
    "record_and_alert_vanished",
    "routing_from",
    "should_alert",
]

log = logging.getLogger(__name__)

AlertKind = Literal["failure", "retry", "deadline", "stale"]
LATE_CATEGORY = "late"
STALE_CATEGORY = "stale"
_ERROR_LIMIT = 1500

CATEGORY_ADVICE: dict[str, str] = {
    "auth": "credentials were refused: rotate or fix the connection's token; retrying will not help",
    "permission": "the credentials lack access (private repo, missing scope, bot not in channel): "
    "grant access or drop the partition",
    "validation": "bad config or input that breaks its schema: fix the named file/field "
    "(what was committed before the failure is kept: see above)",
    "command": "a wrapped command failed: read its stderr tail in the task log",
    "rate_limit": "the source's quota ran out on every try: lower the schedule/batch size "
    "or add tokens to the pool",
    "network": "the source was unreachable or returned 5xx on every try: check its status; "
    "the next run resumes from the checkpoint",
    "timeout": "requests or the step ran out of time on every try: check the source's "
    "latency or raise execution_timeout_minutes",
    "unknown": "an unexpected error: read the task log and add a classification for it",
    "resource": "the task ran out of a machine resource or its process was killed: free disk space "
    "or raise the quota (worker or database), raise max_connections, or look for the out-of-memory "
    "killer in the worker's kernel log (dmesg) or a lost worker, then lower batch sizes or give the "
    "worker more memory; the next run resumes from the checkpoint",
    "conflict": "another run holds the same collector/partition: it goes on after that run ends",
    LATE_CATEGORY: "the run is still not finished at its deadline: look for a stuck task, a full pool "
    "or a slow source",
    STALE_CATEGORY: "no successful collect within the expected interval: check the DAG is unpaused "
    "and look at the last failures",
}


def routing_from(value: AlertRouting | Mapping[str, Any] | None) -> AlertRouting:
    if isinstance(value, AlertRouting):
        return value
    return AlertRouting.model_validate(dict(value or {}))


def should_alert(routing: AlertRouting, kind: AlertKind, category: str, try_number: int | None) -> bool:
    """The routing rule (see the module docstring)."""
    if kind == "retry":
        return category in routing.immediate and (try_number or 1) <= 1
    if kind == "failure":
        return category in routing.immediate or category in routing.on_final_failure
    return True  # deadline and stale alerts are always routed


# --------------------------------------------------------------------------- the message


@dataclasses.dataclass(frozen=True)
class CollectorAlert:
    kind: AlertKind
    collector: str
    category: str
    dag_id: str | None = None
    task_id: str | None = None
    step: str | None = None
    partition: str | None = None
    run_id: str | None = None
    try_number: int | None = None
    max_tries: int | None = None
    error: str = ""
    log_url: str | None = None
    details: tuple[str, ...] = ()
    suppressed_before: int = 0

    def title(self) -> str:
        where = (
            f" ({self.step}" + (f" [{self.partition}]" if self.partition else "") + ")" if self.step else ""
        )
        if self.kind == "deadline":
            return f"Collector {self.collector} is late: run not finished by its deadline"
        if self.kind == "stale":
            return f"Collector {self.collector} is stale: no successful collect within its expected interval"
        if self.kind == "retry":
            return f"Collector {self.collector} failed{where}: {self.category}, will retry"
        exhausted = (
            ", retries exhausted" if self.try_number and self.max_tries and self.try_number > 1 else ""
        )
        return f"Collector {self.collector} failed{where}: {self.category}{exhausted}"

    def fields(self) -> list[tuple[str, str]]:
        tries = None
        if self.try_number is not None:
            tries = f"{self.try_number}" + (f" of {self.max_tries + 1}" if self.max_tries is not None else "")
        pairs = [
            ("Collector", self.collector),
            ("Category", self.category),
            ("DAG", self.dag_id),
            ("Task", self.task_id),
            ("Step", self.step),
            ("Partition", self.partition),
            ("Run", self.run_id),
            ("Try", tries),
        ]
        return [(name, str(value)) for name, value in pairs if value not in (None, "")]

    def text(self) -> str:
        lines = [f"[{self.kind}] {self.title()}"]
        lines += [f"{name}: {value}" for name, value in self.fields()]
        if self.error:
            lines.append(f"Error: {self.error}")
        lines += list(self.details)
        advice = CATEGORY_ADVICE.get(self.category)
        if advice:
            lines.append(f"What to do: {advice}")
        if self.log_url:
            lines.append(f"Log: {self.log_url}")
        if self.suppressed_before:
            lines.append(
                f"({self.suppressed_before} similar alert(s) were suppressed since the previous one)"
            )
        return "\n".join(lines)

    def slack_blocks(self) -> list[dict[str, Any]]:
        body = "\n".join(f"*{name}:* {value}" for name, value in self.fields())
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": self.title()[:150]}},
            {"type": "section", "text": {"type": "mrkdwn", "text": body[:3000]}},
        ]
        extra = []
        if self.error:
            extra.append(f"```{self.error[:2800]}```")
        extra += list(self.details)
        advice = CATEGORY_ADVICE.get(self.category)
        if advice:
            extra.append(f"_What to do:_ {advice}")
        if self.log_url:
            extra.append(f"<{self.log_url}|Task log>")
        if self.suppressed_before:
            extra.append(
                f"_{self.suppressed_before} similar alert(s) were suppressed since the previous one_"
            )
        if extra:
            blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": "\n".join(extra)[:3000]}})
        return blocks

    def payload(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["title"] = self.title()
        data["details"] = list(self.details)
        return data

    def sanitized(self, secrets: Iterable[str] = ()) -> CollectorAlert:
        """Every free-text field redacted (literal ``secrets`` and token patterns)."""
        known = [s for s in secrets if s]

        def clean(value: str | None) -> str | None:
            return None if value is None else sanitize_text(value, known)

        return dataclasses.replace(
            self,
            error=(clean(self.error) or "")[:_ERROR_LIMIT],
            details=tuple(clean(d) or "" for d in self.details),
            log_url=clean(self.log_url),
            run_id=clean(self.run_id),
            partition=clean(self.partition),
        )


# --------------------------------------------------------------------------- from a task context


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
    ti = context.get("ti") or context.get("task_instance")
    task = context.get("task") or getattr(ti, "task", None)
    exception = context.get("exception")
    conn_ids = list(getattr(task, "connection_ids", []) or [])
    try:
        secrets = secret_values(resolve_connections(conn_ids)) if conn_ids else []
    except Exception:  # noqa: BLE001 - pattern-based redaction still applies
        secrets = []
    try:
        log_url = getattr(ti, "log_url", None)
    except Exception:  # noqa: BLE001 - no base_url configured
        log_url = None
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
        log_url=log_url,
        details=details,
    )
    return alert.sanitized(secrets), secrets


# --------------------------------------------------------------------------- delivery


@dataclasses.dataclass(frozen=True)
class DispatchResult:
    sent: bool
    suppressed: bool = False
    delivered_to: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def _destination_secrets(fields: Mapping[str, Any]) -> list[str]:
    values = [str(v) for v in (fields.get("password"), fields.get("host"), fields.get("uri")) if v]
    extra = fields.get("extra") or {}
    values += [str(v) for k, v in extra.items() if isinstance(v, str) and k.lower() in {"url", "webhook_url"}]
    return values


def _webhook_url(fields: Mapping[str, Any]) -> str:
    extra = fields.get("extra") or {}
    for candidate in (extra.get("url"), extra.get("webhook_url"), fields.get("password"), fields.get("host")):
        if isinstance(candidate, str) and "://" in candidate:
            return candidate
    host = fields.get("host") or ""
    if not host:
        raise ValueError(
            f"connection {fields.get('conn_id')!r} has no webhook URL (host, password or extra.url)"
        )
    scheme = fields.get("schema") or "https"
    port = f":{fields['port']}" if fields.get("port") else ""
    path = str(extra.get("endpoint") or "")
    return f"{scheme}://{host}{port}/{path.lstrip('/')}"


def _send_slack(conn_id: str, alert: CollectorAlert) -> None:
    from airflow.providers.slack.hooks.slack_webhook import SlackWebhookHook

    hook = SlackWebhookHook(slack_webhook_conn_id=conn_id, timeout=15)
    hook.send(text=alert.text(), blocks=alert.slack_blocks())


def _send_webhook(fields: Mapping[str, Any], alert: CollectorAlert) -> None:
    import requests

    extra = fields.get("extra") or {}
    text = alert.text()
    if str(extra.get("format", "")).lower() == "discord":
        body: dict[str, Any] = {"content": text[:2000], "allowed_mentions": {"parse": []}}
    else:
        body = {"text": text, "alert": alert.payload()}
    response = requests.post(_webhook_url(fields), json=body, timeout=15)
    response.raise_for_status()


def deliver_alert(
    alert: CollectorAlert, routing: AlertRouting, *, secrets: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """Send ``alert`` to every configured destination: (delivered connection ids, sanitized errors).

    A destination whose connection is not defined is skipped (logged), so a development
    setup without Slack still runs.
    """
    delivered: list[str] = []
    errors: list[str] = []
    targets: list[tuple[str, str]] = []
    if routing.slack_conn_id:
        targets.append(("slack", routing.slack_conn_id))
    targets += [("webhook", conn_id) for conn_id in routing.webhook_conn_ids]
    for kind, conn_id in targets:
        fields = connection_fields(conn_id)
        if fields is None:
            log.warning("Alert destination %r is not defined: skipped", conn_id)
            continue
        hidden = [*secrets, *_destination_secrets(fields)]
        try:
            if kind == "slack":
                _send_slack(conn_id, alert)
            else:
                _send_webhook(fields, alert)
        except Exception as exc:  # noqa: BLE001 - one broken destination must not hide the others
            message = sanitize_exception_message(exc, hidden)
            log.warning("Alert to %r failed: %s", conn_id, message)
            errors.append(f"{conn_id}: {message}")
        else:
            delivered.append(conn_id)
    return delivered, errors


def dispatch_alert(
    alert: CollectorAlert,
    routing: AlertRouting,
    *,
    store_conn_id: str | None = "collector_db",
    secrets: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> DispatchResult:
    """Suppression check in the store, then delivery; a failed delivery gives the slot back.

    If the store cannot be reached the alert is sent anyway (a duplicate beats silence).
    """
    from core.store import Store
    from core.store.alerts import claim_alert, release_alert

    alert = alert.sanitized(secrets)
    store = None
    claim = None
    window = dt.timedelta(minutes=routing.repeat_suppression_minutes)
    try:
        store = Store.from_url(store_url(store_conn_id) if store_conn_id else None)
        store.ensure_core()
        claim = claim_alert(
            store.engine,
            alert.collector,
            alert.category,
            window=window,
            kind=alert.kind,
            dag_id=alert.dag_id,
            run_id=alert.run_id,
            message=alert.text(),
            now=now,
        )
    except Exception as exc:  # noqa: BLE001 - suppression is an optimization, the alert is not
        log.warning("Alert suppression state unavailable (%s): sending anyway", type(exc).__name__)
    try:
        if claim is not None and not claim.send:
            log.info(
                "Alert for %s/%s suppressed: one was sent at %s (repeat_suppression_minutes=%s)",
                alert.collector,
                alert.category,
                claim.last_sent_at,
                routing.repeat_suppression_minutes,
            )
            metrics.alert_outcome(alert.collector, alert.category, "suppressed")
            return DispatchResult(sent=False, suppressed=True)
        if claim is not None:
            alert = dataclasses.replace(alert, suppressed_before=claim.suppressed_before)
        delivered, errors = deliver_alert(alert, routing, secrets=secrets)
        if not delivered:
            log.warning("Alert was not delivered to any destination:\n%s", alert.text())
            if claim is not None and store is not None:
                release_alert(store.engine, claim)
            metrics.alert_outcome(alert.collector, alert.category, "undelivered")
            return DispatchResult(sent=False, errors=tuple(errors))
        log.info("Alert %s/%s sent to %s", alert.collector, alert.category, ", ".join(delivered))
        metrics.alert_outcome(alert.collector, alert.category, "sent")
        return DispatchResult(sent=True, delivered_to=tuple(delivered), errors=tuple(errors))
    finally:
        if store is not None:
            store.dispose()


# --------------------------------------------------------------------------- vanished tasks


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

    Called by the watch process (:mod:`airflow_collectors.kill_watch`) and by the notifier on
    Airflow's heartbeat-timeout callback. Whoever writes the ``collector_runs`` row for the try
    alerts; a second reporter finds the row and stays quiet. When the store is unreachable
    the alert is sent anyway. Returns ``"recorded+<dispatch outcome>"``,
    ``"already-recorded"`` or ``"unrecorded+<dispatch outcome>"``.
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


# --------------------------------------------------------------------------- the notifier


class CollectorAlertNotifier(BaseNotifier):
    """The collectors' notifier: ``on_failure_callback`` (``kind="failure"``),
    ``on_retry_callback`` (``kind="retry"``), and, awaited by the deadline callback in the
    triggerer, missed deadlines (``kind="deadline"``).

    :param routing: the ``alerts:`` section (an :class:`AlertRouting` or its dict form).
    :param store_conn_id: the store holding the suppression state (``defaults.store_conn_id``).
    :param kind: which event this instance reports.
    :param collector: collector name, for deadline alerts (task alerts read it from the task).
    :param deadline_minutes: the deadline, for the lateness message.
    """

    template_fields = ()

    def __init__(
        self,
        *,
        routing: AlertRouting | Mapping[str, Any] | None = None,
        store_conn_id: str = "collector_db",
        kind: AlertKind = "failure",
        collector: str | None = None,
        deadline_minutes: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.routing = routing_from(routing)
        self.store_conn_id = store_conn_id
        self.kind: AlertKind = kind
        self.collector = collector
        self.deadline_minutes = deadline_minutes
        self.last_result: DispatchResult | None = None
        self.last_outcome: str | None = None

    def notify(self, context: Context) -> None:
        if self.kind in ("failure", "retry") and context.get("exception") is None:
            # Airflow found the task dead (heartbeat timeout): the callback runs in the
            # dag-processor, without an exception, because the task never reported one.
            self.last_outcome = self.vanished(context)
            return
        if self.kind in ("failure", "retry"):
            alert, secrets = alert_from_task_context(context, self.kind)
        else:
            alert, secrets = self.deadline_alert(context), []
        if not should_alert(self.routing, alert.kind, alert.category, alert.try_number):
            self.log.info(
                "No alert for %s/%s on %s (try %s): not routed by alerts.immediate/on_final_failure",
                alert.collector,
                alert.category,
                alert.kind,
                alert.try_number,
            )
            return
        self.last_result = dispatch_alert(
            alert, self.routing, store_conn_id=self.store_conn_id, secrets=secrets
        )

    def vanished(self, context: Mapping[str, Any]) -> str:
        """Record and alert a task Airflow found dead (see :func:`record_and_alert_vanished`)."""
        ti = context.get("ti") or context.get("task_instance")
        task = context.get("task") or getattr(ti, "task", None)
        conn_ids = list(getattr(task, "connection_ids", []) or [])
        try:
            secrets = secret_values(resolve_connections(conn_ids)) if conn_ids else []
        except Exception:  # noqa: BLE001 - pattern-based redaction still applies
            secrets = []
        try:
            log_url = getattr(ti, "log_url", None)
        except Exception:  # noqa: BLE001 - no base_url configured
            log_url = None
        map_index = getattr(ti, "map_index", None)
        outcome = record_and_alert_vanished(
            collector=str(getattr(task, "collector_name", None) or getattr(ti, "dag_id", "unknown")),
            step=str(getattr(task, "step", None) or getattr(ti, "task_id", "unknown")),
            dag_id=getattr(ti, "dag_id", None),
            run_id=getattr(ti, "run_id", None) or context.get("run_id"),
            task_id=getattr(ti, "task_id", None),
            map_index=map_index if isinstance(map_index, int) else -1,
            partition=getattr(task, "partition", None),
            try_number=getattr(ti, "try_number", None),
            max_tries=getattr(ti, "max_tries", None),
            will_retry=self.kind == "retry",
            started_at=getattr(ti, "start_date", None),
            routing=self.routing,
            store_conn_id=str(getattr(task, "store_conn_id", None) or self.store_conn_id),
            secrets=secrets,
            log_url=log_url,
            detected_by="Airflow's heartbeat timeout (the task and its supervisor stopped reporting)",
        )
        self.log.info("Vanished task %s: %s", getattr(ti, "task_id", None), outcome)
        return outcome

    async def async_notify(self, context: Context) -> None:
        # Hooks, connections and the store are synchronous: run them off the event loop.
        await asyncio.to_thread(self.notify, context)

    def deadline_alert(self, context: Mapping[str, Any]) -> CollectorAlert:
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
        if self.deadline_minutes:
            details.append(f"Deadline is {self.deadline_minutes:g} minute(s) after the run was queued")
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
            collector=self.collector or str(dag_id or "unknown"),
            category=LATE_CATEGORY,
            dag_id=dag_id,
            run_id=run_id,
            details=tuple(details),
            log_url=log_url,
        ).sanitized()
