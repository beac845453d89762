"""The Slack entry's Airflow pool (docs/slack.md, "One pool for every workspace"): one pool per
``collectors.yaml`` entry, shared by ``validate`` and every mapped channel task of every
workspace; a per-workspace pool is refused, naming the field."""

from __future__ import annotations

from pathlib import Path

import pytest
from airflow.sdk.definitions.mappedoperator import MappedOperator

from airflow_collectors.dag_factory import build_dags
from core.errors import ConfigError

SLACK = "slack_activity_tracker.collector:SlackCollector"
TEAMS = "[{team_id: T1, connection_id: slack_api_t1}, {team_id: T2, connection_id: slack_api_t2}]"


def _write(tmp_path: Path, pool: str) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        "collectors:\n"
        f"  slack: {{collector: \"{SLACK}\", partitioned: true, schedule: null, pool: {pool},\n"
        f"          connections: [slack_api_t1, slack_api_t2], config: {{teams: {TEAMS}}}}}\n"
    )
    return path


def test_every_workspace_s_channel_tasks_queue_in_the_entry_s_one_pool(tmp_path: Path) -> None:
    dag = build_dags(_write(tmp_path, "slack_api"))["collect_slack"]
    collect = dag.get_task("collect")
    assert isinstance(collect, MappedOperator)
    # validate runs in default_pool: it is what checks that slack_api exists (airflow_collectors.pools)
    assert dag.get_task("validate").pool == "default_pool"
    assert dag.get_task("validate").check_pools == ["slack_api"]
    assert collect.pool == "slack_api"  # the mapped task: every <team>/<channel> instance of T1 and T2
    assert set(collect.expand_input.value) == {"partition"}  # mapped over channels, not pools
    assert dag.get_task("sync_pinecone").pool == "default_pool"


def test_a_pool_per_workspace_is_refused_naming_the_field(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"collectors\.slack.*pool"):
        build_dags(_write(tmp_path, "{T1: slack_api_t1, T2: slack_api_t2}"))
