"""The Slack collector's failures and skips under ``airflow dags test``.

Real parts: Airflow (``dags test`` in a temporary ``AIRFLOW_HOME``, mapped per channel, the
DAG factory's failure callbacks), the Slack Web API fake on the wire (in this process, reached
over HTTP by the Airflow subprocess), a local server speaking Slack's incoming-webhook protocol
as the alert destination, and a fresh PostgreSQL store.

- A failing collect (a 5xx page echoing the bot token, ``invalid_auth``, a ``ratelimited`` with
  a Retry-After beyond ``max_rate_limit_wait``) fails the task with its category and alerts,
  and neither the token nor any 8+ character prefix of it reaches the task logs, XCom,
  ``collector_runs`` or the alert payload.
- A channel the bot is removed from during the run (``not_in_channel``) is skipped: the task
  succeeds, the other channel is collected, and the skip is in the result (XCom) and in the run
  history.
"""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.store import Store, collector_runs
from slack_activity_tracker.tables import slack_messages
from tests.e2e.conftest import AirflowHome
from tests.fakes.slack_server import SlackServer, slack_error, small_dataset
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.fakes.wire import Fault

pytestmark = [pytest.mark.airflow, pytest.mark.slow, pytest.mark.postgres]

DAG_ID = "collect_slack"
TOKEN = "xoxb-T1-" + "Fa1lureT0kenN0tF0rL0gs" * 2
WEBHOOK_PATH = "T0SLK/B0SLK/slackfailurehooksecret"
MIN_FRAGMENT = 8  # the shortest token prefix that must never appear
# A reverse proxy's error page that echoes the request's Authorization header. slack_sdk logs
# the first 100 characters of a non-JSON body at ERROR ("Failed to decode Slack API
# response: ..."), and the client's error text keeps a shorter cut: both end inside the token.
ECHO_PAGE = (
    "<html><body><h1>502 Bad Gateway</h1><p>upstream rejected: Authorization: Bearer "
    f"{TOKEN}</p></body></html>"
)


@pytest.fixture
def slack() -> Iterator[SlackServer]:
    with SlackServer(small_dataset(token=TOKEN)) as server:
        yield server


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "collectors.yaml"
    path.write_text(
        textwrap.dedent("""
        defaults: {retries: 0, deadline_minutes: null}
        alerts:
          immediate: [auth, permission, validation, command]
          on_final_failure: [rate_limit, network, timeout, unknown, resource, conflict]
          slack_conn_id: slack_webhook_default
        collectors:
          slack:
            collector: slack_activity_tracker.collector:SlackCollector
            partitioned: true
            connections: [slack_api_t1]
            schedule: null
            config:
              teams: [{team_id: T1, connection_id: slack_api_t1}]
              retry_backoff_seconds: 0
              transient_max_retries: 1
              max_rate_limit_wait: 30
              vectors: {sink: local, namespace: slack}
        """)
    )
    return path


def _run(
    airflow_home: AirflowHome, tmp_path: Path, pg_url: str, slack: SlackServer, receiver: WebhookReceiver,
    *, token: str = TOKEN,
) -> tuple[int, str]:
    env = {
        "AIRFLOW_CONN_COLLECTOR_DB": pg_url.replace("postgresql+psycopg2://", "postgresql://"),
        "AIRFLOW_CONN_SLACK_API_T1": json.dumps(
            {"conn_type": "slack", "password": token, "extra": {"base_url": slack.api_url()}}
        ),
        "AIRFLOW_CONN_SLACK_WEBHOOK_DEFAULT": json.dumps(
            {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": WEBHOOK_PATH}
        ),
    }
    done = airflow_home.dags_test(DAG_ID, config_file=_config(tmp_path), state_dir=tmp_path, extra_env=env)
    return done.returncode, done.stdout + done.stderr


def _runs(pg_url: str) -> list[dict[str, Any]]:
    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(collector_runs).order_by(collector_runs.c.id)).mappings()]
    finally:
        store.dispose()


def _latest_run(airflow_home: AirflowHome, query: str) -> list[dict[str, Any]]:
    """``query`` (parameters: dag id, run id) over the latest ``collect_slack`` run, from
    Airflow's metadata database."""
    db = sqlite3.connect(airflow_home.home / "airflow.db")
    try:
        db.row_factory = sqlite3.Row
        latest = db.execute(
            "SELECT run_id FROM dag_run WHERE dag_id = ? ORDER BY id DESC LIMIT 1", (DAG_ID,)
        ).fetchone()
        assert latest is not None, "no collect_slack run in the metadata database"
        return [dict(r) for r in db.execute(query, (DAG_ID, latest["run_id"])).fetchall()]
    finally:
        db.close()


def _xcom(airflow_home: AirflowHome) -> list[dict[str, Any]]:
    return _latest_run(
        airflow_home, "SELECT task_id, map_index, key, value FROM xcom WHERE dag_id = ? AND run_id = ?"
    )


def _task_states(airflow_home: AirflowHome) -> dict[tuple[str, int], str]:
    rows = _latest_run(
        airflow_home, "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = ? AND run_id = ?"
    )
    return {(r["task_id"], r["map_index"]): r["state"] for r in rows}


def _leaks(text: str) -> list[str]:
    """The token, or any prefix of it of at least MIN_FRAGMENT characters, found in ``text``."""
    return [TOKEN[:n] for n in range(MIN_FRAGMENT, len(TOKEN) + 1) if TOKEN[:n] in text][-1:]


FAILURES = {
    # A 5xx page echoing the Authorization header, on every history request (retries included).
    "echo_5xx": (
        lambda slack: slack.inject(Fault(502, body=ECHO_PAGE, headers={"Content-Type": "text/html"},
                                         path="/api/conversations.history", times=100)),
        "network", "collect", "server error (HTTP 502, not JSON)",
    ),
    # The token was revoked: Slack's own wording, HTTP 200 ok:false.
    "invalid_auth": (
        lambda slack: slack.inject(slack_error("invalid_auth", method="auth.test", times=100)),
        "auth", "validate", "auth.test: invalid_auth (the bot token was refused)",
    ),
    # Retry-After of an hour, beyond max_rate_limit_wait (30 s): rate_limit with retry_at.
    "ratelimited": (
        lambda slack: slack.inject(Fault(429, body=json.dumps({"ok": False, "error": "ratelimited"}),
                                         headers={"Retry-After": "3600", "Content-Type": "application/json"},
                                         path="/api/conversations.history", times=100)),
        "rate_limit", "collect", "rate limited (Retry-After 3600 s) (retry at ",
    ),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_a_failed_slack_collect_alerts_without_the_token(
    failure: str, airflow_home: AirflowHome, pg_url: str, tmp_path: Path,
    slack: SlackServer, receiver: WebhookReceiver,
) -> None:
    inject, category, step, error = FAILURES[failure]
    inject(slack)
    returncode, output = _run(airflow_home, tmp_path, pg_url, slack, receiver)

    # The failure happened, as the category it is, where it is.
    assert slack.log.count(path="/api/auth.test") >= 1
    runs = _runs(pg_url)
    failed = [r for r in runs if r["status"] != "success"]
    assert failed, (returncode, output[-4000:])
    assert {(r["step"], r["failure_category"]) for r in failed} == {(step, category)}, failed
    alerts = receiver.received
    assert alerts, f"no alert reached the webhook\n{output[-4000:]}"
    assert all(f"Category: {category}\n" in a.text and error in a.text for a in alerts), [a.text for a in alerts]
    states = _task_states(airflow_home)
    assert [key for key, state in states.items() if state == "failed" and key[0].endswith(step)], states

    # ...and the token is nowhere: not whole, not cut short.
    places = {
        "dags test output": output,
        "task log files": airflow_home.task_logs(DAG_ID),
        "XCom": json.dumps(_xcom(airflow_home), default=str),
        "collector_runs": json.dumps(runs, default=str),
        "alert payloads": "\n".join(a.raw for a in alerts),
    }
    found = {place: _leaks(text) for place, text in places.items() if _leaks(text)}
    assert not found, found


def test_a_channel_the_bot_was_removed_from_is_skipped_and_reported(
    airflow_home: AirflowHome, pg_url: str, tmp_path: Path, slack: SlackServer, receiver: WebhookReceiver,
) -> None:
    # validate lists both channels (the bot is in both); it is kicked from boost-users (C2) when
    # the first history request of the run arrives, whichever channel's task sends it.
    slack.schedule("conversations.history", 1, action=lambda: slack.dataset.remove_bot("T1", "C2"))
    returncode, output = _run(airflow_home, tmp_path, pg_url, slack, receiver)
    assert returncode == 0, output[-5000:]
    states = _task_states(airflow_home)
    collect_states = {key: state for key, state in states.items() if key[0].endswith("collect")}
    assert sorted(collect_states.values()) == ["success", "success"], states

    runs = _runs(pg_url)
    assert all(r["status"] == "success" for r in runs), [(r["step"], r["status"], r["errors"]) for r in runs]
    collects = {r["partition"]: r for r in runs if r["step"] == "collect"}
    assert sorted(collects) == ["T1/C1", "T1/C2"]
    assert collects["T1/C2"]["errors"] == ["skipped T1/C2: not_in_channel (permission)"]
    assert collects["T1/C2"]["counts"]["channels_skipped"] == 1
    assert collects["T1/C1"]["errors"] == [] and "channels_skipped" not in collects["T1/C1"]["counts"]

    results = {
        (x["task_id"], x["map_index"]): json.loads(x["value"])
        for x in _xcom(airflow_home) if x["key"] == "return_value" and x["task_id"].endswith("collect")
    }
    # Each mapped collect reads one partition: it is in "channels" when read, in "skipped" when not.
    by_partition = {[*v["channels"], *(s.split(":")[0] for s in v["skipped"])][0]: v for v in results.values()}
    assert len(by_partition) == 2, results
    assert by_partition["T1/C2"]["skipped"] == ["T1/C2: not_in_channel"]
    assert by_partition["T1/C2"]["success"] is True and by_partition["T1/C2"]["channels"] == []
    assert by_partition["T1/C1"]["channels"] == ["T1/C1"] and by_partition["T1/C1"]["skipped"] == []

    store = Store.from_url(pg_url)
    try:
        with store.engine.connect() as conn:
            per_channel = dict(conn.execute(
                select(slack_messages.c.channel_id, func.count()).group_by(slack_messages.c.channel_id)
            ).all())
    finally:
        store.dispose()
    assert per_channel == {"C1": 3}  # C2 skipped, nothing of it written
    assert receiver.received == []  # a skip is reported, not alerted
