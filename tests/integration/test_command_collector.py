"""The legacy API in real use: a console command run through ``CommandCollector``, in a DAG task.

``tests/fakes/activity_digest.py`` is the example: a :class:`CollectorBase` collector that turns
what the Discord collector stored into the tracker's ``ActivityRecord`` implementation and
writes a digest, its :class:`BaseCollectorCommand` console command, and an
:class:`AbstractCollector` whose collect step runs that command through
:class:`CommandCollector`. Real parts: the Discord collector on the bundled samples, real child
processes, the real :class:`CollectorOperator`, SQLite and PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from typing import Any

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from airflow_collectors.failures import CollectorStepFailed
from airflow_collectors.operator import CollectorOperator
from core.collectors import RunContext
from core.errors import CollectorFailureCategory
from core.protocols import require_activity_record
from core.store import Store, collector_runs
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.protocol_impl import DiscordMessageActivity
from discord_activity_tracker.tables import discord_messages
from tests.conftest import PROJECT_ROOT
from tests.fakes.activity_digest import ActivityDigestCollector, activity_digest, discord_activities

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
DIGEST = "tests.fakes.activity_digest:ActivityDigestCollector"
RUN_ID = "manual__2026-03-01T12:00:00+00:00"


def _collect_discord(store_url: str) -> int:
    collector = DiscordCollector({"export_dir": str(SAMPLES)}, context=RunContext(store_url=store_url))
    try:
        collector.run()
    finally:
        collector.store.dispose()
    return _count(store_url, discord_messages)


def _count(store_url: str, table: Any) -> int:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        store.dispose()


def _digest_rows(store_url: str) -> dict[str, dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(activity_digest)).mappings()
            return {row["external_id"]: dict(row) for row in rows}
    finally:
        store.dispose()


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def _console(store_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "COLLECTOR_DB_URL": store_url,
        "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}{os.pathsep}{PROJECT_ROOT}",
    }
    return subprocess.run(
        [sys.executable, "-m", "tests.fakes.activity_digest", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


# --------------------------------------------------------------------------- ActivityRecord implementations


def test_every_stored_message_becomes_a_checked_activity_record(store_url):
    stored = _collect_discord(store_url)
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            records = list(discord_activities(conn))
            messages = {r.message_id: r for r in conn.execute(select(discord_messages))}
    finally:
        store.dispose()
    assert len(records) == stored == 50
    assert all(isinstance(r, DiscordMessageActivity) for r in records)
    for record in records:
        message = messages[record.external_id]
        assert require_activity_record(record) is record
        assert record.occurred_at == _utc(message.created_at)
        assert record.activity_type == ("reply" if message.reply_to_message_id else "message")
        assert record.source_url == (
            f"https://discord.com/channels/{message.guild_id}/{message.channel_id}/{message.message_id}"
        )
        assert record.actor_external_id == message.author_id
        # JSON round trip: what crosses a process boundary comes back equal
        assert DiscordMessageActivity.from_dict(json.loads(json.dumps(record.asdict()))) == record
    assert {r.activity_type for r in records} == {"message", "reply"}


# --------------------------------------------------------------------------- BaseCollectorCommand + CollectorBase


def test_the_console_command_writes_the_digest_once_however_often_it_runs(store_url):
    stored = _collect_discord(store_url)
    first = _console(store_url, "--skip-sync")
    assert first.returncode == 0, first.stderr[-2000:]
    assert json.loads(first.stdout)["collect"]["counts"] == {
        "discord": stored,
        "github": 0,
        "activities": stored,
    }
    rows = _digest_rows(store_url)
    assert len(rows) == stored
    assert {row["source_system"] for row in rows.values()} == {"discord"}

    again = _console(store_url, "--skip-sync", "--source", "discord")
    assert again.returncode == 0, again.stderr[-2000:]
    assert _digest_rows(store_url) == rows  # upserted in place: no duplicate, nothing changed

    dry = _console(store_url, "--dry-run", "--source", "discord")
    assert dry.returncode == 0 and json.loads(dry.stdout)["collect"]["counts"]["discord"] == stored


def test_a_console_failure_is_one_json_line_and_exit_code_1(store_url):
    _break_digest_table(store_url)
    _collect_discord(store_url)
    failed = _console(store_url, "--skip-sync")
    assert failed.returncode == 1
    failure = json.loads(failed.stderr.strip().splitlines()[-1])
    assert failure["success"] is False
    assert failure["failure_category"] in {c.value for c in CollectorFailureCategory}
    assert "activity_digest" in failure["error"] and "source_system" in failure["error"]
    assert failed.stdout == ""


def _break_digest_table(store_url: str) -> None:
    """A table of that name the digest cannot write into (created outside its migrations)."""
    store = Store.from_url(store_url)
    try:
        with store.transaction() as conn:
            conn.execute(text("CREATE TABLE activity_digest (unrelated integer)"))
    finally:
        store.dispose()


# --------------------------------------------------------------------------- the same command as a DAG task


class _TaskInstance:
    """What the task runner's ``ti`` offers the operator."""

    dag_id = "collect_digest"
    run_id = RUN_ID
    map_index = -1
    try_number = 1
    max_tries = 0
    log_url = "http://af.test/log"

    def __init__(self, task_id: str) -> None:
        self.task_id = task_id
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value

    def xcom_pull(
        self, task_ids: str | None = None, key: str = "return_value", map_indexes: Any = None
    ) -> Any:
        return self.xcom.get(key)


def _store_conn(url: str) -> str:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return json.dumps({"conn_type": "sqlite", "host": parsed.database})
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": parsed.host,
            "port": parsed.port,
            "login": parsed.username,
            "password": parsed.password,
            "schema": parsed.database,
        }
    )


def _step(step: str, config: dict[str, Any]) -> tuple[CollectorOperator, _TaskInstance]:
    op = CollectorOperator(
        task_id=step,
        collector=DIGEST,
        collector_name="digest",
        step=step,  # type: ignore[arg-type]
        config=config,
        store_conn_id="digest_store",
    )
    return op, _TaskInstance(step)


def _runs(store_url: str) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            query = select(collector_runs).order_by(collector_runs.c.id)
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        store.dispose()


def test_the_command_runs_as_the_collect_step_of_a_dag(store_url, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_DIGEST_STORE", _store_conn(store_url))
    stored = _collect_discord(store_url)
    for step in ("validate", "collect", "sync_pinecone"):
        op, ti = _step(step, {"sources": ["discord"]})
        payload = op.execute({"ti": ti, "params": {}, "run_id": RUN_ID})  # type: ignore[arg-type]
        assert payload["success"] is True
    assert payload["counts"] == {"documents": 0}  # no vector step: nothing to sync
    runs = [(r["step"], r["status"], r["counts"]) for r in _runs(store_url)]
    assert runs[1] == ("collect", "success", {"discord": stored, "activities": stored})
    assert runs[0][:2] == ("validate", "success") and runs[2][:2] == ("sync_pinecone", "success")
    assert len(_digest_rows(store_url)) == stored


@pytest.mark.parametrize(
    ("config", "step", "category", "needle"),
    [
        ({"sources": ["slack"]}, "validate", "validation", "config.sources"),
        ({"timeout_seconds": 0.001}, "collect", "timeout", "did not finish within"),
    ],
)
def test_config_and_command_failures_keep_their_category(
    sqlite_url, monkeypatch, config, step, category, needle
):
    monkeypatch.setenv("AIRFLOW_CONN_DIGEST_STORE", _store_conn(sqlite_url))
    op, ti = _step(step, config)
    with pytest.raises(CollectorStepFailed) as raised:
        op.execute({"ti": ti, "params": {}, "run_id": RUN_ID})  # type: ignore[arg-type]
    assert raised.value.category.value == category and needle in str(raised.value)
    assert ti.xcom["failure_category"] == category
    assert [(r["step"], r["status"], r["failure_category"]) for r in _runs(sqlite_url)] == [
        (step, "failed", category)
    ]


def test_a_failing_child_is_a_command_failure_with_its_reason(pg_url, monkeypatch):
    """The child's failure line says ``unknown`` (an undefined column): the parent's is ``command``."""
    monkeypatch.setenv("AIRFLOW_CONN_DIGEST_STORE", _store_conn(pg_url))
    _collect_discord(pg_url)
    _break_digest_table(pg_url)
    op, ti = _step("collect", {})
    with pytest.raises(CollectorStepFailed) as raised:
        op.execute({"ti": ti, "params": {}, "run_id": RUN_ID})  # type: ignore[arg-type]
    message = str(raised.value)
    assert raised.value.category.value == "command"
    assert "digest exited with code 1 [unknown]: ProgrammingError" in message  # the child's failure line
    assert 'column "source_system" of relation "activity_digest" does not exist' in message
    assert [(r["step"], r["status"], r["failure_category"]) for r in _runs(pg_url)] == [
        ("collect", "failed", "command")
    ]


def test_the_store_password_is_a_secret_of_the_command(pg_url):
    url = make_url(pg_url).set(password="Sup3r-s3cret-pw").render_as_string(hide_password=False)
    collector = ActivityDigestCollector({}, context=RunContext(store_url=url))
    command = collector.command()
    assert command.secrets() == ["Sup3r-s3cret-pw"]
    assert command.env is not None and command.env["COLLECTOR_DB_URL"] == url
    assert not any("Sup3r-s3cret-pw" in arg for arg in command.target)  # never on a command line


def test_github_issues_and_commits_become_activity_records_in_the_digest(sqlite_url, tmp_path):
    from github_activity_tracker.tables import github_commits, github_issues
    from tests.fakes.github_run import collect_widgets
    from tests.fakes.github_server import FakeClock, FakeGitHubServer, build_dataset

    token = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0" * 2
    clock = FakeClock()
    server = FakeGitHubServer(build_dataset("small"), tokens={token: 5000}, clock=clock.time)
    server.start()
    try:
        collect_widgets(server, clock, sqlite_url, tmp_path, token=token)
    finally:
        server.stop()
    issues, commits = _count(sqlite_url, github_issues), _count(sqlite_url, github_commits)
    assert issues and commits

    done = _console(sqlite_url, "--skip-sync", "--source", "github")
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout)["collect"]["counts"] == {
        "github": issues + commits,
        "activities": issues + commits,
    }
    rows = list(_digest_rows(sqlite_url).values())
    kinds = {row["activity_type"] for row in rows}
    assert "commit" in kinds and kinds & {"issue_opened", "pull_request_opened"}
    assert all(row["source_system"] == "github" for row in rows)
    assert all(row["external_id"].startswith("acme/widgets") for row in rows)
