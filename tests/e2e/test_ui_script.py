"""``scripts/ui.sh``, the README's UI path, run as an operator runs it: it creates the PostgreSQL
metadata and store databases, migrates, applies ``airflow_settings.yaml`` and starts the
api-server, scheduler, dag-processor and triggerer; the test logs in with the generated admin
password (where the script says it is) and backfills through the REST API
(``POST /api/v2/backfills``, what the UI's *Backfill* button calls): the runs are created and
complete, the scheduler survives, the store holds each note once."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from core.store import Store, collector_runs
from tests.conftest import PG_HOST, PG_PORT, PG_USER, PROJECT_ROOT
from tests.e2e.cluster import Services, drop_database, free_port, wait_for
from tests.fakes.toy_collector import toy_notes

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOY = "tests.fakes.toy_collector:ToyCollector"
NOTES = 2
TODAY = dt.datetime.now(dt.UTC).date()
BACKFILL_FROM = dt.datetime.combine(TODAY - dt.timedelta(days=5), dt.time(), tzinfo=dt.UTC)
BACKFILL_TO = BACKFILL_FROM + dt.timedelta(days=2)  # three logical dates


def _database_exists(name: str) -> bool:
    import psycopg2

    admin = psycopg2.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, dbname="postgres")
    try:
        with admin.cursor() as cursor:
            cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            return cursor.fetchone() is not None
    finally:
        admin.close()


def _banner(services: Services) -> str | None:
    text = services.logs["ui.sh"].read_text(errors="replace")
    return text if "The Airflow UI:" in text else None


@pytest.fixture(scope="module")
def ui(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, _postgres_server: None
) -> Iterator[tuple[Services, str, list[str]]]:
    failed_before = request.session.testsfailed
    home = tmp_path_factory.mktemp("airflow_ui")
    suffix = uuid.uuid4().hex[:12]
    meta_db, store_db = f"af_ui_meta_{suffix}", f"af_ui_store_{suffix}"
    config = home / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        defaults: {{retries: 0, start_date: 2026-01-01}}
        collectors:
          notes:
            collector: {TOY}
            schedule: "@daily"
            start_date: {TODAY.isoformat()}
            config: {{name: ui, notes: {NOTES}}}
        """)
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "COLLECTOR"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "COLLECTOR_STATE_DIR": str(home / "state"),
            "COLLECTORS_CONFIG": str(config),
            "PYTHONPATH": str(PROJECT_ROOT),  # the toy collector; the script adds plugins/
            "UI_PORT": str(port),
            "UI_METADATA_URL": f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{meta_db}",
            "UI_STORE_URL": f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{store_db}",
            # Free side ports, so this runs beside other Airflows on the machine.
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
        }
    )
    services = Services(home=home, env=env, api_url=f"http://127.0.0.1:{port}")
    services.logs = {"ui.sh": home / "ui.sh.log"}
    services.logs |= {
        s: home / "logs" / f"ui-{s}.log" for s in ("api-server", "scheduler", "dag-processor", "triggerer")
    }
    assert not _database_exists(meta_db) and not _database_exists(store_db)
    try:
        with services.logs["ui.sh"].open("wb") as out:
            services.procs["ui.sh"] = subprocess.Popen(
                [str(PROJECT_ROOT / "scripts" / "ui.sh")],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        banner = wait_for("ui.sh to print the URL", lambda: _banner(services), 240, services)
        yield services, banner, [meta_db, store_db]
    finally:
        services.stop()
        if request.session.testsfailed > failed_before:
            sys.__stderr__.write(f"\n===== ui.sh logs ({home}) =====\n{services.log_tails(12000)}\n")
        drop_database(meta_db)
        drop_database(store_db)


def test_ui_script_backfills_through_the_rest_api_on_postgresql_metadata(
    ui: tuple[Services, str, list[str]],
):
    services, banner, databases = ui
    assert all(_database_exists(name) for name in databases), "ui.sh creates both databases"
    passwords = services.home / "simple_auth_manager_passwords.json.generated"
    assert str(passwords) in banner
    password = json.loads(passwords.read_text())["admin"]
    assert password not in banner
    login = requests.post(
        f"{services.api_url}/auth/token", json={"username": "admin", "password": password}, timeout=30
    )
    assert login.status_code == 201, login.text
    services.token = login.json()["access_token"]
    pools = {p["name"] for p in services.ok("GET", "/api/v2/pools")["pools"]}
    assert "github_api" in pools, "ui.sh applies airflow_settings.yaml"

    wait_for(
        "the collector DAG to be parsed",
        lambda: services.api("GET", "/api/v2/dags/collect_notes").status_code == 200,
        120,
        services,
    )
    services.ok("PATCH", "/api/v2/dags/collect_notes", json={"is_paused": False})
    backfill = services.ok(
        "POST",
        "/api/v2/backfills",
        json={
            "dag_id": "collect_notes",
            "from_date": BACKFILL_FROM.isoformat(),
            "to_date": BACKFILL_TO.isoformat(),
            "max_active_runs": 3,
            "run_backwards": False,
            "dag_run_conf": {},
            "reprocess_behavior": "none",
        },
    )
    wait_for(
        "the backfill to complete",
        lambda: services.ok("GET", f"/api/v2/backfills/{backfill['id']}").get("completed_at"),
        240,
        services,
        every=2,
    )
    runs = services.ok("GET", "/api/v2/dags/collect_notes/dagRuns", params={"run_type": "backfill"})[
        "dag_runs"
    ]
    assert sorted(r["logical_date"][:10] for r in runs) == [
        (BACKFILL_FROM + dt.timedelta(days=i)).date().isoformat() for i in range(3)
    ]
    assert {r["state"] for r in runs} == {"success"}
    services.check_alive()  # the scheduler (and the script) survived the backfill

    store = Store.from_url(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{databases[1]}")
    try:
        with store.engine.connect() as conn:
            notes = sorted(conn.execute(select(toy_notes.c.note_id)).scalars())
            collects = conn.execute(
                select(collector_runs.c.run_id).where(
                    collector_runs.c.step == "collect", collector_runs.c.status == "success"
                )
            ).scalars()
            collected = sorted(collects)
    finally:
        store.dispose()
    assert notes == [f"all-{n}" for n in range(NOTES)]
    assert collected == sorted(r["dag_run_id"] for r in runs)


def test_ui_script_refuses_a_metadata_url_that_is_not_postgresql(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "COLLECTOR"))}
    env |= {"AIRFLOW_HOME": str(tmp_path), "UI_METADATA_URL": f"sqlite:///{tmp_path}/airflow.db"}
    result = subprocess.run(
        [str(PROJECT_ROOT / "scripts" / "ui.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert "expected a postgresql URL" in result.stderr
