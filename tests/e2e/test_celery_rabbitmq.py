"""The Celery cluster of ``test_celery.py`` with RabbitMQ (AMQP, 127.0.0.1:5672) as the broker
instead of Redis: the toy collector's mapped collects run on both workers and the rows are exact.
Same harness (``running_cluster``), one short run; the queue is deleted afterwards."""

from __future__ import annotations

import json
import os
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.e2e.test_celery import TOY, WORKERS, Cluster, _stamp, running_cluster
from tests.fakes.toy_collector import toy_notes

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

AMQP_URL = os.environ.get("COLLECTOR_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
PARTITIONS = [f"list{n}" for n in range(1, 5)]
NOTES = 3


def _amqp_available() -> bool:
    import kombu

    try:
        with kombu.Connection(AMQP_URL, connect_timeout=2) as connection:
            connection.ensure_connection(max_retries=1)
        return True
    except Exception:  # kombu raises the transport's own errors (OSError, AccessRefused, ...)
        return False


def _collectors_yaml(home: Path) -> str:
    return textwrap.dedent(f"""
        defaults: {{retries: 0, start_date: 2026-01-01}}
        collectors:
          amqp:
            collector: {TOY}
            schedule: null
            partitioned: true
            config: {{name: amqp, notes: {NOTES}, partitions: {json.dumps(PARTITIONS)}, sleep_seconds: 4}}
    """)


@pytest.fixture(scope="module")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _postgres_server: None
) -> Iterator[Cluster]:
    if not _amqp_available():
        if os.environ.get("CI") == "true":
            pytest.fail(f"RabbitMQ is required for the AMQP broker test and is not answering at {AMQP_URL}")
        pytest.skip(f"no RabbitMQ at {AMQP_URL}")
    home = tmp_path_factory.mktemp("airflow_celery_amqp")
    with running_cluster(
        request, home, broker_url=AMQP_URL, collectors_yaml=_collectors_yaml, dag_ids=["collect_amqp"]
    ) as booted:
        try:
            yield booted
        finally:
            import kombu

            with kombu.Connection(AMQP_URL, connect_timeout=2) as connection:
                connection.default_channel.queue_delete(booted.queue)


def test_rabbitmq_broker_spreads_mapped_collects_over_both_workers(cluster: Cluster):
    services = cluster.services
    run_id = f"e2e_amqp_{_stamp()}"
    services.trigger("collect_amqp", run_id)
    assert services.wait_run("collect_amqp", run_id, timeout=240) == "success"
    assert "amqp://" in services.env["AIRFLOW__CELERY__BROKER_URL"]
    for worker in WORKERS:
        assert "transport:   amqp://" in services.logs[worker].read_text(errors="replace")
    mapped = services.ok(
        "GET", f"/api/v2/dags/collect_amqp/dagRuns/{run_id}/taskInstances/collect/listMapped"
    )["task_instances"]
    assert sorted(t["map_index"] for t in mapped) == list(range(len(PARTITIONS)))
    hosts = {t["hostname"] for t in mapped}
    assert hosts == set(WORKERS), f"mapped collects ran on {hosts}, not spread over both workers"
    for partition in PARTITIONS:
        assert cluster.notes(partition) == [f"{partition}-{n}" for n in range(NOTES)]
    store = cluster.store()
    try:
        with store.engine.connect() as conn:
            total = conn.execute(select(func.count()).select_from(toy_notes)).scalar_one()
    finally:
        store.dispose()
    assert total == len(PARTITIONS) * NOTES
