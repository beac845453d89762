"""The kit of the tests that run a real Airflow cluster: its processes' shared environment,
the services (started, probed, stopped, their logs dumped on failure), the REST API client,
bounded waits, and a fresh PostgreSQL database per role."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import requests

from tests.conftest import PG_HOST, PG_PORT, PG_USER, PROJECT_ROOT, _admin_connection
from tests.e2e.conftest import AIRFLOW

T = TypeVar("T")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def cluster_env(
    *,
    home: Path,
    config: Path,
    meta: str,
    api_port: int,
    executor: str,
    parallelism: int,
    store: str | None = None,
) -> dict[str, str]:
    """The environment every process of a test Airflow cluster shares: this project's DAGs and
    plugins, the metadata in PostgreSQL database ``meta``, an API server on ``api_port``, fast scheduling,
    every side port free, the collector store in database ``store`` when given; nothing
    inherited from the caller's Airflow or collector settings."""
    api_url = f"http://127.0.0.1:{api_port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_", "AIRFLOW__", "COLLECTOR"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "PYTHONPATH": f"{PROJECT_ROOT / 'plugins'}:{PROJECT_ROOT}",
            "COLLECTORS_CONFIG": str(config),
            "COLLECTOR_STATE_DIR": str(home / "state"),
            "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__EXECUTOR": executor,
            "AIRFLOW__CORE__PARALLELISM": str(parallelism),
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{api_url}/execution/",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url(meta),
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": api_url,
            "AIRFLOW__API__WORKERS": "1",
            "AIRFLOW__API__SECRET_KEY": secrets.token_hex(16),
            "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(free_port()),
            "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "1",
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        }
    )
    if store is not None:
        env["AIRFLOW_CONN_COLLECTOR_DB"] = store_url(store)
    return env


def wait_for(
    what: str, probe: Callable[[], T | None], timeout: float, services: Services, every: float = 1.0
) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{services.log_tails()}")
        services.check_alive()
        time.sleep(every)


@dataclasses.dataclass
class Services:
    home: Path
    env: dict[str, str]
    api_url: str
    logs: dict[str, Path] = dataclasses.field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = dataclasses.field(default_factory=dict)
    token: str = ""

    def start(self, name: str, *args: str) -> None:
        log_path = self.home / f"{name}.log"
        self.logs[name] = log_path
        with log_path.open("wb") as out:
            self.procs[name] = subprocess.Popen(
                [AIRFLOW, *args], env=self.env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
            )

    def boot(self, *roles: str) -> None:
        """Migrate the metadata database, start each Airflow service in ``roles``, and wait
        until the API server hands out a token (kept for :meth:`api`)."""
        migrated = subprocess.run(
            [AIRFLOW, "db", "migrate"], env=self.env, capture_output=True, text=True, timeout=240, check=False
        )
        assert migrated.returncode == 0, migrated.stdout[-3000:] + migrated.stderr[-3000:]
        for role in roles:
            self.start(role, role)
        self.token = wait_for("the API server", self._fresh_token, 90, self)

    def _fresh_token(self) -> str | None:
        try:
            response = requests.get(f"{self.api_url}/auth/token", timeout=5)
        except requests.ConnectionError:
            return None
        return response.json()["access_token"] if response.status_code in (200, 201) else None

    def check_alive(self) -> None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                raise AssertionError(f"airflow {name} exited with {proc.returncode}\n{self.log_tails()}")

    def stop(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for proc in self.procs.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)

    def log_tails(self, chars: int = 4000) -> str:
        parts = []
        for name, path in self.logs.items():
            text = path.read_text(errors="replace") if path.exists() else ""
            parts.append(f"----- airflow {name} ({path}) -----\n{text[-chars:]}")
        return "\n".join(parts)

    def api(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
        return requests.request(method, f"{self.api_url}{path}", headers=headers, timeout=30, **kwargs)

    def ok(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.api(method, path, **kwargs)
        assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text[:2000]}"
        return response.json()

    def run_state(self, dag_id: str, run_id: str) -> str:
        return str(self.ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")["state"])

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 150) -> str:
        def finished() -> str | None:
            state = self.run_state(dag_id, run_id)
            return state if state in {"success", "failed"} else None

        return wait_for(f"{dag_id}/{run_id} to finish", finished, timeout, self)

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        return self.ok("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def trigger(self, dag_id: str, run_id: str, conf: dict[str, Any] | None = None) -> None:
        self.ok("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})
        self.ok(
            "POST",
            f"/api/v2/dags/{dag_id}/dagRuns",
            json={"dag_run_id": run_id, "logical_date": None, "conf": conf or {}},
        )


def create_database(prefix: str) -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = _admin_connection()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    admin.close()
    return name


def drop_database(name: str) -> None:
    admin = _admin_connection()
    with admin.cursor() as cursor:
        cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False
    return "State:\tZ" not in status


def children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


def store_url(database: str) -> str:
    """The collector store's URL for a database of the test PostgreSQL."""
    return f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def metadata_url(database: str) -> str:
    """Airflow's metadata connection string for a database of the test PostgreSQL."""
    return f"postgresql+psycopg2://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"
