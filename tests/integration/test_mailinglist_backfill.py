"""Backfill through monthly mbox exports vs the REST walk (same rows), the "download disabled"
fallback, a broken export, and bad raw messages stored with parse warnings (both dialects)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.collectors import RunContext
from core.errors import CollectorFailureCategory, classify_failure
from core.store import Store
from mailinglist_activity_tracker.collector import MailingListCollector
from mailinglist_activity_tracker.tables import ml_messages
from tests.fakes.hyperkitty_server import MAIL_DIR, Fault, HyperKittyData, HyperKittyFake, synthetic_message
from tests.fakes.wire import FakeClock

BOOST = "boost@lists.example.org"
# What both paths must agree on (REST-only columns: sender_mailman_id; bookkeeping columns aside).
SAME = (
    "message_id",
    "thread_id",
    "parent_hash",
    "subject",
    "sent_at",
    "sender_address",
    "sender_name",
    "content",
)


@pytest.fixture
def fake() -> Iterator[HyperKittyFake]:
    with HyperKittyFake(HyperKittyData((BOOST,))) as server:
        yield server


def _run(fake: HyperKittyFake, store_url: str, **config: Any) -> Any:
    context = {k: config.pop(k) for k in ("since", "until", "full_refresh") if k in config}
    collector = MailingListCollector(
        {
            "base_url": fake.base_url,
            "lists": [BOOST],
            "page_size": 4,
            "stop_after_known": 2,
            "requests_per_second": 1000,
            "backfill_from": "2023-12-01",
            "batch_size": 3,
            **config,
        },
        context=RunContext(store_url=store_url, **context),
    )
    clock = FakeClock()
    collector.clock = clock.time  # type: ignore[method-assign]
    collector.sleep = clock.sleep  # type: ignore[method-assign]
    return collector.run()


def _rows(store_url: str) -> dict[str, dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(ml_messages)).mappings()
            return {r["message_id_hash"]: dict(r) for r in rows}
    finally:
        store.dispose()


def _load(fake: HyperKittyFake) -> None:
    for n in range(8):
        fake.data.archive(synthetic_message(n, reply_to=n - 1 if n % 3 else None), BOOST)
    for name in (
        "01-review-announce.eml",
        "02-review-reply-utf8.eml",
        "03-review-reply-references-only.eml",
        "04-odd-in-reply-to.eml",
        "05-release-multipart.eml",
        "10-pgp-signed.eml",
    ):
        fake.data.archive((MAIL_DIR / name).read_bytes(), BOOST)


def test_mbox_backfill_matches_rest(fake: HyperKittyFake, tmp_path: Any) -> None:
    _load(fake)
    mbox_url, rest_url = f"sqlite:///{tmp_path / 'mbox.db'}", f"sqlite:///{tmp_path / 'rest.db'}"
    assert _run(fake, mbox_url, backfill="mbox").counts["mbox_months"] >= 3
    fake.mbox_export = False  # "Archive download disabled."
    rest = _run(fake, rest_url, backfill="auto")
    assert rest.counts["mbox_refused"] == 1 and rest.counts["details"] == 14
    by_mbox, by_rest = _rows(mbox_url), _rows(rest_url)
    assert set(by_mbox) == set(by_rest)
    for digest, row in by_rest.items():
        assert {k: row[k] for k in SAME} == {k: by_mbox[digest][k] for k in SAME}, digest
    assert {r["source"] for r in by_mbox.values()} == {"mbox"}


def test_backfill_mbox_refused_is_a_config_error(fake: HyperKittyFake, store_url: str) -> None:
    fake.data.archive(synthetic_message(1), BOOST)
    fake.mbox_export = False
    with pytest.raises(Exception, match="refuses mbox") as raised:
        _run(fake, store_url, backfill="mbox")
    assert classify_failure(raised.value) is CollectorFailureCategory.VALIDATION


def test_truncated_gzip_export_fails_naming_the_list_and_writes_nothing(
    fake: HyperKittyFake, store_url: str
) -> None:
    for n in range(3):
        fake.data.archive(synthetic_message(n, date=dt.datetime(2024, 1, 5, tzinfo=dt.UTC)), BOOST)
    fake.inject(Fault(status=None, contains="2024-01.mbox.gz", body=lambda b: b[: len(b) // 2]))
    with pytest.raises(Exception, match="gzip") as raised:
        _run(fake, store_url, backfill="mbox")
    assert BOOST in str(raised.value)
    assert classify_failure(raised.value) is CollectorFailureCategory.VALIDATION
    assert _rows(store_url) == {}
    # The next run reads that month again, whole.
    _run(fake, store_url, backfill="mbox")
    assert len(_rows(store_url)) == 3


def test_bad_raw_messages_are_stored_with_parse_warnings(fake: HyperKittyFake, store_url: str) -> None:
    for name in (
        "06-unknown-charset.eml",
        "07-bad-date.eml",
        "08-impossible-timezone.eml",
        "11-broken-headers.eml",
    ):
        fake.data.archive((MAIL_DIR / name).read_bytes(), BOOST, at=dt.datetime(2024, 5, 20, tzinfo=dt.UTC))
    result = _run(fake, store_url, backfill="mbox", backfill_from="2024-05-01")
    assert result.success and result.counts["parse_warnings"] == 4
    rows = {r["message_id"]: r for r in _rows(store_url).values()}
    assert len(rows) == 4  # none dropped
    assert "unknown charset" in " ".join(rows["unknown-charset@example.ru"]["parse_warnings"])
    assert rows["unknown-charset@example.ru"]["content"].startswith("How do I cancel an async_read?")
    bad_date = rows["bad-date@example.org"]
    assert any("Date: unparseable" in w for w in bad_date["parse_warnings"])
    # The mbox "From " line (the archive time) stands in for the unreadable Date.
    assert bad_date["sent_at"].replace(tzinfo=dt.UTC) == dt.datetime(2024, 5, 20, tzinfo=dt.UTC)
    assert any("impossible time zone" in w for w in rows["bad-tz@example.org"]["parse_warnings"])
    broken = rows["broken-headers@example.org"]
    assert broken["sender_address"] is None and "never closed" in broken["content"]


def test_bounded_backfill_writes_rows_only(fake: HyperKittyFake, store_url: str) -> None:
    for n in range(6):
        fake.data.archive(synthetic_message(n, date=dt.datetime(2024, 1 + n, 3, tzinfo=dt.UTC)), BOOST)
    _run(
        fake,
        store_url,
        backfill="mbox",
        since=dt.datetime(2024, 2, 1, tzinfo=dt.UTC),
        until=dt.datetime(2024, 4, 1, tzinfo=dt.UTC),
    )
    assert sorted(r["message_id"] for r in _rows(store_url).values()) == [
        "msg-1@bench.example.org",
        "msg-2@bench.example.org",
    ]
    store = Store.from_url(store_url)
    try:
        from core.store import load_checkpoint

        with store.engine.connect() as conn:
            assert load_checkpoint(conn, "mailinglist", BOOST) is None
    finally:
        store.dispose()
