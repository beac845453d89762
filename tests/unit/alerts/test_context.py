"""Alerts built from Airflow callback contexts (task failure or retry, missed deadline)."""

from __future__ import annotations

import json

from airflow_collectors.alerts.context import alert_from_deadline_context, alert_from_task_context
from airflow_collectors.failures import to_step_failure
from core.errors import AuthenticationError
from tests.unit.alerts.helpers import SECRET, TaskInstance, make_operator


def test_alert_from_task_context_uses_the_step_failure(monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_TOY_API", json.dumps({"conn_type": "http", "password": SECRET}))
    task = make_operator(partition="alpha")
    failure = to_step_failure(AuthenticationError(f"bad token {SECRET}"), collector="toy", step="collect")
    ti = TaskInstance(task, try_number=1, max_tries=3)
    alert, secrets = alert_from_task_context({"ti": ti, "task": task, "exception": failure}, "failure")
    assert (alert.collector, alert.category, alert.step, alert.partition) == (
        "toy",
        "auth",
        "collect",
        "alpha",
    )
    assert (alert.try_number, alert.max_tries, alert.dag_id) == (1, 3, "collect_toy")
    assert alert.log_url and alert.log_url.endswith("try_number=1")
    assert SECRET in secrets and SECRET not in alert.text()


def test_category_falls_back_to_xcom_then_classification():
    task = make_operator()
    ti = TaskInstance(task, try_number=2, max_tries=2, pushed="network")
    alert, _ = alert_from_task_context({"ti": ti, "task": task, "exception": RuntimeError("x")}, "failure")
    assert alert.category == "network"
    ti = TaskInstance(task, try_number=2, max_tries=2, pushed=None)
    alert, _ = alert_from_task_context({"ti": ti, "task": task, "exception": TimeoutError("slow")}, "failure")
    assert alert.category == "timeout"


def test_mapped_task_is_named_with_its_index():
    task = make_operator()
    ti = TaskInstance(task, try_number=1, max_tries=0)
    ti.map_index = 3
    alert, _ = alert_from_task_context({"ti": ti, "task": task, "exception": RuntimeError("x")}, "failure")
    assert alert.task_id == "collect[3]"


def test_deadline_alert_from_the_callback_context(monkeypatch):
    monkeypatch.setenv("AIRFLOW__API__BASE_URL", "http://af.test:8080/")
    context = {
        "dag_run": {
            "dag_id": "collect_toy",
            "dag_run_id": "manual__x y",
            "state": "running",
            "queued_at": "2026-03-01T12:00:00Z",
        },
        "deadline": {"id": "d1", "deadline_time": "2026-03-01T12:05:00Z"},
    }
    alert = alert_from_deadline_context(context, collector="toy", deadline_minutes=5)
    assert (alert.kind, alert.collector, alert.category, alert.run_id) == (
        "deadline",
        "toy",
        "late",
        "manual__x y",
    )
    assert alert.details == (
        "Queued at: 2026-03-01T12:00:00Z",
        "Deadline: 2026-03-01T12:05:00Z",
        "Deadline is 5 minute(s) after the run was queued",
        "Run state: running",
    )
    assert alert.log_url == "http://af.test:8080/dags/collect_toy/runs/manual__x%20y"
    assert alert_from_deadline_context({"dag_run": {"dag_id": "collect_x"}}).collector == "collect_x"
