"""What an operator sees in the UI for every DAG the project builds: an owner, a page for each
task (``doc_md``), a title for each param."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from airflow_collectors.dag_factory import build_dags
from airflow_collectors.health import build_health_dag
from tests.conftest import PROJECT_ROOT


@pytest.fixture(scope="module")
def every_dag(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Every entry of the real include/collectors.yaml, enabled, plus the health DAG."""
    data = yaml.safe_load((PROJECT_ROOT / "include" / "collectors.yaml").read_text())
    for entry in data["collectors"].values():
        entry["enabled"] = True
    path = Path(tmp_path_factory.mktemp("authoring")) / "collectors.yaml"
    path.write_text(yaml.safe_dump(data))
    dags: dict[str, object] = dict(build_dags(path))
    dags["collector_health"] = build_health_dag(owner=data["defaults"]["owner"])
    return dags


def test_every_dag_has_the_configured_owner(every_dag):
    owners = {dag_id: {task.owner for task in dag.tasks} for dag_id, dag in every_dag.items()}  # type: ignore[attr-defined]
    assert len(owners) > 5
    assert all(found == {"community-data"} for found in owners.values()), owners


def test_every_task_has_a_page(every_dag):
    missing = [
        f"{dag_id}.{task.task_id}"
        for dag_id, dag in every_dag.items()
        for task in dag.tasks  # type: ignore[attr-defined]
        if not (task.doc_md or "").strip()
    ]
    assert not missing


def test_every_param_has_a_title(every_dag):
    untitled = [
        f"{dag_id}.{name}"
        for dag_id, dag in every_dag.items()
        for name, param in dag.params.items()  # type: ignore[attr-defined]
        if not getattr(dag.params.get_param(name), "schema", {}).get("title")  # type: ignore[attr-defined]
    ]
    assert not untitled


def test_the_health_dag_takes_its_owner_from_collectors_yaml(monkeypatch, tmp_path):
    config = tmp_path / "collectors.yaml"
    config.write_text(yaml.safe_dump({"defaults": {"owner": "data-platform"}, "collectors": {}}))
    monkeypatch.setenv("COLLECTORS_CONFIG", str(config))
    assert {task.owner for task in build_health_dag().tasks} == {"data-platform"}
