"""Kill a ``source: api`` collect (SIGKILL) while it waits for a page, rerun: every message once,
none missing, the checkpoint exactly at the last committed page."""

from __future__ import annotations

import datetime as dt
import json
import signal
import textwrap
import threading
from collections.abc import Mapping
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.store import Store, load_checkpoint
from discord_activity_tracker.tables import discord_messages
from tests.fakes.console import console, console_env
from tests.fakes.discord_api_server import DEFAULT_TOKEN, DiscordApiServer, WallClock

pytestmark = pytest.mark.slow

GUILD, GENERAL = "900000000000000001", "900000000000000010"
MESSAGES = 350


def test_kill_while_waiting_for_a_page_then_rerun(pg_url: str, tmp_path: Path):
    server = DiscordApiServer(clock=WallClock(), bucket_limit=10_000)
    server.data.guild(GUILD, "Northwind Makers")
    server.data.channel(GUILD, GENERAL, "general")
    start = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    for n in range(MESSAGES):
        server.data.post(GENERAL, "alice", f"m{n}", at=start + dt.timedelta(minutes=n))
    ordered = sorted(server.data.messages[GENERAL], key=int)
    waiting, release = threading.Event(), threading.Event()

    def hold_the_third_page(channel: str, query: Mapping[str, str]) -> None:
        if query.get("after") == ordered[199]:
            waiting.set()
            release.wait(60)

    server.before_messages = hold_the_third_page
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord_bot:
            collector: discord_activity_tracker.collector:DiscordCollector
            connections: [discord_bot_default]
            config: {{source: api, guilds: [{{guild_id: "{GUILD}"}}], lookback_days: 0}}
        """)
    )
    store = Store.from_url(pg_url)
    with server:
        env = console_env(
            {
                "AIRFLOW_CONN_DISCORD_BOT_DEFAULT": json.dumps(
                    {"password": DEFAULT_TOKEN, "extra": {"base_url": server.api_url}}
                )
            }
        )
        args = ("run", "discord_bot", "--config-file", str(config), "--db", pg_url, "--skip-sync")
        victim = console(*args, env=env)
        try:
            assert waiting.wait(120), (
                victim.stderr.read() if victim.poll() is not None else "no third page asked"
            )
            victim.send_signal(signal.SIGKILL)
            victim.wait(30)
        finally:
            release.set()
        with store.engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(discord_messages)).scalar_one()
            state = load_checkpoint(conn, "discord_bot", GENERAL)
        # Two pages committed, each with its checkpoint: exactly what is stored.
        assert stored == 200 and state is not None and state.checkpoint_token == ordered[199]

        server.before_messages = None
        rerun = console(*args, env=env)
        out, err = rerun.communicate(timeout=300)
        assert rerun.returncode == 0, err[-3000:]
        counts = json.loads(out)["collect"]["counts"]
        assert counts["messages_new"] == MESSAGES - 200 and counts["messages_read"] == MESSAGES - 200
    with store.engine.connect() as conn:
        ids = list(conn.execute(select(discord_messages.c.message_id)).scalars())
        final = load_checkpoint(conn, "discord_bot", GENERAL)
    assert len(ids) == len(set(ids)) == MESSAGES and set(ids) == set(ordered)
    assert final is not None and final.checkpoint_token == ordered[-1]
    assert DEFAULT_TOKEN not in out + err
