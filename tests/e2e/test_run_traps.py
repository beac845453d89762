"""Traps of a first deployment, under real ``airflow dags test``.

* No ``collector_db`` connection and no ``COLLECTOR_EMBEDDED=1``: ``validate`` fails as
  ``validation`` naming the connection, and no SQLite file appears (the silent per-container
  store of before).
* Params that the Param schema cannot see (a misspelt key, ``since`` after ``until``) fail
  ``validate`` as ``validation`` and are recorded in ``collector_runs`` like any failure;
  ``since: "yesterday"`` is refused before a run exists.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from sqlalchemy import select

from core.store import Store, collector_runs
from tests.e2e.conftest import AirflowHome

pytestmark = [pytest.mark.airflow, pytest.mark.slow]

TOY = "tests.fakes.toy_collector:ToyCollector"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent(f"""
            collectors:
              toy:
                collector: {TOY}
                schedule: null
                config: {{notes: 2}}
        """)
    )
    return path


def _runs(state_dir: Path) -> list[dict]:
    store = Store.from_url(f"sqlite:///{state_dir / 'collector.db'}")
    try:
        with store.engine.connect() as conn:
            query = select(collector_runs).order_by(collector_runs.c.id)
            return [dict(r) for r in conn.execute(query).mappings()]
    finally:
        store.dispose()


def test_missing_store_connection_fails_loudly_outside_the_embedded_mode(
    airflow_home: AirflowHome, tmp_path: Path
):
    state = tmp_path / "state"
    result = airflow_home.dags_test(
        "collect_toy", config_file=_config(tmp_path), state_dir=state, extra_env={"COLLECTOR_EMBEDDED": "0"}
    )
    output = result.stdout + result.stderr
    assert "connection 'collector_db' (the collector store) is not defined" in output, output[-4000:]
    assert "[validation] toy.validate" in output, output[-4000:]
    assert "COLLECTOR_EMBEDDED=1" in output
    assert "state=failed" in output or result.returncode != 0
    assert not (state / "collector.db").exists(), "no silent SQLite store outside the embedded mode"


@pytest.mark.parametrize(
    ("conf", "expected"),
    [
        ({"sinse": "2024-01-01T00:00:00Z"}, "unknown param 'sinse' (did you mean 'since'?)"),
        (
            {"since": "2024-02-01T00:00:00Z", "until": "2024-01-01T00:00:00Z"},
            "param 'since' (2024-02-01T00:00:00+00:00) must be before 'until'",
        ),
    ],
    ids=["misspelt-key", "since-after-until"],
)
def test_bad_params_fail_validate_and_are_recorded(
    airflow_home: AirflowHome, tmp_path: Path, conf: dict[str, str], expected: str
):
    result = airflow_home.dags_test(
        "collect_toy", config_file=_config(tmp_path), state_dir=tmp_path, conf=conf
    )
    output = result.stdout + result.stderr
    assert expected in output, output[-4000:]
    runs = _runs(tmp_path)
    assert [(r["step"], r["status"], r["failure_category"]) for r in runs] == [
        ("validate", "failed", "validation")
    ], runs
    assert expected in runs[0]["errors"][0]


def test_a_since_that_is_not_a_date_time_is_refused_before_any_run(airflow_home: AirflowHome, tmp_path: Path):
    result = airflow_home.dags_test(
        "collect_toy", config_file=_config(tmp_path), state_dir=tmp_path, conf={"since": "yesterday"}
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Invalid input for param since" in output, output[-4000:]
    assert not (tmp_path / "collector.db").exists(), "no task ran"
