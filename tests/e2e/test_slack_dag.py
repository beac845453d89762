"""The Slack collector under ``airflow dags test``: partitioned over two channels, against the Slack
fake in standalone mode (a separate process speaking the Web API), into a fresh PostgreSQL
database; assertions read the stored rows, the run history and the vector records."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from core.identity import person_profiles
from core.store import Store, collector_runs
from core.vectors.ledger import vector_local_records
from slack_activity_tracker.tables import slack_channels, slack_messages, slack_users
from tests.e2e.conftest import AirflowHome
from tests.fakes.standalone import standalone_fake

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

TOKEN = "xoxb-T1-" + "E2eSl4ckT0kenSecret" * 2


@pytest.fixture
def fake_slack(tmp_path: Path) -> Iterator[str]:
    with standalone_fake(
        "slack_server.py",
        *("--dataset", "small", "--token", f"{TOKEN}:T1"),
        probe="/api/auth.test",
        headers={"Authorization": f"Bearer {TOKEN}"},
        log=tmp_path / "fake_slack.log",
    ) as origin:
        yield f"{origin}/api/"


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent("""
        defaults: {retries: 0}
        collectors:
          slack:
            collector: slack_activity_tracker.collector:SlackCollector
            partitioned: true
            connections: [slack_api_t1]
            schedule: null
            config:
              teams: [{team_id: T1, connection_id: slack_api_t1}]
              retry_backoff_seconds: 0
              vectors: {sink: local, namespace: slack}
        """)
    )
    return path


def test_partitioned_slack_dag_collects_both_channels(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, fake_slack: str
) -> None:
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_SLACK_API_T1": json.dumps(
            {"conn_type": "slack", "password": TOKEN, "extra": {"base_url": fake_slack}}
        ),
    }
    config = _config(tmp_path)
    first = airflow_home.dags_test("collect_slack", config_file=config, state_dir=tmp_path, extra_env=env)
    output = first.stdout + first.stderr
    assert first.returncode == 0, output[-5000:]
    assert TOKEN not in output

    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            channels = sorted(conn.execute(select(slack_channels.c.name)).scalars())
            per_channel = dict(conn.execute(
                select(slack_messages.c.channel_id, func.count()).group_by(slack_messages.c.channel_id)
            ).all())
            users = conn.execute(select(func.count()).select_from(slack_users)).scalar_one()
            profiles = sorted(conn.execute(
                select(person_profiles.c.external_id).where(person_profiles.c.source == "slack")
            ).scalars())
            records = [r.text for r in conn.execute(select(vector_local_records.c.text).where(
                vector_local_records.c.namespace == "slack"))]
            runs = [dict(r) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id)).mappings()]
        assert channels == ["boost-users", "general"]
        assert per_channel == {"C1": 3, "C2": 1}  # C1: a root, its reply (conversations.replies), a message
        assert users == 4 and profiles == ["T1/B1", "T1/U1", "T1/U2", "T1/U9"]
        assert any("Ask @Ada in there, see [Boost](https://boost.org)" in text for text in records)

        collects = [r for r in runs if r["step"] == "collect"]
        assert sorted(r["partition"] for r in collects) == ["T1/C1", "T1/C2"]
        assert all(r["status"] == "success" for r in runs)
        assert next(r for r in runs if r["step"] == "validate")["counts"]["partitions"] == 2
        assert TOKEN not in json.dumps([r["counts"] for r in runs], default=str)

        # A second run: nothing changed, one history request per channel and no replies re-read
        # (the thread's last reply is older than the look-back).
        second = airflow_home.dags_test("collect_slack", config_file=config, state_dir=tmp_path, extra_env=env)
        assert second.returncode == 0, (second.stdout + second.stderr)[-5000:]
        with store.engine.connect() as conn:
            again = [dict(r) for r in conn.execute(select(collector_runs).where(
                collector_runs.c.id > runs[-1]["id"], collector_runs.c.step == "collect")).mappings()]
        assert len(again) == 2
        assert all(r["counts"]["api_conversations_history"] == 1 for r in again), [r["counts"] for r in again]
        assert all("api_conversations_replies" not in r["counts"] for r in again)
    finally:
        store.dispose()
