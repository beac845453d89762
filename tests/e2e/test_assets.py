"""Assets between collectors under a real Airflow (scheduler, dag-processor, API server).

``include/collectors.yaml`` here holds producers that ``emit`` an asset and consumers
``schedule``d on it (the toy collector reports news when its config says so):

* ``herald`` reports news            -> ``reader`` runs exactly once, the event carries the news;
* ``crier`` (partitioned) reports news in both partitions -> ``town`` runs exactly once;
* ``quiet`` reports no news          -> ``idle`` never runs, no event is recorded;
* ``broken`` fails in collect        -> ``orphan`` never runs, no event is recorded.

Consumers are unpaused first, then the producers are triggered through the REST API at the
same time. Harness (services, databases, ports): ``tests/e2e/test_scheduler.py``.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import textwrap
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.store import Store, collector_runs
from tests.e2e.cluster import (
    Services,
    cluster_env,
    create_database,
    drop_database,
    free_port,
    store_url,
    wait_for,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOY = "tests.fakes.toy_collector:ToyCollector"
NEWS = {"versions": ["1.87.0"], "note": "a new release"}
PRODUCERS = ("herald", "crier", "quiet", "broken")
CONSUMERS = ("reader", "town", "idle", "orphan")
# After the last silent producer finished: how long the scheduler gets to (wrongly) create a
# consumer run. Its loop runs every 0.5 s here, and the news-carrying consumers are created
# within a few loops, so 20 s is many times what a real emission needs.
QUIET_WAIT_SECONDS = 20


def _collectors_yaml() -> str:
    return textwrap.dedent(f"""
        defaults:
          retries: 0
          deadline_minutes: null
        alerts:
          slack_conn_id: null
        collectors:
          herald:
            collector: {TOY}
            schedule: null
            emits: ["toy://news"]
            config: {{notes: 2, news: {json.dumps(NEWS)}}}
          reader:
            collector: {TOY}
            schedule: {{asset: "toy://news"}}
            config: {{notes: 1}}
          crier:
            collector: {TOY}
            schedule: null
            partitioned: true
            emits: ["toy://parts"]
            config: {{notes: 1, partitions: [east, west], news: {{"bulletin": 7}}}}
          town:
            collector: {TOY}
            schedule: {{asset: "toy://parts"}}
            config: {{notes: 1}}
          quiet:
            collector: {TOY}
            schedule: null
            emits: ["toy://quiet"]
            config: {{notes: 1}}
          idle:
            collector: {TOY}
            schedule: {{asset: "toy://quiet"}}
            config: {{notes: 1}}
          broken:
            collector: {TOY}
            schedule: null
            emits: ["toy://broken"]
            config: {{notes: 1, fail_with: auth, news: {json.dumps(NEWS)}}}
          orphan:
            collector: {TOY}
            schedule: {{asset: "toy://broken"}}
            config: {{notes: 1}}
    """)


@dataclasses.dataclass
class AssetScenario:
    services: Services
    store_url: str
    runs: dict[str, str]

    def dag_runs(self, name: str) -> list[dict[str, Any]]:
        return self.services.ok("GET", f"/api/v2/dags/collect_{name}/dagRuns")["dag_runs"]

    def events(self, producer: str) -> list[dict[str, Any]]:
        found = self.services.ok(
            "GET", "/api/v2/assets/events", params={"source_dag_id": f"collect_{producer}"}
        )
        return list(found["asset_events"])

    def queued(self, consumer: str) -> list[dict[str, Any]]:
        response = self.services.api("GET", f"/api/v2/dags/collect_{consumer}/assets/queuedEvents")
        if response.status_code == 404:  # nothing queued for this DAG
            return []
        assert response.status_code == 200, response.text[:2000]
        return list(response.json()["queued_events"])

    def emit_state(self, producer: str) -> str | None:
        ti = self.services.task_instance(f"collect_{producer}", self.runs[producer], "emit_assets")
        return ti["state"]

    def history(self, collector: str) -> list[dict[str, Any]]:
        store = Store.from_url(self.store_url)
        try:
            with store.engine.connect() as conn:
                query = select(collector_runs).where(collector_runs.c.collector == collector)
                return [dict(r) for r in conn.execute(query.order_by(collector_runs.c.id)).mappings()]
        finally:
            store.dispose()


@pytest.fixture(scope="module")
def assets_scenario(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _postgres_server: None
) -> Iterator[AssetScenario]:
    failed_before = request.session.testsfailed
    home = tmp_path_factory.mktemp("airflow_assets")
    config = home / "collectors.yaml"
    config.write_text(_collectors_yaml())
    meta_db, store_db = create_database("af_meta"), create_database("af_store")
    store_db_url = store_url(store_db)
    api_port = free_port()
    api_url = f"http://127.0.0.1:{api_port}"
    env = cluster_env(
        home=home,
        config=config,
        meta=meta_db,
        store=store_db,
        api_port=api_port,
        executor="LocalExecutor",
        parallelism=8,
    )
    services = Services(home=home, env=env, api_url=api_url)
    try:
        services.boot("api-server", "scheduler", "dag-processor")
        wait_for(
            "the producer and consumer DAGs to be parsed",
            lambda: all(
                services.api("GET", f"/api/v2/dags/collect_{name}").status_code == 200
                for name in (*PRODUCERS, *CONSUMERS)
            ),
            120,
            services,
        )
        for consumer in CONSUMERS:  # a paused consumer would not run whatever happens
            services.ok("PATCH", f"/api/v2/dags/collect_{consumer}", json={"is_paused": False})
        stamp = time.strftime("%Y%m%dT%H%M%S")
        runs = {name: f"e2e_{name}_{stamp}" for name in PRODUCERS}
        for name, run_id in runs.items():
            services.trigger(f"collect_{name}", run_id)
        yield AssetScenario(services, store_db_url, runs)
    finally:
        services.stop()
        if request.session.testsfailed > failed_before:
            print(
                f"\n===== Airflow service logs ({home}) =====\n{services.log_tails(12000)}",
                file=sys.__stderr__,
            )
        drop_database(meta_db)
        drop_database(store_db)


def _one_consumer_run(scenario: AssetScenario, consumer: str) -> dict[str, Any]:
    services = scenario.services
    (run,) = wait_for(
        f"collect_{consumer} to be triggered", lambda: scenario.dag_runs(consumer), 180, services
    )
    assert run["run_type"] == "asset_triggered"
    assert services.wait_run(f"collect_{consumer}", run["dag_run_id"], timeout=180) == "success"
    return run


def test_producer_with_news_triggers_exactly_one_consumer_run(assets_scenario: AssetScenario):
    scenario = assets_scenario
    services = scenario.services
    assert services.wait_run("collect_herald", scenario.runs["herald"]) == "success"
    assert scenario.emit_state("herald") == "success"
    (event,) = scenario.events("herald")
    assert event["name"] == "toy://news" and event["source_task_id"] == "emit_assets"
    assert event["source_run_id"] == scenario.runs["herald"]
    assert event["extra"] == NEWS
    run = _one_consumer_run(scenario, "reader")
    collects = [r for r in scenario.history("reader") if r["step"] == "collect"]
    assert [(r["run_id"], r["status"]) for r in collects] == [(run["dag_run_id"], "success")]
    assert len(scenario.dag_runs("reader")) == 1


def test_partitioned_producer_emits_once_with_the_news_of_each_partition(assets_scenario: AssetScenario):
    scenario = assets_scenario
    assert scenario.services.wait_run("collect_crier", scenario.runs["crier"]) == "success"
    assert scenario.emit_state("crier") == "success"
    (event,) = scenario.events("crier")
    assert event["name"] == "toy://parts"
    assert event["extra"] == {"partitions": {"east": {"bulletin": 7}, "west": {"bulletin": 7}}}
    _one_consumer_run(scenario, "town")
    assert len(scenario.dag_runs("town")) == 1


def test_no_news_and_failed_producers_emit_nothing_and_trigger_no_consumer(assets_scenario: AssetScenario):
    scenario = assets_scenario
    services = scenario.services
    assert services.wait_run("collect_quiet", scenario.runs["quiet"]) == "success"
    assert services.wait_run("collect_broken", scenario.runs["broken"]) == "failed"
    silent_since = time.monotonic()
    # The scheduler is demonstrably processing asset events meanwhile: herald's news reaches
    # its consumer (same scheduler, same loop).
    _one_consumer_run(scenario, "reader")
    remaining = QUIET_WAIT_SECONDS - (time.monotonic() - silent_since)
    if remaining > 0:
        time.sleep(remaining)
    services.check_alive()
    for producer, consumer in (("quiet", "idle"), ("broken", "orphan")):
        assert scenario.events(producer) == [], producer
        assert scenario.queued(consumer) == [], consumer
        assert scenario.dag_runs(consumer) == [], consumer
        assert scenario.history(consumer) == [], consumer
    assert [r["step"] for r in scenario.history("quiet")] == ["validate", "collect", "sync_pinecone"]
    # How: the emit task ran for both (trigger rule all_done) and skipped itself; a skipped
    # task registers no asset event.
    assert scenario.emit_state("quiet") == "skipped"
    assert scenario.emit_state("broken") == "skipped"
