"""Kill a real ``python -m core.cli run mailinglist`` (SIGKILL) mid-run, rerun: every message once,
none missing, and the checkpoint the dead run left accounts for exactly what it stored.

The fake HyperKitty runs in this process; the console run is a child process. The fake holds
one chosen request open (the run is then provably mid-walk / mid-backfill) until the child is
killed, so the kill point is exact, not a race."""

from __future__ import annotations

import datetime as dt
import json
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, inspect, select

from core.store import Store, load_checkpoint
from mailinglist_activity_tracker.tables import ml_messages
from tests.fakes.console import console
from tests.fakes.hyperkitty_server import HyperKittyData, HyperKittyFake, synthetic_message
from tests.fakes.trap import RequestTrap, kill_when_trapped
from tests.fakes.wire import Request

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

BOOST = "boost@lists.example.org"
PAGE = 10


@pytest.fixture
def fake() -> Iterator[HyperKittyFake]:
    with HyperKittyFake(HyperKittyData((BOOST,)), mbox_export=False) as server:
        yield server


def _config(tmp_path: Path, fake: HyperKittyFake, **extra: Any) -> Path:
    path = tmp_path / "collectors.yaml"
    fields = {
        "base_url": fake.base_url,
        "lists": [BOOST],
        "page_size": PAGE,
        "stop_after_known": 5,
        "requests_per_second": 1000,
        "batch_size": 7,
        **extra,
    }
    path.write_text(
        textwrap.dedent("""
        collectors:
          mailinglist:
            collector: mailinglist_activity_tracker.collector:MailingListCollector
            config: {fields}
        """).format(fields=json.dumps(fields, default=str))
    )
    return path


def _run(config: Path, db: str) -> dict[str, Any]:
    process = console("run", "mailinglist", "--config-file", str(config), "--db", db, "--skip-sync")
    out, err = process.communicate(timeout=120)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out)["collect"]["counts"]


def _kill_when(fake: HyperKittyFake, when: Callable[[Request], bool], config: Path, db: str) -> None:
    trap = RequestTrap(fake, when)
    victim = console("run", "mailinglist", "--config-file", str(config), "--db", db, "--skip-sync")
    kill_when_trapped(victim, trap)


def _ids(store: Store) -> list[str]:
    if not inspect(store.engine).has_table("ml_messages"):
        return []
    with store.engine.connect() as conn:
        return list(conn.execute(select(ml_messages.c.message_id)).scalars())


def test_kill_mid_head_walk_then_rerun_has_no_duplicates_and_no_gaps(
    fake: HyperKittyFake, pg_url: str, tmp_path: Path
) -> None:
    data = fake.data
    for n in range(30):
        data.archive(synthetic_message(n), BOOST)
    config = _config(tmp_path, fake)
    store = Store.from_url(pg_url)
    try:
        assert _run(config, pg_url)["messages_new"] == 30
        new = [data.archive(synthetic_message(n), BOOST) for n in range(30, 80)]
        committed = {e.message_id for e in data.archive_order(BOOST)[: 3 * PAGE]}  # pages 1-3 of the walk
        first_of_page_4 = data.archive_order(BOOST)[3 * PAGE].hash
        _kill_when(
            fake, lambda r: r.path == f"/archives/api/list/{BOOST}/email/{first_of_page_4}/", config, pg_url
        )

        # What the dead run left: pages 1-3 with their checkpoint, nothing of page 4.
        at_crash = _ids(store)
        assert set(at_crash) == {f"msg-{n}@bench.example.org" for n in range(30)} | committed
        with store.engine.connect() as conn:
            state = load_checkpoint(conn, "mailinglist", BOOST)
        assert state is not None and state.extras["walk"] == {"offset": 3 * PAGE, "count": 80}
        assert state.extras["count"] == 30  # the finished walk's count is the previous run's

        # More mail arrives before the rerun: the new head sits above the dead walk's pages.
        later = [data.archive(synthetic_message(n), BOOST) for n in range(80, 95)]
        counts = _run(config, pg_url)
        assert counts["messages_new"] == 95 - len(at_crash)  # nothing stored twice
        assert counts["details"] == 95 - len(at_crash)  # no detail fetched twice

        ids = _ids(store)
        assert len(ids) == len(set(ids)) == 95
        assert set(ids) == {e.message_id for e in data.lists[BOOST]}
        assert {e.message_id for e in new + later} <= set(ids)
        with store.engine.connect() as conn:
            final = load_checkpoint(conn, "mailinglist", BOOST)
            missing = conn.execute(
                select(func.count()).select_from(ml_messages).where(ml_messages.c.content.is_(None))
            ).scalar_one()
        assert missing == 0
        assert final is not None and final.extras.get("walk") is None and final.extras["count"] == 95
        assert final.checkpoint_token == data.archive_order(BOOST)[0].hash
    finally:
        store.dispose()


def test_kill_mid_mbox_backfill_then_rerun_resumes_at_the_month(pg_url: str, tmp_path: Path) -> None:
    data = HyperKittyData((BOOST,))
    months = [dt.datetime(2024, m, 3, tzinfo=dt.UTC) for m in (1, 2, 3, 4)]
    for n in range(80):
        data.archive(synthetic_message(n, date=months[n // 20] + dt.timedelta(hours=n)), BOOST)
    with HyperKittyFake(data, mbox_export=True) as fake:
        config = _config(tmp_path, fake, backfill="mbox", backfill_from="2024-01-01")
        store = Store.from_url(pg_url)
        try:
            _kill_when(fake, lambda r: "/export/" in r.path and "2024-03" in r.path, config, pg_url)
            at_crash = _ids(store)
            assert set(at_crash) == {f"msg-{n}@bench.example.org" for n in range(40)}  # January, February
            with store.engine.connect() as conn:
                state = load_checkpoint(conn, "mailinglist", BOOST)
            assert state is not None and state.extras["mbox_month"] == "2024-02"
            assert not state.extras.get("backfilled")

            fake.log.clear()
            counts = _run(config, pg_url)
            exports = [e.path for e in fake.log if "/export/" in e.path]
            assert counts["messages_new"] == 40  # March and April; nothing stored twice
            assert exports[0].endswith("-2024-03.mbox.gz"), exports  # January and February not asked again

            ids = _ids(store)
            assert len(ids) == len(set(ids)) == 80
            assert set(ids) == {e.message_id for e in data.lists[BOOST]}
            with store.engine.connect() as conn:
                final = load_checkpoint(conn, "mailinglist", BOOST)
            assert final is not None and final.extras["backfilled"] and final.extras.get("mbox_month") is None
        finally:
            store.dispose()
