"""One step's row in ``collector_runs``, written by every operator at its task edge."""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol

from core.collectors import RunContext
from core.protocols import TrackerResult
from core.store import RunRecord, record_run

__all__ = ["record_step_run"]


class _Log(Protocol):
    def warning(self, event: Any, *args: Any, **kw: Any) -> Any: ...


def record_step_run(
    run_context: RunContext,
    ti: Any,
    result: TrackerResult,
    *,
    collector: str,
    step: str,
    status: str,
    started_at: dt.datetime,
    finished_at: dt.datetime,
    partition: str | None,
    log: _Log,
) -> None:
    """Record the step's outcome, then dispose of the run's store.

    A failure to record is logged (its type only) and swallowed: run history must never hide
    the step's own outcome.
    """
    try:
        store = run_context.store()
        store.ensure_core()
        record_run(
            store.engine,
            RunRecord(
                collector=collector,
                step=step,
                status=status,
                started_at=started_at,
                finished_at=finished_at,
                counts=dict(result.counts),
                errors=list(result.errors),
                failure_category=getattr(result, "failure_category", None),
                duration_seconds=result.duration_seconds,
                dag_id=ti.dag_id,
                run_id=ti.run_id,
                task_id=ti.task_id,
                map_index=ti.map_index if ti.map_index is not None else -1,
                partition=partition or "",
                try_number=ti.try_number,
            ),
        )
    except Exception as exc:  # noqa: BLE001 - run history must never hide the step's outcome
        log.warning("Could not record the run in collector_runs: %s", type(exc).__name__)
    finally:
        store_ = run_context._store
        if store_ is not None:
            store_.dispose()
