"""``collectors.yaml`` is resolved by pydantic once: entries inherit ``defaults:`` where they are
silent (``null`` is a value: "off"), ``vectors:`` is parsed at load with the entry named, one
preset table serves the DAG factory and the freshness check, and the vector step's pool follows
the sink."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from airflow_collectors.dag_factory import build_dags
from core.config import CRON_PRESETS, load_collectors_file
from core.errors import ConfigError
from core.store.status import expected_interval_from_schedule

TOY = "tests.fakes.toy_collector:ToyCollector"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(text)
    return path


def test_entries_inherit_what_they_do_not_set(tmp_path: Path):
    settings = load_collectors_file(
        _write(
            tmp_path,
            f"""
defaults: {{retries: 5, execution_timeout_minutes: 30, start_date: 2025-06-01, deadline_minutes: 90}}
collectors:
  plain: {{collector: "{TOY}"}}
  own: {{collector: "{TOY}", retries: 0, execution_timeout_minutes: null, start_date: 2026-02-01, deadline_minutes: null}}
""",
        )
    )
    plain, own = settings.collectors["plain"], settings.collectors["own"]
    assert (plain.retries, plain.execution_timeout_minutes, plain.start_date, plain.deadline_minutes) == (
        5,
        30,
        dt.date(2025, 6, 1),
        90,
    )
    assert (own.retries, own.execution_timeout_minutes, own.start_date, own.deadline_minutes) == (
        0,
        None,
        dt.date(2026, 2, 1),
        None,
    )
    dags = build_dags(settings_path := tmp_path / "collectors.yaml")
    assert settings_path.exists()
    plain_collect = dags["collect_plain"].get_task("collect")
    own_collect = dags["collect_own"].get_task("collect")
    assert plain_collect.retries == 5 and plain_collect.execution_timeout == dt.timedelta(minutes=30)
    assert own_collect.retries == 0 and own_collect.execution_timeout is None


def test_a_bad_vectors_section_fails_the_file_naming_entry_and_field(tmp_path: Path):
    path = _write(
        tmp_path,
        f"""
collectors:
  chat: {{collector: "{TOY}", config: {{vectors: {{chunk_size: 100, chunk_overlap: 200}}}}}}
""",
    )
    with pytest.raises(ConfigError, match=r"collectors\.chat.*chunk_overlap \(200\) must be smaller"):
        load_collectors_file(path)


def test_the_sync_task_queues_in_the_pinecone_pool_only_when_it_talks_to_pinecone(tmp_path: Path):
    path = _write(
        tmp_path,
        f"""
collectors:
  local_one: {{collector: "{TOY}", pool: github_api}}
  remote_one: {{collector: "{TOY}", config: {{vectors: {{sink: pinecone}}}}}}
""",
    )
    dags = build_dags(path)
    assert dags["collect_local_one"].get_task("collect").pool == "github_api"
    assert dags["collect_local_one"].get_task("sync_pinecone").pool == "default_pool"
    assert dags["collect_remote_one"].get_task("sync_pinecone").pool == "pinecone"


@pytest.mark.parametrize("preset", sorted(CRON_PRESETS))
def test_every_preset_builds_a_dag_and_has_a_freshness_interval(tmp_path: Path, preset: str):
    path = _write(tmp_path, f'collectors:\n  p: {{collector: "{TOY}", schedule: "{preset}"}}\n')
    dag = build_dags(path)["collect_p"]
    assert dag.timetable.expression == CRON_PRESETS[preset]  # type: ignore[attr-defined]
    assert expected_interval_from_schedule(preset, "UTC") is not None
