"""A collector DAG with ``publish:`` under ``airflow dags test``: Discord samples collected into
PostgreSQL, then published as channel-days to the Git Data fake in one commit, recorded in
``collector_runs``; the write token never reaches the output or the run history. (One run only:
that a rerun writes nothing is proven in tests/integration/test_publish_step.py.)"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from core.store import Store, collector_runs
from tests.e2e.conftest import AirflowHome
from tests.fakes.gitdata_server import FakeGitDataServer

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

TOKEN = "github_pat_" + "E2E" * 12
CONFIG = """\
collectors:
  discord:
    collector: discord_activity_tracker.collector:DiscordCollector
    schedule: null
    config:
      export_dir: include/sample_data/discord
      vectors: {sink: local, namespace: discord}
    publish:
      target: octo/context
      folder_prefix: discord
      renderer: discord_activity_tracker.publish:DiscordDaysPublisher
      write_interval_seconds: 0
"""


@pytest.fixture
def target() -> Iterator[FakeGitDataServer]:
    with FakeGitDataServer("octo/context", token=TOKEN) as fake:
        yield fake


def test_publish_task_commits_once(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, target: FakeGitDataServer
) -> None:
    config = tmp_path / "collectors.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_GITHUB_PUBLISH": json.dumps(
            {"conn_type": "http", "host": target.root, "password": TOKEN}
        ),
    }
    first = airflow_home.dags_test("collect_discord", config_file=config, state_dir=tmp_path, extra_env=env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    files = [p for p in target.files() if p.startswith("discord/")]
    assert files and target.commit_count() == 2  # the fake's initial commit and ours
    store = Store.from_url(pg_url)
    with store.engine.connect() as conn:
        runs = [
            dict(r)
            for r in conn.execute(select(collector_runs).where(collector_runs.c.step == "publish")).mappings()
        ]
    store.dispose()
    assert [r["status"] for r in runs] == ["success"] and runs[0]["counts"]["files_written"] == len(files)
    for text in (first.stdout, first.stderr, json.dumps(runs, default=str)):
        assert TOKEN not in text
