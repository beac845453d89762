"""The Boost library tracker under ``airflow dags test``: the DAG built from a collectors.yaml
entry (emits ``boost://releases``), the GitHub connection from ``AIRFLOW_CONN_*``, the Boost
GitHub fake as a subprocess, a fresh PostgreSQL store. A first run stores the releases and
records the asset event with their versions; a second run, a backfill of one known release
through the ``releases`` param, stores it again and skips ``emit_assets`` (no event). The chain to the docs tracker: tests/e2e/test_boost_pipeline.py."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from boost_library_tracker.tables import boost_releases
from core.store import Store, collector_runs
from core.vectors.local_sink import search_local_records
from tests.e2e.conftest import AirflowHome
from tests.fakes.boost_github import running

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOKEN = "ghp_" + "E2eB00stT0kenS3cret" * 2


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[str]:
    with running(tmp_path / "fake_github.log", releases="1.85.0,1.86.0", token=TOKEN) as url:
        yield url


def _events(home: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(home / "airflow.db") as db:
        return db.execute(
            "SELECT a.name, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id ORDER BY e.id"
        ).fetchall()


def _emit_states(home: Path) -> list[str]:
    with sqlite3.connect(home / "airflow.db") as db:
        rows = db.execute(
            "SELECT ti.state FROM task_instance ti JOIN dag_run r ON r.run_id = ti.run_id AND r.dag_id = ti.dag_id"
            " WHERE ti.dag_id = 'collect_boost_libraries' AND ti.task_id = 'emit_assets' ORDER BY r.id"
        ).fetchall()
    return [state for (state,) in rows]


def test_boost_libraries_dag_stores_releases_and_emits_only_news(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, fake: str
) -> None:
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent("""
        defaults: {retries: 0, deadline_minutes: null}
        alerts: {slack_conn_id: null}
        collectors:
          boost_libraries:
            collector: boost_library_tracker.collector:BoostLibrariesCollector
            connections: [github_default]
            schedule: "@hourly"
            emits: ["boost://releases"]
            params:
              releases: {type: [array, "null"], items: {type: string}, default: null}
            config:
              vectors: {sink: local, namespace: boost-libraries}
        """)
    )
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps({"conn_type": "http", "host": fake, "password": TOKEN}),
    }
    first = airflow_home.dags_test(
        "collect_boost_libraries", config_file=config, state_dir=tmp_path, extra_env=env
    )
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-5000:]
    assert TOKEN not in output and TOKEN[:12] not in output

    events = [(name, json.loads(extra)) for name, extra in _events(airflow_home.home)]
    mine = [extra for name, extra in events if name == "boost://releases"]
    assert len(mine) == 1 and mine[0]["versions"] == ["1.85.0", "1.86.0"]

    second = airflow_home.dags_test(  # a backfill of one known release: stored again, nothing new
        "collect_boost_libraries",
        config_file=config,
        state_dir=tmp_path,
        extra_env=env,
        conf={"releases": ["1.85.0"]},
    )
    assert second.returncode == 0, (second.stdout + second.stderr)[-5000:]
    assert len([1 for name, _ in _events(airflow_home.home) if name == "boost://releases"]) == 1
    assert _emit_states(airflow_home.home)[-2:] == ["success", "skipped"]

    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            versions = conn.execute(
                select(boost_releases.c.version).order_by(boost_releases.c.version_order)
            ).scalars()
            assert list(versions) == ["1.85.0", "1.86.0"]
            steps = conn.execute(
                select(collector_runs.c.step, collector_runs.c.status, collector_runs.c.counts)
                .where(collector_runs.c.collector == "boost_libraries")
                .order_by(collector_runs.c.id)
            ).all()
        assert {status for _, status, _ in steps} == {"success"} and len(steps) == 6
        collects = [counts for step, _, counts in steps if step == "collect"]
        assert collects[0]["releases_new"] == 2 and collects[1]["releases_reread"] == 1
        assert search_local_records(store, "Beast WebSocket", namespace="boost-libraries")
    finally:
        store.dispose()
