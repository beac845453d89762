"""A Slack collect that dies after page 2 of 5 resumes below the last committed page: every
message once, none missing, no false deletions."""

from __future__ import annotations

import json
import signal
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qsl

import pytest

from core.errors import NetworkError
from core.store import Store, load_checkpoint
from tests.fakes.console import console, console_env
from tests.fakes.slack_server import SlackDataset, SlackServer
from tests.fakes.wire import Fault
from tests.integration.slack_helpers import DAY, NOW, TOKEN, SlackWorld, world

PAGE = 20
MESSAGES = 5 * PAGE


def _fill(data: SlackDataset, start: float) -> list[str]:
    return [data.post("T1", "C1", "U1" if n % 2 else "U2", f"message {n}", at=start + n * 60)
            for n in range(MESSAGES)]


def _sent(exchange) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return dict(parse_qsl(exchange.query + "&" + exchange.body.decode()))


@pytest.fixture
def w(store_url: str) -> Iterator[SlackWorld]:
    yield from world(store_url)


def test_failure_after_page_two_resumes_at_the_committed_latest(w: SlackWorld) -> None:
    posted = _fill(w.data, NOW - 3 * DAY)
    config = w.config(page_limit=PAGE, transient_max_retries=1)
    w.server.schedule("conversations.history", 3, Fault(disconnect="close", times=5))

    with pytest.raises(NetworkError):
        w.collect(config)

    stored = w.messages()
    assert set(stored) == set(posted[-2 * PAGE:])  # two pages, newest first, committed
    store = Store.from_url(w.store_url)
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "slack", "T1/C1")
    store.dispose()
    assert state is not None and state.checkpoint_token is None  # the run did not finish
    assert state.extras["pending"]["latest"] == posted[-2 * PAGE]  # the oldest ts committed
    w.server.faults.clear()
    w.server.log.clear()

    result = w.collect(config)

    first = _sent(w.server.log.select(path="/api/conversations.history")[0])
    assert first["latest"] == posted[-2 * PAGE]  # resumed below the committed pages
    assert result.counts["resumed"] == 1 and result.counts["history_pages"] == 4  # 3 pages + the boundary
    rows = w.messages()
    assert set(rows) == set(posted) and all(r["deleted_at"] is None for r in rows.values())
    store = Store.from_url(w.store_url)
    with store.engine.connect() as conn:
        final = load_checkpoint(conn, "slack", "T1/C1")
    store.dispose()
    assert final is not None and final.extras["pending"] is None and final.checkpoint_token is not None


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_has_no_duplicates_and_no_gaps(pg_url: str, tmp_path: Path) -> None:
    data = SlackDataset()
    data.add_team("T1", "Acme", "acme", token=TOKEN)
    data.add_user("T1", "U1", "ada")
    data.add_user("T1", "U2", "bob")
    data.add_channel("T1", "C1", "general")
    posted = _fill(data, time.time() - 3 * DAY)
    with SlackServer(data) as fake:
        arrived = fake.schedule("conversations.history", 3, Fault(delay=60))
        config = tmp_path / "collectors.yaml"
        config.write_text(textwrap.dedent(f"""
            collectors:
              slack:
                collector: slack_activity_tracker.collector:SlackCollector
                connections: [slack_api_t1]
                config:
                  teams: [{{team_id: T1, connection_id: slack_api_t1}}]
                  page_limit: {PAGE}
            """))
        env = console_env({"AIRFLOW_CONN_SLACK_API_T1": json.dumps(
            {"conn_type": "slack", "password": TOKEN, "extra": {"base_url": fake.api_url()}})})
        args = ("run", "slack", "--config-file", str(config), "--db", pg_url, "--skip-sync")
        victim = console(*args, env=env)
        assert arrived.wait(60), victim.communicate(timeout=5)[1][-3000:]
        victim.send_signal(signal.SIGKILL)
        victim.wait(30)

        store = Store.from_url(pg_url)
        with store.engine.connect() as conn:
            state = load_checkpoint(conn, "slack", "T1/C1")
        assert state is not None and state.extras["pending"]["latest"] == posted[-2 * PAGE]

        fake.faults.clear()
        rerun = console(*args, env=env)
        out, err = rerun.communicate(timeout=120)
        assert rerun.returncode == 0, err[-3000:]
        assert TOKEN not in out + err
        counts = json.loads(out)["collect"]["counts"]
        assert counts["resumed"] == 1

    from sqlalchemy import select

    from slack_activity_tracker.tables import slack_messages

    with store.engine.connect() as conn:
        ts = list(conn.execute(select(slack_messages.c.ts)).scalars())
        final = load_checkpoint(conn, "slack", "T1/C1")
    store.dispose()
    assert len(ts) == len(set(ts)) == MESSAGES and set(ts) == set(posted)
    assert final is not None and final.extras["pending"] is None
