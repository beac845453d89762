"""Collector status and freshness from a real store (SQLite and PostgreSQL), and the CLI command."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from core.config import load_collectors_file
from core.protocols import Checkpoint
from core.store import RunRecord, Store, record_run, save_checkpoint
from core.store.status import (
    CollectorExpectation,
    CollectorState,
    collector_status,
    expectations_from_settings,
    expected_interval_from_schedule,
    format_status_table,
)
from tests.conftest import PROJECT_ROOT

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)
TOY = "tests.fakes.toy_collector:ToyCollector"


def _run(store: Store, collector: str, step: str, status: str, hours_ago: float, **extra) -> None:
    finished = NOW - dt.timedelta(hours=hours_ago)
    record_run(
        store.engine,
        RunRecord(
            collector=collector,
            step=step,
            status=status,
            started_at=finished - dt.timedelta(seconds=30),
            finished_at=finished,
            run_id=extra.pop("run_id", f"scheduled__{finished.isoformat()}"),
            **extra,
        ),
    )


@pytest.fixture
def history(store: Store) -> Store:
    store.ensure_core()
    # github: healthy, one network failure that a retry fixed, two partitions checkpointed.
    _run(store, "github", "validate", "success", 1.2)
    _run(
        store,
        "github",
        "collect",
        "failed",
        1.1,
        failure_category="network",
        partition="acme/a",
        errors=["[network] github.collect: NetworkError: 502"],
    )
    _run(store, "github", "collect", "success", 1.0, partition="acme/a", run_id="scheduled__latest")
    _run(store, "github", "collect", "success", 1.0, partition="acme/b", run_id="scheduled__latest")
    _run(store, "github", "collect", "success", 30 * 24, partition="acme/a")  # outside the 7-day window
    # discord: last success 5h ago with a 2h expectation, then auth failures.
    _run(store, "discord", "collect", "success", 5)
    _run(
        store,
        "discord",
        "validate",
        "failed",
        3,
        failure_category="auth",
        errors=["[auth] discord.validate: AuthenticationError: 401 [REDACTED]"],
    )
    _run(store, "discord", "validate", "failed", 2, failure_category="auth")
    _run(store, "discord", "collect", "failed", 1.5, failure_category="rate_limit")
    # retired: only history left in the store.
    _run(store, "retired", "collect", "success", 48)
    with store.transaction() as conn:
        for repo in ("acme/a", "acme/b"):
            save_checkpoint(conn, "github", Checkpoint("etag", "2026-03-10T11:00:00Z"), repo)
    return store


def _expectations() -> list[CollectorExpectation]:
    since = NOW - dt.timedelta(days=60)
    return [
        CollectorExpectation("github", dt.timedelta(hours=2), active_since=since),
        CollectorExpectation("discord", dt.timedelta(hours=2), active_since=since),
        CollectorExpectation("mailing", dt.timedelta(hours=48), active_since=NOW - dt.timedelta(hours=3)),
        CollectorExpectation("slack", dt.timedelta(hours=2), active_since=since),
        CollectorExpectation("papers", None, active_since=since),
    ]


def test_status_reads_history_and_checkpoints(history: Store):
    by_name = {s.collector: s for s in collector_status(history.engine, _expectations(), now=NOW)}
    assert list(by_name) == ["github", "discord", "mailing", "slack", "papers", "retired"]

    github = by_name["github"]
    assert github.state is CollectorState.OK and not github.stale
    assert github.last_success_at == NOW - dt.timedelta(hours=1)
    assert github.last_success_run_id == "scheduled__latest"
    assert (github.last_failure_category, github.last_failure_step, github.last_failure_partition) == (
        "network",
        "collect",
        "acme/a",
    )
    assert github.last_failure_error == "[network] github.collect: NetworkError: 502"
    assert (github.successes, github.failures, dict(github.failures_by_category)) == (2, 1, {"network": 1})
    assert github.checkpoints == 2 and github.checkpoint_updated_at is not None

    discord = by_name["discord"]
    assert discord.state is CollectorState.STALE and discord.stale
    assert discord.overdue_by == dt.timedelta(hours=3)
    assert discord.last_failure_category == "rate_limit" and discord.last_failure_step == "collect"
    assert dict(discord.failures_by_category) == {"auth": 2, "rate_limit": 1}

    assert by_name["mailing"].state is CollectorState.PENDING  # never ran, still in its first interval
    assert by_name["slack"].state is CollectorState.STALE and by_name["slack"].last_success_at is None
    assert by_name["papers"].state is CollectorState.UNSCHEDULED
    assert by_name["retired"].state is CollectorState.UNCONFIGURED


def test_counts_window_and_staleness_move_with_time(history: Store):
    later = NOW + dt.timedelta(hours=2)
    github = collector_status(history.engine, _expectations()[:1], now=later, include_unconfigured=False)[0]
    assert github.stale and github.overdue_by == dt.timedelta(hours=1)
    narrow = collector_status(
        history.engine,
        _expectations()[:1],
        now=NOW,
        window=dt.timedelta(minutes=30),
        include_unconfigured=False,
    )[0]
    assert (narrow.successes, narrow.failures) == (0, 0)


def test_table_is_readable(history: Store):
    statuses = collector_status(history.engine, _expectations(), now=NOW)
    table = format_status_table(statuses, NOW).splitlines()
    assert table[0].split() == [
        "COLLECTOR",
        "STATE",
        "LAST",
        "SUCCESS",
        "LAST",
        "FAILURE",
        "CATEGORY",
        "OK",
        "FAILED",
        "CHECKPOINTS",
        "EXPECTED",
    ]
    github = next(line for line in table if line.startswith("github"))
    assert "ok" in github and "1h ago" in github and "network @collect[acme/a]" in github
    assert "1 (network:1)" in github and "2 (" in github
    discord = next(line for line in table if line.startswith("discord"))
    assert "STALE (+3h)" in discord and "3 (auth:2,rate_limit:1)" in discord


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        ("@hourly", dt.timedelta(hours=2)),
        ("0 * * * *", dt.timedelta(hours=2)),
        ("@daily", dt.timedelta(days=2)),
        ("0 9 * * 1-5", dt.timedelta(days=6)),  # the weekend gap, twice
        (None, None),
    ],
)
def test_expected_interval_is_derived_from_the_schedule(schedule, expected):
    assert expected_interval_from_schedule(schedule) == expected


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent(f"""
        defaults: {{start_date: 2026-01-01}}
        collectors:
          parts:
            collector: {TOY}
            schedule: "@hourly"
          weekly:
            collector: {TOY}
            schedule: "@weekly"
            expected_interval_hours: 200
          manual:
            collector: {TOY}
            schedule: null
          disabled:
            collector: {TOY}
            enabled: false
    """)
    )
    return path


def test_expectations_come_from_collectors_yaml(tmp_path: Path):
    expectations = {e.name: e for e in expectations_from_settings(load_collectors_file(_config(tmp_path)))}
    assert sorted(expectations) == ["manual", "parts", "weekly"]
    assert expectations["parts"].expected_interval == dt.timedelta(hours=2)
    assert expectations["weekly"].expected_interval == dt.timedelta(hours=200)
    assert expectations["manual"].expected_interval is None
    assert expectations["parts"].active_since == dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def test_cli_status_prints_the_table_and_checks(tmp_path: Path, store_url: str):
    store = Store.from_url(store_url)
    store.ensure_core()
    now = dt.datetime.now(dt.UTC)
    record_run(store.engine, RunRecord("parts", "collect", "success", now, now))
    record_run(
        store.engine, RunRecord("weekly", "collect", "failed", now, now, failure_category="permission")
    )
    store.dispose()
    command = [
        sys.executable,
        "-m",
        "core.cli",
        "status",
        "--db",
        store_url,
        "--config-file",
        str(_config(tmp_path)),
    ]
    env = {"PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}", "PATH": "/usr/bin:/bin"}
    shown = subprocess.run([*command, "--check"], capture_output=True, text=True, env=env, timeout=60)
    assert shown.returncode == 1, shown.stderr
    lines = shown.stdout.splitlines()
    assert next(line for line in lines if line.startswith("parts")).split()[1] == "ok"
    weekly = next(line for line in lines if line.startswith("weekly"))
    assert "STALE" in weekly and "permission @collect" in weekly
    assert "STALE: weekly" in shown.stdout
    as_json = subprocess.run([*command, "--json"], capture_output=True, text=True, env=env, timeout=60)
    assert as_json.returncode == 0, as_json.stderr
    states = {row["collector"]: row["state"] for row in json.loads(as_json.stdout)}
    assert states == {"parts": "ok", "weekly": "stale", "manual": "unscheduled"}
