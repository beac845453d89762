"""Which collector DAGs carry a lateness deadline, and how long it is (docs/operations.md)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from airflow_collectors.dag_factory import build_dags

TOY = "tests.fakes.toy_collector:ToyCollector"


def _deadlines(tmp_path: Path, defaults: str, collectors: dict[str, str]) -> dict[str, list[dt.timedelta]]:
    lines = [f"defaults: {defaults}", "collectors:"]
    lines += [f"  {name}: {{collector: '{TOY}'{extra}}}" for name, extra in collectors.items()]
    config = tmp_path / "collectors.yaml"
    config.write_text("\n".join(lines) + "\n")
    return {
        dag_id.removeprefix("collect_"): [alert.interval for alert in dag.deadline or []]
        for dag_id, dag in build_dags(config).items()
    }


def test_a_collector_null_turns_its_deadline_off_and_others_keep_the_default(tmp_path: Path):
    found = _deadlines(
        tmp_path,
        "{deadline_minutes: 45}",
        {"inherits": "", "quiet": ", deadline_minutes: null", "own": ", deadline_minutes: 3"},
    )
    assert found == {
        "inherits": [dt.timedelta(minutes=45)],
        "quiet": [],
        "own": [dt.timedelta(minutes=3)],
    }


def test_a_null_default_turns_deadlines_off_except_where_a_collector_sets_one(tmp_path: Path):
    found = _deadlines(
        tmp_path, "{deadline_minutes: null}", {"inherits": "", "own": ", deadline_minutes: 10"}
    )
    assert found == {"inherits": [], "own": [dt.timedelta(minutes=10)]}


def test_without_any_setting_the_deadline_is_120_minutes(tmp_path: Path):
    assert _deadlines(tmp_path, "{}", {"plain": ""}) == {"plain": [dt.timedelta(minutes=120)]}


@pytest.mark.parametrize("minutes", ["0", "-5"])
def test_a_deadline_must_be_positive_and_the_error_names_the_field(tmp_path: Path, minutes: str):
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"collectors\.bad\.deadline_minutes"):
        _deadlines(tmp_path, "{}", {"bad": f", deadline_minutes: {minutes}"})
