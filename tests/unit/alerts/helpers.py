"""Shared values for the alert tests: a sample alert, a task instance as callbacks see it."""

from __future__ import annotations

import datetime as dt
import json
import socket
from typing import Any

from airflow_collectors.alerts.formatter import CollectorAlert
from airflow_collectors.operator import CollectorOperator

T0 = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
SECRET = "tok_LITERAL_SECRET_4242"
GH_TOKEN = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"


def make_alert(**overrides: Any) -> CollectorAlert:
    values: dict[str, Any] = {
        "kind": "failure",
        "collector": "github",
        "category": "rate_limit",
        "dag_id": "collect_github",
        "task_id": "collect[2]",
        "step": "collect",
        "partition": "acme/widgets",
        "run_id": "scheduled__2026-03-01T00:00:00+00:00",
        "try_number": 4,
        "max_tries": 3,
        "error": "[rate_limit] github.collect: RateLimitError: quota exhausted",
        "log_url": "http://airflow.example/dags/collect_github/runs/x/tasks/collect/mapped/2?try_number=4",
    }
    values.update(overrides)
    return CollectorAlert(**values)


class TaskInstance:
    """The attributes a task runner's ``ti`` exposes to callbacks."""

    def __init__(self, task: CollectorOperator, try_number: int, max_tries: int, pushed: str | None = None):
        self.task = task
        self.dag_id = "collect_toy"
        self.task_id = task.task_id
        self.run_id = "manual__2026-03-01T12:00:00+00:00"
        self.map_index = -1
        self.try_number = try_number
        self.max_tries = max_tries
        self.log_url = f"http://af.test/dags/collect_toy/runs/x/tasks/{task.task_id}?try_number={try_number}"
        self._pushed = pushed

    def xcom_pull(self, task_ids: str, key: str, map_indexes: int) -> str | None:
        assert (task_ids, key) == (self.task_id, "failure_category")
        return self._pushed


def make_operator(**kwargs: Any) -> CollectorOperator:
    return CollectorOperator(
        task_id="collect",
        collector="tests.fakes.toy_collector:ToyCollector",
        collector_name="toy",
        step="collect",
        connection_ids=["toy_api"],
        **kwargs,
    )


def store_connection(store_url: str) -> str:
    """``AIRFLOW_CONN_*`` value for the test store (SQLite file or PostgreSQL database)."""
    if store_url.startswith("sqlite"):
        return json.dumps({"conn_type": "sqlite", "host": store_url.removeprefix("sqlite:///")})
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": "127.0.0.1",
            "port": 5432,
            "login": "postgres",
            "schema": store_url.rsplit("/", 1)[1],
        }
    )


def closed_port() -> int:
    """A local TCP port nobody listens on (connections to it are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
