"""The mailing-list collector's work that must not grow with the archive (docs/performance.md,
"Mailing lists"): the reconcile compares hashes in SQL, in pages, not in memory; PostgreSQL gets
statistics for ml_messages during a backfill, so per-page hash look-ups use the primary key.
Real HyperKitty fake over HTTP, real SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine, select, text

from core.collectors import RunContext
from core.store import Store
from mailinglist_activity_tracker.collector import MailingListCollector
from mailinglist_activity_tracker.mail import message_id_hash
from mailinglist_activity_tracker.tables import ml_messages
from tests.fakes.hyperkitty_server import HyperKittyData, HyperKittyFake, synthetic_message
from tests.fakes.wire import FakeClock

BOOST = "boost@lists.example.org"
MESSAGES = 1_200  # more than a page of reconcile candidates (500) and than the 1,000-row statistics floor


@pytest.fixture
def fake() -> Iterator[HyperKittyFake]:
    with HyperKittyFake(HyperKittyData((BOOST,)), mbox_export=True) as server:
        for n in range(MESSAGES):
            server.data.archive(synthetic_message(n), BOOST)
        yield server


def _run(fake: HyperKittyFake, store_url: str) -> dict[str, int]:
    config = {
        "base_url": fake.base_url,
        "lists": [BOOST],
        "page_size": 1000,
        "backfill": "mbox",
        "backfill_from": "2024-01-01",
        "requests_per_second": 10_000,
    }
    collector = MailingListCollector(config, context=RunContext(store_url=store_url))
    clock = FakeClock()
    collector.clock = clock.time  # type: ignore[method-assign]
    collector.sleep = clock.sleep  # type: ignore[method-assign]
    return dict(collector.run().counts)


def _deleted(store_url: str) -> dict[str, bool]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(ml_messages.c.message_id_hash, ml_messages.c.deleted_at)).all()
        return {digest: deleted_at is not None for digest, deleted_at in rows}
    finally:
        store.dispose()


def test_reconcile_marks_deletions_beyond_one_page_of_candidates(fake: HyperKittyFake, store_url: str) -> None:
    first = _run(fake, store_url)
    assert first["mbox_messages"] == MESSAGES and first["reconcile_pages"] == 2
    assert first.get("messages_deleted", 0) == 0
    gone = {message_id_hash(f"msg-{n}@bench.example.org") for n in range(0, MESSAGES, 2)}
    for digest in gone:
        fake.data.delete(BOOST, digest)
    fake.log.clear()

    second = _run(fake, store_url)  # the archive's count fell below the stored one: reconcile

    assert second["messages_deleted"] == len(gone) == 600
    assert {d for d, deleted in _deleted(store_url).items() if deleted} == gone
    details = [e.path for e in fake.log if "/email/" in e.path]
    assert len(details) == len(set(details)) == len(gone)  # each unseen message asked once


def test_backfill_gives_postgresql_statistics_of_ml_messages(fake: HyperKittyFake, pg_url: str) -> None:
    """Without statistics the planner guessed a handful of rows per list and read the whole list
    (through the thread index) for every page of hashes: time grew with the square of the archive."""
    counts = _run(fake, pg_url)

    assert counts["statistics_refreshed"] >= 1
    engine = create_engine(pg_url.replace("postgresql://", "postgresql+psycopg2://", 1))
    try:
        with engine.connect() as conn:
            analyzed = conn.execute(
                text("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'ml_messages'")
            ).scalar_one()
            everything = select(ml_messages.c.message_id_hash).where(ml_messages.c.list_fqdn == BOOST)
            sql = everything.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
            plan = conn.execute(text(f"EXPLAIN {sql}")).scalars().first()
    finally:
        engine.dispose()
    assert analyzed >= 1
    match = re.search(r"rows=(\d+)", plan or "")
    assert match and int(match.group(1)) >= MESSAGES * 0.9, plan  # the list's rows, not a guess
