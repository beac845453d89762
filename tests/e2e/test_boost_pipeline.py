"""The Boost release pipeline under a real Airflow (scheduler, dag-processor, API server):
``collect_boost_libraries`` (Boost GitHub fake) stores releases and emits ``boost://releases``;
``collect_boost_docs``, scheduled on that asset, indexes the new release's documentation from
the archive fake. Both fakes run as subprocesses; the store is a fresh PostgreSQL database.

* first run: the library DAG stores 1.85.0 and 1.86.0 -> one docs run, which indexes the newest
  release (``initial_versions: 1``) into the local vector sink;
* unchanged run: ``emit_assets`` skipped, no event, no docs run;
* a new tag (1.87.0) whose archive lacks a page -> one docs run for 1.87.0; the page's records
  leave the vector sink, the other pages carry the new version;
* the ``versions`` param through the REST API: a manual docs run indexes 1.85.0 and leaves the
  index on the latest release.

Harness (services, databases, ports): ``tests/e2e/test_scheduler.py``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from boost_docs_tracker.tables import boost_doc_pages, boost_doc_releases
from core.store import Store, collector_runs
from core.vectors.local_sink import search_local_records
from tests.e2e.cluster import (
    Services,
    cluster_env,
    create_database,
    drop_database,
    free_port,
    store_url,
    wait_for,
)
from tests.fakes import boost_archive_server, boost_github

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOKEN = "ghp_" + "E2ePipel1neT0kenS3cret" * 2
REMOVED_PAGE = "doc/antora/url/urls/parsing.html"
# After an unchanged library run: how long the scheduler gets to (wrongly) create a docs run.
QUIET_WAIT_SECONDS = 15


def _collectors_yaml(archive_url: str) -> str:
    return f"""
defaults: {{retries: 0, deadline_minutes: null}}
alerts: {{slack_conn_id: null}}
collectors:
  boost_libraries:
    collector: boost_library_tracker.collector:BoostLibrariesCollector
    connections: [github_default]
    schedule: null
    emits: ["boost://releases"]
    config:
      vectors: {{sink: local, namespace: boost-libraries}}
  boost_docs:
    collector: boost_docs_tracker.collector:BoostDocsCollector
    schedule: {{asset: "boost://releases"}}
    params:
      versions: {{type: [array, "null"], items: {{type: string}}, default: null}}
    config:
      archive_url: {archive_url}
      initial_versions: 1
      vectors: {{sink: local, namespace: boost-docs}}
"""


class Pipeline:
    def __init__(self, services: Services, store_url: str) -> None:
        self.services, self.store_url = services, store_url

    def docs_runs(self) -> list[dict[str, Any]]:
        return self.services.ok("GET", "/api/v2/dags/collect_boost_docs/dagRuns")["dag_runs"]

    def release_events(self) -> list[dict[str, Any]]:
        found = self.services.ok(
            "GET", "/api/v2/assets/events", params={"source_dag_id": "collect_boost_libraries"}
        )
        return [e for e in found["asset_events"] if e["name"] == "boost://releases"]

    def run_libraries(self, run_id: str) -> None:
        self.services.trigger("collect_boost_libraries", run_id)
        assert self.services.wait_run("collect_boost_libraries", run_id, timeout=240) == "success"

    def next_docs_run(self, known: int) -> dict[str, Any]:
        runs = wait_for(
            "collect_boost_docs to be triggered", lambda: self.docs_runs()[known:] or None, 180, self.services
        )
        (run,) = runs
        assert self.services.wait_run("collect_boost_docs", run["dag_run_id"], timeout=240) == "success"
        return run

    def query(self, statement: Any) -> list[Any]:
        store = Store.from_url(self.store_url)
        try:
            with store.engine.connect() as conn:
                return list(conn.execute(statement))
        finally:
            store.dispose()

    def indexed(self) -> list[str]:
        return [
            r.version
            for r in self.query(
                select(boost_doc_releases.c.version).order_by(boost_doc_releases.c.version_order)
            )
        ]

    def records(self, text: str) -> list[dict[str, Any]]:
        store = Store.from_url(self.store_url)
        try:
            return search_local_records(store, text, namespace="boost-docs")
        finally:
            store.dispose()


def test_a_new_tag_flows_from_the_library_dag_to_the_docs_dag_and_the_vector_index(
    request: pytest.FixtureRequest, tmp_path: Path, _postgres_server: None
) -> None:
    failed_before = request.session.testsfailed
    home = tmp_path / "airflow"
    home.mkdir()
    meta_db, store_db = create_database("af_meta"), create_database("af_store")
    store_db_url = store_url(store_db)
    api_port = free_port()
    with (
        boost_github.running(tmp_path / "github.log", releases="1.85.0,1.86.0", token=TOKEN) as github,
        boost_archive_server.running(tmp_path / "archives.log", releases="1.85.0,1.86.0") as archives,
    ):
        config = home / "collectors.yaml"
        config.write_text(_collectors_yaml(archives))
        env = cluster_env(
            home=home,
            config=config,
            meta=meta_db,
            store=store_db,
            api_port=api_port,
            executor="LocalExecutor",
            parallelism=4,
        )
        env.update(
            {
                "AIRFLOW_CONN_GITHUB_DEFAULT": json.dumps(
                    {"conn_type": "http", "host": github, "password": TOKEN}
                ),
            }
        )
        services = Services(home=home, env=env, api_url=f"http://127.0.0.1:{api_port}")
        try:
            services.boot("api-server", "scheduler", "dag-processor")
            wait_for(
                "both DAGs to be parsed",
                lambda: all(
                    services.api("GET", f"/api/v2/dags/{dag}").status_code == 200
                    for dag in ("collect_boost_libraries", "collect_boost_docs")
                ),
                120,
                services,
            )
            services.ok("PATCH", "/api/v2/dags/collect_boost_docs", json={"is_paused": False})
            pipeline = Pipeline(services, store_db_url)
            _first_release_reaches_the_index(pipeline)
            _an_unchanged_run_triggers_nothing(pipeline)
            _a_new_tag_replaces_the_index_and_drops_the_removed_page(pipeline, github, archives)
            _the_versions_param_indexes_an_older_release(pipeline)
            output = "".join(p.read_text(errors="replace") for p in home.rglob("*.log"))
            assert TOKEN not in output and TOKEN[:12] not in output
        finally:
            services.stop()
            if request.session.testsfailed > failed_before or sys.exc_info()[0] is not None:
                print(
                    f"\n===== Airflow service logs ({home}) =====\n{services.log_tails(12000)}",
                    file=sys.__stderr__,
                )
            drop_database(meta_db)
            drop_database(store_db)


def _first_release_reaches_the_index(pipeline: Pipeline) -> None:
    pipeline.run_libraries("e2e_libraries_1")
    (event,) = pipeline.release_events()
    assert event["extra"]["versions"] == ["1.85.0", "1.86.0"]
    run = pipeline.next_docs_run(0)
    assert run["run_type"] == "asset_triggered"
    assert pipeline.indexed() == ["1.86.0"]
    [parsing] = [r for r in pipeline.records("Grammar RFC 3986") if "parsing" in str(r["record_id"])]
    assert parsing["record_id"] == "boost_docs:url/urls/parsing.html:0"
    assert parsing["metadata"]["version"] == "1.86.0"


def _an_unchanged_run_triggers_nothing(pipeline: Pipeline) -> None:
    pipeline.run_libraries("e2e_libraries_2")
    ti = pipeline.services.task_instance("collect_boost_libraries", "e2e_libraries_2", "emit_assets")
    assert ti["state"] == "skipped"
    time.sleep(QUIET_WAIT_SECONDS)
    assert len(pipeline.release_events()) == 1 and len(pipeline.docs_runs()) == 1


def _a_new_tag_replaces_the_index_and_drops_the_removed_page(
    pipeline: Pipeline, github: str, archives: str
) -> None:
    boost_archive_server.publish(archives, "1.87.0", drop=REMOVED_PAGE)
    boost_github.add_release(github, "1.87.0")
    pipeline.run_libraries("e2e_libraries_3")
    assert pipeline.release_events()[-1]["extra"]["versions"] == ["1.87.0"]
    pipeline.next_docs_run(1)
    assert pipeline.indexed() == ["1.86.0", "1.87.0"]
    assert not [r for r in pipeline.records("Grammar RFC 3986") if "parsing" in str(r["record_id"])]
    [mp11] = [
        r
        for r in pipeline.records("mp_transform")
        if r["record_id"] == "boost_docs:mp11/doc/html/mp11.html:0"
    ]
    assert mp11["metadata"]["version"] == "1.87.0"
    steps = pipeline.query(
        select(collector_runs.c.step, collector_runs.c.status).where(
            collector_runs.c.collector == "boost_docs"
        )
    )
    assert len(steps) == 6 and {s.status for s in steps} == {"success"}


def _the_versions_param_indexes_an_older_release(pipeline: Pipeline) -> None:
    pipeline.services.trigger("collect_boost_docs", "e2e_docs_backfill", conf={"versions": ["1.85.0"]})
    assert pipeline.services.wait_run("collect_boost_docs", "e2e_docs_backfill", timeout=240) == "success"
    assert pipeline.indexed() == ["1.85.0", "1.86.0", "1.87.0"]
    pages = pipeline.query(select(boost_doc_pages.c.path).where(boost_doc_pages.c.version == "1.85.0"))
    assert len(pages) == 7
    [mp11] = [
        r
        for r in pipeline.records("mp_transform")
        if r["record_id"] == "boost_docs:mp11/doc/html/mp11.html:0"
    ]
    assert mp11["metadata"]["version"] == "1.87.0"  # the index follows the latest release
