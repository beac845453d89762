"""``collect_wg21`` under ``airflow dags test``: the DAG built from a collectors.yaml entry, the
dispatch token from ``AIRFLOW_CONN_GITHUB_DISPATCH``, the WG21 and GitHub fakes on loopback, a
fresh PostgreSQL store; assertions read what was stored and what GitHub received."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from core.store.schema import core_outbox
from core.vectors.local_sink import search_local_records
from tests.e2e.conftest import AirflowHome
from tests.fakes.wg21_server import PAPERS_PATH, GitHubDispatchApi, Wg21Site, sample_data
from wg21_paper_tracker.tables import wg21_document_files, wg21_documents

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOKEN = "ghp_" + "E2eDispatchS3cret" * 2


@pytest.fixture
def site() -> Iterator[Wg21Site]:
    with Wg21Site(sample_data()) as server:
        yield server


@pytest.fixture
def github() -> Iterator[GitHubDispatchApi]:
    with GitHubDispatchApi(TOKEN) as server:
        yield server


def test_wg21_dag_collects_dispatches_once_and_syncs_documents(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, site: Wg21Site, github: GitHubDispatchApi
) -> None:
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        defaults: {{retries: 0}}
        collectors:
          wg21:
            collector: wg21_paper_tracker.collector:Wg21Collector
            connections: [github_dispatch]
            schedule: "@hourly"
            config:
              index_url: {site.url("/index.json")}
              site_url: {site.url(PAPERS_PATH)}
              first_year: 2024
              notify_first_run: true
              download: {{enabled: true, max_pages: 2}}
              dispatch: {{enabled: true, repository: acme/papers, api_url: "{github.root}"}}
              vectors: {{sink: local, namespace: wg21}}
        """)
    )
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_GITHUB_DISPATCH": json.dumps({"conn_type": "http", "password": TOKEN}),
    }
    ran = airflow_home.dags_test("collect_wg21", config_file=config, state_dir=tmp_path, extra_env=env)
    output = ran.stdout + ran.stderr
    assert ran.returncode == 0, output[-5000:]
    assert TOKEN not in output

    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            papers = conn.execute(select(func.count()).select_from(wg21_documents)).scalar()
            texts = conn.execute(
                select(func.count())
                .select_from(wg21_document_files)
                .where(wg21_document_files.c.text.is_not(None))
            ).scalar()
            unsent = conn.execute(
                select(func.count()).select_from(core_outbox).where(core_outbox.c.sent_at.is_(None))
            ).scalar()
            steps = dict(
                conn.execute(
                    select(collector_runs.c.step, collector_runs.c.status).where(
                        collector_runs.c.collector == "wg21"
                    )
                ).all()
            )
        assert (papers, texts, unsent) == (3, 3, 0)
        assert steps == {"validate": "success", "collect": "success", "sync_pinecone": "success"}
        assert search_local_records(store, "asynchrony", namespace="wg21")
    finally:
        store.dispose()
    assert sorted(github.papers()) == ["N5001", "P2300R10", "P3000R1"]
    assert all(e.header("Authorization") == f"Bearer {TOKEN}" for e in github.log)
