"""The outbox: side effects that must happen once (dispatches, notifications, publishing).

A collector enqueues the side effect in the SAME transaction as the rows that cause it
(:func:`enqueue`), so either both are stored or neither is. After the commit,
:func:`deliver` sends what is due and marks it sent; anything not marked sent (the process
died between the commit and the send, the receiver failed) is sent by the next call.

Delivery rules:

- **Idempotent enqueue.** ``event_key`` is unique: enqueuing a key again changes nothing
  (the first payload stays), so a re-read batch never doubles a side effect.
- **Claim, then send outside any transaction.** :func:`deliver` claims due items in one short
  transaction (PostgreSQL: ``FOR UPDATE SKIP LOCKED``; SQLite: one writer at a time) by
  moving their ``next_attempt_at`` a lease into the future and stamping a claim token, then
  sends them with no transaction open (a slow receiver never blocks the collectors' writers),
  then marks each outcome in its own short transaction. Two deliverers never claim the same
  item; a deliverer killed during a send leaves its claim to expire after the lease, and the
  item is sent again then (at-least-once: ``event_key`` travels with the item so a receiver
  can drop the rare repeat; a kill before the send, the usual case, sends exactly once).
- **Retries by category** (:func:`core.errors.classify_failure`): a failed send bumps
  ``attempts``, records the category and the sanitized error, and backs off exponentially
  (``rate_limit``: until the time the receiver announced, when it did). Categories that a
  resend cannot fix (``auth``, ``permission``, ``validation``: the same payload with the same
  credentials will be refused again) park the item at once (``failed_at``), as does running
  out of ``max_attempts``. Parked items are kept, never sent again by themselves, and
  reported by every :func:`deliver` of their kind until someone fixes the cause and calls
  :func:`release`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, and_, func, select, update
from sqlalchemy.dialects import postgresql, sqlite

from core.errors import (
    CollectorFailureCategory,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
)
from core.store.schema import core_outbox
from core.store.store import Store
from core.store.timestamps import as_utc

__all__ = [
    "PERMANENT_CATEGORIES",
    "DeliveryReport",
    "OutboxItem",
    "SendResult",
    "deliver",
    "enqueue",
    "mark_failed",
    "mark_sent",
    "pending",
    "release",
]

log = logging.getLogger(__name__)

PERMANENT_CATEGORIES = frozenset(
    {
        CollectorFailureCategory.AUTH,
        CollectorFailureCategory.PERMISSION,
        CollectorFailureCategory.VALIDATION,
    }
)
"""Failures a resend cannot fix: the item is parked (kept, reported, not retried)."""

BACKOFF_BASE_SECONDS = 30.0
BACKOFF_CAP_SECONDS = 3600.0
DEFAULT_MAX_ATTEMPTS = 20
DEFAULT_LEASE_SECONDS = 300.0
_ERROR_CHARS = 2000

Clock = Callable[[], dt.datetime]
SendResult = Mapping[str, BaseException] | None
"""What ``send`` returns: ``None`` when every item was delivered, or the failures by
``event_key`` (items not named were delivered). Raising fails every item of the call."""


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclasses.dataclass(frozen=True)
class OutboxItem:
    event_key: str
    kind: str
    payload: Any
    attempts: int
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class DeliveryReport:
    """One :func:`deliver` call: what it sent, what waits for a retry, what is parked."""

    kind: str
    sent: int = 0
    retry_later: int = 0
    parked_now: int = 0
    parked_total: int = 0
    parked_keys: tuple[str, ...] = ()
    """Keys of every parked item of the kind (oldest first, at most 100)."""
    errors: tuple[str, ...] = ()
    """Sanitized ``key [category]: error`` lines of the failures of this call."""

    @property
    def counts(self) -> dict[str, int]:
        return {
            "outbox_sent": self.sent,
            "outbox_retry_later": self.retry_later,
            "outbox_parked_now": self.parked_now,
            "outbox_parked": self.parked_total,
        }


# --------------------------------------------------------------------------- helpers


def enqueue(conn: Connection, kind: str, key: str, payload: Any, *, now: dt.datetime | None = None) -> bool:
    """Add a side effect inside the caller's transaction; True when ``key`` was new.

    Enqueuing a key that exists (sent or not) changes nothing: the first payload stays.
    ``payload`` must be JSON-serialisable.
    """
    if not key:
        raise ValueError("outbox event_key must be a non-empty string")
    moment = now or _utcnow()
    values = {
        "event_key": key,
        "kind": kind,
        "payload": payload,
        "attempts": 0,
        "created_at": moment,
        "next_attempt_at": moment,
    }
    dialect = conn.dialect.name
    if dialect == "postgresql":
        statement: Any = (
            postgresql.insert(core_outbox)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[core_outbox.c.event_key])
        )
    elif dialect == "sqlite":
        statement = (
            sqlite.insert(core_outbox)
            .values(**values)
            .on_conflict_do_nothing(index_elements=[core_outbox.c.event_key])
        )
    else:
        raise NotImplementedError(f"the outbox is not implemented for {dialect}")
    return bool(conn.execute(statement).rowcount)


def _due(kind: str, now: dt.datetime) -> Any:
    c = core_outbox.c
    return and_(c.kind == kind, c.sent_at.is_(None), c.failed_at.is_(None), c.next_attempt_at <= now)


def _item(row: Any) -> OutboxItem:
    return OutboxItem(row.event_key, row.kind, row.payload, row.attempts, as_utc(row.created_at))


def pending(
    conn: Connection, kind: str, limit: int = 100, *, now: dt.datetime | None = None
) -> list[OutboxItem]:
    """Items of ``kind`` due now (not sent, not parked, past their back-off), oldest first.

    On PostgreSQL the rows are locked ``FOR UPDATE SKIP LOCKED`` until the caller's
    transaction ends, so concurrent callers get disjoint items; SQLite has one writer.
    """
    c = core_outbox.c
    query = (
        select(core_outbox)
        .where(_due(kind, now or _utcnow()))
        .order_by(c.created_at, c.event_key)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return [_item(row) for row in conn.execute(query)]


def mark_sent(conn: Connection, key: str, *, now: dt.datetime | None = None) -> None:
    conn.execute(
        update(core_outbox)
        .where(core_outbox.c.event_key == key)
        .values(sent_at=now or _utcnow(), claim_token=None, last_error=None)
    )


def backoff_seconds(attempts: int) -> float:
    """Exponential back-off after ``attempts`` failures: 30 s, 60 s, 120 s, ... capped at one hour."""
    return min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** max(0, attempts - 1))


def mark_failed(
    conn: Connection,
    key: str,
    exc: BaseException,
    *,
    now: dt.datetime | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    extra_secrets: Iterable[str] = (),
) -> CollectorFailureCategory:
    """Record a failed send of ``key``: category, sanitized error, one more attempt, and
    either the next attempt time (back-off) or, for a permanent category or the last allowed
    attempt, a parked item. Returns the category."""
    moment = now or _utcnow()
    category = classify_failure(exc)
    message = sanitize_exception_message(exc, extra_secrets)[:_ERROR_CHARS]
    c = core_outbox.c
    attempts = conn.execute(select(c.attempts).where(c.event_key == key)).scalar_one() + 1
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_error": message,
        "last_category": category.value,
        "claim_token": None,
    }
    if category in PERMANENT_CATEGORIES or attempts >= max_attempts:
        values["failed_at"] = moment
    else:
        wait = dt.timedelta(seconds=backoff_seconds(attempts))
        retry_at = _announced_retry(exc)
        values["next_attempt_at"] = max(moment + wait, retry_at) if retry_at else moment + wait
    conn.execute(update(core_outbox).where(c.event_key == key).values(**values))
    return category


def _announced_retry(exc: BaseException) -> dt.datetime | None:
    retry_at = getattr(exc, "retry_at", None) if isinstance(exc, RateLimitError) else None
    return as_utc(retry_at) if isinstance(retry_at, dt.datetime) else None


def release(
    conn: Connection, kind: str, keys: Sequence[str] | None = None, *, now: dt.datetime | None = None
) -> int:
    """Un-park items of ``kind`` (all, or ``keys``) once their cause is fixed: due now, attempts
    reset. Returns how many were released."""
    c = core_outbox.c
    condition = and_(c.kind == kind, c.failed_at.is_not(None), c.sent_at.is_(None))
    if keys is not None:
        condition = and_(condition, c.event_key.in_(list(keys)))
    result = conn.execute(
        update(core_outbox)
        .where(condition)
        .values(failed_at=None, attempts=0, next_attempt_at=now or _utcnow(), claim_token=None)
    )
    return int(result.rowcount)


# --------------------------------------------------------------------------- driver


def _claim(store: Store, kind: str, limit: int, now: dt.datetime, lease: dt.timedelta) -> list[OutboxItem]:
    """Take up to ``limit`` due items for this deliverer: one short transaction that moves them a
    lease into the future (so no other deliverer sees them as due) under a fresh claim token."""
    token = uuid.uuid4().hex
    c = core_outbox.c
    with store.transaction() as conn:
        due = select(c.event_key).where(_due(kind, now)).order_by(c.created_at, c.event_key).limit(limit)
        if conn.dialect.name == "postgresql":
            # Two statements: inside ``UPDATE ... WHERE key IN (SELECT ... LIMIT n FOR UPDATE
            # SKIP LOCKED)`` PostgreSQL may rescan the subquery per row, skip the rows the
            # statement just updated and so claim more than ``limit``.
            keys = conn.execute(due.with_for_update(skip_locked=True)).scalars().all()
            target: Any = c.event_key.in_(keys)
        else:
            # SQLite: one statement, so the read and the write happen under the write lock
            # (a read-then-write transaction could act on a snapshot another writer changed).
            target = c.event_key.in_(due.scalar_subquery())
        conn.execute(
            update(core_outbox)
            .where(target, _due(kind, now))
            .values(claim_token=token, next_attempt_at=now + lease)
        )
        rows = conn.execute(
            select(core_outbox).where(c.claim_token == token).order_by(c.created_at, c.event_key)
        )
        return [_item(row) for row in rows]


def deliver(
    store: Store,
    kind: str,
    send: Callable[[list[OutboxItem]], SendResult],
    *,
    limit: int = 100,
    batch_size: int = 1,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    lease_seconds: float = DEFAULT_LEASE_SECONDS,
    clock: Clock = _utcnow,
    extra_secrets: Iterable[str] = (),
) -> DeliveryReport:
    """Send up to ``limit`` due items of ``kind`` through ``send``, ``batch_size`` at a time,
    after (never inside) the transaction that enqueued them; mark each outcome.

    Call it after the batch commits, and again on every run: whatever a crash or a failure
    left unsent is picked up. The report counts what happened and lists parked items.
    """
    if batch_size < 1 or limit < 1:
        raise ValueError("deliver needs limit >= 1 and batch_size >= 1")
    secrets = [s for s in extra_secrets if s]
    lease = dt.timedelta(seconds=lease_seconds)
    items = _claim(store, kind, limit, as_utc(clock()), lease)
    sent = retry_later = parked_now = 0
    errors: list[str] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        failures: dict[str, BaseException] = {}
        try:
            outcome = send(chunk)
        except Exception as exc:  # noqa: BLE001 - a failed send is recorded, the next items still go
            failures = {item.event_key: exc for item in chunk}
        else:
            failures = dict(outcome or {})
        moment = as_utc(clock())
        with store.transaction() as conn:
            for item in chunk:
                exc = failures.get(item.event_key)
                if exc is None:
                    mark_sent(conn, item.event_key, now=moment)
                    sent += 1
                    continue
                category = mark_failed(
                    conn, item.event_key, exc, now=moment, max_attempts=max_attempts, extra_secrets=secrets
                )
                parked = category in PERMANENT_CATEGORIES or item.attempts + 1 >= max_attempts
                parked_now += parked
                retry_later += not parked
                line = f"{item.event_key} [{category.value}]: {sanitize_exception_message(exc, secrets)}"
                errors.append(line[:_ERROR_CHARS])
                log.warning(
                    "Outbox %s: sending %s failed (%s, attempt %d)%s",
                    kind,
                    item.event_key,
                    category.value,
                    item.attempts + 1,
                    ", parked until released" if parked else ", retried later",
                )
    parked_keys, parked_total = _parked(store, kind)
    if parked_total:
        log.error(
            "Outbox %s: %d item(s) parked after a failure a resend cannot fix (first: %s); "
            "fix the cause, then release them",
            kind,
            parked_total,
            ", ".join(parked_keys[:5]),
        )
    return DeliveryReport(kind, sent, retry_later, parked_now, parked_total, parked_keys, tuple(errors))


def _parked(store: Store, kind: str) -> tuple[tuple[str, ...], int]:
    c = core_outbox.c
    parked = and_(c.kind == kind, c.failed_at.is_not(None), c.sent_at.is_(None))
    with store.engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(core_outbox).where(parked)).scalar_one()
        keys = conn.execute(
            select(c.event_key).where(parked).order_by(c.created_at, c.event_key).limit(100)
        ).scalars()
        return tuple(keys), int(total)
