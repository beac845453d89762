"""Backfill runs have no lateness deadline of their own (docs/operations.md, Lateness deadlines).

Airflow creates the DAG's deadline for every run, backfill runs included; the callback ignores
those, so a 73-run backfill queued behind ``max_active_runs`` pages nobody.
"""

from __future__ import annotations

import asyncio

from airflow_collectors.deadlines import collector_deadline, collector_deadline_missed


def _context(run_id: str, run_type: str) -> dict:
    return {
        "dag_run": {
            "dag_id": "collect_toy",
            "dag_run_id": run_id,
            "run_type": run_type,
            "state": "queued",
            "queued_at": "2026-03-01T12:00:00Z",
        },
        "deadline": {"id": "d1", "deadline_time": "2026-03-01T12:05:00Z"},
    }


def test_a_backfill_run_missing_the_deadline_sends_nothing(alert_env, receiver):
    deadline = collector_deadline(collector="toy", minutes=5, routing=alert_env, store_conn_id="alert_store")
    kwargs = deadline.callback.kwargs
    for day in range(1, 4):
        context = _context(f"backfill__2026-02-0{day}T00:00:00+00:00", "backfill")
        assert asyncio.run(collector_deadline_missed(**kwargs, context=context)) == "skipped: backfill run"
    assert receiver.received == []
    # the scheduled run of the same DAG still is late, and says so
    scheduled = _context("scheduled__2026-03-01T11:00:00+00:00", "scheduled")
    assert asyncio.run(collector_deadline_missed(**kwargs, context=scheduled)) == "sent"
    assert any("Collector toy is late" in r.text for r in receiver.received)
