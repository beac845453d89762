"""``airflow dags test`` runs the same DAG the dag-processor serializes: one DAG version, deadline kept.

Leaving the lateness deadline out of DAGs parsed by ``dags test`` (how the crash of Airflow 3.3's
``dags test`` on deadlines used to be avoided) gave each side its own DAG: every ``dags test``
and every re-parse wrote a new DAG version, flipping back and forth.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import AirflowHome

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

DAG_ID = "collect_versioncheck"


def _versions(home: AirflowHome) -> list[dict[str, object]]:
    db = sqlite3.connect(home.home / "airflow.db")
    try:
        rows = db.execute(
            "SELECT v.version_number, s.data FROM dag_version v JOIN serialized_dag s ON s.dag_version_id = v.id "
            "WHERE v.dag_id = ? ORDER BY v.version_number",
            (DAG_ID,),
        ).fetchall()
    finally:
        db.close()
    return [{"version": number, "dag": json.loads(data)["dag"] if data else None} for number, data in rows]


def test_dags_test_and_the_dag_processor_see_one_dag_with_its_deadline(
    airflow_home: AirflowHome, tmp_path: Path
):
    config = tmp_path / "collectors.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "defaults": {"retries": 0, "deadline_minutes": 30},
                "collectors": {
                    "versioncheck": {
                        "collector": "discord_activity_tracker.collector:DiscordCollector",
                        "schedule": "0 * * * *",
                        "config": {"export_dir": str(PROJECT_ROOT / "include/sample_data/discord")},
                    }
                },
            }
        )
    )
    env = {"COLLECTORS_CONFIG": str(config), "COLLECTOR_STATE_DIR": str(tmp_path / "state")}
    parsed = airflow_home.run("dags", "reserialize", extra_env=env)
    assert parsed.returncode == 0, parsed.stdout[-3000:] + parsed.stderr[-3000:]
    before = _versions(airflow_home)
    assert len(before) == 1 and before[0]["dag"]["deadline"], "the scheduler's DAG carries its deadline"

    ran = airflow_home.dags_test(DAG_ID, config_file=config, state_dir=tmp_path / "state")
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-3000:]
    assert "Marking run" in ran.stdout + ran.stderr and "successful" in ran.stdout + ran.stderr

    again = airflow_home.run("dags", "reserialize", extra_env=env)
    assert again.returncode == 0, again.stderr[-3000:]
    assert [v["version"] for v in _versions(airflow_home)] == [1], (
        "dags test must not write a second DAG version"
    )
