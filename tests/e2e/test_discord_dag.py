"""The Discord DAG from the real include/collectors.yaml under ``airflow dags test``, store on PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from discord_activity_tracker.tables import discord_channels, discord_messages
from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import AirflowHome

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
CONFIG = PROJECT_ROOT / "include" / "collectors.yaml"


def _counts(url: str) -> dict[str, int]:
    store = Store.from_url(url)
    with store.engine.connect() as conn:
        return {
            "messages": conn.execute(select(func.count()).select_from(discord_messages)).scalar_one(),
            "channels": conn.execute(select(func.count()).select_from(discord_channels)).scalar_one(),
            "runs": conn.execute(select(func.count()).select_from(collector_runs)).scalar_one(),
        }


def test_discord_dag_stores_samples_once_across_two_runs(airflow_home: AirflowHome, pg_url: str, tmp_path: Path):
    expected = {m["id"] for p in SAMPLES.glob("*.json") for m in json.loads(p.read_text())["messages"]}
    env = {"AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://")}
    first = airflow_home.dags_test("collect_discord", config_file=CONFIG, state_dir=tmp_path, extra_env=env)
    assert first.returncode == 0, first.stdout[-4000:] + first.stderr[-2000:]
    assert _counts(pg_url) == {"messages": len(expected), "channels": 3, "runs": 3}
    second = airflow_home.dags_test("collect_discord", config_file=CONFIG, state_dir=tmp_path, extra_env=env)
    assert second.returncode == 0, second.stdout[-4000:]
    assert _counts(pg_url) == {"messages": len(expected), "channels": 3, "runs": 6}
    assert "files_unchanged=4" in second.stdout
    assert "records_upserted=0" in second.stdout
    store = Store.from_url(pg_url)
    with store.engine.connect() as conn:
        stored = set(conn.execute(select(discord_messages.c.message_id)).scalars())
    assert stored == expected
    assert not (tmp_path / "collector.db").exists(), "the PostgreSQL connection must be used, not the SQLite default"
