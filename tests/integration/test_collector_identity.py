"""The config entry's key is a collector's identity: runs, checkpoints, locks and status use it,
so two entries of one class never share (or overwrite) each other's state."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

from sqlalchemy import select

from core.collectors import RunContext
from core.store import Store, collector_checkpoints
from core.store.locks import collect_lock_requests, hold_locks
from discord_activity_tracker.collector import DiscordCollector
from tests.conftest import PROJECT_ROOT
from tests.fakes.console import console

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"


def _checkpoint_owners(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(select(collector_checkpoints.c.collector)).scalars())


def test_two_entries_of_one_class_keep_their_own_checkpoints_and_locks(store_url: str, tmp_path: Path):
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    shutil.copytree(SAMPLES, first_dir)
    second_dir.mkdir()
    shutil.copy(next(SAMPLES.glob("*help*.json")), second_dir)
    store = Store.from_url(store_url)
    store.ensure_core()
    # The other entry's collect lock does not hold this one back.
    with hold_locks(store.engine, collect_lock_requests("community_a", None), wait_seconds=0):
        second = DiscordCollector(
            {"export_dir": str(second_dir)},
            context=RunContext(store_url=store_url, collector_name="community_b", lock_wait_seconds=0.5),
        )
        second.run()
    DiscordCollector(
        {"export_dir": str(first_dir)}, context=RunContext(store_url=store_url, collector_name="community_a")
    ).run()
    assert _checkpoint_owners(store) == {"community_a", "community_b"}
    with store.engine.connect() as conn:
        channels = {
            owner: set(
                conn.execute(
                    select(collector_checkpoints.c.partition).where(collector_checkpoints.c.collector == owner)
                ).scalars()
            )
            for owner in ("community_a", "community_b")
        }
    assert channels["community_b"] == {"838469939152158720"}
    assert len(channels["community_a"]) == 3


def test_a_console_run_stores_under_the_entry_name(tmp_path: Path, sqlite_url: str):
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          acme_chat:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{SAMPLES}"}}
        """)
    )
    done = console("run", "acme_chat", "--config-file", str(config), "--db", sqlite_url, "--skip-sync")
    out, err = done.communicate(timeout=300)
    assert done.returncode == 0, err[-2000:]
    assert json.loads(out)["collect"]["counts"]["messages_new"] == 50
    assert _checkpoint_owners(Store.from_url(sqlite_url)) == {"acme_chat"}
