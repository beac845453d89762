"""The mailing-list collector against the HyperKitty fake over real HTTP, on SQLite and PostgreSQL:
incremental correctness (archive order vs Date order, future dates, per-list checkpoints,
failed details retried), storage, profiles, documents, reattach and deletion."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from core.collectors import RunContext
from core.errors import CollectorFailureCategory, classify_failure
from core.identity import person_profiles, profile_emails
from core.store import Store, load_checkpoint
from core.vectors.ledger import vector_local_records
from mailinglist_activity_tracker.collector import MailingListCollector
from mailinglist_activity_tracker.mail import message_id_hash
from mailinglist_activity_tracker.tables import ml_messages, ml_threads
from tests.fakes.hyperkitty_server import MAIL_DIR, Fault, HyperKittyData, HyperKittyFake, synthetic_message
from tests.fakes.wire import FakeClock, Reply

BOOST = "boost@lists.example.org"
USERS = "boost-users@lists.example.org"


@pytest.fixture
def fake() -> Iterator[HyperKittyFake]:
    with HyperKittyFake(HyperKittyData((BOOST, USERS)), mbox_export=False) as server:
        yield server


def _collector(fake: HyperKittyFake, store_url: str, **context: Any) -> MailingListCollector:
    config = {
        "base_url": fake.base_url,
        "lists": [BOOST, USERS],
        "page_size": context.pop("page_size", 3),
        "stop_after_known": context.pop("stop_after_known", 2),
        "requests_per_second": 1000,
        "max_rate_limit_wait": 60,
        "vectors": {"sink": "local", "namespace": "mailinglist"},
        **context.pop("config", {}),
    }
    collector = MailingListCollector(config, context=RunContext(store_url=store_url, **context))
    clock = FakeClock()
    collector.clock = clock.time  # type: ignore[method-assign]
    collector.sleep = clock.sleep  # type: ignore[method-assign]
    return collector


def _messages(store_url: str, fqdn: str = BOOST) -> dict[str, dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(select(ml_messages).where(ml_messages.c.list_fqdn == fqdn)).mappings()
            return {r["message_id"]: dict(r) for r in rows}
    finally:
        store.dispose()


def _records(store_url: str) -> dict[str, str]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            return dict(
                conn.execute(select(vector_local_records.c.record_id, vector_local_records.c.text)).all()
            )
    finally:
        store.dispose()


def _mail(path: str) -> bytes:
    return (MAIL_DIR / path).read_bytes()


def test_first_run_stores_lists_threads_messages_and_senders(fake: HyperKittyFake, store_url: str) -> None:
    fake.load_dir(MAIL_DIR, BOOST)
    result = _collector(fake, store_url).run()
    assert result.success
    rows = _messages(store_url)
    assert len(rows) == 11  # every sample with a Message-ID
    reply = rows["review-2@example.de"]
    assert reply["sender_address"] == "juergen@example.de"  # de-obfuscated from "juergen (a) example.de"
    assert reply["sender_name"] == "Jürgen Müller"
    assert reply["sent_at"].replace(tzinfo=dt.UTC) == dt.datetime(2024, 3, 5, 10, 2, 33, tzinfo=dt.UTC)
    root = message_id_hash("review-1@example.org")
    assert reply["thread_id"] == root and reply["parent_hash"] == root
    assert rows["review-3@example.com"]["parent_hash"] == message_id_hash("review-2@example.de")
    assert "naïve façade" in reply["content"]
    release = rows["release-1.85@example.org"]
    assert [a["name"] for a in release["attachments"]] == ["notes.pdf", "fix.patch"]
    assert all(r["content"] is not None and r["deleted_at"] is None for r in rows.values())

    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            threads = conn.execute(
                select(ml_threads.c.thread_id, ml_threads.c.replies_count).where(
                    ml_threads.c.list_fqdn == BOOST
                )
            ).all()
            profiles = conn.execute(
                select(person_profiles.c.external_id, person_profiles.c.display_name).where(
                    person_profiles.c.source == "mailinglist"
                )
            ).all()
            emails = conn.execute(select(profile_emails.c.email_sha256)).scalars().all()
            state = load_checkpoint(conn, "mailinglist", BOOST)
    finally:
        store.dispose()
    assert (root, 3) in threads
    juergen = hashlib.sha256(b"juergen@example.de").hexdigest()
    assert (juergen, "Jürgen Müller") in profiles
    assert juergen in emails
    assert state is not None and state.extras["count"] == 11


def test_unchanged_run_costs_two_index_requests_per_list(fake: HyperKittyFake, store_url: str) -> None:
    fake.load_dir(MAIL_DIR, BOOST)
    _collector(fake, store_url).run()
    fake.log.clear()
    _collector(fake, store_url).run()
    paths = [e.path for e in fake.log]
    # list metadata, one emails/ page, one threads/ page: per list
    assert sorted(paths) == sorted(
        [f"/api/list/{fqdn}/{rest}" for fqdn in (BOOST, USERS) for rest in ("", "emails/", "threads/")]
    ), paths


def test_late_archived_old_dated_message_is_collected(fake: HyperKittyFake, store_url: str) -> None:
    for n in range(10):
        fake.data.archive(synthetic_message(n), BOOST)
    _collector(fake, store_url).run()
    # Archived now, dated years ago (moderation delay, a wrong clock): the original's date filter
    # and early stop skipped it.
    old = synthetic_message(99, date=dt.datetime(2001, 5, 1, tzinfo=dt.UTC))
    fake.data.archive(old, BOOST)
    _collector(fake, store_url).run()
    rows = _messages(store_url)
    assert "msg-99@bench.example.org" in rows
    assert rows["msg-99@bench.example.org"]["sent_at"].year == 2001


def test_future_dated_message_does_not_stall_later_runs(fake: HyperKittyFake, store_url: str) -> None:
    fake.data.archive(synthetic_message(1), BOOST)
    fake.data.archive(synthetic_message(2, date=dt.datetime(2099, 1, 1, tzinfo=dt.UTC)), BOOST)
    _collector(fake, store_url).run()
    for n in range(3, 8):
        fake.data.archive(synthetic_message(n), BOOST)
    _collector(fake, store_url).run()
    assert {f"msg-{n}@bench.example.org" for n in range(1, 8)} <= set(_messages(store_url))


def test_one_list_failing_does_not_move_another_lists_checkpoint(
    fake: HyperKittyFake, store_url: str
) -> None:
    fake.data.archive(synthetic_message(1), BOOST)
    fake.data.archive(synthetic_message(2, domain="users.example.org"), USERS)
    _collector(fake, store_url).run()
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            before = load_checkpoint(conn, "mailinglist", USERS)
        fake.data.archive(synthetic_message(3), BOOST)
        fake.data.archive(synthetic_message(4, domain="users.example.org"), USERS)
        fake.inject(Fault(401, path=f"/archives/api/list/{USERS}/emails/"))
        with pytest.raises(Exception) as raised:
            _collector(fake, store_url).run()
        assert classify_failure(raised.value) is CollectorFailureCategory.AUTH
        with store.engine.connect() as conn:
            users_after = load_checkpoint(conn, "mailinglist", USERS)
            boost_after = load_checkpoint(conn, "mailinglist", BOOST)
    finally:
        store.dispose()
    assert users_after == before
    assert boost_after is not None and boost_after.extras["count"] == 2  # the healthy list advanced
    assert "msg-3@bench.example.org" in _messages(store_url)
    # The next run collects the list that failed.
    _collector(fake, store_url).run()
    assert "msg-4@users.example.org" in _messages(store_url, USERS)


def test_failed_detail_fetch_is_retried_next_run(fake: HyperKittyFake, store_url: str) -> None:
    for n in range(5):
        fake.data.archive(synthetic_message(n), BOOST)
    broken = message_id_hash("msg-2@bench.example.org")
    # Every attempt of this run fails (transient retries included).
    fake.inject(Fault(503, path=f"/archives/api/list/{BOOST}/email/{broken}/", times=10))
    with pytest.raises(Exception) as raised:
        _collector(fake, store_url).run()
    assert classify_failure(raised.value) is CollectorFailureCategory.NETWORK
    row = _messages(store_url)["msg-2@bench.example.org"]
    assert row["content"] is None and row["detail_attempts"] == 1 and "503" in (row["detail_error"] or "")
    assert _messages(store_url)["msg-4@bench.example.org"]["content"]  # the others are stored
    # More messages arrive: the head walk stops long before the failed one; it is retried anyway.
    for n in range(5, 12):
        fake.data.archive(synthetic_message(n), BOOST)
    fake.faults.clear()
    _collector(fake, store_url).run()
    row = _messages(store_url)["msg-2@bench.example.org"]
    assert row["content"] and "Message number 2." in row["content"] and row["detail_error"] is None


def test_cross_posted_message_is_kept_in_every_list(fake: HyperKittyFake, store_url: str) -> None:
    fake.data.cross_post(synthetic_message(7), [BOOST, USERS])
    _collector(fake, store_url).run()
    assert "msg-7@bench.example.org" in _messages(store_url, BOOST)
    assert "msg-7@bench.example.org" in _messages(store_url, USERS)


def test_thread_documents_strip_quotes_signatures_footers(fake: HyperKittyFake, store_url: str) -> None:
    fake.load_dir(MAIL_DIR, BOOST)
    collector = _collector(fake, store_url)
    collector.run()
    collector.sync_pinecone()
    records = _records(store_url)
    root = message_id_hash("review-1@example.org")
    thread_text = "\n".join(t for rid, t in records.items() if rid.startswith(f"mailinglist:{BOOST}/{root}:"))
    assert "# [boost] Formal review of Boost.Widget begins today" in thread_text
    assert "I vote to ACCEPT" in thread_text and "Same here, ACCEPT" in thread_text
    assert "> The formal review" not in thread_text  # quoted
    assert "wrote:" not in thread_text  # attribution
    assert "review manager" not in thread_text  # signature
    assert "Unsubscribe" not in thread_text  # list footer
    pgp = message_id_hash("pgp-signed@example.org")
    pgp_text = "\n".join(t for rid, t in records.items() if rid.startswith(f"mailinglist:{BOOST}/{pgp}:"))
    assert "require C++17" in pgp_text and "PGP" not in pgp_text and "Hash: SHA256" not in pgp_text


def test_reattach_moves_messages_and_the_thread_document(fake: HyperKittyFake, store_url: str) -> None:
    recent = dt.datetime.now(dt.UTC) - dt.timedelta(hours=3)
    fake.data.archive(synthetic_message(1, date=recent), BOOST)
    fake.data.archive(synthetic_message(2, reply_to=1, date=recent), BOOST)
    fake.data.archive(synthetic_message(3, date=recent), BOOST)  # a new thread that belongs under 1
    for n in range(4, 10):  # newer messages: the head walk stops before reaching 1-3 again
        fake.data.archive(synthetic_message(n, date=recent - dt.timedelta(days=30)), BOOST)
    collector = _collector(fake, store_url)
    collector.run()
    collector.sync_pinecone()
    one, three = message_id_hash("msg-1@bench.example.org"), message_id_hash("msg-3@bench.example.org")
    assert any(r.startswith(f"mailinglist:{BOOST}/{three}:") for r in _records(store_url))
    fake.data.reattach(BOOST, three, into=one)
    collector = _collector(fake, store_url)
    result = collector.run()
    assert result.counts["messages_moved"] == 1 and result.counts["threads_reread"] == 1
    assert result.counts.get("reconcile_pages", 0) == 0  # caught by the thread refresh
    assert _messages(store_url)["msg-3@bench.example.org"]["thread_id"] == one
    collector.sync_pinecone()
    records = _records(store_url)
    assert not any(r.startswith(f"mailinglist:{BOOST}/{three}:") for r in records)
    merged = "\n".join(t for rid, t in records.items() if rid.startswith(f"mailinglist:{BOOST}/{one}:"))
    assert "Message number 3." in merged


def test_deleted_message_is_detected_by_reconcile_and_leaves_the_index(
    fake: HyperKittyFake, store_url: str
) -> None:
    for n in range(6):
        fake.data.archive(synthetic_message(n), BOOST)
    collector = _collector(fake, store_url)
    collector.run()
    collector.sync_pinecone()
    gone = message_id_hash("msg-0@bench.example.org")  # the oldest: far below the head walk
    assert any(r.startswith(f"mailinglist:{BOOST}/{gone}:") for r in _records(store_url))
    fake.data.delete(BOOST, gone)
    collector = _collector(fake, store_url)  # the count fell below the stored one: reconcile now
    assert collector.run().counts["messages_deleted"] == 1
    assert _messages(store_url)["msg-0@bench.example.org"]["deleted_at"] is not None
    collector.sync_pinecone()
    assert not any(r.startswith(f"mailinglist:{BOOST}/{gone}:") for r in _records(store_url))


def test_rate_limit_retry_after_and_body_retry_after_are_honoured(
    fake: HyperKittyFake, store_url: str
) -> None:
    fake.data.archive(synthetic_message(1), BOOST)
    fake.inject(
        Fault(429, headers={"Retry-After": "7"}, path=f"/archives/api/list/{BOOST}/emails/"),
        Fault(429, body='{"retry_after": 11}', path=f"/archives/api/list/{BOOST}/threads/"),
    )
    collector = _collector(fake, store_url)
    clock = FakeClock()
    collector.clock = clock.time  # type: ignore[method-assign]
    collector.sleep = clock.sleep  # type: ignore[method-assign]
    collector.run()
    waits = [int(s) for s in clock.sleeps if s >= 5]  # the wait plus up to a second of jitter
    assert waits == [7, 11], clock.sleeps
    assert "msg-1@bench.example.org" in _messages(store_url)


def test_requests_are_spaced_by_requests_per_second(fake: HyperKittyFake, store_url: str) -> None:
    fake.data.archive(synthetic_message(1), BOOST)
    collector = _collector(fake, store_url, config={"requests_per_second": 2, "lists": [BOOST]})
    clock = FakeClock()
    collector.clock = clock.time  # type: ignore[method-assign]
    collector.sleep = clock.sleep  # type: ignore[method-assign]
    collector.run()
    requests = len(fake.log)
    assert requests >= 4
    # Every request after the first waited for its half second (the fake clock does not move otherwise).
    assert clock.sleeps.count(0.5) == requests - 1, clock.sleeps


def test_interrupted_walk_resumes_without_gaps_or_duplicates(fake: HyperKittyFake, store_url: str) -> None:
    """A run dies on page 3 of its head walk (pages 1-2 committed, older new messages not read
    yet); more messages arrive; the rerun reads the new head, meets the pages the dead run
    stored, and jumps to where that walk stopped instead of ending there: every message once."""
    for n in range(3):
        fake.data.archive(synthetic_message(n), BOOST)
    _collector(fake, store_url, config={"lists": [BOOST]}).run()
    for n in range(3, 15):
        fake.data.archive(synthetic_message(n), BOOST)
    original = fake.handle
    dead = {"done": False}

    def dying(request: Any) -> Any:
        if (
            request.path == f"/archives/api/list/{BOOST}/emails/"
            and "offset=6" in request.raw_query
            and not dead["done"]
        ):
            dead["done"] = True
            return Reply.json(401, {"detail": "the run dies here"})
        return original(request)

    fake.handle = dying  # type: ignore[method-assign]
    with pytest.raises(Exception, match="401"):
        _collector(fake, store_url, config={"lists": [BOOST]}).run()
    assert len(_messages(store_url)) == 9  # 3 from the first run, two pages of three
    for n in range(15, 19):
        fake.data.archive(synthetic_message(n), BOOST)
    _collector(fake, store_url, config={"lists": [BOOST]}).run()
    assert set(_messages(store_url)) == {f"msg-{n}@bench.example.org" for n in range(19)}
