"""Collector health from the store: last success, last failure, counts, checkpoints, freshness.

Reads ``collector_runs`` and ``collector_checkpoints`` (no Airflow): the health DAG and
``python -m core.cli status`` share it. A collector is *stale* when it has had no successful
``collect`` step within its expected interval (``expected_interval_hours`` in
``collectors.yaml``, by default twice the longest gap between two scheduled runs).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from enum import StrEnum
from zoneinfo import ZoneInfo

from croniter import croniter
from sqlalchemy import ColumnElement, Engine, Subquery, func, select

from core.config import CRON_PRESETS, CollectorsFile
from core.store.schema import collector_checkpoints, collector_runs
from core.store.timestamps import as_utc

__all__ = [
    "CollectorExpectation",
    "CollectorState",
    "CollectorStatus",
    "collector_status",
    "expectations_from_settings",
    "expected_interval_from_schedule",
    "format_age",
    "format_status_table",
    "status_to_dict",
]

_SAMPLES = 60


class CollectorState(StrEnum):
    OK = "ok"
    STALE = "stale"  # no success within the expected interval
    PENDING = "pending"  # never succeeded, but still inside its first expected interval
    UNSCHEDULED = "unscheduled"  # manual-only collector without an expected interval
    UNCONFIGURED = "unconfigured"  # history in the store, but no longer in collectors.yaml


@dataclasses.dataclass(frozen=True)
class CollectorExpectation:
    """What the config says about one collector.

    ``name`` is the config entry's key, which is also what its runs and checkpoints are stored
    under. ``active_since`` (the start date) bounds the first interval of a collector that
    never succeeded.
    """

    name: str
    expected_interval: dt.timedelta | None
    active_since: dt.datetime | None = None


@dataclasses.dataclass(frozen=True)
class CollectorStatus:
    collector: str
    state: CollectorState
    expected_interval: dt.timedelta | None
    last_success_at: dt.datetime | None = None
    last_success_run_id: str | None = None
    last_failure_at: dt.datetime | None = None
    last_failure_category: str | None = None
    last_failure_step: str | None = None
    last_failure_partition: str | None = None
    last_failure_error: str | None = None
    successes: int = 0
    failures: int = 0
    failures_by_category: Mapping[str, int] = dataclasses.field(default_factory=dict)
    checkpoints: int = 0
    checkpoint_updated_at: dt.datetime | None = None
    overdue_by: dt.timedelta | None = None

    @property
    def stale(self) -> bool:
        return self.state is CollectorState.STALE


# --------------------------------------------------------------------------- expectations


def expected_interval_from_schedule(
    schedule: str | None, timezone: str = "UTC", *, factor: float = 2.0
) -> dt.timedelta | None:
    """``factor`` x the longest gap between consecutive runs of ``schedule`` (cron or preset).

    ``None`` for manual-only collectors. The longest gap, not the first, so a weekday-only
    schedule is not reported stale every Monday.
    """
    if schedule is None:
        return None
    expression = CRON_PRESETS.get(schedule, schedule)
    if not croniter.is_valid(expression):
        return None
    start = dt.datetime(2026, 1, 1, tzinfo=ZoneInfo(timezone))
    runs = croniter(expression, start)
    previous = runs.get_next(dt.datetime)
    longest = dt.timedelta(0)
    for _ in range(_SAMPLES):
        current = runs.get_next(dt.datetime)
        longest = max(longest, current - previous)
        previous = current
    return longest * factor if longest else None


def expectations_from_settings(settings: CollectorsFile) -> list[CollectorExpectation]:
    """One expectation per enabled collector of ``collectors.yaml``."""
    expectations = []
    for name, entry in settings.collectors.items():
        if not entry.enabled:
            continue
        if entry.expected_interval_hours is not None:
            interval: dt.timedelta | None = dt.timedelta(hours=entry.expected_interval_hours)
        else:
            interval = expected_interval_from_schedule(entry.cron_schedule, settings.defaults.timezone)
        start = entry.start_date
        expectations.append(
            CollectorExpectation(
                name=name,
                expected_interval=interval,
                active_since=dt.datetime(start.year, start.month, start.day, tzinfo=dt.UTC),
            )
        )
    return expectations


# --------------------------------------------------------------------------- queries


def _latest(status: str, *extra_where: ColumnElement[bool]) -> Subquery:
    """Subquery: (collector, latest finished_at) of rows with ``status``."""
    runs = collector_runs.c
    return (
        select(runs.collector, func.max(runs.finished_at).label("finished_at"))
        .where(runs.status == status, *extra_where)
        .group_by(runs.collector)
        .subquery()
    )


#: Run ids Airflow gives backfill runs (``DagRunType.BACKFILL_JOB``: ``backfill__<logical date>``).
BACKFILL_RUN_ID_PREFIX = "backfill__"


def _not_backfill() -> ColumnElement[bool]:
    """Freshness is about the forward (scheduled or manual) runs: a backfill re-collects the
    past and moves no forward checkpoint, so its success says nothing about new activity."""
    run_id = collector_runs.c.run_id
    return run_id.is_(None) | ~run_id.startswith(BACKFILL_RUN_ID_PREFIX, autoescape=True)


def _last_successes(engine: Engine) -> dict[str, tuple[dt.datetime | None, str | None]]:
    runs = collector_runs.c
    latest = _latest("success", runs.step == "collect", _not_backfill())
    query = (
        select(runs.collector, runs.finished_at, runs.run_id)
        .join(latest, (latest.c.collector == runs.collector) & (latest.c.finished_at == runs.finished_at))
        .where(runs.status == "success", runs.step == "collect", _not_backfill())
        .order_by(runs.id)
    )
    with engine.connect() as conn:
        return {row.collector: (as_utc(row.finished_at), row.run_id) for row in conn.execute(query)}


@dataclasses.dataclass(frozen=True)
class _Failure:
    finished_at: dt.datetime | None = None
    category: str | None = None
    step: str | None = None
    partition: str | None = None
    error: str | None = None


def _last_failures(engine: Engine) -> dict[str, _Failure]:
    runs = collector_runs.c
    latest = _latest("failed")
    query = (
        select(
            runs.collector, runs.finished_at, runs.failure_category, runs.step, runs.partition, runs.errors
        )
        .join(latest, (latest.c.collector == runs.collector) & (latest.c.finished_at == runs.finished_at))
        .where(runs.status == "failed")
        .order_by(runs.id)
    )
    failures = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            errors = row.errors if isinstance(row.errors, list) else []
            failures[row.collector] = _Failure(
                finished_at=as_utc(row.finished_at),
                category=row.failure_category,
                step=row.step,
                partition=row.partition or None,
                error=str(errors[-1]) if errors else None,
            )
    return failures


@dataclasses.dataclass
class _Counts:
    ok: int = 0
    failed: int = 0
    by_category: dict[str, int] = dataclasses.field(default_factory=dict)


def _counts(engine: Engine, since: dt.datetime) -> dict[str, _Counts]:
    runs = collector_runs.c
    query = (
        select(runs.collector, runs.status, runs.step, runs.failure_category, func.count().label("n"))
        .where(runs.finished_at >= since)
        .group_by(runs.collector, runs.status, runs.step, runs.failure_category)
    )
    counts: dict[str, _Counts] = {}
    with engine.connect() as conn:
        for row in conn.execute(query):
            entry = counts.setdefault(row.collector, _Counts())
            if row.status == "success" and row.step == "collect":
                entry.ok += int(row.n)
            elif row.status == "failed":
                entry.failed += int(row.n)
                category = row.failure_category or "unknown"
                entry.by_category[category] = entry.by_category.get(category, 0) + int(row.n)
    return counts


def _checkpoints(engine: Engine) -> dict[str, tuple[int, dt.datetime | None]]:
    cps = collector_checkpoints.c
    query = select(
        cps.collector, func.count().label("n"), func.max(cps.updated_at).label("updated")
    ).group_by(cps.collector)
    with engine.connect() as conn:
        return {row.collector: (int(row.n), as_utc(row.updated)) for row in conn.execute(query)}


def collector_status(
    engine: Engine,
    expectations: Iterable[CollectorExpectation],
    *,
    now: dt.datetime | None = None,
    window: dt.timedelta = dt.timedelta(days=7),
    include_unconfigured: bool = True,
) -> list[CollectorStatus]:
    """Status of every expected collector (plus, by default, collectors only the store knows).

    ``successes``/``failures`` count step attempts finished within ``window`` (successes:
    ``collect`` steps; failures: any step, also by category).
    """
    at = as_utc(now) or dt.datetime.now(dt.UTC)
    expected = {e.name: e for e in expectations}
    successes = _last_successes(engine)
    failures = _last_failures(engine)
    counts = _counts(engine, at - window)
    checkpoints = _checkpoints(engine)
    names = list(expected)
    if include_unconfigured:
        names += sorted((set(successes) | set(failures) | set(counts)) - set(expected))
    statuses = []
    for name in names:
        expectation = expected.get(name)
        success_at, success_run = successes.get(name, (None, None))
        failure = failures.get(name) or _Failure()
        count = counts.get(name) or _Counts()
        checkpoint_count, checkpoint_at = checkpoints.get(name, (0, None))
        state, overdue = _freshness(expectation, success_at, at)
        statuses.append(
            CollectorStatus(
                collector=name,
                state=state,
                expected_interval=expectation.expected_interval if expectation else None,
                last_success_at=success_at,
                last_success_run_id=success_run,
                last_failure_at=failure.finished_at,
                last_failure_category=failure.category,
                last_failure_step=failure.step,
                last_failure_partition=failure.partition,
                last_failure_error=failure.error,
                successes=count.ok,
                failures=count.failed,
                failures_by_category=dict(count.by_category),
                checkpoints=checkpoint_count,
                checkpoint_updated_at=checkpoint_at,
                overdue_by=overdue,
            )
        )
    return statuses


def _freshness(
    expectation: CollectorExpectation | None, success_at: dt.datetime | None, now: dt.datetime
) -> tuple[CollectorState, dt.timedelta | None]:
    if expectation is None:
        return CollectorState.UNCONFIGURED, None
    interval = expectation.expected_interval
    if interval is None:
        return CollectorState.UNSCHEDULED, None
    if success_at is not None:
        overdue = now - success_at - interval
        return (CollectorState.STALE, overdue) if overdue > dt.timedelta(0) else (CollectorState.OK, None)
    since = expectation.active_since
    if since is None or now - since > interval:
        return CollectorState.STALE, (now - since - interval) if since else None
    return CollectorState.PENDING, None


# --------------------------------------------------------------------------- rendering


def format_age(value: dt.datetime | None, now: dt.datetime) -> str:
    if value is None:
        return "never"
    return f"{_duration(now - value)} ago"


def _duration(delta: dt.timedelta | None) -> str:
    if delta is None:
        return "-"
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return "0s"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            value = seconds / size
            return f"{value:.0f}{unit}" if value >= 10 or value == int(value) else f"{value:.1f}{unit}"
    return f"{seconds}s"


_HEADERS: tuple[str, ...] = (
    "COLLECTOR",
    "STATE",
    "LAST SUCCESS",
    "LAST FAILURE",
    "CATEGORY",
    "OK",
    "FAILED",
    "CHECKPOINTS",
    "EXPECTED",
)


def format_status_table(statuses: Sequence[CollectorStatus], now: dt.datetime | None = None) -> str:
    """A fixed-width table, one row per collector (counts cover the status window)."""
    at = as_utc(now) or dt.datetime.now(dt.UTC)
    rows: list[tuple[str, ...]] = [_HEADERS]
    for status in statuses:
        state = status.state.value.upper() if status.stale else status.state.value
        if status.stale and status.overdue_by is not None:
            state += f" (+{_duration(status.overdue_by)})"
        failure = format_age(status.last_failure_at, at) if status.last_failure_at else "-"
        category = status.last_failure_category or "-"
        if status.last_failure_step:
            category += f" @{status.last_failure_step}"
            if status.last_failure_partition:
                category += f"[{status.last_failure_partition}]"
        checkpoints = (
            f"{status.checkpoints} ({format_age(status.checkpoint_updated_at, at)})"
            if status.checkpoints
            else "0"
        )
        rows.append(
            (
                status.collector,
                state,
                format_age(status.last_success_at, at),
                failure,
                category,
                str(status.successes),
                _failed_column(status),
                checkpoints,
                _duration(status.expected_interval) if status.expected_interval else "-",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    lines = [
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip() for row in rows
    ]
    return "\n".join(lines)


def _failed_column(status: CollectorStatus) -> str:
    if not status.failures:
        return "0"
    detail = ",".join(f"{k}:{v}" for k, v in sorted(status.failures_by_category.items()))
    return f"{status.failures} ({detail})"


def status_to_dict(status: CollectorStatus) -> dict[str, object]:
    """JSON-friendly form (ISO timestamps, seconds) for ``--json`` and XCom."""
    out: dict[str, object] = {}
    for field in dataclasses.fields(status):
        value = getattr(status, field.name)
        if isinstance(value, dt.datetime):
            value = value.isoformat()
        elif isinstance(value, dt.timedelta):
            value = value.total_seconds()
        elif isinstance(value, StrEnum):
            value = value.value
        elif isinstance(value, Mapping):
            value = dict(value)
        out[field.name] = value
    return out
