"""The pieces together: dispatch (suppression, then delivery), the notifier as Airflow calls it,
the deadline callback, metrics, and the DAG wiring. Real store (SQLite and PostgreSQL), real
Slack provider hook, local webhook receiver."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import socket
from pathlib import Path

from airflow_collectors import metrics
from airflow_collectors.alerts.dispatch import dispatch_alert
from airflow_collectors.alerts.notifier import CollectorAlertNotifier
from airflow_collectors.deadlines import collector_deadline, collector_deadline_missed
from airflow_collectors.failures import to_step_failure
from core.config import AlertRouting
from core.errors import NetworkError, RateLimitError
from core.store import Store
from core.store.alerts import alert_states
from tests.unit.alerts.helpers import SECRET, T0, TaskInstance, make_alert, make_operator

# --------------------------------------------------------------------------- dispatch


def test_dispatch_delivers_to_slack_and_webhook_then_suppresses(alert_env, receiver, store_url):
    alert = make_alert(category="auth", try_number=1, error=f"bad token {SECRET}")
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
    other = dispatch_alert(make_alert(category="network"), alert_env, store_conn_id="alert_store")
    assert other.sent and len(receiver.received) == 4
    states = {r["category"]: r for r in alert_states(Store.from_url(store_url).engine, "github")}
    assert states["auth"]["suppressed_count"] == 1 and states["network"]["sent_count"] == 1


def test_the_alert_after_a_suppression_window_says_how_many_were_held_back(alert_env, receiver):
    routing = alert_env.model_copy(update={"webhook_conn_ids": []})
    for minutes in (0, 5, 10):
        dispatch_alert(
            make_alert(), routing, store_conn_id="alert_store", now=T0 + dt.timedelta(minutes=minutes)
        )
    later = dispatch_alert(
        make_alert(), routing, store_conn_id="alert_store", now=T0 + dt.timedelta(minutes=31)
    )
    assert later.sent and len(receiver.received) == 2
    assert "(2 similar alert(s) were suppressed since the previous one)" in receiver.received[1].text


def test_failed_delivery_is_not_counted_as_sent(alert_env, receiver):
    routing = alert_env.model_copy(update={"webhook_conn_ids": []})
    receiver.fail_next(1, status=500, text="no_service")
    failed = dispatch_alert(make_alert(), routing, store_conn_id="alert_store")
    assert not failed.sent and not failed.suppressed and "slack_alerts" in failed.errors[0]
    assert "hooksecret" not in failed.errors[0]
    retried = dispatch_alert(make_alert(), routing, store_conn_id="alert_store")
    assert retried.sent  # the slot was given back: the next failure alerts


def test_undefined_destinations_are_skipped_not_fatal(alert_env, receiver):
    routing = AlertRouting(slack_conn_id="no_such_conn", webhook_conn_ids=["discord_alerts"])
    result = dispatch_alert(make_alert(), routing, store_conn_id="alert_store")
    assert result.sent and result.delivered_to == ("discord_alerts",)


# --------------------------------------------------------------------------- the notifier


def test_notifier_routes_a_task_failure_and_stays_quiet_on_retry(alert_env, receiver, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TOY_API", json.dumps({"conn_type": "http", "password": SECRET}))
    routing = alert_env.model_copy(update={"webhook_conn_ids": []})
    task = make_operator()
    limited = to_step_failure(
        RateLimitError("slow down", retry_at=T0), collector="toy", step="collect", secrets=[SECRET]
    )
    on_retry = CollectorAlertNotifier(kind="retry", routing=routing, store_conn_id="alert_store")
    on_retry({"ti": TaskInstance(task, 1, 2), "task": task, "exception": limited})
    assert receiver.received == [] and on_retry.last_result is None

    on_failure = CollectorAlertNotifier(kind="failure", routing=routing, store_conn_id="alert_store")
    on_failure({"ti": TaskInstance(task, 3, 2), "task": task, "exception": limited})
    (alert,) = receiver.received
    assert "rate_limit, retries exhausted" in alert.text and "Try: 3 of 3" in alert.text

    refused = to_step_failure(NetworkError(f"proxy said {SECRET}"), collector="toy", step="collect")
    on_failure({"ti": TaskInstance(task, 3, 2), "task": task, "exception": refused})
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


def test_the_compatibility_module_exports_the_same_objects():
    import airflow_collectors.notifier as compat
    from airflow_collectors.alerts import formatter, router, vanished

    assert compat.CollectorAlertNotifier is CollectorAlertNotifier
    assert compat.dispatch_alert is dispatch_alert
    assert compat.CollectorAlert is formatter.CollectorAlert and compat.STALE_CATEGORY == "stale"
    assert compat.should_alert is router.should_alert
    assert compat.record_and_alert_vanished is vanished.record_and_alert_vanished
    assert all(hasattr(compat, name) for name in compat.__all__)


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
