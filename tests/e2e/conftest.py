"""Real Airflow for end-to-end tests: a temporary AIRFLOW_HOME with its own SQLite metadata DB."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.conftest import PROJECT_ROOT

AIRFLOW = str(Path(sys.executable).with_name("airflow"))


@dataclasses.dataclass
class AirflowHome:
    home: Path
    env: dict[str, str]

    def run(
        self, *args: str, extra_env: Mapping[str, str] | None = None, timeout: int = 300
    ) -> subprocess.CompletedProcess[str]:
        env = {**self.env, **(extra_env or {})}
        return subprocess.run(
            [AIRFLOW, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False
        )

    def dags_test(
        self,
        dag_id: str,
        *,
        config_file: Path,
        state_dir: Path,
        conf: Mapping[str, object] | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        args = ["dags", "test", dag_id]
        if conf:
            args += ["--conf", json.dumps(conf)]
        env = {
            "COLLECTORS_CONFIG": str(config_file),
            "COLLECTOR_STATE_DIR": str(state_dir),
            **(extra_env or {}),
        }
        return self.run(*args, extra_env=env)

    def task_logs(self, dag_id: str) -> str:
        """Every task log file of ``dag_id`` under this home, joined (what a leak check scans)."""
        logs = self.home / "logs"
        files = sorted(logs.rglob("*")) if logs.exists() else []
        return "\n".join(f.read_text(errors="replace") for f in files if f.is_file() and dag_id in str(f))


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory: pytest.TempPathFactory) -> AirflowHome:
    home = tmp_path_factory.mktemp("airflow_home")
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("AIRFLOW_", "AIRFLOW__", "COLLECTOR"))
    }
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
            "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
            # Tests without a collector_db connection use the embedded store, explicitly.
            "COLLECTOR_EMBEDDED": "1",
        }
    )
    prepared = AirflowHome(home, env)
    migrated = prepared.run("db", "migrate")
    assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
    return prepared
