"""How a collector task's failures reach ``collector_runs`` and the alert channel.

Real parts: the real :class:`CollectorOperator` running the toy collector against a real store
(SQLite and PostgreSQL), Airflow's own execution-timeout context manager, real child
processes killed with SIGKILL, and alerts delivered through the Slack provider hook to a
local server speaking Slack's incoming-webhook protocol. The end-to-end proof under a real
scheduler is in ``tests/e2e/test_scheduler.py``.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from airflow_collectors.failures import VANISHED_MESSAGE, CollectorStepFailed
from airflow_collectors.notifier import CollectorAlertNotifier, alert_from_task_context, dispatch_alert
from airflow_collectors.operator import CollectorOperator
from core.config import AlertRouting
from core.store import Store, collector_runs
from tests.conftest import PROJECT_ROOT
from tests.fakes.webhook_receiver import WebhookReceiver

TOY = "tests.fakes.toy_collector:ToyCollector"
RUN_ID = "manual__2026-03-01T12:00:00+00:00"


class _TaskInstance:
    """What the task runner's ``ti`` offers the operator and the callbacks."""

    def __init__(self, task_id: str, try_number: int = 1, max_tries: int = 0) -> None:
        self.dag_id = "collect_toy"
        self.task_id = task_id
        self.run_id = RUN_ID
        self.map_index = -1
        self.try_number = try_number
        self.max_tries = max_tries
        self.start_date = dt.datetime.now(dt.UTC)
        self.log_url = f"http://af.test/dags/collect_toy/runs/x/tasks/{task_id}?try_number={try_number}"
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(
        self, task_ids: str | None = None, key: str = "return_value", map_indexes: Any = None
    ) -> Any:
        return self.xcom.get(key)


def _store_conn(url: str) -> str:
    if url.startswith("sqlite"):
        return json.dumps({"conn_type": "sqlite", "host": url.removeprefix("sqlite:///")})
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "login": "postgres",
            "schema": url.rsplit("/", 1)[1],
        }
    )


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


@pytest.fixture
def routing(monkeypatch: pytest.MonkeyPatch, receiver: WebhookReceiver, store_url: str) -> AlertRouting:
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_ALERTS",
        json.dumps(
            {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": "T0/B0/hook"}
        ),
    )
    monkeypatch.setenv("AIRFLOW_CONN_TOY_STORE", _store_conn(store_url))
    return AlertRouting(slack_conn_id="slack_alerts", repeat_suppression_minutes=0)


def _operator(config: dict[str, Any], routing: AlertRouting, **kwargs: Any) -> CollectorOperator:
    notifier = CollectorAlertNotifier(kind="failure", routing=routing, store_conn_id="toy_store")
    return CollectorOperator(
        task_id="collect",
        collector=TOY,
        collector_name="toy",
        step="collect",
        config=config,
        store_conn_id="toy_store",
        on_failure_callback=notifier,
        **kwargs,
    )


def _runs(store_url: str) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        store.ensure_core()
        with store.engine.connect() as conn:
            return [
                dict(r) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id)).mappings()
            ]
    finally:
        store.dispose()


def _fail(op: CollectorOperator, ti: _TaskInstance) -> CollectorStepFailed:
    with pytest.raises(CollectorStepFailed) as raised:
        op.execute({"ti": ti, "params": {}, "run_id": RUN_ID})  # type: ignore[arg-type]
    return raised.value


# --------------------------------------------------------------------------- what was committed


def test_validation_alert_states_what_was_committed(routing, store_url, receiver):
    op = _operator({"notes": 3, "fail_after_commit": True}, routing)
    ti = _TaskInstance("collect")
    failure = _fail(op, ti)
    assert failure.category.value == "validation"
    assert failure.committed == {"notes": 3} and failure.checkpoints_moved == ("all",)
    (row,) = _runs(store_url)
    assert (row["status"], row["failure_category"], row["counts"]) == ("failed", "validation", {"notes": 3})

    alert, _ = alert_from_task_context({"ti": ti, "task": op, "exception": failure}, "failure")
    text = alert.text()
    assert "Committed before the failure: notes=3; the checkpoint advanced for all" in text
    assert "the checkpoint did not move" not in text
    op.on_failure_callback[0]({"ti": ti, "task": op, "exception": failure})  # type: ignore[index]
    (sent,) = receiver.received
    assert "Committed before the failure: notes=3" in sent.text


def test_validation_alert_says_nothing_was_committed_when_nothing_was(routing, store_url):
    op = _operator({"notes": "three"}, routing)  # config.notes must be an integer: fails before collecting
    ti = _TaskInstance("collect")
    failure = _fail(op, ti)
    assert failure.category.value == "validation"
    alert, _ = alert_from_task_context({"ti": ti, "task": op, "exception": failure}, "failure")
    assert "Committed before the failure: nothing; the checkpoint did not move" in alert.text()


# --------------------------------------------------------------------------- execution timeout


def test_execution_timeout_is_recorded_as_timeout(routing, store_url):
    """Airflow's task runner wraps ``execute`` in this same ``timeout``; the step is recorded."""
    from airflow.sdk.exceptions import AirflowTaskTimeout
    from airflow.sdk.execution_time.timeout import timeout

    op = _operator({"notes": 1, "sleep_seconds": 30}, routing, execution_timeout=dt.timedelta(seconds=1))
    ti = _TaskInstance("collect")
    with pytest.raises((CollectorStepFailed, AirflowTaskTimeout)) as raised, timeout(1):
        op.execute({"ti": ti, "params": {}, "run_id": RUN_ID})  # type: ignore[arg-type]
    assert isinstance(raised.value, CollectorStepFailed) and raised.value.category.value == "timeout"
    (row,) = _runs(store_url)
    assert (row["status"], row["failure_category"], row["try_number"]) == ("failed", "timeout", 1)
    assert ti.xcom["failure_category"] == "timeout"


# --------------------------------------------------------------------------- store unreachable


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # closed when the block ends: nothing listens there


def test_alert_is_sent_even_if_the_store_is_unreachable(monkeypatch, receiver):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_ALERTS",
        json.dumps(
            {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": "T0/B0/hook"}
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_DOWN_STORE",
        json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": _closed_port(), "login": "postgres"}
        ),
    )
    routing = AlertRouting(slack_conn_id="slack_alerts", repeat_suppression_minutes=60)
    from airflow_collectors.notifier import CollectorAlert

    alert = CollectorAlert(kind="failure", collector="toy", category="network", error="502 from upstream")
    first = dispatch_alert(alert, routing, store_conn_id="down_store")
    second = dispatch_alert(alert, routing, store_conn_id="down_store")
    assert first.sent and second.sent, "without suppression state, a duplicate beats silence"
    assert len(receiver.received) == 2 and "Category: network" in receiver.received[0].text

    # A vanished task (heartbeat-timeout callback) is alerted even though it cannot be recorded.
    op = CollectorOperator(
        task_id="collect", collector=TOY, collector_name="toy", step="collect", store_conn_id="down_store"
    )
    notifier = CollectorAlertNotifier(kind="failure", routing=routing, store_conn_id="down_store")
    notifier({"ti": _TaskInstance("collect", try_number=1), "task": op})
    assert notifier.last_outcome == "unrecorded+sent"
    assert len(receiver.received) == 3 and VANISHED_MESSAGE in receiver.received[2].text


# --------------------------------------------------------------------------- vanished tasks


def test_heartbeat_timeout_callback_records_and_alerts_once(routing, store_url, receiver):
    """Airflow's dag-processor runs the callback without an exception, possibly twice per try."""
    op = _operator({"notes": 1}, routing, partition=None)
    on_retry = CollectorAlertNotifier(kind="retry", routing=routing, store_conn_id="toy_store")
    on_failure = CollectorAlertNotifier(kind="failure", routing=routing, store_conn_id="toy_store")
    on_retry({"ti": _TaskInstance("collect", try_number=1, max_tries=1), "task": op})
    assert on_retry.last_outcome == "recorded+not-routed" and receiver.received == []
    for _ in range(2):
        on_failure({"ti": _TaskInstance("collect", try_number=2, max_tries=1), "task": op})
    assert on_failure.last_outcome == "already-recorded"
    rows = _runs(store_url)
    assert [(r["try_number"], r["status"], r["failure_category"]) for r in rows] == [
        (1, "failed", "resource"),
        (2, "failed", "resource"),
    ]
    assert rows[1]["errors"] == [f"[resource] toy.collect: {VANISHED_MESSAGE}"]
    (alert,) = receiver.received
    assert "Collector toy failed (collect): resource, retries exhausted" in alert.text
    assert VANISHED_MESSAGE in alert.text and "heartbeat timeout" in alert.text
    assert "out-of-memory killer in the worker's kernel log" in alert.text


def _spawn_task(spec: dict[str, Any], state: Path) -> subprocess.Popen[bytes]:
    """A stand-in task process: starts the real watch, then collects 'for ever' (or says done)."""
    script = textwrap.dedent(f"""
        import json, sys, time
        from airflow_collectors.kill_watch import KillWatch
        watch = KillWatch.start(json.loads(sys.argv[1]))
        open({str(state / "watch.pid")!r}, "w").write(str(watch.proc.pid))
        if sys.argv[2] == "done":
            watch.done()
        else:
            time.sleep(600)
    """)
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"}
    mode = "done" if spec.get("say_done") else "hang"
    return subprocess.Popen([sys.executable, "-c", script, json.dumps(spec), mode], env=env)


def _wait(what: str, probe: Any, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def _watch_spec(
    routing: AlertRouting, store_url: str, receiver: WebhookReceiver, **extra: Any
) -> dict[str, Any]:
    return {
        "collector": "toy",
        "step": "collect",
        "dag_id": "collect_toy",
        "run_id": RUN_ID,
        "task_id": "collect",
        "map_index": -1,
        "try_number": 3,
        "max_tries": 2,
        "will_retry": False,
        "started_at": dt.datetime.now(dt.UTC).isoformat(),
        "routing": routing.model_dump(),
        "store_conn_id": "toy_store",
        "connections": {
            "slack_alerts": {
                "conn_type": "slackwebhook",
                "host": receiver.url("/services"),
                "password": "T0/B0/hook",
            },
            "toy_store": json.loads(_store_conn(store_url)),
        },
        "secrets": [],
        **extra,
    }


def test_watch_process_records_and_alerts_a_task_killed_with_sigkill(routing, store_url, receiver, tmp_path):
    task = _spawn_task(_watch_spec(routing, store_url, receiver), tmp_path)
    watch_pid = int(
        _wait(
            "the watch process",
            lambda: (tmp_path / "watch.pid").exists() and (tmp_path / "watch.pid").read_text(),
        )
    )
    os.kill(task.pid, signal.SIGKILL)
    task.wait(timeout=30)
    (alert,) = _wait("the alert", lambda: receiver.received)
    assert "Collector toy failed (collect): resource, retries exhausted" in alert.text
    assert VANISHED_MESSAGE in alert.text and "watch process" in alert.text
    (row,) = _wait("the run row", lambda: _runs(store_url))
    assert (row["failure_category"], row["try_number"], row["task_id"]) == ("resource", 3, "collect")
    _wait("the watch process to exit", lambda: not _alive(watch_pid))


def test_watch_process_stays_quiet_when_the_task_finishes(routing, store_url, receiver, tmp_path):
    task = _spawn_task(_watch_spec(routing, store_url, receiver, say_done=True), tmp_path)
    assert task.wait(timeout=60) == 0
    watch_pid = int((tmp_path / "watch.pid").read_text())
    _wait("the watch process to exit", lambda: not _alive(watch_pid))
    assert receiver.received == [] and _runs(store_url) == []


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux-only")
def test_task_process_dies_with_its_supervisor(tmp_path):
    """A stand-in supervisor forks a task that calls die_with_parent; SIGKILL the supervisor."""
    script = textwrap.dedent(f"""
        import os, time
        pid = os.fork()
        if pid == 0:
            from airflow_collectors.kill_watch import die_with_parent
            assert die_with_parent()
            open({str(tmp_path / "task.pid")!r}, "w").write(str(os.getpid()))
            time.sleep(600)
            os._exit(0)
        time.sleep(600)
    """)
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"}
    supervisor = subprocess.Popen([sys.executable, "-c", script], env=env)
    task_pid = int(
        _wait("the task", lambda: (tmp_path / "task.pid").exists() and (tmp_path / "task.pid").read_text())
    )
    try:
        assert _alive(task_pid)
        supervisor.kill()
        supervisor.wait(timeout=30)
        _wait("the orphaned task to exit", lambda: not _alive(task_pid), timeout=60)
    finally:
        if _alive(task_pid):
            os.kill(task_pid, signal.SIGKILL)
