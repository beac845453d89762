"""``python -m core.cli publish NAME`` as a subprocess: Discord samples in a SQLite store published to
the Git Data fake (served by this test process); a refused token is `auth` on stderr, never shown."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import inspect

from core.collectors import RunContext
from core.store import Store
from discord_activity_tracker.collector import DiscordCollector
from tests.conftest import PROJECT_ROOT
from tests.fakes.gitdata_server import FakeGitDataServer

TOKEN = "github_pat_" + "C" * 40
CONFIG = """\
collectors:
  discord:
    collector: discord_activity_tracker.collector:DiscordCollector
    config: {export_dir: include/sample_data/discord}
    publish:
      target: octo/context
      folder_prefix: days
      renderer: discord_activity_tracker.publish:DiscordDaysPublisher
      write_interval_seconds: 0
"""


@pytest.fixture
def target() -> Iterator[FakeGitDataServer]:
    with FakeGitDataServer("octo/context", token=TOKEN) as fake:
        yield fake


def _cli(config: Path, db: str, target: FakeGitDataServer, *extra: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
        "AIRFLOW_CONN_GITHUB_PUBLISH": json.dumps(
            {"conn_type": "http", "host": target.root, "password": TOKEN}
        ),
    }
    command = [
        sys.executable,
        "-m",
        "core.cli",
        "publish",
        "discord",
        "--config-file",
        str(config),
        "--db",
        db,
    ]
    return subprocess.run(
        [*command, *extra], env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_console_publish(sqlite_url: str, tmp_path: Path, target: FakeGitDataServer) -> None:
    collector = DiscordCollector(
        {"export_dir": str(PROJECT_ROOT / "include" / "sample_data" / "discord")},
        context=RunContext(store_url=sqlite_url),
    )
    collector.run()
    collector.store.dispose()
    config = tmp_path / "collectors.yaml"
    config.write_text(CONFIG, encoding="utf-8")

    dry = _cli(config, sqlite_url, target, "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert json.loads(dry.stdout)["counts"]["dry_run"] == 1 and target.commit_count() == 1

    done = _cli(config, sqlite_url, target)
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)["counts"]
    assert counts["commits"] == 1 and counts["files_written"] == len(
        [p for p in target.files() if p.startswith("days/")]
    )

    target.token = "rotated"
    refused = _cli(config, sqlite_url, target, "--full-refresh")
    assert refused.returncode == 1
    assert json.loads(refused.stderr.strip().splitlines()[-1])["failure_category"] == "auth"
    assert TOKEN not in refused.stdout + refused.stderr


def test_migrate_creates_the_publish_ledger_when_an_entry_publishes(sqlite_url: str, tmp_path: Path) -> None:
    config = tmp_path / "collectors.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"}
    command = [sys.executable, "-m", "core.cli", "migrate", "--config-file", str(config), "--db", sqlite_url]
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    assert "publishing: applied [1]" in first.stdout
    store = Store.from_url(sqlite_url)
    assert {"publish_files", "publish_state"} <= set(inspect(store.engine).get_table_names())
    store.dispose()
