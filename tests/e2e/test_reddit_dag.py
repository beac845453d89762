"""``collect_reddit`` under ``airflow dags test``: the DAG built from a collectors.yaml entry
(partitioned: one mapped collect per subreddit), the app's client id and secret from
``AIRFLOW_CONN_REDDIT_DEFAULT``, the fake Reddit API on loopback, a fresh PostgreSQL store.
A good run stores both subreddits and their documents; a revoked client fails validate as
``auth`` and alerts; in both, the client secret and the access tokens appear nowhere (output,
task log files, XCom, collector_runs, the alert)."""

from __future__ import annotations

import json
import sqlite3
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from core.vectors.local_sink import search_local_records
from reddit_activity_tracker.tables import reddit_comments, reddit_submissions
from tests.e2e.conftest import AirflowHome
from tests.fakes.reddit_server import RedditServer, sample_data
from tests.fakes.webhook_receiver import WebhookReceiver

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

DAG_ID = "collect_reddit"
CLIENT_ID = "e2eRedditAppId"
SECRET = "E2eRedditS3cret" * 2
UA = "linux:community-collectors-e2e:v0.1 (by /u/cppa_bot)"


@pytest.fixture
def reddit() -> Iterator[RedditServer]:
    data = sample_data(time.time() - 86400)
    data.post("cpp_questions", "How do I read a file into a std::string?", author="newbie", score=3,
              selftext="Looking for the idiomatic way in C++20.")  # fmt: skip
    with RedditServer(data, client_id=CLIENT_ID, client_secret=SECRET) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


def _run(airflow_home: AirflowHome, tmp_path: Path, pg_url: str, reddit: RedditServer,
         receiver: WebhookReceiver) -> str:  # fmt: skip
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        defaults: {{retries: 0, deadline_minutes: null}}
        alerts:
          immediate: [auth, permission, validation, command]
          slack_conn_id: slack_webhook_default
        collectors:
          reddit:
            collector: reddit_activity_tracker.collector:RedditCollector
            partitioned: true
            connections: [reddit_default]
            schedule: null
            config:
              api_url: {reddit.root}
              token_url: {reddit.token_url}
              subreddits: [{{name: cpp}}, {{name: cpp_questions}}]
              page_size: 2
              queries_per_minute: 100
              vectors: {{sink: local, namespace: reddit}}
        """)
    )
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_REDDIT_DEFAULT": json.dumps(
            {"conn_type": "http", "login": CLIENT_ID, "password": SECRET, "extra": {"user_agent": UA}}
        ),
        "AIRFLOW_CONN_SLACK_WEBHOOK_DEFAULT": json.dumps(
            {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": "T0/B0/e2ehook"}
        ),
    }
    done = airflow_home.dags_test(DAG_ID, config_file=config, state_dir=tmp_path, extra_env=env)
    return done.stdout + done.stderr


def _runs(pg_url: str) -> list[dict[str, Any]]:
    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            return [
                dict(r) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id)).mappings()
            ]
    finally:
        store.dispose()


def _xcom_and_logs(airflow_home: AirflowHome) -> str:
    db = sqlite3.connect(airflow_home.home / "airflow.db")
    try:
        rows = db.execute("SELECT value FROM xcom WHERE dag_id = ?", (DAG_ID,)).fetchall()
    finally:
        db.close()
    return json.dumps([str(r[0]) for r in rows]) + airflow_home.task_logs(DAG_ID)


def _secrets(reddit: RedditServer) -> list[str]:
    return [SECRET, SECRET[:10], *reddit.tokens]


def test_reddit_dag_collects_both_subreddits_and_syncs_documents(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, reddit: RedditServer, receiver: WebhookReceiver
) -> None:
    output = _run(airflow_home, tmp_path, pg_url, reddit, receiver)
    runs = _runs(pg_url)
    assert all(r["status"] == "success" for r in runs), output[-5000:]
    assert sorted(r["partition"] for r in runs if r["step"] == "collect") == ["cpp", "cpp_questions"]
    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            posts = dict(conn.execute(select(reddit_submissions.c.subreddit, func.count())
                                      .group_by(reddit_submissions.c.subreddit)).all())  # fmt: skip
            comments = conn.execute(select(func.count()).select_from(reddit_comments)).scalar()
        assert posts == {"cpp": 2, "cpp_questions": 1} and comments == 5
        assert search_local_records(store, "idiomatic", namespace="reddit")
        assert search_local_records(store, "HALO", namespace="reddit")
    finally:
        store.dispose()
    assert reddit.user_agents == {UA}
    places = {
        "output": output,
        "xcom+logs": _xcom_and_logs(airflow_home),
        "runs": json.dumps(runs, default=str),
    }
    assert not {p: s for p, text in places.items() for s in _secrets(reddit) if s in text}
    assert not receiver.received


def test_a_revoked_reddit_client_fails_validate_as_auth_and_alerts_without_the_secret(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, reddit: RedditServer, receiver: WebhookReceiver
) -> None:
    reddit.revoked = True
    output = _run(airflow_home, tmp_path, pg_url, reddit, receiver)
    failed = [(r["step"], r["failure_category"]) for r in _runs(pg_url) if r["status"] != "success"]
    assert failed == [("validate", "auth")], output[-5000:]
    alerts = receiver.received
    assert alerts and all("Category: auth\n" in a.text for a in alerts), [a.text for a in alerts]
    places = {"output": output, "xcom+logs": _xcom_and_logs(airflow_home),
              "alerts": "\n".join(a.raw for a in alerts)}  # fmt: skip
    assert not {p: s for p, text in places.items() for s in _secrets(reddit) if s in text}
