"""Kill the collect process mid-run (SIGKILL) or fail its validation worker, rerun: every message once, none missing."""

from __future__ import annotations

import json
import resource
import signal
import subprocess
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from benchmarks.generate_discord_export import write_channel_export
from sqlalchemy import func, inspect, select

from core.store import Store, load_checkpoint
from discord_activity_tracker.export_reader import ExportReader
from discord_activity_tracker.tables import discord_messages
from tests.fakes.console import console

pytestmark = pytest.mark.slow

CHANNEL = {"id": "838565520998400123", "type": "GuildTextChat", "name": "crash-test", "category": "Community"}
MESSAGES = 60_000


def _run_cli(config: Path, db: str, preexec_fn: Callable[[], None] | None = None) -> subprocess.Popen[str]:
    return console("run", "discord", "--config-file", str(config), "--db", db, "--skip-sync", preexec_fn=preexec_fn)


def _stored(store: Store) -> int:
    if not inspect(store.engine).has_table("discord_messages"):
        return 0
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(discord_messages)).scalar_one()


def test_kill_mid_run_then_rerun_has_no_duplicates_and_no_gaps(pg_url: str, tmp_path: Path):
    exports = tmp_path / "exports"
    exports.mkdir()
    export = write_channel_export(exports / "crash.json", channel=CHANNEL, message_count=MESSAGES, seed=7)
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{exports}", batch_size: 500}}
        """)
    )
    store = Store.from_url(pg_url)
    victim = _run_cli(config, pg_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and victim.poll() is None and _stored(store) < MESSAGES // 4:
        time.sleep(0.01)
    assert victim.poll() is None, (
        "the collector finished before it could be killed: " + victim.stderr.read()[-2000:]
    )
    victim.send_signal(signal.SIGKILL)
    victim.wait(30)

    stored_at_crash = _stored(store)
    assert 0 < stored_at_crash < MESSAGES
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "discord", CHANNEL["id"])
    # Batch and checkpoint commit together: the checkpoint accounts for exactly what is stored.
    assert state is not None and state.extras["messages_done"] == stored_at_crash

    rerun = _run_cli(config, pg_url)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    counts = json.loads(out)["collect"]["counts"]
    assert counts["messages_resumed_past"] == stored_at_crash
    assert counts["messages_new"] == MESSAGES - stored_at_crash

    with ExportReader(export) as reader:
        reader.open()
        expected = {m.id for m in reader.iter_messages()}
    with store.engine.connect() as conn:
        ids = list(conn.execute(select(discord_messages.c.message_id)).scalars())
        final = load_checkpoint(conn, "discord", CHANNEL["id"])
    assert len(ids) == len(set(ids)) == MESSAGES
    assert set(ids) == expected
    assert final is not None and final.extras == {} and final.checkpoint_token == max(expected, key=int)


def _limit_file_size() -> None:
    """Runs in the child before exec: files it writes stop at 1 MB (EFBIG instead of SIGXFSZ)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, 1_000_000))


def test_a_failing_validation_worker_fails_the_run_and_writes_nothing_of_its_file(
    pg_url: str, tmp_path: Path
):
    """The spool of the second export outgrows the file size limit: the background validation
    fails with an OSError while the first export is written. The run fails with that error,
    the first export is stored, nothing of the second, whose checkpoint stays unmoved; a rerun
    without the limit stores the rest exactly once."""
    exports = tmp_path / "exports"
    exports.mkdir()
    small_channel = {**CHANNEL, "id": "838565520998400124", "name": "small"}
    write_channel_export(exports / "a-small.json", channel=small_channel, message_count=300, seed=1)
    write_channel_export(exports / "b-big.json", channel=CHANNEL, message_count=4000, seed=2)
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{exports}", batch_size: 500}}
        """)
    )
    limited = _run_cli(config, pg_url, preexec_fn=_limit_file_size)
    _out, err = limited.communicate(timeout=300)
    assert limited.returncode != 0 and "File too large" in err, err[-3000:]
    store = Store.from_url(pg_url)
    assert _stored(store) == 300
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "discord", CHANNEL["id"]) is None

    rerun = _run_cli(config, pg_url)
    out, err = rerun.communicate(timeout=300)
    assert rerun.returncode == 0, err[-3000:]
    counts = json.loads(out)["collect"]["counts"]
    assert counts["files_unchanged"] == 1 and counts["messages_new"] == 4000
    assert _stored(store) == 4300
