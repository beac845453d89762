"""Documented promises of docs/mailinglist.md that the first tests left out, on both dialects
against the HyperKitty fake: basic auth through ``connection_id`` (the password never in logs,
errors or stored rows), the weekly full walk catching a reattach older than the thread
refresh's overlap, and one error naming every failed list with the worst category."""

from __future__ import annotations

import base64
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, update

from core.collectors import RunContext
from core.errors import CollectorFailureCategory, ConfigError, classify_failure
from core.store import Store, load_checkpoint
from core.store.schema import collector_checkpoints
from core.vectors.ledger import vector_local_records
from mailinglist_activity_tracker.collector import ListsFailedError, MailingListCollector
from mailinglist_activity_tracker.mail import message_id_hash
from mailinglist_activity_tracker.tables import ml_messages
from tests.fakes.hyperkitty_server import HyperKittyData, HyperKittyFake, synthetic_message
from tests.fakes.wire import FakeClock, Fault

BOOST = "boost@lists.example.org"
USERS = "boost-users@lists.example.org"
LOGIN = "archiver"
PASSWORD = "Pr1vate-" + "ListPassw0rd" * 2


def _collector(
    fake: HyperKittyFake, store_url: str, *, connections: dict[str, Any] | None = None, **config: Any
) -> MailingListCollector:
    settings = {
        "base_url": fake.base_url,
        "lists": [BOOST],
        "page_size": 3,
        "stop_after_known": 2,
        "requests_per_second": 1000,
        "max_rate_limit_wait": 60,
        "vectors": {"sink": "local", "namespace": "mailinglist"},
        **config,
    }
    collector = MailingListCollector(
        settings, context=RunContext(store_url=store_url, connections=connections or {})
    )
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


# ---------------------------------------------------------------------- basic auth


@pytest.fixture
def private() -> Iterator[HyperKittyFake]:
    with HyperKittyFake(HyperKittyData((BOOST,)), mbox_export=False, auth=(LOGIN, PASSWORD)) as server:
        for n in range(5):
            server.data.archive(synthetic_message(n), BOOST)
        yield server


def _connection(password: str = PASSWORD) -> dict[str, Any]:
    return {"hk_private": {"conn_type": "http", "login": LOGIN, "password": password}}


def test_private_list_is_read_with_basic_auth_from_the_connection(
    private: HyperKittyFake, store_url: str
) -> None:
    result = _collector(private, store_url, connection_id="hk_private", connections=_connection()).run()
    assert result.success and result.counts["messages_new"] == 5
    expected = "Basic " + base64.b64encode(f"{LOGIN}:{PASSWORD}".encode()).decode()
    assert private.log and all(e.header("Authorization") == expected for e in private.log)
    assert all(r["content"] for r in _messages(store_url).values())


def test_private_list_without_credentials_fails_as_auth(private: HyperKittyFake, store_url: str) -> None:
    with pytest.raises(Exception) as raised:
        _collector(private, store_url).run()
    assert classify_failure(raised.value) is CollectorFailureCategory.AUTH
    assert all(e.header("Authorization") is None for e in private.log)


def test_undefined_connection_fails_validate_naming_the_field(
    private: HyperKittyFake, store_url: str
) -> None:
    with pytest.raises(ConfigError, match=r"config\.connection_id: connection 'hk_missing' is not defined"):
        _collector(private, store_url, connection_id="hk_missing").run()
    assert len(private.log) == 0


def test_password_never_reaches_logs_errors_or_rows(
    private: HyperKittyFake, store_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A server that echoes the credentials it got (in a 500 on one detail and in the 401 of a
    refused run): the stored detail error, every log record and the raised error are redacted."""
    broken = message_id_hash("msg-2@bench.example.org")
    echo = f'{{"detail": "upstream said no to {LOGIN}:{PASSWORD}"}}'
    private.inject(Fault(500, body=echo, path=f"/archives/api/list/{BOOST}/email/{broken}/", times=10))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(Exception) as first:
        _collector(private, store_url, connection_id="hk_private", connections=_connection()).run()
    assert classify_failure(first.value) is CollectorFailureCategory.NETWORK
    row = _messages(store_url)["msg-2@bench.example.org"]
    assert row["content"] is None and "upstream said no" in (row["detail_error"] or "")
    private.faults.clear()
    private.inject(Fault(401, body=echo, path=f"/archives/api/list/{BOOST}/"))
    with pytest.raises(Exception) as second:
        _collector(private, store_url, connection_id="hk_private", connections=_connection()).run()
    assert classify_failure(second.value) is CollectorFailureCategory.AUTH
    assert "upstream said no" in str(second.value)  # the server's words are kept ...
    for text in (str(first.value), str(second.value), row["detail_error"] or "", caplog.text):
        assert PASSWORD not in text  # ... its echo of the password is not


# ---------------------------------------------------------------------- weekly full walk


def _backdate_reconcile(store_url: str, fqdn: str, days: float) -> None:
    """A week passes: the checkpoint's last full walk moves ``days`` into the past."""
    store = Store.from_url(store_url)
    try:
        with store.engine.begin() as conn:
            state = load_checkpoint(conn, "mailinglist", fqdn)
            assert state is not None
            extras = dict(state.extras)
            extras["reconciled_at"] = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).isoformat()
            conn.execute(
                update(collector_checkpoints)
                .where(
                    collector_checkpoints.c.collector == "mailinglist",
                    collector_checkpoints.c.partition == fqdn,
                )
                .values(extras=extras)
            )
    finally:
        store.dispose()


def test_weekly_full_walk_catches_a_reattach_older_than_the_overlap(store_url: str) -> None:
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    with HyperKittyFake(HyperKittyData((BOOST,)), mbox_export=False) as fake:
        fake.data.archive(synthetic_message(1, date=old), BOOST)
        fake.data.archive(synthetic_message(2, reply_to=1, date=old), BOOST)
        fake.data.archive(synthetic_message(3, date=old), BOOST)  # belongs under 1
        for n in range(4, 10):  # newer archive entries: the head walk never reaches 1-3 again
            fake.data.archive(synthetic_message(n, date=old + dt.timedelta(days=1)), BOOST)
        collector = _collector(fake, store_url)
        collector.run()
        collector.sync_pinecone()
        one, three = message_id_hash("msg-1@bench.example.org"), message_id_hash("msg-3@bench.example.org")
        fake.data.reattach(BOOST, three, into=one)

        # Within the week: both threads were last active a month ago (beyond overlap_hours), so
        # the thread refresh does not look at them and the move is not seen yet.
        result = _collector(fake, store_url).run()
        assert result.counts.get("reconcile_pages", 0) == 0 and result.counts.get("messages_moved", 0) == 0
        assert _messages(store_url)["msg-3@bench.example.org"]["thread_id"] == three

        _backdate_reconcile(store_url, BOOST, days=7.01)
        collector = _collector(fake, store_url)
        result = collector.run()
        assert result.counts["reconcile_pages"] == 3  # nine messages, pages of three
        assert result.counts["messages_moved"] == 1 and result.counts.get("messages_deleted", 0) == 0
        row = _messages(store_url)["msg-3@bench.example.org"]
        assert row["thread_id"] == one and row["previous_thread_id"] == three
        collector.sync_pinecone()
        store = Store.from_url(store_url)
        try:
            with store.engine.connect() as conn:
                records = dict(
                    conn.execute(select(vector_local_records.c.record_id, vector_local_records.c.text)).all()
                )
                state = load_checkpoint(conn, "mailinglist", BOOST)
        finally:
            store.dispose()
        assert not any(r.startswith(f"mailinglist:{BOOST}/{three}:") for r in records)
        merged = "\n".join(t for rid, t in records.items() if rid.startswith(f"mailinglist:{BOOST}/{one}:"))
        assert "Message number 3." in merged
        assert state is not None
        reconciled = state.extras["reconciled_at"]
        assert dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(reconciled) < dt.timedelta(hours=1)


# ---------------------------------------------------------------------- several lists fail


def test_several_failed_lists_give_one_error_naming_each_with_the_worst_category(store_url: str) -> None:
    third = "boost-announce@lists.example.org"
    with HyperKittyFake(HyperKittyData((BOOST, USERS, third)), mbox_export=False) as fake:
        for fqdn in (BOOST, USERS, third):
            fake.data.archive(synthetic_message(1, domain=fqdn.split("@")[0] + ".example.org"), fqdn)
        fake.inject(
            # boost: the server keeps failing (network, after the client's own retries) ...
            Fault(503, path=f"/archives/api/list/{BOOST}/emails/", times=20),
            # ... boost-users: credentials refused (auth: needs someone to act).
            Fault(401, path=f"/archives/api/list/{USERS}/emails/"),
        )
        with pytest.raises(ListsFailedError) as raised:
            _collector(fake, store_url, lists=[BOOST, USERS, third]).run()
    error = raised.value
    assert classify_failure(error) is CollectorFailureCategory.AUTH  # the worst, not the first
    assert error.lists == [BOOST, USERS]
    text = str(error)
    assert text.startswith("2 lists failed (worst: auth): ")
    assert f"{BOOST} [network]: " in text and f"{USERS} [auth]: " in text and "401" in text
    assert third not in text
    assert classify_failure(error.__cause__) is CollectorFailureCategory.AUTH
    assert "msg-1@boost-announce.example.org" in _messages(store_url, third)  # the healthy list


def test_several_rate_limited_lists_retry_at_the_latest_time_given(store_url: str) -> None:
    with HyperKittyFake(HyperKittyData((BOOST, USERS)), mbox_export=False) as fake:
        for fqdn in (BOOST, USERS):
            fake.data.archive(synthetic_message(1), fqdn)
        fake.inject(
            Fault(429, headers={"Retry-After": "600"}, path=f"/archives/api/list/{BOOST}/emails/"),
            Fault(429, headers={"Retry-After": "900"}, path=f"/archives/api/list/{USERS}/emails/"),
        )
        collector = _collector(fake, store_url, lists=[BOOST, USERS])
        with pytest.raises(ListsFailedError) as raised:
            collector.run()
    error = raised.value
    assert classify_failure(error) is CollectorFailureCategory.RATE_LIMIT
    assert error.retry_at is not None
    start = dt.datetime.fromtimestamp(collector.clock(), dt.UTC)
    assert dt.timedelta(seconds=850) < error.retry_at - start <= dt.timedelta(seconds=901)
