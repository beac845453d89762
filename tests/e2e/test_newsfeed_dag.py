"""The tutorial's collector under ``airflow dags test`` (docs/tutorial-new-source.md, "Run it in
Airflow"): the DAG built from a collectors.yaml entry, the connection from ``AIRFLOW_CONN_*``,
the fake Newsfeed API on loopback, a fresh PostgreSQL store; assertions read what was stored."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from core.vectors.local_sink import search_local_records
from newsfeed_activity_tracker.tables import newsfeed_comments, newsfeed_stories
from tests.e2e.conftest import AirflowHome
from tests.fakes.newsfeed_server import NewsfeedServer, sample_data

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

KEY = "nf_" + "E2eApiKeyS3cret" * 2


@pytest.fixture
def api() -> Iterator[NewsfeedServer]:
    with NewsfeedServer(sample_data(), api_key=KEY) as server:
        yield server


def test_newsfeed_dag_collects_and_syncs_documents(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, api: NewsfeedServer
) -> None:
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent("""
        defaults: {retries: 0}
        collectors:
          newsfeed:
            collector: newsfeed_activity_tracker.collector:NewsfeedCollector
            connections: [newsfeed_default]
            schedule: "@hourly"
            config:
              page_size: 2
              vectors: {sink: local, namespace: newsfeed}
        """)
    )
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_NEWSFEED_DEFAULT": json.dumps({"conn_type": "http", "host": api.root, "password": KEY}),
    }
    ran = airflow_home.dags_test("collect_newsfeed", config_file=config, state_dir=tmp_path, extra_env=env)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-5000:]
    assert KEY not in output

    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            stories = conn.execute(select(func.count()).select_from(newsfeed_stories)).scalar()
            comments = conn.execute(select(func.count()).select_from(newsfeed_comments)).scalar()
            steps = dict(
                conn.execute(
                    select(collector_runs.c.step, collector_runs.c.status).where(
                        collector_runs.c.collector == "newsfeed"
                    )
                ).all()
            )
        assert (stories, comments) == (3, 3)
        assert steps == {"validate": "success", "collect": "success", "sync_pinecone": "success"}
        assert search_local_records(store, "HALO", namespace="newsfeed")
    finally:
        store.dispose()
    assert all(e.header("X-Api-Key") == KEY for e in api.log)
    assert api.log.count("GET", "/v1/stories", where=lambda e: "cursor=2" in e.query) == 1
