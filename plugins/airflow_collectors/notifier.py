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
from airflow_collectors.failures import CollectorStepFailed
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
    "validation": "bad config or input that breaks its schema: fix the named file/field; "
    "the checkpoint did not move",
    "command": "a wrapped command failed: read its stderr tail in the task log",
    "rate_limit": "the source's quota ran out on every try: lower the schedule/batch size "
    "or add tokens to the pool",
    "network": "the source was unreachable or returned 5xx on every try: check its status; "
    "the next run resumes from the checkpoint",
    "timeout": "requests or the step ran out of time on every try: check the source's "
    "latency or raise execution_timeout_minutes",
    "unknown": "an unexpected error: read the task log and add a classification for it",
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

    def notify(self, context: Context) -> None:
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
