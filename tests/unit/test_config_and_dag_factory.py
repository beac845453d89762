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


# --------------------------------------------------------------------------- assets (emits / schedule on assets)

ASSETS_YAML = f"""
collectors:
  herald:
    collector: {TOY}
    emits: ["toy://news", "toy://news"]
    config: {{notes: 1}}
  reader:
    collector: {TOY}
    schedule: {{asset: "toy://news"}}
    config: {{notes: 1}}
  both:
    collector: {TOY}
    schedule: {{assets: ["toy://news", "toy://parts"]}}
  parts:
    collector: {TOY}
    partitioned: true
    schedule: null
    emits: ["toy://parts"]
  outside:
    collector: {TOY}
    schedule: {{asset: "s3://bucket/exports", external: true}}
"""


def test_emits_adds_an_emit_task_after_collect_whose_outlets_are_the_assets(tmp_path):
    from airflow.sdk import Asset, TriggerRule

    dags = build_dags(_write(tmp_path, ASSETS_YAML))
    herald = dags["collect_herald"]
    emit = herald.get_task("emit_assets")
    assert emit.outlets == [Asset("toy://news")]  # deduplicated
    assert emit.upstream_task_ids == {"collect"} and emit.trigger_rule == TriggerRule.ALL_DONE
    assert herald.get_task("collect").outlets == []  # a succeeding task always emits its outlets
    assert "emits `toy://news`" in (herald.doc_md or "")
    parts = dags["collect_parts"]
    assert parts.get_task("emit_assets").upstream_task_ids == {"collect"}
    assert parts.get_task("emit_assets").outlets == [Asset("toy://parts")]
    assert "emit_assets" not in dags["collect_reader"].task_ids


def test_schedule_on_assets_builds_an_asset_triggered_dag(tmp_path):
    from airflow.sdk import Asset
    from airflow.sdk.definitions.asset import AssetAll

    dags = build_dags(_write(tmp_path, ASSETS_YAML))
    reader = dags["collect_reader"]
    assert type(reader.timetable).__name__ == "AssetTriggeredTimetable"
    assert reader.timetable.asset_condition == AssetAll(Asset("toy://news"))
    assert "on assets `toy://news`" in (reader.doc_md or "")
    both = dags["collect_both"].timetable
    assert both.asset_condition == AssetAll(Asset("toy://news"), Asset("toy://parts"))
    assert dags["collect_outside"].timetable.asset_condition == AssetAll(Asset("s3://bucket/exports"))


def test_asset_scheduled_collector_has_no_expected_interval(tmp_path):
    from core.store.status import expectations_from_settings

    settings = load_collectors_file(_write(tmp_path, ASSETS_YAML))
    found = {e.name: e.expected_interval for e in expectations_from_settings(settings)}
    assert found["reader"] is None and found["outside"] is None
    assert found["herald"] == dt.timedelta(days=2)  # @daily, the default


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            'p: {collector: TOY, emits: ["toy://news"]}\n'
            'c: {collector: TOY, schedule: {asset: "toy://typo"}}',
            "collectors.c.schedule: no collector emits asset 'toy://typo' (emitted here: 'toy://news')",
        ),
        (
            'c: {collector: TOY, schedule: {assets: ["toy://a"]}}',
            "collectors.c.schedule: no collector emits asset 'toy://a' (emitted here: none)",
        ),
        (
            'c: {collector: TOY, emits: ["toy://a"], schedule: {asset: "toy://a"}}',
            "collectors.c.schedule: the collector would trigger itself",
        ),
        (
            'c: {collector: TOY, schedule: {asset: "toy://a", assets: ["toy://b"], external: true}}',
            "collectors.c.schedule.on_assets: Value error, give either 'asset'",
        ),
        ("c: {collector: TOY, schedule: {}}", "collectors.c.schedule.on_assets: Value error, give either"),
        (
            'c: {collector: TOY, schedule: {asset: "toy://a", when: any}}',
            "collectors.c.schedule.on_assets.when: Extra inputs are not permitted",
        ),
        ("c: {collector: TOY, schedule: {assets: []}}", "collectors.c.schedule.on_assets.assets"),
        ('c: {collector: TOY, emits: "toy://a"}', "collectors.c.emits: Input should be a valid list"),
        ('c: {collector: TOY, emits: [""]}', "collectors.c.emits.0"),
        ("c: {collector: TOY, emit: [x]}", "collectors.c.emit: Extra inputs are not permitted"),
    ],
)
def test_bad_asset_config_names_the_entry(tmp_path, entries, message):
    body = "collectors:\n" + textwrap.indent(entries.replace("TOY", TOY), "  ") + "\n"
    path = tmp_path / "collectors.yaml"
    path.write_text(body)
    with pytest.raises(ConfigError) as caught:
        load_collectors_file(path)
    assert str(path) in str(caught.value)
    assert message in str(caught.value)


def test_consumer_of_a_disabled_producer_is_valid(tmp_path):
    path = _write(
        tmp_path,
        f"""
        collectors:
          p: {{collector: {TOY}, enabled: false, emits: ["toy://a"]}}
          c: {{collector: {TOY}, schedule: {{asset: "toy://a"}}}}
        """,
    )
    assert sorted(build_dags(path)) == ["collect_c"]


@pytest.mark.parametrize(
    ("field", "value"), [("emits", '["airflow://x"]'), ("schedule", '{asset: "airflow://x", external: true}')]
)
def test_invalid_asset_uri_names_the_entry_at_parse_time(tmp_path, field, value):
    path = _write(tmp_path, f"collectors:\n  toy:\n    collector: {TOY}\n    {field}: {value}\n")
    with pytest.raises(
        ConfigError, match=rf"collectors\.toy\.{field}: invalid asset 'airflow://x'.*reserved"
    ):
        build_dags(path)


def test_news_of_a_result():
    from airflow_collectors.assets import news_of
    from core.protocols import RunResult

    assert news_of(RunResult(success=True)) is None
    news = news_of(
        RunResult(success=True, news={"versions": ["1.87.0"], "by": "tok_NEWS_secret_1234"}),
        ["tok_NEWS_secret_1234"],
    )
    assert news is not None and news["versions"] == ["1.87.0"]
    assert "tok_NEWS_secret_1234" not in str(news)
    restored = RunResult.from_dict(RunResult(success=True, news={"n": 1}).asdict())
    assert restored.news == {"n": 1}

    class Flagged:
        news = True

    with pytest.raises(TypeError, match="mapping or None"):
        news_of(Flagged())
    with pytest.raises(TypeError, match="JSON-serializable"):
        news_of(RunResult(success=True, news={"when": dt.datetime.now(dt.UTC)}))
