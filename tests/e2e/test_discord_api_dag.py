"""Discord ``source: api`` under ``airflow dags test`` (one run, to keep the CI budget): mapped
over a channel and a forum post against the Discord REST fake (in this process, reached over
HTTP by the Airflow subprocess), into a fresh PostgreSQL store. The forum post is collected;
the channel's pages are 502s echoing the bot token, so its task fails as ``network`` and
alerts, and the token (or any 8+ character prefix) is in none of the output, task logs, XCom,
``collector_runs`` or the alert payload."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from discord_activity_tracker.tables import discord_messages
from tests.e2e.conftest import AirflowHome
from tests.fakes.discord_api_server import DiscordApiServer, WallClock
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.fakes.wire import Fault

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

DAG_ID = "collect_discord_bot"
TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GbE2eT.DiscordE2eBotTokenSecretValue0042"
WEBHOOK_PATH = "T0DSC/B0DSC/discordfailurehooksecret"
GUILD, GENERAL, FORUM = "900000000000000001", "900000000000000010", "900000000000000012"
MIN_FRAGMENT = 8


@pytest.fixture
def discord() -> Iterator[DiscordApiServer]:
    server = DiscordApiServer(clock=WallClock(), tokens=(TOKEN,), bucket_limit=1000)
    data = server.data
    now = dt.datetime.now(dt.UTC)
    data.guild(GUILD, "Northwind Makers")
    data.channel(GUILD, GENERAL, "general")
    data.channel(GUILD, FORUM, "help-forum", kind=15)
    root = data.post(GENERAL, "alice", "Flashing fails at 87%", at=now - dt.timedelta(hours=5))
    data.post(GENERAL, "bob", "Try a shorter cable", reply_to=root["id"], at=now - dt.timedelta(hours=4))
    post = data.thread(FORUM, "Bootloader update?", content="Steps I tried", at=now - dt.timedelta(hours=3))
    data.post(post["id"], "bob", "Use picotool", at=now - dt.timedelta(hours=2))
    with server:
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent(f"""
        defaults: {{retries: 0, deadline_minutes: null}}
        alerts:
          immediate: [auth, permission, validation, command]
          on_final_failure: [rate_limit, network, timeout, unknown, resource, conflict]
          slack_conn_id: slack_webhook_default
        collectors:
          discord_bot:
            collector: discord_activity_tracker.collector:DiscordCollector
            partitioned: true
            pool: discord_api
            connections: [discord_bot_default]
            schedule: null
            config:
              source: api
              guilds: [{{guild_id: "{GUILD}"}}]
              transient_max_retries: 1
              vectors: {{sink: local, namespace: discord}}
        """)
    )
    return path


def _latest(airflow_home: AirflowHome, query: str) -> list[dict[str, Any]]:
    db = sqlite3.connect(airflow_home.home / "airflow.db")
    try:
        db.row_factory = sqlite3.Row
        latest = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
        return [dict(r) for r in db.execute(query, (DAG_ID, latest["run_id"])).fetchall()]
    finally:
        db.close()


def _leaks(text: str) -> list[str]:
    return [TOKEN[:n] for n in range(MIN_FRAGMENT, len(TOKEN) + 1) if TOKEN[:n] in text][-1:]


def test_discord_bot_dag_collects_a_forum_post_and_fails_a_channel_without_leaking_the_token(
    airflow_home: AirflowHome,
    pg_url: str,
    tmp_path: Path,
    discord: DiscordApiServer,
    receiver: WebhookReceiver,
) -> None:
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_DISCORD_BOT_DEFAULT": json.dumps(
            {"conn_type": "generic", "password": TOKEN, "extra": {"base_url": discord.api_url}}
        ),
        "AIRFLOW_CONN_SLACK_WEBHOOK_DEFAULT": json.dumps(
            {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": WEBHOOK_PATH}
        ),
    }
    # #general's messages route answers 502 pages that echo the Authorization header; the
    # forum post's task is unaffected.
    echo = f"<html><h1>502 Bad Gateway</h1><p>upstream said: Authorization: Bot {TOKEN}</p></html>"
    discord.inject(
        Fault(
            502,
            body=echo,
            headers={"Content-Type": "text/html"},
            path=f"/api/v10/channels/{GENERAL}/messages",
            times=100,
        )
    )
    done = airflow_home.dags_test(DAG_ID, config_file=_config(tmp_path), state_dir=tmp_path, extra_env=env)
    output = done.stdout + done.stderr
    assert done.returncode != 0, output[-4000:]
    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            per_channel = dict(
                conn.execute(
                    select(discord_messages.c.channel_id, func.count()).group_by(
                        discord_messages.c.channel_id
                    )
                ).all()
            )
            runs = [
                dict(r) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id)).mappings()
            ]
        post_id = next(c for c in discord.data.channels if c not in (GENERAL, FORUM))
        assert per_channel == {post_id: 2}, per_channel
        collects = {r["partition"]: r for r in runs if r["step"] == "collect"}
        assert set(collects) == {f"{GUILD}/{GENERAL}", f"{GUILD}/{post_id}"}
        assert collects[f"{GUILD}/{post_id}"]["status"] == "success"
        failed = [r for r in runs if r["status"] != "success"]
        assert [(r["partition"], r["step"], r["failure_category"]) for r in failed] == [
            (f"{GUILD}/{GENERAL}", "collect", "network")
        ], runs
        assert next(r for r in runs if r["step"] == "validate")["counts"]["partitions"] == 2
        alerts = receiver.received
        assert alerts and all("Category: network\n" in a.text for a in alerts), [a.text for a in alerts]
        logs = airflow_home.home / "logs"
        log_text = "\n".join(
            f.read_text(errors="replace") for f in sorted(logs.rglob("*")) if f.is_file() and DAG_ID in str(f)
        )
        xcom = _latest(
            airflow_home, "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ?"
        )
        places = {
            "dags test output": output,
            "task log files": log_text,
            "XCom": json.dumps(xcom, default=str),
            "collector_runs": json.dumps(runs, default=str),
            "alert payloads": "\n".join(a.raw for a in alerts),
        }
        found = {place: _leaks(text) for place, text in places.items() if _leaks(text)}
        assert not found, found
    finally:
        store.dispose()
