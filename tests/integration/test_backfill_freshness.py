"""Freshness ("last success") is about forward runs: backfill successes do not refresh it.

A backfill re-collects the past and never moves a forward checkpoint; counting its successes
hid a collector whose scheduled runs all failed (docs/operations.md, Freshness).
"""

from __future__ import annotations

import datetime as dt

from core.store import RunRecord, Store, record_run
from core.store.status import CollectorExpectation, CollectorState, collector_status

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def _collect(store: Store, status: str, hours_ago: float, run_id: str) -> None:
    finished = NOW - dt.timedelta(hours=hours_ago)
    record_run(
        store.engine,
        RunRecord(
            collector="discord",
            step="collect",
            status=status,
            started_at=finished - dt.timedelta(seconds=30),
            finished_at=finished,
            run_id=run_id,
            failure_category="network" if status == "failed" else None,
        ),
    )


def test_backfill_successes_do_not_refresh_freshness(store: Store):
    store.ensure_core()
    _collect(store, "success", 5, "scheduled__2026-03-10T06:00:00+00:00")
    for hours_ago in (4, 3, 2, 1):
        _collect(store, "failed", hours_ago, f"scheduled__2026-03-10T{12 - hours_ago:02d}:00:00+00:00")
    for day in range(1, 8):  # a backfill that succeeds while the scheduled runs fail
        _collect(store, "success", 0.5 - day / 100, f"backfill__2026-02-0{day}T00:00:00+00:00")
    expectation = CollectorExpectation("discord", dt.timedelta(hours=1))
    (status,) = collector_status(store.engine, [expectation], now=NOW)
    assert status.last_success_run_id == "scheduled__2026-03-10T06:00:00+00:00"
    assert status.last_success_at == NOW - dt.timedelta(hours=5)
    assert status.state is CollectorState.STALE and status.stale


def test_manual_runs_count_as_forward_runs(store: Store):
    store.ensure_core()
    _collect(store, "success", 0.2, "manual__2026-03-10T11:48:00+00:00")
    (status,) = collector_status(
        store.engine, [CollectorExpectation("discord", dt.timedelta(hours=1))], now=NOW
    )
    assert status.last_success_run_id == "manual__2026-03-10T11:48:00+00:00" and not status.stale
