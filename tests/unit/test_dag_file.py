"""The real dags/collectors.py with the real include/collectors.yaml: imports, builds, stays thin."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_ROOT

PROBE = """
import json, runpy, sys
namespace = runpy.run_path("dags/collectors.py")
dags = {k: v for k, v in namespace.items() if k.startswith("collect_")}
heavy = sorted(m for m in ("discord_activity_tracker.collector", "github_activity_tracker.collector", "pinecone", "psycopg2", "requests",
                           # what runs a step, imported by the operators' execute (docs/performance.md, "DAG parsing")
                           "core.collectors", "core.store", "core.protocols", "airflow_collectors.run_history",
                           "airflow_collectors.alerts.dispatch", "airflow_collectors.kill_watch",
                           "airflow.providers.standard.decorators.python")
               if m in sys.modules)
print(json.dumps({"dags": {k: [t.task_id for t in v.topological_sort()] for k, v in dags.items()}, "heavy": heavy}))
"""


def test_dag_file_builds_every_enabled_collector_without_importing_trackers():
    env = {**os.environ, "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}"}
    env.pop("COLLECTORS_CONFIG", None)
    probe = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert probe.returncode == 0, probe.stderr[-3000:]
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    assert found["dags"]["collect_discord"] == ["validate", "collect", "sync_pinecone"]
    assert found["heavy"] == [], f"DAG parsing imported {found['heavy']}"
