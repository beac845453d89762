"""A scheduled run and a REST backfill of the Discord DAG overlapping under a real Airflow.

Scheduler, dag-processor and API server (LocalExecutor, metadata in a fresh PostgreSQL
database, the store in another; the harness of ``test_scheduler.py``). The Discord DAG reads
generated exports (three channels, replies, and a later export of one channel with edited
messages). Unpausing the DAG makes the scheduler create its scheduled (unbounded) run; at the
same moment a three-day backfill is created through ``POST /api/v2/backfills``, whose runs are
bounded by their data intervals and run next to the scheduled one (a backfill is not held
back by the DAG's ``max_active_runs``). When everything has finished, the store and the local
sink are compared with the exports (``tests/fakes/overlap_truth.py``): every message once at
its newest edit, every channel's forward checkpoint at its newest message, the sink holding
exactly the chunks of the documents the store makes.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from benchmarks.stress_overlap import Exports

from core.store import Store
from tests.e2e.cluster import (
    Services,
    cluster_env,
    create_database,
    drop_database,
    free_port,
    store_url,
    wait_for,
)
from tests.fakes.overlap_truth import (
    checkpoint_problems,
    sink_diff,
    sink_records,
    source_messages,
    store_problems,
)

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

DAG_ID = "collect_discord"
VECTORS = {
    "sink": "local",
    "namespace": "discord",
    "chunk_size": 300,
    "chunk_overlap": 50,
    "min_chunk_chars": 20,
}
# The generated messages start on 2023-01-02 08:00 and span about four days.
BACKFILL_FROM = dt.datetime(2023, 1, 3, tzinfo=dt.UTC)
BACKFILL_TO = dt.datetime(2023, 1, 5, tzinfo=dt.UTC)  # logical dates 01-03, 01-04, 01-05


def _collectors_yaml(exports: Path) -> str:
    config = {"export_dir": str(exports), "batch_size": 100, "vectors": VECTORS}
    return textwrap.dedent(f"""
        defaults:
          retries: 1
          retry_delay_seconds: 2
          deadline_minutes: null
        alerts:
          slack_conn_id: null
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            schedule: "@daily"
            start_date: 2023-01-01
            config: {json.dumps(config)}
    """)


@pytest.fixture(scope="module")
def airflow(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _postgres_server: None
) -> Iterator[tuple[Services, Path, str]]:
    failed_before = request.session.testsfailed
    home = tmp_path_factory.mktemp("airflow_overlap")
    exports = Exports(home / "exports", random.Random(20260301))
    for _ in range(3):
        exports.add_channel(800)
    exports.add_edited_copy()
    config = home / "collectors.yaml"
    config.write_text(_collectors_yaml(exports.folder))
    meta_db, store_db = create_database("af_meta"), create_database("af_store")
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
            f"{DAG_ID} to be parsed",
            lambda: services.api("GET", f"/api/v2/dags/{DAG_ID}").status_code == 200,
            90,
            services,
        )
        yield services, exports.folder, store_url(store_db)
    finally:
        services.stop()
        if request.session.testsfailed > failed_before:
            print(
                f"\n===== Airflow service logs ({home}) =====\n{services.log_tails(12000)}",
                file=sys.__stderr__,
            )
        drop_database(meta_db)
        drop_database(store_db)


def _runs(services: Services, run_type: str) -> list[dict[str, Any]]:
    return services.ok("GET", f"/api/v2/dags/{DAG_ID}/dagRuns", params={"run_type": run_type})["dag_runs"]


def _collect_span(services: Services, run_id: str) -> tuple[dt.datetime, dt.datetime]:
    ti = services.task_instance(DAG_ID, run_id, "collect")
    return dt.datetime.fromisoformat(ti["start_date"]), dt.datetime.fromisoformat(ti["end_date"])


def test_scheduled_run_and_rest_backfill_overlapping_leave_store_and_sink_exact(
    airflow: tuple[Services, Path, str],
):
    services, exports, store_url = airflow
    # Unpausing lets the scheduler create the scheduled run (catchup is off: the latest
    # interval, unbounded); the backfill is created at the same moment.
    services.ok("PATCH", f"/api/v2/dags/{DAG_ID}", json={"is_paused": False})
    backfill = services.ok(
        "POST",
        "/api/v2/backfills",
        json={
            "dag_id": DAG_ID,
            "from_date": BACKFILL_FROM.isoformat(),
            "to_date": BACKFILL_TO.isoformat(),
            "max_active_runs": 3,
            "run_backwards": False,
            "dag_run_conf": {},
            "reprocess_behavior": "none",
        },
    )
    scheduled = wait_for("the scheduled run", lambda: _runs(services, "scheduled"), 60, services)[0]
    wait_for(
        "the backfill to complete",
        lambda: services.ok("GET", f"/api/v2/backfills/{backfill['id']}").get("completed_at"),
        240,
        services,
        every=2,
    )
    assert services.wait_run(DAG_ID, scheduled["dag_run_id"], timeout=240) == "success"
    backfilled = _runs(services, "backfill")
    assert sorted(r["state"] for r in backfilled) == ["success"] * 3
    assert sorted(dt.datetime.fromisoformat(r["data_interval_start"]) for r in backfilled) == [
        BACKFILL_FROM + dt.timedelta(days=day) for day in range(3)
    ]

    # The runs really overlapped: the scheduled collect ran (or waited for the collect lock)
    # while a backfill run was active.
    started, ended = _collect_span(services, scheduled["dag_run_id"])
    backfill_spans = [
        (dt.datetime.fromisoformat(r["start_date"]), dt.datetime.fromisoformat(r["end_date"]))
        for r in backfilled
    ]
    assert any(start < ended and started < end for start, end in backfill_spans), (
        f"no backfill run overlapped the scheduled collect {started}..{ended}: {backfill_spans}"
    )

    store = Store.from_url(store_url)
    try:
        expected = source_messages(exports)
        assert len(expected) > 2000
        problems = store_problems(store, expected) + checkpoint_problems(store, exports)
        assert not problems, "; ".join(problems)
        expected_records, held = sink_records(store, VECTORS)
        problems = sink_diff(expected_records, held)
        assert not problems, "; ".join(problems)
    finally:
        store.dispose()
