"""Kill a real ``python -m core.cli run reddit`` (SIGKILL) in the middle of a listing walk, rerun:
every comment stored once, none missing, and the checkpoint the dead run left describes exactly
the pages it committed (a pending walk: its top and the next page's ``after``).

The fake Reddit API runs in this process; the console run is a child process (credentials from
``$AIRFLOW_CONN_REDDIT_DEFAULT``). The fake holds the chosen request open until the child is
killed, so the kill point is exact, not a race."""

from __future__ import annotations

import json
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.store import Store, load_checkpoint
from reddit_activity_tracker.state import RedditState
from reddit_activity_tracker.tables import reddit_comments
from tests.fakes.console import console, console_env
from tests.fakes.reddit_server import RedditData, RedditServer
from tests.fakes.trap import RequestTrap, kill_when_trapped
from tests.fakes.wire import Request

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

CLIENT_ID, SECRET = "crash-client", "crash-secret-value-0123"
UA = "linux:community-collectors-crash:v0.1 (by /u/cppa_bot)"
PAGE = 5


@pytest.fixture
def reddit() -> Iterator[RedditServer]:
    data = RedditData(time.time() - 86400, step=30)
    data.post("cpp", "A long thread", score=10)
    with RedditServer(data, client_id=CLIENT_ID, client_secret=SECRET) as server:
        yield server


def _setup(tmp_path: Path, reddit: RedditServer) -> tuple[Path, dict[str, str]]:
    config = tmp_path / "collectors.yaml"
    fields = {"api_url": reddit.root, "token_url": reddit.token_url, "subreddits": [{"name": "cpp"}],
              "page_size": PAGE, "queries_per_minute": 100}  # fmt: skip
    config.write_text(
        textwrap.dedent("""
        collectors:
          reddit:
            collector: reddit_activity_tracker.collector:RedditCollector
            config: {fields}
        """).format(fields=json.dumps(fields))
    )
    connection = {"conn_type": "http", "login": CLIENT_ID, "password": SECRET, "extra": {"user_agent": UA}}
    return config, console_env({"AIRFLOW_CONN_REDDIT_DEFAULT": json.dumps(connection)})


def _run(config: Path, env: dict[str, str], db: str) -> dict[str, Any]:
    process = console("run", "reddit", "--config-file", str(config), "--db", db, "--skip-sync", env=env)
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    assert SECRET not in out + err
    return json.loads(out)["collect"]["counts"]


def _state_and_ids(store: Store) -> tuple[RedditState, list[str]]:
    with store.engine.connect() as conn:
        state = RedditState.from_state(load_checkpoint(conn, "reddit", "cpp"))
        ids = list(conn.execute(select(reddit_comments.c.id)).scalars())
    return state, ids


def test_kill_mid_comment_walk_then_rerun_has_no_duplicates_and_no_gaps(
    reddit: RedditServer, pg_url: str, tmp_path: Path
) -> None:
    data = reddit.data
    post = next(t["id"] for t in data.things.values())
    for n in range(12):
        data.comment(post, f"early comment {n}")
    config, env = _setup(tmp_path, reddit)
    assert _run(config, env, pg_url)["comments"] == 12
    new = [data.comment(post, f"new comment {n}") for n in range(20)]  # four pages above the checkpoint

    seen = {"comments": 0}

    def third_comments_page(request: Request) -> bool:
        if request.path == "/r/cpp/comments":
            seen["comments"] += 1
        return seen["comments"] == 3

    trap = RequestTrap(reddit, third_comments_page)
    victim = console("run", "reddit", "--config-file", str(config), "--db", pg_url, "--skip-sync", env=env)
    kill_when_trapped(victim, trap)

    store = Store.from_url(pg_url)
    try:
        state, ids = _state_and_ids(store)
        newest_first = list(reversed(new))
        early = {c["id"] for c in data.things.values() if c.get("body", "").startswith("early")}
        assert set(ids) - early == set(newest_first[: 2 * PAGE])  # pages one and two, with their checkpoint
        pending = state.stream("comments")
        assert pending.top is not None and pending.top.fullname == f"t1_{newest_first[0]}"
        assert pending.after == f"t1_{newest_first[2 * PAGE - 1]}"
        assert pending.newest is not None and pending.newest.fullname != pending.top.fullname

        later = [data.comment(post, f"after the crash {n}") for n in range(3)]
        counts = _run(config, env, pg_url)
        assert counts["comments"] == 20 - 2 * PAGE + 3 and counts["comments_resumed"] == 1
        state, ids = _state_and_ids(store)
        assert len(ids) == len(set(ids)) == 12 + 20 + 3
        assert {*new, *later} <= set(ids)
        done = state.stream("comments")
        assert done.after is None and done.newest is not None and done.newest.fullname == f"t1_{later[-1]}"
    finally:
        store.dispose()
