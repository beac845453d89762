"""Collectors under a real Airflow: scheduler, dag-processor, api-server and triggerer.

One Airflow per module (LocalExecutor, metadata in its own fresh PostgreSQL database, the
store in another), all on free ports of 127.0.0.1, next to three local servers: a source API
that answers 200/401/429 (``tests/fakes/http_source.py``), a receiver speaking Slack's
incoming-webhook protocol (``tests/fakes/webhook_receiver.py``) and a StatsD UDP listener.
Runs are created only through the REST API v2 (JWT from SimpleAuthManager): a manual run,
a three-day backfill, failing collectors, a slow one, collects killed from outside with
SIGKILL (the task process, its supervisor, or the whole worker), and the health DAG; the
tests then assert on the store, ``collector_runs``, the alerts received and the metrics.

Everything is started by the module fixture and triggered up front, so the scenarios run
concurrently; each test waits (bounded) for its own outcome. On failure the service logs are
dumped to the terminal.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.store import Store, collector_runs
from core.store.alerts import alert_states
from tests.e2e.cluster import (
    Services,
    alive,
    children,
    cluster_env,
    create_database,
    drop_database,
    free_port,
    store_url,
    wait_for,
)
from tests.e2e.conftest import AIRFLOW
from tests.fakes.http_source import LEAKY_SERVER_TOKEN, HttpSource
from tests.fakes.toy_collector import toy_windows
from tests.fakes.webhook_receiver import ReceivedAlert, WebhookReceiver

VANISHED = (
    "the task process vanished without reporting: killed from outside (SIGKILL, most often the "
    "out-of-memory killer) or its worker was lost"
)
HEARTBEAT_TIMEOUT_SECONDS = 30

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOY = "tests.fakes.toy_collector:ToyCollector"
SOURCE_SECRET = "tok_e2e_Source_Secret_5f3a9c"  # the toy_api connection's password
WEBHOOK_PATH = "T0E2E/B0E2E/hookpathsecret"
TODAY = dt.datetime.now(dt.UTC).date()
BACKFILL_FROM = dt.datetime.combine(TODAY - dt.timedelta(days=10), dt.time(), tzinfo=dt.UTC)
BACKFILL_TO = BACKFILL_FROM + dt.timedelta(days=2)  # logical dates: from, from+1, from+2


class StatsdListener:
    """Collects every StatsD line sent to a local UDP port."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.5)
        self.port = int(self.sock.getsockname()[1])
        self.lines: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="statsd", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                packet, _ = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            self.lines += packet.decode("utf-8", "replace").splitlines()

    def matching(self, prefix: str) -> list[str]:
        return [line for line in list(self.lines) if line.startswith(prefix)]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.sock.close()


@dataclasses.dataclass
class Scenario:
    services: Services
    source: HttpSource
    receiver: WebhookReceiver
    statsd: StatsdListener
    store_url: str
    backfill: dict[str, Any]
    runs: dict[str, str]
    triggered_at: float

    def store(self) -> Store:
        return Store.from_url(self.store_url)

    def history(self, collector: str) -> list[dict[str, Any]]:
        store = self.store()
        try:
            with store.engine.connect() as conn:
                query = select(collector_runs).where(collector_runs.c.collector == collector)
                return [dict(r) for r in conn.execute(query.order_by(collector_runs.c.id)).mappings()]
        finally:
            store.dispose()

    def alerts(self, collector: str, category: str | None = None) -> list[ReceivedAlert]:
        return [
            a
            for a in self.receiver.received
            if f"Collector: {collector}\n" in a.text
            and (category is None or f"Category: {category}\n" in a.text)
        ]


def _collectors_yaml(source: HttpSource, home: Path) -> str:
    return textwrap.dedent(f"""
        defaults:
          retries: 2
          retry_delay_seconds: 2
          max_retry_delay_seconds: 60
          deadline_minutes: 30
          start_date: 2026-01-01
        alerts:
          immediate: [auth, permission, validation, command]
          on_final_failure: [rate_limit, network, timeout, unknown, resource]
          slack_conn_id: slack_webhook_default
          repeat_suppression_minutes: 60
        collectors:
          notes:
            collector: {TOY}
            schedule: "@daily"
            start_date: {TODAY.isoformat()}
            connections: [toy_api]
            config: {{notes: 3, source_url: "{source.url("/ok")}", vectors: {{min_chunk_chars: 5}}}}
          badauth:
            collector: {TOY}
            schedule: null
            connections: [toy_api]
            config: {{notes: 1, source_url: "{source.url("/unauthorized")}"}}
          throttled:
            collector: {TOY}
            schedule: null
            retries: 1
            connections: [toy_api]
            config: {{notes: 1, source_url: "{source.url("/rate_limited")}"}}
          slow:
            collector: {TOY}
            schedule: null
            deadline_minutes: 1
            config: {{notes: 1, sleep_seconds: 150}}
          oomkilled:
            collector: {TOY}
            schedule: null
            retries: 1
            config: {{name: oomkilled, notes: 1, sleep_seconds: 900, pid_file: "{home / "oomkilled.pid"}"}}
          orphaned:
            collector: {TOY}
            schedule: null
            retries: 0
            config: {{name: orphaned, notes: 1, sleep_seconds: 900, pid_file: "{home / "orphaned.pid"}"}}
          workerlost:
            collector: {TOY}
            schedule: null
            retries: 0
            config: {{name: workerlost, notes: 1, sleep_seconds: 900, pid_file: "{home / "workerlost.pid"}"}}
          dormant:
            collector: {TOY}
            schedule: "@hourly"
            expected_interval_hours: 1
            config: {{notes: 1}}
    """)


@pytest.fixture(scope="module")
def scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _postgres_server: None
) -> Iterator[Scenario]:
    failed_before = request.session.testsfailed
    home = tmp_path_factory.mktemp("airflow_scheduler")
    meta_db, store_db = create_database("af_meta"), create_database("af_store")
    source, receiver, statsd = HttpSource(reset_after=6).start(), WebhookReceiver().start(), StatsdListener()
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    config = home / "collectors.yaml"
    config.write_text(_collectors_yaml(source, home))
    env = cluster_env(
        home=home,
        config=config,
        meta=meta_db,
        store=store_db,
        api_port=api_port,
        executor="LocalExecutor",
        parallelism=16,
    )
    env.update(
        {
            # Tasks that stop heart-beating (their supervisor was killed) are failed quickly.
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_SECONDS),
            "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
            "COLLECTOR_KILL_WATCH_LOG": str(home / "kill_watch.log"),
            "AIRFLOW__METRICS__STATSD_ON": "True",
            "AIRFLOW__METRICS__STATSD_HOST": "127.0.0.1",
            "AIRFLOW__METRICS__STATSD_PORT": str(statsd.port),
            "AIRFLOW_CONN_TOY_API": json.dumps({"conn_type": "http", "password": SOURCE_SECRET}),
            "AIRFLOW_CONN_SLACK_WEBHOOK_DEFAULT": json.dumps(
                {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": WEBHOOK_PATH}
            ),
        }
    )
    services = Services(home=home, env=env, api_url=api_url)
    try:
        services.boot("api-server", "scheduler", "dag-processor", "triggerer")
        dag_ids = [
            "collect_notes",
            "collect_badauth",
            "collect_throttled",
            "collect_slow",
            "collect_oomkilled",
            "collect_orphaned",
            "collect_workerlost",
            "collector_health",
        ]
        wait_for(
            "the collector DAGs to be parsed",
            lambda: all(services.api("GET", f"/api/v2/dags/{d}").status_code == 200 for d in dag_ids),
            90,
            services,
        )
        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
        runs = {name: f"e2e_{name}_{stamp}" for name in ("notes", "badauth", "throttled", "slow")}
        triggered_at = time.time()
        for name, run_id in runs.items():
            services.trigger(f"collect_{name}", run_id)
        backfill = services.ok(
            "POST",
            "/api/v2/backfills",
            json={
                "dag_id": "collect_notes",
                "from_date": BACKFILL_FROM.isoformat(),
                "to_date": BACKFILL_TO.isoformat(),
                "max_active_runs": 3,
                "run_backwards": False,
                "dag_run_conf": {},
                "reprocess_behavior": "none",
            },
        )
        yield Scenario(
            services,
            source,
            receiver,
            statsd,
            store_url(store_db),
            backfill,
            runs,
            triggered_at,
        )
    finally:
        services.stop()
        if request.session.testsfailed > failed_before:
            sys.__stderr__.write(
                f"\n===== Airflow service logs ({home}) =====\n{services.log_tails(12000)}\n"
            )
        source.stop()
        receiver.stop()
        statsd.close()
        drop_database(meta_db)
        drop_database(store_db)


# --------------------------------------------------------------------------- tests


def test_manual_run_through_the_rest_api_collects_and_records_history(scenario: Scenario):
    services, run_id = scenario.services, scenario.runs["notes"]
    assert services.wait_run("collect_notes", run_id) == "success"
    mine = [r for r in scenario.history("notes") if r["run_id"] == run_id]
    assert [(r["step"], r["status"]) for r in mine] == [
        ("validate", "success"),
        ("collect", "success"),
        ("sync_pinecone", "success"),
    ]
    assert mine[1]["counts"] == {"notes": 3} and mine[1]["dag_id"] == "collect_notes"
    store = scenario.store()
    with store.engine.connect() as conn:
        window = conn.execute(select(toy_windows).where(toy_windows.c.run_id == run_id)).mappings().one()
    store.dispose()
    assert window["since"] is None and window["until"] is None and window["is_backfill"] is False
    assert [r.status for r in scenario.source.requests("/ok")].count(200) >= 1


def test_backfill_through_the_rest_api_bounds_each_run_by_its_data_interval(scenario: Scenario):
    services = scenario.services
    backfill_id = scenario.backfill["id"]

    def completed() -> dict[str, Any] | None:
        backfill = services.ok("GET", f"/api/v2/backfills/{backfill_id}")
        return backfill if backfill.get("completed_at") else None

    wait_for("the backfill to complete", completed, 180, services, every=2)
    runs = services.ok("GET", "/api/v2/dags/collect_notes/dagRuns", params={"run_type": "backfill"})[
        "dag_runs"
    ]
    assert sorted(r["state"] for r in runs) == ["success"] * 3
    store = scenario.store()
    with store.engine.connect() as conn:
        rows = conn.execute(select(toy_windows).where(toy_windows.c.is_backfill.is_(True))).mappings().all()
    store.dispose()
    windows = sorted((r["since"].astimezone(dt.UTC), r["until"].astimezone(dt.UTC)) for r in rows)
    expected = [
        (BACKFILL_FROM + dt.timedelta(days=i), BACKFILL_FROM + dt.timedelta(days=i + 1)) for i in range(3)
    ]
    assert windows == expected
    assert sorted(r["run_id"] for r in rows) == sorted(r["dag_run_id"] for r in runs)
    collected = [r for r in scenario.history("notes") if r["run_id"] in {x["dag_run_id"] for x in runs}]
    assert sorted(r["step"] for r in collected if r["status"] == "success") == sorted(
        ["validate", "collect", "sync_pinecone"] * 3
    )


def test_backfill_cli_accepts_the_collector_dag(scenario: Scenario):
    services = scenario.services
    result = subprocess.run(
        [
            AIRFLOW,
            "backfill",
            "create",
            "--dag-id",
            "collect_notes",
            "--from-date",
            (BACKFILL_FROM - dt.timedelta(days=5)).date().isoformat(),
            "--to-date",
            (BACKFILL_FROM - dt.timedelta(days=4)).date().isoformat(),
            "--dry-run",
        ],
        env=services.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Runs to be attempted:" in output, output[-3000:]
    planned = output.split("Runs to be attempted:", 1)[1]
    for day in (BACKFILL_FROM - dt.timedelta(days=5), BACKFILL_FROM - dt.timedelta(days=4)):
        assert day.date().isoformat() in planned


def test_auth_failure_alerts_once_at_once_without_retry(scenario: Scenario):
    services, run_id = scenario.services, scenario.runs["badauth"]
    assert services.wait_run("collect_badauth", run_id) == "failed"
    (alert,) = wait_for("the auth alert", lambda: scenario.alerts("badauth", "auth"), 60, services)
    time.sleep(3)  # nothing else may follow: no retry, no second alert
    assert scenario.alerts("badauth") == [alert]
    assert alert.path == f"/services/{WEBHOOK_PATH}"
    assert alert.body and alert.body["blocks"][0]["type"] == "header"
    for expected in (
        "Collector badauth failed (collect): auth",
        "DAG: collect_badauth",
        "Task: collect",
        "Step: collect",
        f"Run: {run_id}",
        "Try: 1 of 3",
        "Error: [auth] badauth.collect: AuthenticationError: source answered 401",
        f"Log: {services.api_url}/dags/collect_badauth/runs/{run_id}/tasks/collect?try_number=1",
    ):
        assert expected in alert.text
    assert SOURCE_SECRET not in alert.raw and LEAKY_SERVER_TOKEN not in alert.raw
    assert len(scenario.source.requests("/unauthorized")) == 1
    ti = services.task_instance("collect_badauth", run_id, "collect")
    assert (ti["state"], ti["try_number"]) == ("failed", 1)
    failed = [r for r in scenario.history("badauth") if r["status"] == "failed"]
    assert [(r["step"], r["failure_category"], r["try_number"]) for r in failed] == [("collect", "auth", 1)]


def test_rate_limit_retries_at_the_announced_reset_and_alerts_only_when_exhausted(scenario: Scenario):
    services, run_id = scenario.services, scenario.runs["throttled"]
    assert services.wait_run("collect_throttled", run_id) == "failed"
    (alert,) = wait_for(
        "the rate-limit alert", lambda: scenario.alerts("throttled", "rate_limit"), 60, services
    )
    first, second = scenario.source.requests("/rate_limited")
    assert first.announced_reset is not None
    assert second.at >= first.announced_reset, "the retry came before the reset the source announced"
    assert second.at - first.at < 60
    assert alert.received_at >= second.at, "alerted before retries were exhausted"
    assert "rate_limit, retries exhausted" in alert.text and "Try: 2 of 2" in alert.text
    time.sleep(2)
    assert scenario.alerts("throttled") == [alert]
    ti = services.task_instance("collect_throttled", run_id, "collect")
    assert (ti["state"], ti["try_number"]) == ("failed", 2)
    failed = [r for r in scenario.history("throttled") if r["status"] == "failed"]
    assert [(r["failure_category"], r["try_number"]) for r in failed] == [
        ("rate_limit", 1),
        ("rate_limit", 2),
    ]


def test_deadline_fires_a_lateness_alert_while_the_slow_run_is_still_running(scenario: Scenario):
    services, run_id = scenario.services, scenario.runs["slow"]
    (alert,) = wait_for("the lateness alert", lambda: scenario.alerts("slow", "late"), 150, services, every=2)
    assert alert.received_at - scenario.triggered_at >= 60
    assert services.run_state("collect_slow", run_id) == "running"
    assert "Collector slow is late: run not finished by its deadline" in alert.text
    assert (
        f"Run: {run_id}" in alert.text
        and f"Log: {services.api_url}/dags/collect_slow/runs/{run_id}" in alert.text
    )
    assert "Deadline is 1 minute(s) after the run was queued" in alert.text


def test_health_dag_alerts_for_a_stale_collector_once(scenario: Scenario):
    services = scenario.services
    for attempt in (1, 2):
        run_id = f"e2e_health_{attempt}_{int(time.time())}"
        services.trigger("collector_health", run_id)
        assert services.wait_run("collector_health", run_id, timeout=90) == "success"
    stale = wait_for("the stale alert", lambda: scenario.alerts("dormant", "stale"), 30, services)
    assert len(stale) == 1, "the second health run must be suppressed"
    assert "Collector dormant is stale" in stale[0].text and "Last success: never" in stale[0].text
    assert scenario.alerts("notes", "stale") == []
    store = scenario.store()
    state = {r["category"]: r for r in alert_states(store.engine, "dormant")}
    store.dispose()
    assert state["stale"]["sent_count"] == 1 and state["stale"]["suppressed_count"] >= 1


def test_metrics_reach_statsd_from_the_task_processes(scenario: Scenario):
    services = scenario.services
    services.wait_run("collect_notes", scenario.runs["notes"])
    services.wait_run("collect_badauth", scenario.runs["badauth"])
    services.wait_run("collect_throttled", scenario.runs["throttled"])
    statsd = scenario.statsd

    def seen() -> bool:
        return bool(statsd.matching("airflow.collectors.throttled.failures.rate_limit:1|c")) and bool(
            statsd.matching("airflow.collectors.badauth.failures.auth:1|c")
        )

    wait_for("collector metrics", seen, 30, services)
    assert statsd.matching("airflow.collectors.notes.collect.success:1|c")
    assert statsd.matching("airflow.collectors.notes.collect.items.notes:3|c")
    assert statsd.matching("airflow.collectors.notes.collect.duration:")
    assert len(statsd.matching("airflow.collectors.throttled.failures.rate_limit:1|c")) == 2
    assert statsd.matching("airflow.collectors.badauth.alerts.auth.sent:1|c")
    assert statsd.matching("airflow.ti.finish"), "Airflow's own metrics go to the same place"


def test_no_secret_reaches_alerts_or_logs(scenario: Scenario):
    services = scenario.services
    for name in ("badauth", "throttled"):
        services.wait_run(f"collect_{name}", scenario.runs[name])
    wait_for("the auth alert", lambda: scenario.alerts("badauth", "auth"), 60, services)
    assert scenario.source.requests("/unauthorized")[0].authorization == f"Bearer {SOURCE_SECRET}"
    bodies = "\n".join(a.raw for a in scenario.receiver.received)
    assert bodies and SOURCE_SECRET not in bodies and LEAKY_SERVER_TOKEN not in bodies
    assert "[REDACTED]" in bodies
    logged = [p for p in (services.home / "logs").rglob("*") if p.is_file()] + list(services.logs.values())
    task_logs = [p for p in logged if "collect_badauth" in str(p)]
    assert task_logs, "the failed task's log must exist"
    assert any("source answered 401" in p.read_text(errors="replace") for p in task_logs)
    for path in logged:
        text = path.read_text(errors="replace")
        assert LEAKY_SERVER_TOKEN not in text, path
        assert SOURCE_SECRET not in text, path
        assert WEBHOOK_PATH not in text, path


# --------------------------------------------------------------------------- killed from outside


def _start(scenario: Scenario, name: str) -> str:
    """Trigger ``collect_<name>`` once the manual notes run is over (its validate created the toy
    tables: concurrent first migrations of one table race on PostgreSQL)."""
    scenario.services.wait_run("collect_notes", scenario.runs["notes"])
    run_id = f"e2e_{name}_{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S')}"
    scenario.services.trigger(f"collect_{name}", run_id)
    return run_id


def _collecting(scenario: Scenario, name: str, previous_pid: int | None = None) -> dict[str, int]:
    """The pids of the task process collecting for ``name`` and of its supervisor (its parent)."""
    path = scenario.services.home / f"{name}.pid"

    def started() -> dict[str, int] | None:
        if not path.exists():
            return None
        try:
            pids = json.loads(path.read_text())
        except ValueError:
            return None
        return pids if pids["pid"] != previous_pid and alive(pids["pid"]) else None

    return wait_for(f"the {name} collect to start", started, 120, scenario.services)


def _kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def test_task_killed_with_sigkill_is_recorded_and_alerted_once_retries_are_exhausted(scenario: Scenario):
    """What the out-of-memory killer does: SIGKILL the task process, its supervisor survives."""
    services, run_id = scenario.services, _start(scenario, "oomkilled")
    first = _collecting(scenario, "oomkilled")
    _kill(first["pid"])
    second = _collecting(scenario, "oomkilled", previous_pid=first["pid"])  # the retry
    _kill(second["pid"])
    assert services.wait_run("collect_oomkilled", run_id) == "failed"
    (alert,) = wait_for("the resource alert", lambda: scenario.alerts("oomkilled", "resource"), 60, services)
    time.sleep(3)  # nothing else may follow
    assert scenario.alerts("oomkilled") == [alert]
    assert "Collector oomkilled failed (collect): resource, retries exhausted" in alert.text
    assert VANISHED in alert.text and "Try: 2 of 2" in alert.text
    failed = [r for r in scenario.history("oomkilled") if r["run_id"] == run_id and r["step"] == "collect"]
    assert [(r["step"], r["status"], r["failure_category"], r["try_number"]) for r in failed] == [
        ("collect", "failed", "resource", 1),
        ("collect", "failed", "resource", 2),
    ]
    assert failed[1]["errors"] == [f"[resource] oomkilled.collect: {VANISHED}"]


def test_task_does_not_outlive_its_supervisor(scenario: Scenario):
    """SIGKILL the supervisor: the task process exits at once (no orphan), one record, one alert."""
    services, run_id = scenario.services, _start(scenario, "orphaned")
    pids = _collecting(scenario, "orphaned")
    assert alive(pids["ppid"])
    _kill(pids["ppid"])
    wait_for("the orphaned task process to exit", lambda: not alive(pids["pid"]), 60, services)
    # Airflow fails the try only after the heartbeat timeout; its callback must not alert again.
    assert services.wait_run("collect_orphaned", run_id, timeout=HEARTBEAT_TIMEOUT_SECONDS + 120) == "failed"
    (alert,) = wait_for("the resource alert", lambda: scenario.alerts("orphaned", "resource"), 60, services)
    time.sleep(5)
    assert scenario.alerts("orphaned") == [alert] and VANISHED in alert.text
    rows = [r for r in scenario.history("orphaned") if r["run_id"] == run_id and r["step"] == "collect"]
    assert [(r["failure_category"], r["try_number"]) for r in rows] == [("resource", 1)]


def test_lost_worker_is_recorded_through_the_heartbeat_timeout_callback(scenario: Scenario):
    """Supervisor, task and its watch process all killed: only Airflow's callback path is left."""
    services, run_id = scenario.services, _start(scenario, "workerlost")
    pids = _collecting(scenario, "workerlost")
    watchers = children(pids["pid"])
    assert watchers, "the collect task runs a watch process"
    for pid in (*watchers, pids["ppid"], pids["pid"]):
        _kill(pid)
    assert (
        services.wait_run("collect_workerlost", run_id, timeout=HEARTBEAT_TIMEOUT_SECONDS + 120) == "failed"
    )
    (alert,) = wait_for("the resource alert", lambda: scenario.alerts("workerlost", "resource"), 90, services)
    time.sleep(5)
    assert scenario.alerts("workerlost") == [alert]
    assert VANISHED in alert.text and "Detected by: Airflow's heartbeat timeout" in alert.text
    assert "resource" in alert.text and f"Run: {run_id}" in alert.text
    rows = [r for r in scenario.history("workerlost") if r["run_id"] == run_id and r["step"] == "collect"]
    assert [(r["step"], r["failure_category"], r["try_number"]) for r in rows] == [("collect", "resource", 1)]
