"""Alert suppression state (``collector_alerts``): rate-limit repeated alerts per collector and category.

One row per ``(collector, category)``. :func:`claim_alert` atomically decides whether an alert
may be sent now: it may when none was sent for that key within the suppression window;
otherwise the attempt is counted as suppressed, and the next alert that does go out reports
how many were held back. The decision is a single conditional ``UPDATE``, so two workers
failing at the same moment (two mapped partitions, a retry racing the deadline callback)
cannot both send. If delivery then fails, :func:`release_alert` gives the slot back so the
next failure alerts instead of being suppressed by an alert nobody received.

Works on PostgreSQL and SQLite; no Airflow imports.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

from sqlalchemy import Connection, Engine, and_, or_, select
from sqlalchemy.dialects import postgresql, sqlite

from core.store.schema import collector_alerts
from core.store.timestamps import as_utc

__all__ = ["AlertClaim", "alert_states", "claim_alert", "release_alert"]

_MESSAGE_LIMIT = 4000


@dataclasses.dataclass(frozen=True)
class AlertClaim:
    """Outcome of :func:`claim_alert`.

    ``send``: deliver now. ``suppressed_before``: alerts held back for this key since the
    previous one was sent (report it in the message). ``previous_sent_at``: the slot's
    previous owner, restored by :func:`release_alert`.
    """

    collector: str
    category: str
    send: bool
    claimed_at: dt.datetime
    suppressed_before: int = 0
    previous_sent_at: dt.datetime | None = None
    last_sent_at: dt.datetime | None = None




def _ensure_row(conn: Connection, collector: str, category: str) -> None:
    values = {"collector": collector, "category": category, "suppressed_count": 0, "sent_count": 0}
    if conn.dialect.name == "postgresql":
        conn.execute(postgresql.insert(collector_alerts).values(**values).on_conflict_do_nothing())
    elif conn.dialect.name == "sqlite":
        conn.execute(sqlite.insert(collector_alerts).values(**values).on_conflict_do_nothing())
    else:  # pragma: no cover - the store only supports the two dialects
        raise NotImplementedError(f"collector_alerts is not implemented for {conn.dialect.name}")


def claim_alert(
    engine: Engine,
    collector: str,
    category: str,
    *,
    window: dt.timedelta,
    kind: str = "",
    dag_id: str | None = None,
    run_id: str | None = None,
    message: str = "",
    now: dt.datetime | None = None,
) -> AlertClaim:
    """Decide whether an alert for ``(collector, category)`` may be sent now, and record it.

    ``window`` is the suppression period (``alerts.repeat_suppression_minutes``); a zero
    window never suppresses. ``message`` must already be sanitized: it is stored.
    """
    at = as_utc(now) or dt.datetime.now(dt.UTC)
    cutoff = at - window
    key = and_(collector_alerts.c.collector == collector, collector_alerts.c.category == category)
    details = {
        "last_seen_at": at,
        "last_kind": kind[:40] or None,
        "last_dag_id": dag_id,
        "last_run_id": run_id,
        "last_message": message[:_MESSAGE_LIMIT] or None,
    }
    with engine.begin() as conn:
        _ensure_row(conn, collector, category)
        before = conn.execute(
            select(collector_alerts.c.last_sent_at, collector_alerts.c.suppressed_count).where(key)
        ).one()
        previous = as_utc(before.last_sent_at)
        taken = conn.execute(
            collector_alerts.update()
            .where(
                key,
                or_(
                    collector_alerts.c.last_sent_at.is_(None),
                    collector_alerts.c.last_sent_at <= cutoff,
                    # A clock that went backwards must not silence a collector for ever.
                    collector_alerts.c.last_sent_at > at,
                ),
            )
            .values(
                last_sent_at=at,
                suppressed_count=0,
                sent_count=collector_alerts.c.sent_count + 1,
                **details,
            )
        ).rowcount
        if taken == 1:
            return AlertClaim(
                collector,
                category,
                send=True,
                claimed_at=at,
                suppressed_before=int(before.suppressed_count or 0),
                previous_sent_at=previous,
                last_sent_at=at,
            )
        conn.execute(
            collector_alerts.update()
            .where(key)
            .values(suppressed_count=collector_alerts.c.suppressed_count + 1, **details)
        )
        return AlertClaim(collector, category, send=False, claimed_at=at, last_sent_at=previous)


def release_alert(engine: Engine, claim: AlertClaim) -> bool:
    """Undo a claim whose alert could not be delivered (only if nobody claimed the slot since)."""
    if not claim.send:
        return False
    with engine.begin() as conn:
        released = conn.execute(
            collector_alerts.update()
            .where(
                collector_alerts.c.collector == claim.collector,
                collector_alerts.c.category == claim.category,
                collector_alerts.c.last_sent_at == claim.claimed_at,
            )
            .values(
                last_sent_at=claim.previous_sent_at,
                suppressed_count=claim.suppressed_before,
                sent_count=collector_alerts.c.sent_count - 1,
            )
        ).rowcount
    return released == 1


def alert_states(engine: Engine, collector: str | None = None) -> list[dict[str, object]]:
    """Rows of ``collector_alerts`` (timestamps as aware UTC), for status output and tests."""
    query = select(collector_alerts).order_by(collector_alerts.c.collector, collector_alerts.c.category)
    if collector is not None:
        query = query.where(collector_alerts.c.collector == collector)
    with engine.connect() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    for row in rows:
        for column in ("last_sent_at", "last_seen_at"):
            value = row.get(column)
            row[column] = as_utc(value) if isinstance(value, dt.datetime) else value
    return rows
