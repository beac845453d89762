"""Static consistency of the deployment files (no Docker daemon here): Dockerfile,
docker-compose.yaml, .env.example, airflow_settings.yaml, include/collectors.yaml, requirements.

What a broken deployment would look like if these drifted: an image on another Python or
Airflow than the tests, installed without the constraints; a compose cluster on another
executor, or whose workers cannot reach the broker, the API server or the store; a collector
whose pool or connection no settings file declares (its tasks wait in ``scheduled`` forever,
or fail validate).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.config import load_collectors_file
from tests.conftest import PROJECT_ROOT

AIRFLOW_SERVICES = {
    "airflow-init",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "airflow-worker",
}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "docker-compose.yaml").read_text())


@pytest.fixture(scope="module")
def settings() -> dict[str, Any]:
    return yaml.safe_load((PROJECT_ROOT / "airflow_settings.yaml").read_text())["airflow"]


@pytest.fixture(scope="module")
def collectors():
    return load_collectors_file(PROJECT_ROOT / "include" / "collectors.yaml", check_paths=False)


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line and not line.startswith("-"):
            name, version = line.split("==", 1)
            pins[re.sub(r"[-_.]+", "-", name.lower())] = version
    return pins


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    return {str(k): str(v) for k, v in env.items()}


def _used_connections(collectors) -> set[str]:
    used = {collectors.defaults.store_conn_id}
    if collectors.alerts.slack_conn_id:
        used.add(collectors.alerts.slack_conn_id)
    used.update(collectors.alerts.webhook_conn_ids)
    for entry in collectors.collectors.values():
        used.update(entry.connections)
        vectors = entry.vector_settings
        if vectors.enabled and vectors.sink == "pinecone":
            used.add("pinecone_default")
    return used


def test_the_image_is_the_tested_airflow_and_python_installed_with_the_constraints():
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    base = re.search(r"^FROM apache/airflow:(\S+)-python(\d+\.\d+)\s*$", dockerfile, re.MULTILINE)
    assert base, "the image must build on the official apache/airflow image"
    airflow_version, python = base.groups()
    assert airflow_version == _pins(PROJECT_ROOT / "requirements.txt")["apache-airflow"]
    assert python == f"{sys.version_info.major}.{sys.version_info.minor}", "image Python != test Python"
    install = re.search(r"^RUN pip install .*$", dockerfile, re.MULTILINE)
    assert install and "-r /opt/collectors/requirements.txt" in install.group(0)
    assert "-c /opt/collectors/constraints.txt" in install.group(0)
    code = [line for line in dockerfile.splitlines() if not line.lstrip().startswith("#")]
    assert not [line for line in code if "COLLECTOR_EMBEDDED" in line], (
        "the image never turns the embedded store on"
    )


def test_the_celery_provider_is_pinned_and_constrained():
    requirements, constraints = (
        _pins(PROJECT_ROOT / "requirements.txt"),
        _pins(PROJECT_ROOT / "constraints.txt"),
    )
    assert requirements["apache-airflow-providers-celery"] == constraints["apache-airflow-providers-celery"]
    for package in ("celery", "kombu", "redis"):
        assert package in constraints, f"{package} is not pinned in constraints.txt"


def test_every_airflow_service_runs_the_project_image_with_the_same_environment(compose):
    services = compose["services"]
    assert set(services) >= AIRFLOW_SERVICES, AIRFLOW_SERVICES - set(services)
    assert {"postgres", "redis"} <= set(services)
    common = compose["x-airflow-common"]
    assert common["build"] == "." and common["image"].startswith("${COLLECTORS_IMAGE:-")
    for name in AIRFLOW_SERVICES:
        service = services[name]
        assert service["image"] == common["image"], name
        assert _env(service) == _env(common), f"{name}: environment differs from x-airflow-common"
    commands = {name: services[name]["command"] for name in AIRFLOW_SERVICES}
    assert commands["airflow-worker"] == ["celery", "worker"]
    assert commands["airflow-scheduler"] == ["scheduler"]
    assert commands["airflow-dag-processor"] == ["dag-processor"]
    assert commands["airflow-triggerer"] == ["triggerer"], "deadline callbacks run on the triggerer"
    assert commands["airflow-apiserver"] == ["api-server"]


def test_the_cluster_is_celery_on_redis_with_postgres_metadata_and_store(compose, collectors):
    env = _env(compose["x-airflow-common"])
    services = compose["services"]
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://redis:")
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"].startswith("db+postgresql")
    assert "@postgres:5432/" in env["AIRFLOW__CELERY__RESULT_BACKEND"]
    assert env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].startswith("postgresql")
    api_port = services["airflow-apiserver"]["ports"][0].rsplit(":", 1)[1]
    assert env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == f"http://airflow-apiserver:{api_port}/execution/"
    store = f"AIRFLOW_CONN_{collectors.defaults.store_conn_id.upper()}"
    assert env[store].startswith("postgresql://") and "@postgres:5432/collectors" in env[store]
    assert "COLLECTOR_EMBEDDED" not in env, "a cluster must never fall back to per-container SQLite"
    assert env["COLLECTORS_CONFIG"] == "/opt/airflow/include/collectors.yaml"
    init = " ".join(services["airflow-init"]["command"])
    assert "airflow db migrate" in init
    assert "python /opt/collectors/apply_airflow_settings.py /opt/airflow/airflow_settings.yaml" in init
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "scripts/apply_airflow_settings.py /opt/collectors/apply_airflow_settings.py" in dockerfile
    assert "airflow_settings.yaml /opt/airflow/airflow_settings.yaml" in dockerfile
    initdb = services["postgres"]["volumes"]
    assert any(v.startswith("./scripts/compose-init-collectors-db.sh:") for v in initdb)
    assert (PROJECT_ROOT / "scripts" / "compose-init-collectors-db.sh").exists()


def test_every_pool_a_collector_uses_is_declared(settings, collectors):
    declared = {p["pool_name"] for p in settings["pools"]}
    used = {entry.pool for entry in collectors.collectors.values() if entry.pool} | {"pinecone"}
    assert used <= declared, f"pools used but not in airflow_settings.yaml: {sorted(used - declared)}"
    assert all(int(p["pool_slot"]) > 0 for p in settings["pools"])


def test_every_connection_is_declared_and_provided(settings, compose, collectors):
    declared = {c["conn_id"] for c in settings["connections"]}
    used = _used_connections(collectors) | {"pinecone_default"}
    assert used <= declared, f"connections used but not in airflow_settings.yaml: {sorted(used - declared)}"
    provided = set(_env(compose["x-airflow-common"]))
    provided |= {
        line.split("=", 1)[0]
        for line in (PROJECT_ROOT / ".env.example").read_text().splitlines()
        if line.startswith("AIRFLOW_CONN_")
    }
    missing = sorted(c for c in declared if f"AIRFLOW_CONN_{c.upper()}" not in provided)
    assert not missing, f"connections neither in docker-compose.yaml nor .env.example: {missing}"
    env_file = compose["x-airflow-common"]["env_file"]
    assert env_file == [{"path": ".env", "required": False}]


def _documented_yaml(heading: str) -> dict[str, Any]:
    """The first ```yaml block under ``heading`` in docs/deployment.md."""
    text = (PROJECT_ROOT / "docs" / "deployment.md").read_text()
    section = text.split(f"## {heading}", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    assert block, f"no yaml block under '## {heading}'"
    return yaml.safe_load(block.group(1))


def test_the_astro_project_files_exist_and_agree_with_the_project():
    config = yaml.safe_load((PROJECT_ROOT / ".astro" / "config.yaml").read_text())
    assert config["project"]["name"]
    packages = (PROJECT_ROOT / "packages.txt").read_text().split()
    assert all(re.fullmatch(r"[a-z0-9][a-z0-9+.-]+", p) for p in packages), packages
    assert "git" in packages, "the GitHub collector's git strategy needs git"
    for folder in ("dags", "plugins", "include"):
        assert (PROJECT_ROOT / folder).is_dir(), folder
    doc = (PROJECT_ROOT / "docs" / "deployment.md").read_text().split("## Astro", 1)[1].split("\n## ", 1)[0]
    runtime = re.search(r"FROM astrocrpublic\.azurecr\.io/runtime:(\d+\.\d+)-<patch>-python-(\d+\.\d+)", doc)
    assert runtime, "docs/deployment.md names the Astro Runtime FROM line"
    airflow = _pins(PROJECT_ROOT / "requirements.txt")["apache-airflow"]
    assert airflow.startswith(runtime.group(1) + "."), "the Runtime line is not on the pinned Airflow"
    assert runtime.group(2) == f"{sys.version_info.major}.{sys.version_info.minor}"
    assert f"apache-airflow=={airflow}" in doc


def test_the_documented_helm_values_match_the_image_and_the_cluster():
    values = _documented_yaml("Kubernetes (official Helm chart), on paper")
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    airflow = _pins(PROJECT_ROOT / "requirements.txt")["apache-airflow"]
    assert str(values["images"]["airflow"]["tag"]).startswith(f"{airflow}-")
    assert values["executor"] in {"CeleryExecutor", "KubernetesExecutor"}
    env = {e["name"]: e["value"] for e in values["env"]}
    assert f"COLLECTORS_CONFIG={env['COLLECTORS_CONFIG']}" in dockerfile
    secrets = {s["envName"] for s in values["secret"]}
    assert "AIRFLOW_CONN_COLLECTOR_DB" in secrets, "the store connection must reach every worker"
    assert values["triggerer"]["enabled"] is True, "deadline callbacks run on the triggerer"
    assert values["dagProcessor"]["enabled"] is True
    assert values["data"]["metadataSecretName"] and values["postgresql"]["enabled"] is False
    assert values["workers"]["persistence"]["enabled"] is False
