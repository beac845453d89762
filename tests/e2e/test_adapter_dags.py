"""The adapter under real ``airflow dags test``: steps, XCom, partitions, failure categories, redaction."""

from __future__ import annotations

import contextlib
import sqlite3
import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from core.store import Store, collector_runs
from tests.e2e.conftest import AirflowHome

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

TOY = "tests.fakes.toy_collector:ToyCollector"


def _config(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(textwrap.dedent(body))
    return path


def _runs(state_dir: Path) -> list[dict]:
    store = Store.from_url(f"sqlite:///{state_dir / 'collector.db'}")
    with store.engine.connect() as conn:
        return [
            dict(r) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id)).mappings()
        ]


def test_three_steps_run_and_record_history(airflow_home: AirflowHome, tmp_path: Path):
    config = _config(
        tmp_path,
        f"""
        collectors:
          toy:
            collector: {TOY}
            schedule: null
            config: {{notes: 4, vectors: {{min_chunk_chars: 5}}}}
    """,
    )
    result = airflow_home.dags_test("collect_toy", config_file=config, state_dir=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:]
    runs = _runs(tmp_path)
    assert [(r["step"], r["status"]) for r in runs] == [
        ("validate", "success"),
        ("collect", "success"),
        ("sync_pinecone", "success"),
    ]
    assert runs[1]["counts"] == {"notes": 4}
    assert runs[2]["counts"]["records_upserted"] == 4
    assert "Previous step collect: success=True counts={'notes': 4}" in result.stdout


def test_partitioned_collect_is_mapped_per_partition(airflow_home: AirflowHome, tmp_path: Path):
    config = _config(
        tmp_path,
        f"""
        collectors:
          parts:
            collector: {TOY}
            partitioned: true
            config: {{notes: 2, partitions: [alpha, beta, gamma]}}
    """,
    )
    result = airflow_home.dags_test(
        "collect_parts", config_file=config, state_dir=tmp_path, conf={"partitions": ["alpha", "gamma"]}
    )
    assert result.returncode == 0, result.stdout[-4000:]
    collects = [r for r in _runs(tmp_path) if r["step"] == "collect"]
    assert sorted(r["partition"] for r in collects) == ["alpha", "gamma"]
    assert sorted(r["map_index"] for r in collects) == [0, 1]


def test_auth_failure_fails_at_once_sanitized_and_recorded(airflow_home: AirflowHome, tmp_path: Path):
    config = _config(
        tmp_path,
        f"""
        collectors:
          toy:
            collector: {TOY}
            connections: [toy_api]
            config: {{notes: 1, fail_with: auth}}
    """,
    )
    secret = "tok_SECRETVALUE_9876"
    result = airflow_home.dags_test(
        "collect_toy",
        config_file=config,
        state_dir=tmp_path,
        extra_env={"AIRFLOW_CONN_TOY_API": f'{{"conn_type": "http", "password": "{secret}"}}'},
    )
    output = result.stdout + result.stderr
    assert "state=failed" in output
    assert "auth failures are not retried" in output
    assert secret not in output
    failed = [r for r in _runs(tmp_path) if r["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["failure_category"] == "auth" and failed[0]["try_number"] == 1
    assert secret not in str(failed[0]["errors"])


def _task_tries(home: Path, dag_id: str, task_id: str) -> list[tuple[int, str, float | None, str | None]]:
    """(try_number, state, retry delay, retry reason) of every try of a task, oldest first, from
    Airflow's own metadata database: earlier tries live in ``task_instance_history``."""
    with contextlib.closing(sqlite3.connect(home / "airflow.db")) as db:
        query = (
            "SELECT try_number, state, retry_delay_override, retry_reason FROM {table} "
            "WHERE dag_id = ? AND task_id = ? ORDER BY try_number"
        )
        rows = [
            *db.execute(query.format(table="task_instance_history"), (dag_id, task_id)),
            *db.execute(query.format(table="task_instance"), (dag_id, task_id)),
        ]
    return [(int(n), str(state), delay, reason) for n, state, delay, reason in rows]


def test_network_failure_is_retried_with_backoff(airflow_home: AirflowHome, tmp_path: Path):
    config = _config(
        tmp_path,
        f"""
        defaults: {{retries: 1, retry_delay_seconds: 1}}
        collectors:
          flaky:
            collector: {TOY}
            config: {{notes: 1, fail_with: network}}
    """,
    )
    result = airflow_home.dags_test("collect_flaky", config_file=config, state_dir=tmp_path)
    assert "state=failed" in result.stdout + result.stderr
    # Airflow ran the collect task twice: the first try was sent back for a retry by the
    # policy's backoff branch (base 1 s, +-20% jitter, never under 1 s), the second was the last.
    tries = _task_tries(airflow_home.home, "collect_flaky", "collect")
    assert [(n, state) for n, state, _delay, _reason in tries] == [(1, "failed"), (2, "failed")]
    _n, _state, delay, reason = tries[0]
    assert reason == "network failure: exponential backoff"
    assert delay is not None and 1.0 <= delay <= 1.2
    collects = [r for r in _runs(tmp_path) if r["step"] == "collect"]
    assert [(r["try_number"], r["status"], r["failure_category"]) for r in collects] == [
        (1, "failed", "network"),
        (2, "failed", "network"),
    ]


def test_invalid_config_fails_dag_parsing_naming_the_entry(airflow_home: AirflowHome, tmp_path: Path):
    config = _config(
        tmp_path,
        """
        collectors:
          broken:
            collector: nowhere.module:Missing
    """,
    )
    result = airflow_home.run(
        "dags", "list-import-errors", "--local", "-o", "plain", extra_env={"COLLECTORS_CONFIG": str(config)}
    )
    output = result.stdout + result.stderr
    assert "collectors.broken.collector" in output and "nowhere.module" in output


def test_partitions_made_of_digits_label_their_mapped_tasks(airflow_home: AirflowHome, tmp_path: Path):
    """Discord channel ids are partitions: the DAG renders templates as native objects, which
    turned the label ``"837979912278245376"`` into an int and crashed the task."""
    config = _config(
        tmp_path,
        f"""
        collectors:
          digits:
            collector: {TOY}
            partitioned: true
            config: {{notes: 1, partitions: ["837979912278245376", "42"]}}
    """,
    )
    result = airflow_home.dags_test("collect_digits", config_file=config, state_dir=tmp_path)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    collects = [r for r in _runs(tmp_path) if r["step"] == "collect"]
    assert sorted(r["partition"] for r in collects) == ["42", "837979912278245376"]
    assert all(r["status"] == "success" for r in collects)
