"""Run history: one row per collector step attempt (``collector_runs``)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence

from sqlalchemy import Engine, func, select, text

from core.store.schema import collector_runs

__all__ = ["RunRecord", "latest_runs", "record_run", "record_run_once"]


@dataclasses.dataclass(frozen=True)
class RunRecord:
    collector: str
    step: str
    status: str
    started_at: dt.datetime
    finished_at: dt.datetime
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    errors: Sequence[str] = ()
    failure_category: str | None = None
    duration_seconds: float | None = None
    dag_id: str | None = None
    run_id: str | None = None
    task_id: str | None = None
    map_index: int = -1
    partition: str = ""
    try_number: int | None = None


def record_run(engine: Engine, record: RunRecord) -> None:
    with engine.begin() as conn:
        values = dataclasses.asdict(record)
        values["counts"] = dict(record.counts)
        values["errors"] = list(record.errors)
        conn.execute(collector_runs.insert().values(**values))


def record_run_once(engine: Engine, record: RunRecord) -> bool:
    """Insert ``record`` unless a row for the same try already exists; True when this call wrote it.

    The try is (dag_id, run_id, task_id, map_index, try_number). Two reporters of one try (a
    watch process and Airflow's heartbeat-timeout callback, possibly sent twice) record it
    once; on PostgreSQL a transaction-scoped advisory lock on the try makes check-and-insert
    atomic, SQLite serialises writers itself.
    """
    key = f"collector_runs:{record.dag_id}:{record.run_id}:{record.task_id}:{record.map_index}:{record.try_number}"
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": key})
        same_try = (
            select(func.count())
            .select_from(collector_runs)
            .where(
                collector_runs.c.dag_id == record.dag_id,
                collector_runs.c.run_id == record.run_id,
                collector_runs.c.task_id == record.task_id,
                collector_runs.c.map_index == record.map_index,
                collector_runs.c.try_number == record.try_number,
            )
        )
        if conn.execute(same_try).scalar_one():
            return False
        values = dataclasses.asdict(record)
        values["counts"] = dict(record.counts)
        values["errors"] = list(record.errors)
        conn.execute(collector_runs.insert().values(**values))
        return True


def latest_runs(engine: Engine, collector: str | None = None, limit: int = 50) -> list[dict[str, object]]:
    query = select(collector_runs).order_by(collector_runs.c.id.desc()).limit(limit)
    if collector is not None:
        query = query.where(collector_runs.c.collector == collector)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]


def count_runs(engine: Engine, collector: str, status: str | None = None) -> int:
    query = select(func.count()).select_from(collector_runs).where(collector_runs.c.collector == collector)
    if status is not None:
        query = query.where(collector_runs.c.status == status)
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())
