"""Progress of a long collect in the task log: items so far, rate, current partition.

A collect that pages through an API for an hour must say how far it got, without a line per
page. :func:`collect_progress` (entered by :meth:`AbstractCollector.run` around ``collect``)
installs a :class:`ProgressLog` for the run; every committed page reports to it
(``Checkpointer.commit`` does so for all declared streams; a tracker writing pages another way
calls :func:`report_progress`). A line is logged at most every ``$COLLECTOR_PROGRESS_SECONDS``
(default 30; 0 logs every page)::

    github: 12,400 items so far (commits 11,950, issues 450), 206 items/s, 1m00s, at boostorg/json

Items are the counts that name rows written; bookkeeping counts (``*_ms``, ``*_pages``,
``*_not_modified``, ``http_*``, ``transactions``, ``requests``...) are not items.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "PROGRESS_SECONDS_ENV",
    "ProgressLog",
    "collect_progress",
    "format_count",
    "item_counts",
    "report_progress",
]

log = logging.getLogger(__name__)

PROGRESS_SECONDS_ENV = "COLLECTOR_PROGRESS_SECONDS"
DEFAULT_PROGRESS_SECONDS = 30.0

_BOOKKEEPING_SUFFIXES = ("_ms", "_pages", "_not_modified", "_seconds", "_requests", "_skipped", "_unchanged")
_BOOKKEEPING_KEYS = frozenset(
    {"transactions", "requests", "pages", "partitions", "retries", "migrations_applied"}
)


def format_count(value: int) -> str:
    return f"{value:,}"


def item_counts(counts: Mapping[str, int]) -> dict[str, int]:
    """The counts that name rows written (see the module docstring), largest first."""
    items = {
        key: int(value)
        for key, value in counts.items()
        if value
        and key not in _BOOKKEEPING_KEYS
        and not key.endswith(_BOOKKEEPING_SUFFIXES)
        and not key.startswith("http_")
    }
    return dict(sorted(items.items(), key=lambda kv: (-kv[1], kv[0])))


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m{secs:02d}s" if hours else f"{minutes}m{secs:02d}s"


@dataclasses.dataclass
class ProgressLog:
    collector: str
    interval_seconds: float = DEFAULT_PROGRESS_SECONDS
    clock: Callable[[], float] = time.monotonic
    started: float = dataclasses.field(default=0.0)
    last_logged: float | None = None
    lines: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    def report(self, counts: Mapping[str, int], partition: str | None = None) -> bool:
        """Log a progress line if the interval has passed since the last one; ``True`` if logged."""
        now = self.clock()
        due_from = self.started if self.last_logged is None else self.last_logged
        if now - due_from < self.interval_seconds:
            return False
        self.last_logged = now
        items = item_counts(counts)
        total = sum(items.values())
        elapsed = max(now - self.started, 1e-9)
        top = ", ".join(f"{key} {format_count(value)}" for key, value in list(items.items())[:4])
        log.info(
            "%s: %s items so far%s, %s items/s, %s%s",
            self.collector,
            format_count(total),
            f" ({top})" if top else "",
            format_count(round(total / elapsed)),
            _duration(elapsed),
            f", at {partition}" if partition else "",
        )
        self.lines += 1
        return True


_current: contextvars.ContextVar[ProgressLog | None] = contextvars.ContextVar(
    "collect_progress", default=None
)


def _interval_from_env() -> float:
    raw = os.environ.get(PROGRESS_SECONDS_ENV, "").strip()
    try:
        value = float(raw) if raw else DEFAULT_PROGRESS_SECONDS
    except ValueError:
        log.warning(
            "$%s=%r is not a number of seconds: using %s", PROGRESS_SECONDS_ENV, raw, DEFAULT_PROGRESS_SECONDS
        )
        return DEFAULT_PROGRESS_SECONDS
    return max(value, 0.0)


@contextlib.contextmanager
def collect_progress(collector: str, *, interval_seconds: float | None = None) -> Iterator[ProgressLog]:
    """The run's progress log while the block runs (nested runs get their own)."""
    progress = ProgressLog(collector, _interval_from_env() if interval_seconds is None else interval_seconds)
    token = _current.set(progress)
    try:
        yield progress
    finally:
        _current.reset(token)


def report_progress(counts: Mapping[str, int], partition: str | None = None) -> bool:
    """Report the counts so far to the current run's progress log (no-op outside a run)."""
    progress = _current.get()
    return progress.report(counts, partition) if progress is not None else False
