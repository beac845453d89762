"""``scripts/apply_airflow_settings.py`` applies airflow_settings.yaml's pools, idempotently."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml

from tests.conftest import PROJECT_ROOT
from tests.e2e.conftest import AirflowHome

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

SCRIPT = PROJECT_ROOT / "scripts" / "apply_airflow_settings.py"


def test_pools_are_applied_twice_without_error_and_slots_follow_the_file(airflow_home: AirflowHome, tmp_path):
    declared = yaml.safe_load((PROJECT_ROOT / "airflow_settings.yaml").read_text())["airflow"]
    expected = {p["pool_name"]: p["pool_slot"] for p in declared["pools"]}
    changed = tmp_path / "airflow_settings.yaml"
    declared["pools"][0]["pool_slot"] = 9
    changed.write_text(yaml.safe_dump({"airflow": declared}))
    for settings in (PROJECT_ROOT / "airflow_settings.yaml", PROJECT_ROOT / "airflow_settings.yaml", changed):
        applied = subprocess.run(
            [sys.executable, str(SCRIPT), str(settings)],
            env=airflow_home.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert applied.returncode == 0, applied.stdout[-2000:] + applied.stderr[-2000:]
    assert "connections not defined here" in applied.stdout and "collector_db" in applied.stdout
    listed = airflow_home.run("pools", "list", "-o", "json")
    pools = {p["pool"]: int(p["slots"]) for p in json.loads(listed.stdout)}
    expected[declared["pools"][0]["pool_name"]] = 9
    assert {name: pools.get(name) for name in expected} == expected
