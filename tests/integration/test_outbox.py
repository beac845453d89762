"""The outbox (core.store.outbox) on both dialects, against a real local HTTP receiver.

Side effects are enqueued in the rows' transaction and sent after commit: a rollback sends
nothing, a process killed between the commit and the send leaves the item for the next run
(sent exactly once), a failing receiver is retried after the back-off and the item is then
marked sent, a failure a resend cannot fix is parked and reported, and two deliverers never
send the same item.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap
import threading
from collections import Counter
from pathlib import Path

import pytest
import requests
from sqlalchemy import Column, Integer, MetaData, String, Table, select

from core.errors import RateLimitError
from core.store import Store
from core.store.outbox import (
    BACKOFF_BASE_SECONDS,
    DeliveryReport,
    OutboxItem,
    deliver,
    enqueue,
    pending,
    release,
)
from core.store.schema import core_outbox
from tests.fakes.webhook_receiver import WebhookReceiver

KIND = "notification"
SECRET = "hooksecret-0123456789abcdef"
_meta = MetaData()
papers = Table(
    "outbox_test_papers", _meta, Column("id", Integer, primary_key=True), Column("title", String(100))
)


@pytest.fixture
def store(store_url: str) -> Store:
    result = Store.from_url(store_url)
    result.ensure_core()
    _meta.create_all(result.engine)
    return result


@pytest.fixture
def receiver() -> WebhookReceiver:
    with WebhookReceiver() as hooks:
        yield hooks


def http_sender(receiver: WebhookReceiver):  # type: ignore[no-untyped-def]
    """A real webhook send: one POST per item, the event key as idempotency key."""
    url = receiver.url(f"/hooks/outbox?token={SECRET}")

    def send(items: list[OutboxItem]) -> None:
        for item in items:
            response = requests.post(
                url, json=item.payload, headers={"Idempotency-Key": item.event_key}, timeout=10
            )
            response.raise_for_status()

    return send


def delivered_keys(receiver: WebhookReceiver) -> Counter[str]:
    return Counter(alert.headers["Idempotency-Key"] for alert in receiver.received)


def row(store: Store, key: str):  # type: ignore[no-untyped-def]
    with store.engine.connect() as conn:
        return conn.execute(select(core_outbox).where(core_outbox.c.event_key == key)).one()


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


def test_enqueue_commits_with_the_rows_and_a_rollback_enqueues_nothing(
    store: Store, receiver: WebhookReceiver
) -> None:
    with store.transaction() as conn:
        conn.execute(papers.insert().values(id=1, title="P1"))
        assert enqueue(conn, KIND, "paper:1", {"text": "new paper P1"})
    with pytest.raises(RuntimeError, match="batch failed"), store.transaction() as conn:
        conn.execute(papers.insert().values(id=2, title="P2"))
        enqueue(conn, KIND, "paper:2", {"text": "new paper P2"})
        raise RuntimeError("batch failed")

    with store.engine.connect() as conn:
        assert conn.execute(select(papers.c.id)).scalars().all() == [1]
        assert [item.event_key for item in pending(conn, KIND)] == ["paper:1"]
    report = deliver(store, KIND, http_sender(receiver))
    assert report.sent == 1
    assert delivered_keys(receiver) == Counter({"paper:1": 1})


def test_enqueue_is_idempotent_on_the_key_even_after_sending(store: Store, receiver: WebhookReceiver) -> None:
    with store.transaction() as conn:
        assert enqueue(conn, KIND, "paper:1", {"text": "first"})
        assert not enqueue(conn, KIND, "paper:1", {"text": "second"})
    deliver(store, KIND, http_sender(receiver))
    with store.transaction() as conn:  # the same batch re-read by a later run
        assert not enqueue(conn, KIND, "paper:1", {"text": "third"})
    assert deliver(store, KIND, http_sender(receiver)).sent == 0
    assert [alert.body for alert in receiver.received] == [{"text": "first"}]


_CHILD = textwrap.dedent(
    """
    import os, sys, time
    from core.store import Store
    from core.store.outbox import enqueue
    store = Store.from_url(sys.argv[1])
    with store.transaction() as conn:
        conn.exec_driver_sql("INSERT INTO outbox_test_papers (id, title) VALUES (7, 'P7')")
        enqueue(conn, "notification", "paper:7", {"text": "new paper P7"})
    print("committed", flush=True)
    time.sleep(600)  # where the send would happen: the parent kills us here
    """
)


def test_crash_between_commit_and_send_sends_exactly_once_on_the_next_run(
    store: Store, store_url: str, receiver: WebhookReceiver
) -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": f"{root / 'plugins'}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, store_url], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "committed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    assert receiver.received == []

    first = deliver(store, KIND, http_sender(receiver))
    second = deliver(store, KIND, http_sender(receiver))
    assert (first.sent, second.sent) == (1, 0)
    assert delivered_keys(receiver) == Counter({"paper:7": 1})
    assert row(store, "paper:7").sent_at is not None


def test_kill_after_claim_before_send_is_sent_once_after_the_lease(
    store: Store, receiver: WebhookReceiver
) -> None:
    clock = Clock()
    with store.transaction() as conn:
        enqueue(conn, KIND, "paper:1", {"text": "P1"}, now=clock())

    def killed(items: list[OutboxItem]) -> None:
        raise SystemExit("killed during the send")  # not an Exception: nothing is marked

    with pytest.raises(SystemExit):
        deliver(store, KIND, killed, clock=clock, lease_seconds=300)
    assert deliver(store, KIND, http_sender(receiver), clock=clock).sent == 0  # still leased
    clock.advance(301)
    assert deliver(store, KIND, http_sender(receiver), clock=clock).sent == 1
    assert delivered_keys(receiver) == Counter({"paper:1": 1})


def test_failed_send_is_retried_after_the_back_off_then_marked_sent(
    store: Store, receiver: WebhookReceiver
) -> None:
    clock = Clock()
    with store.transaction() as conn:
        enqueue(conn, KIND, "paper:1", {"text": "P1"}, now=clock())
        enqueue(conn, KIND, "paper:2", {"text": "P2"}, now=clock())
    receiver.fail_next(1, status=503, text="no_service")

    report = deliver(store, KIND, http_sender(receiver), clock=clock)
    assert (report.sent, report.retry_later, report.parked_now) == (1, 1, 0)
    failed = row(store, "paper:1")
    assert failed.attempts == 1 and failed.sent_at is None and failed.failed_at is None
    assert failed.last_category == "network"
    assert "503" in failed.last_error
    assert SECRET not in failed.last_error and SECRET not in "".join(report.errors)

    clock.advance(BACKOFF_BASE_SECONDS - 1)
    assert deliver(store, KIND, http_sender(receiver), clock=clock).sent == 0  # not due yet
    clock.advance(2)
    assert deliver(store, KIND, http_sender(receiver), clock=clock).sent == 1
    assert delivered_keys(receiver) == Counter({"paper:1": 2, "paper:2": 1})  # one 503, one 200
    done = row(store, "paper:1")
    assert done.sent_at is not None and done.last_error is None
    clock.advance(3600)
    assert deliver(store, KIND, http_sender(receiver), clock=clock).sent == 0


def test_rate_limited_send_waits_until_the_announced_time(store: Store) -> None:
    clock = Clock()
    with store.transaction() as conn:
        enqueue(conn, KIND, "paper:1", {"text": "P1"}, now=clock())
    retry_at = clock() + dt.timedelta(minutes=10)
    calls: list[str] = []

    def send(items: list[OutboxItem]) -> None:
        calls.append(items[0].event_key)
        if len(calls) == 1:
            raise RateLimitError("slow down", retry_at=retry_at)

    assert deliver(store, KIND, send, clock=clock).retry_later == 1
    clock.advance(9 * 60)
    assert deliver(store, KIND, send, clock=clock).sent == 0
    clock.advance(61)
    assert deliver(store, KIND, send, clock=clock).sent == 1
    assert calls == ["paper:1", "paper:1"]


def test_permanent_failure_is_parked_reported_and_released_on_demand(
    store: Store, receiver: WebhookReceiver
) -> None:
    clock = Clock()
    with store.transaction() as conn:
        enqueue(conn, KIND, "paper:1", {"text": "P1"}, now=clock())
    receiver.fail_next(1, status=401, text="invalid_token")

    report = deliver(store, KIND, http_sender(receiver), clock=clock)
    assert isinstance(report, DeliveryReport)
    assert (report.sent, report.retry_later, report.parked_now, report.parked_total) == (0, 0, 1, 1)
    assert report.parked_keys == ("paper:1",)
    assert report.errors[0].startswith("paper:1 [auth]: ")
    parked = row(store, "paper:1")
    assert parked.failed_at is not None and parked.last_category == "auth"

    clock.advance(10 * 3600)  # kept, reported on every run, never resent by itself
    later = deliver(store, KIND, http_sender(receiver), clock=clock)
    assert (later.sent, later.parked_total, later.parked_keys) == (0, 1, ("paper:1",))
    assert len(receiver.received) == 1

    with store.transaction() as conn:  # the token was fixed
        assert release(conn, KIND, now=clock()) == 1
    assert deliver(store, KIND, http_sender(receiver), clock=clock).sent == 1
    assert delivered_keys(receiver) == Counter({"paper:1": 2})


def test_transient_failures_park_after_max_attempts(store: Store) -> None:
    clock = Clock()
    with store.transaction() as conn:
        enqueue(conn, KIND, "paper:1", {"text": "P1"}, now=clock())

    def down(items: list[OutboxItem]) -> None:
        raise ConnectionError("receiver down")

    reports = []
    for _ in range(3):
        reports.append(deliver(store, KIND, down, clock=clock, max_attempts=3))
        clock.advance(3600)
    assert [(r.retry_later, r.parked_now) for r in reports] == [(1, 0), (1, 0), (0, 1)]
    assert deliver(store, KIND, down, clock=clock, max_attempts=3).parked_total == 1
    assert row(store, "paper:1").attempts == 3


def test_send_may_fail_single_items_of_a_batch(store: Store) -> None:
    with store.transaction() as conn:
        for number in range(4):
            enqueue(conn, KIND, f"paper:{number}", {"text": f"P{number}"})

    def send(items: list[OutboxItem]) -> dict[str, BaseException]:
        return {item.event_key: ConnectionError("reset") for item in items if item.event_key == "paper:2"}

    report = deliver(store, KIND, send, batch_size=3)
    assert (report.sent, report.retry_later) == (3, 1)
    assert row(store, "paper:2").sent_at is None


def test_other_kinds_are_left_alone(store: Store, receiver: WebhookReceiver) -> None:
    with store.transaction() as conn:
        enqueue(conn, "github_dispatch", "dispatch:1", {"text": "dispatch"})
        enqueue(conn, KIND, "paper:1", {"text": "P1"})
    assert deliver(store, KIND, http_sender(receiver)).sent == 1
    assert delivered_keys(receiver) == Counter({"paper:1": 1})
    assert row(store, "dispatch:1").sent_at is None


def test_two_concurrent_deliverers_send_each_item_once(store: Store, receiver: WebhookReceiver) -> None:
    """Both deliverers claim before either sends (a barrier in ``send``): with claims that were
    not exclusive they would both get the oldest items and send them twice."""
    keys = [f"paper:{number:02d}" for number in range(10)]
    with store.transaction() as conn:
        for key in keys:
            enqueue(conn, KIND, key, {"text": key})
    both_claimed = threading.Barrier(2, timeout=30)
    real_send = http_sender(receiver)

    def send(items: list[OutboxItem]) -> None:
        both_claimed.wait()
        real_send(items)

    results: list[DeliveryReport] = []
    threads = [
        threading.Thread(target=lambda: results.append(deliver(store, KIND, send, limit=5, batch_size=5)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(r.sent for r in results) == [5, 5], [r.errors[:1] for r in results]
    assert delivered_keys(receiver) == Counter(dict.fromkeys(keys, 1))
