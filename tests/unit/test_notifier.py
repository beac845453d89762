"""Alert routing, message formatting, redaction, suppression state and delivery.

Delivery goes through the real Slack provider hook (and a generic JSON webhook) to a local
server speaking Slack's incoming-webhook protocol; suppression state lives in a real store
(SQLite and PostgreSQL).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airflow_collectors import metrics
from airflow_collectors.deadlines import collector_deadline, collector_deadline_missed
from airflow_collectors.failures import to_step_failure
from airflow_collectors.notifier import (
    CollectorAlert,
    CollectorAlertNotifier,
    alert_from_task_context,
    dispatch_alert,
    should_alert,
)
from airflow_collectors.operator import CollectorOperator
from core.config import AlertRouting
from core.errors import AuthenticationError, NetworkError, RateLimitError
from core.store import Store
from core.store.alerts import alert_states, claim_alert, release_alert
from tests.fakes.webhook_receiver import WebhookReceiver

DEFAULT = AlertRouting()
T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SECRET = "tok_LITERAL_SECRET_4242"
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


# --------------------------------------------------------------------------- routing


@pytest.mark.parametrize(
    ("kind", "category", "try_number", "expected"),
    [
        ("failure", "auth", 1, True),  # immediate: the policy fails it at once -> one alert
        ("failure", "validation", 1, True),
        ("retry", "rate_limit", 1, False),  # retried categories stay quiet while retrying
        ("retry", "network", 2, False),
        ("failure", "rate_limit", 4, True),  # ... and alert when retries are exhausted
        ("failure", "network", 4, True),
        ("failure", "unknown", 2, True),
        ("retry", "auth", 1, True),  # an immediate category that is retried alerts on try 1...
        ("retry", "auth", 2, False),  # ... only
        ("deadline", "late", None, True),
        ("stale", "stale", None, True),
    ],
)
def test_default_routing(kind, category, try_number, expected):
    assert should_alert(DEFAULT, kind, category, try_number) is expected


def test_custom_routing_can_mute_and_promote_categories():
    routing = AlertRouting(immediate=["network"], on_final_failure=["auth"])
    assert should_alert(routing, "retry", "network", 1) is True
    assert should_alert(routing, "retry", "network", 2) is False
    assert should_alert(routing, "failure", "auth", 1) is True
    assert should_alert(routing, "failure", "rate_limit", 4) is False  # in neither list: muted


# --------------------------------------------------------------------------- message


def _alert(**overrides: Any) -> CollectorAlert:
    values: dict[str, Any] = {
        "kind": "failure",
        "collector": "github",
        "category": "rate_limit",
        "dag_id": "collect_github",
        "task_id": "collect[2]",
        "step": "collect",
        "partition": "acme/widgets",
        "run_id": "scheduled__2026-03-01T00:00:00+00:00",
        "try_number": 4,
        "max_tries": 3,
        "error": "[rate_limit] github.collect: RateLimitError: quota exhausted",
        "log_url": "http://airflow.example/dags/collect_github/runs/x/tasks/collect/mapped/2?try_number=4",
    }
    values.update(overrides)
    return CollectorAlert(**values)


def test_message_names_everything_an_operator_needs():
    text = _alert().text()
    for expected in (
        "Collector github failed (collect [acme/widgets]): rate_limit, retries exhausted",
        "DAG: collect_github",
        "Task: collect[2]",
        "Step: collect",
        "Partition: acme/widgets",
        "Category: rate_limit",
        "Try: 4 of 4",
        "Error: [rate_limit] github.collect: RateLimitError: quota exhausted",
        "Log: http://airflow.example/dags/collect_github/runs/x/tasks/collect/mapped/2?try_number=4",
        "What to do: the source's quota ran out",
    ):
        assert expected in text
    blocks = _alert().slack_blocks()
    assert blocks[0]["type"] == "header" and len(blocks[0]["text"]["text"]) <= 150
    assert "*Partition:* acme/widgets" in blocks[1]["text"]["text"]
    assert "<http://airflow.example" in blocks[2]["text"]["text"]
    json.dumps(_alert().payload())  # the generic webhook body is JSON


def test_first_try_failure_does_not_claim_retries_exhausted():
    assert "retries exhausted" not in _alert(category="auth", try_number=1).title()
    assert "will retry" in _alert(kind="retry", try_number=1).title()


def test_sanitized_redacts_literal_and_pattern_secrets_everywhere():
    dirty = _alert(
        error=f"401 for token {SECRET} (upstream {GH_TOKEN}) via https://bot:hunter22@api.example/x",
        details=(f"Authorization: Bearer {SECRET}",),
        partition=f"repo?token={SECRET}",
    )
    clean = dirty.sanitized([SECRET])
    rendered = clean.text() + json.dumps(clean.slack_blocks()) + json.dumps(clean.payload())
    for secret in (SECRET, GH_TOKEN, "hunter22"):
        assert secret not in rendered
    assert "[REDACTED]" in clean.error


# --------------------------------------------------------------------------- from a task context


class _TaskInstance:
    """The attributes a task runner's ``ti`` exposes to callbacks."""

    def __init__(self, task: CollectorOperator, try_number: int, max_tries: int, pushed: str | None = None):
        self.task = task
        self.dag_id = "collect_toy"
        self.task_id = task.task_id
        self.run_id = "manual__2026-03-01T12:00:00+00:00"
        self.map_index = -1
        self.try_number = try_number
        self.max_tries = max_tries
        self.log_url = f"http://af.test/dags/collect_toy/runs/x/tasks/{task.task_id}?try_number={try_number}"
        self._pushed = pushed

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> str | None:
        assert (task_ids, key) == (self.task_id, "failure_category")
        return self._pushed


def _operator(**kwargs: Any) -> CollectorOperator:
    return CollectorOperator(
        task_id="collect",
        collector="tests.fakes.toy_collector:ToyCollector",
        collector_name="toy",
        step="collect",
        connection_ids=["toy_api"],
        **kwargs,
    )


def test_alert_from_task_context_uses_the_step_failure(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TOY_API", json.dumps({"conn_type": "http", "password": SECRET}))
    task = _operator(partition="alpha")
    failure = to_step_failure(AuthenticationError(f"bad token {SECRET}"), collector="toy", step="collect")
    ti = _TaskInstance(task, try_number=1, max_tries=3)
    alert, secrets = alert_from_task_context({"ti": ti, "task": task, "exception": failure}, "failure")
    assert (alert.collector, alert.category, alert.step, alert.partition) == (
        "toy",
        "auth",
        "collect",
        "alpha",
    )
    assert (alert.try_number, alert.max_tries, alert.dag_id) == (1, 3, "collect_toy")
    assert alert.log_url and alert.log_url.endswith("try_number=1")
    assert SECRET in secrets and SECRET not in alert.text()


def test_category_falls_back_to_xcom_then_classification():
    task = _operator()
    ti = _TaskInstance(task, try_number=2, max_tries=2, pushed="network")
    alert, _ = alert_from_task_context({"ti": ti, "task": task, "exception": RuntimeError("x")}, "failure")
    assert alert.category == "network"
    ti = _TaskInstance(task, try_number=2, max_tries=2, pushed=None)
    alert, _ = alert_from_task_context({"ti": ti, "task": task, "exception": TimeoutError("slow")}, "failure")
    assert alert.category == "timeout"


# --------------------------------------------------------------------------- suppression state


def test_claims_suppress_repeats_within_the_window(store: Store):
    store.ensure_core()
    window = dt.timedelta(minutes=60)
    first = claim_alert(store.engine, "toy", "auth", window=window, now=T0, message="m1")
    assert first.send and first.suppressed_before == 0
    second = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=5))
    third = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=59))
    assert not second.send and not third.send
    other_category = claim_alert(
        store.engine, "toy", "network", window=window, now=T0 + dt.timedelta(minutes=6)
    )
    other_collector = claim_alert(store.engine, "gh", "auth", window=window, now=T0 + dt.timedelta(minutes=6))
    assert other_category.send and other_collector.send
    later = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=61))
    assert later.send and later.suppressed_before == 2 and later.previous_sent_at == T0
    (row,) = alert_states(store.engine, "toy")[:1]
    assert row["category"] == "auth" and row["sent_count"] == 2 and row["suppressed_count"] == 0
    assert row["last_sent_at"] == T0 + dt.timedelta(minutes=61)


def test_zero_window_never_suppresses(store: Store):
    store.ensure_core()
    claims = [
        claim_alert(store.engine, "toy", "auth", window=dt.timedelta(0), now=T0 + dt.timedelta(seconds=i))
        for i in range(3)
    ]
    assert all(c.send for c in claims)


def test_release_gives_the_slot_back(store: Store):
    store.ensure_core()
    window = dt.timedelta(minutes=60)
    sent = claim_alert(store.engine, "toy", "auth", window=window, now=T0)
    claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=1))
    undelivered = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=70))
    assert sent.send and undelivered.send and undelivered.suppressed_before == 1
    assert release_alert(store.engine, undelivered) is True
    retry = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=71))
    assert retry.send and retry.suppressed_before == 1


# --------------------------------------------------------------------------- delivery


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


@pytest.fixture
def alert_env(monkeypatch, receiver: WebhookReceiver, store_url: str, tmp_path: Path) -> AlertRouting:
    """Slack and generic webhook connections pointing at the receiver; a store connection."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_ALERTS",
        json.dumps(
            {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": "T0/B0/hooksecret"}
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_DISCORD_ALERTS",
        json.dumps(
            {
                "conn_type": "http",
                "password": receiver.url("/api/webhooks/1/discsecret"),
                "extra": {"format": "discord"},
            }
        ),
    )
    if store_url.startswith("sqlite"):
        store_conn = {"conn_type": "sqlite", "host": store_url.removeprefix("sqlite:///")}
    else:
        store_conn = {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "login": "postgres",
            "schema": store_url.rsplit("/", 1)[1],
        }
    monkeypatch.setenv("AIRFLOW_CONN_ALERT_STORE", json.dumps(store_conn))
    return AlertRouting(
        slack_conn_id="slack_alerts", webhook_conn_ids=["discord_alerts"], repeat_suppression_minutes=30
    )


def test_dispatch_delivers_to_slack_and_webhook_then_suppresses(alert_env, receiver, store_url):
    alert = _alert(category="auth", try_number=1, error=f"bad token {SECRET}")
    result = dispatch_alert(alert, alert_env, store_conn_id="alert_store", secrets=[SECRET])
    assert result.sent and result.delivered_to == ("slack_alerts", "discord_alerts")
    slack, discord = sorted(receiver.received, key=lambda r: r.path, reverse=True)
    assert slack.path == "/services/T0/B0/hooksecret"
    assert slack.body and "Collector github failed (collect [acme/widgets]): auth" in slack.body["text"]
    assert slack.body["blocks"][0]["type"] == "header"
    assert (
        discord.path == "/api/webhooks/1/discsecret"
        and discord.body
        and "Category: auth" in discord.body["content"]
    )
    assert all(SECRET not in r.raw for r in receiver.received)

    again = dispatch_alert(alert, alert_env, store_conn_id="alert_store", secrets=[SECRET])
    assert again.suppressed and not again.sent and len(receiver.received) == 2
    other = dispatch_alert(_alert(category="network"), alert_env, store_conn_id="alert_store")
    assert other.sent and len(receiver.received) == 4
    states = {r["category"]: r for r in alert_states(Store.from_url(store_url).engine, "github")}
    assert states["auth"]["suppressed_count"] == 1 and states["network"]["sent_count"] == 1


def test_failed_delivery_is_not_counted_as_sent(alert_env, receiver):
    routing = alert_env.model_copy(update={"webhook_conn_ids": []})
    receiver.fail_next(1, status=500, text="no_service")
    failed = dispatch_alert(_alert(), routing, store_conn_id="alert_store")
    assert not failed.sent and not failed.suppressed and "slack_alerts" in failed.errors[0]
    assert "hooksecret" not in failed.errors[0]
    retried = dispatch_alert(_alert(), routing, store_conn_id="alert_store")
    assert retried.sent  # the slot was given back: the next failure alerts


def test_undefined_destinations_are_skipped_not_fatal(alert_env, receiver):
    routing = AlertRouting(slack_conn_id="no_such_conn", webhook_conn_ids=["discord_alerts"])
    result = dispatch_alert(_alert(), routing, store_conn_id="alert_store")
    assert result.sent and result.delivered_to == ("discord_alerts",)


def test_notifier_routes_a_task_failure_and_stays_quiet_on_retry(alert_env, receiver, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TOY_API", json.dumps({"conn_type": "http", "password": SECRET}))
    routing = alert_env.model_copy(update={"webhook_conn_ids": []})
    task = _operator()
    limited = to_step_failure(
        RateLimitError("slow down", retry_at=T0), collector="toy", step="collect", secrets=[SECRET]
    )
    on_retry = CollectorAlertNotifier(kind="retry", routing=routing, store_conn_id="alert_store")
    on_retry({"ti": _TaskInstance(task, 1, 2), "task": task, "exception": limited})
    assert receiver.received == [] and on_retry.last_result is None

    on_failure = CollectorAlertNotifier(kind="failure", routing=routing, store_conn_id="alert_store")
    on_failure({"ti": _TaskInstance(task, 3, 2), "task": task, "exception": limited})
    (alert,) = receiver.received
    assert "rate_limit, retries exhausted" in alert.text and "Try: 3 of 3" in alert.text

    refused = to_step_failure(NetworkError(f"proxy said {SECRET}"), collector="toy", step="collect")
    on_failure({"ti": _TaskInstance(task, 3, 2), "task": task, "exception": refused})
    assert len(receiver.received) == 2 and SECRET not in receiver.received[1].raw


def test_deadline_callback_sends_a_lateness_alert(alert_env, receiver, monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://af.test:8080")
    deadline = collector_deadline(collector="toy", minutes=5, routing=alert_env, store_conn_id="alert_store")
    assert deadline.callback.path == "airflow_collectors.deadlines.collector_deadline_missed"
    context = {
        "dag_run": {
            "dag_id": "collect_toy",
            "dag_run_id": "manual__x",
            "state": "running",
            "queued_at": "2026-03-01T12:00:00Z",
        },
        "deadline": {"id": "d1", "deadline_time": "2026-03-01T12:05:00Z"},
    }
    outcome = asyncio.run(collector_deadline_missed(**deadline.callback.kwargs, context=context))
    assert outcome == "sent"
    slack = next(r for r in receiver.received if r.path.startswith("/services"))
    assert "Collector toy is late" in slack.text and "Deadline: 2026-03-01T12:05:00Z" in slack.text
    assert "Log: http://af.test:8080/dags/collect_toy/runs/manual__x" in slack.text
    again = asyncio.run(collector_deadline_missed(**deadline.callback.kwargs, context=context))
    assert again == "suppressed"


# --------------------------------------------------------------------------- metrics


def test_metrics_reach_a_statsd_listener(monkeypatch):
    from airflow.sdk._shared.observability.metrics import stats
    from airflow.sdk._shared.observability.metrics.base_stats_logger import NoStatsLogger
    from airflow.sdk.observability.metrics import stats_utils

    listener = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    listener.bind(("127.0.0.1", 0))
    listener.settimeout(5)
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_ON", "True")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_HOST", "127.0.0.1")
    monkeypatch.setenv("AIRFLOW__METRICS__STATSD_PORT", str(listener.getsockname()[1]))
    stats.initialize(factory=stats_utils.get_stats_factory(), export_legacy_names=True)
    try:
        metrics.step_finished("toy", "collect", status="success", duration_seconds=1.5, counts={"notes": 4})
        metrics.step_finished("toy", "collect", status="failed", duration_seconds=0.2, category="auth")
        lines: list[str] = []
        while len(lines) < 6:
            packet, _ = listener.recvfrom(65535)
            lines += packet.decode().splitlines()
    finally:
        stats.initialize(factory=NoStatsLogger, export_legacy_names=True)
        listener.close()
    assert "airflow.collectors.toy.collect.success:1|c" in lines
    assert "airflow.collectors.toy.collect.duration:1500.000000|ms" in lines
    assert "airflow.collectors.toy.collect.items.notes:4|c" in lines
    assert "airflow.collectors.toy.collect.failed:1|c" in lines
    assert "airflow.collectors.toy.failures.auth:1|c" in lines


# --------------------------------------------------------------------------- DAG wiring


def test_collector_dags_carry_notifiers_and_a_lateness_deadline(tmp_path: Path):
    from airflow_collectors.dag_factory import build_dags

    config = tmp_path / "collectors.yaml"
    config.write_text(
        "defaults: {deadline_minutes: 45}\n"
        "alerts: {immediate: [auth], repeat_suppression_minutes: 5}\n"
        "collectors:\n"
        "  toy: {collector: 'tests.fakes.toy_collector:ToyCollector', config: {notes: 1}}\n"
        "  quick: {collector: 'tests.fakes.toy_collector:ToyCollector', deadline_minutes: 3}\n"
    )
    dags = build_dags(config)
    (deadline,) = dags["collect_toy"].deadline
    assert deadline.interval == dt.timedelta(minutes=45)
    assert type(deadline.reference).__name__ == "DagRunQueuedAtDeadline"
    assert deadline.callback.kwargs["routing"]["immediate"] == ["auth"]
    assert dags["collect_quick"].deadline[0].interval == dt.timedelta(minutes=3)
    for task in dags["collect_toy"].tasks:
        (on_failure,) = task.on_failure_callback
        (on_retry,) = task.on_retry_callback
        assert isinstance(on_failure, CollectorAlertNotifier) and on_failure.kind == "failure"
        assert on_retry.kind == "retry" and on_retry.routing.repeat_suppression_minutes == 5


def test_deadlines_are_left_out_of_airflow_dags_test_only():
    from airflow_collectors.deadlines import deadlines_supported

    assert deadlines_supported(["/venv/bin/airflow", "scheduler"])
    assert deadlines_supported(["/venv/bin/airflow", "dag-processor"])
    assert deadlines_supported(["pytest", "tests"])
    assert not deadlines_supported(["/venv/bin/airflow", "dags", "test", "collect_toy"])
    assert not deadlines_supported(["/venv/lib/airflow/__main__.py", "dags", "test", "collect_toy"])
