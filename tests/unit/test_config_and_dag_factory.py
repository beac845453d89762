from __future__ import annotations

import datetime as dt
import textwrap
from pathlib import Path

import pytest

from airflow_collectors.dag_factory import build_dags
from airflow_collectors.retry import CollectorRetryPolicy
from core.config import load_collectors_file
from core.errors import ConfigError, NetworkError, RateLimitError

TOY = "tests.fakes.toy_collector:ToyCollector"


def _write(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(textwrap.dedent(body))
    return path


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("collectors: [1, 2", "line 1"),
        ("- just a list", "expected a mapping"),
        (f"collectors:\n  x:\n    collector: {TOY}\n    retries: -1\n", "collectors.x.retries"),
        ("collectors:\n  x:\n    collector: not-a-path\n", "collectors.x.collector"),
        ("collectors:\n  x:\n    collector: tests.fakes.toy_collector:Nope\n", "'Nope' is not defined"),
        ("collectors:\n  x:\n    collector: no.such.module:Thing\n", "module 'no.such.module' not found"),
        (f"collectors:\n  Bad-Name:\n    collector: {TOY}\n", "collector name 'Bad-Name'"),
        (f"collectors:\n  x:\n    collector: {TOY}\n    colector_typo: 1\n", "collectors.x.colector_typo"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path, body, message):
    path = _write(tmp_path, body)
    with pytest.raises(ConfigError) as caught:
        load_collectors_file(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_missing_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_collectors_file(tmp_path / "absent.yaml")


def test_build_dags_shape(tmp_path):
    path = _write(
        tmp_path,
        f"""
        defaults: {{retries: 2}}
        collectors:
          toy:
            collector: {TOY}
            schedule: "@hourly"
            pool: discord_api
            tags: [demo]
            config: {{notes: 1}}
          parts:
            collector: {TOY}
            partitioned: true
            schedule: null
          disabled:
            collector: {TOY}
            enabled: false
    """,
    )
    dags = build_dags(path)
    assert sorted(dags) == ["collect_parts", "collect_toy"]
    toy = dags["collect_toy"]
    assert toy.max_active_runs == 1 and toy.catchup is False
    assert {"collector", "toy", "demo"} <= set(toy.tags)
    assert sorted(toy.params.keys()) == ["dry_run", "full_refresh", "partitions", "since", "until"]
    assert [t.task_id for t in toy.topological_sort()] == ["validate", "collect", "sync_pinecone"]
    collect = toy.get_task("collect")
    assert collect.pool == "discord_api" and collect.retries == 2
    assert isinstance(collect.retry_policy, CollectorRetryPolicy)
    assert type(toy.timetable).__name__ == "CronDataIntervalTimetable"
    parts = dags["collect_parts"]
    assert [t.task_id for t in parts.topological_sort()] == [
        "validate",
        "partitions",
        "collect",
        "sync_pinecone",
    ]
    assert type(parts.timetable).__name__ == "NullTimetable"


def test_invalid_cron_names_the_entry(tmp_path):
    path = _write(tmp_path, f"collectors:\n  toy:\n    collector: {TOY}\n    schedule: 'every tuesday'\n")
    with pytest.raises(ConfigError, match=r"collectors\.toy\.schedule"):
        build_dags(path)


def test_retry_policy_decisions():
    policy = CollectorRetryPolicy(base_delay_seconds=10, max_delay_seconds=600, jitter_fraction=0)
    from core.errors import AuthenticationError
    from core.errors import ConfigError as Cfg

    assert policy.evaluate(AuthenticationError("x"), 1, 4).action.value == "fail"
    assert policy.evaluate(Cfg("x"), 1, 4).action.value == "fail"
    retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=120)
    decision = policy.evaluate(RateLimitError("slow", retry_at=retry_at), 1, 4)
    assert decision.action.value == "retry" and decision.retry_delay is not None
    assert 119 <= decision.retry_delay.total_seconds() <= 124
    first = policy.evaluate(NetworkError("502"), 1, 4).retry_delay
    third = policy.evaluate(NetworkError("502"), 3, 4).retry_delay
    assert first is not None and third is not None
    assert first.total_seconds() == 10 and third.total_seconds() == 40
    assert policy.evaluate(ValueError("?"), 1, 4).action.value == "default"
    far = policy.evaluate(RateLimitError("slow", retry_at=retry_at + dt.timedelta(days=1)), 1, 4).retry_delay
    assert far is not None and far.total_seconds() <= 602
