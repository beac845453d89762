"""The exception a collector task raises to Airflow: sanitized, categorized, retry hint attached."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping

from core.errors import (
    CollectorError,
    CollectorFailureCategory,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
)

__all__ = ["VANISHED_MESSAGE", "CollectorStepFailed", "committed_summary", "to_step_failure"]

#: What a collector task that died without reporting probably went through (it was SIGKILLed:
#: the kernel's out-of-memory killer or an operator; or the machine/worker running it was lost).
VANISHED_MESSAGE = (
    "the task process vanished without reporting: killed from outside (SIGKILL, most often the "
    "out-of-memory killer) or its worker was lost"
)


class CollectorStepFailed(CollectorError):
    """What Airflow sees: no secrets in the message, no chained traceback carrying them."""

    def __init__(
        self,
        message: str,
        *,
        category: CollectorFailureCategory,
        retry_at: dt.datetime | None = None,
        collector: str = "",
        step: str = "",
        committed: Mapping[str, int] | None = None,
        checkpoints_moved: tuple[str, ...] | None = None,
    ) -> None:
        self.category = category
        self.retry_at = retry_at
        self.collector = collector
        self.step = step
        #: Counts the step committed before it failed (``committed_counts`` of the original
        #: exception, when the collector attached them); empty when unknown or nothing.
        self.committed = dict(committed or {})
        #: Partitions whose checkpoint moved during the failed step (``""`` = unpartitioned);
        #: ``None`` when the operator could not tell.
        self.checkpoints_moved = checkpoints_moved
        super().__init__(message)


def committed_summary(committed: Mapping[str, int], checkpoints_moved: tuple[str, ...] | None) -> str | None:
    """One line saying what a failed step left committed, or ``None`` when nothing is known."""
    counts = ", ".join(f"{key}={value}" for key, value in sorted(committed.items()) if value)
    if checkpoints_moved is None and not counts:
        return None
    if checkpoints_moved is None:
        where = "checkpoint movement unknown"
    elif not checkpoints_moved:
        where = "the checkpoint did not move"
    else:
        names = ", ".join(p or "(unpartitioned)" for p in checkpoints_moved[:10])
        more = f" and {len(checkpoints_moved) - 10} more" if len(checkpoints_moved) > 10 else ""
        where = f"the checkpoint advanced for {names}{more}"
    if counts:
        return f"Committed before the failure: {counts}; {where} (a rerun resumes from there)"
    if checkpoints_moved:
        return f"Committed before the failure: {where} (a rerun resumes from there)"
    return f"Committed before the failure: nothing; {where}"


def _committed_counts(exc: BaseException) -> dict[str, int]:
    """``exc.committed_counts`` (a collector may attach what it committed before failing)."""
    raw = getattr(exc, "committed_counts", None)
    if not isinstance(raw, Mapping):
        return {}
    return {str(k): int(v) for k, v in raw.items() if isinstance(v, int) and not isinstance(v, bool)}


def to_step_failure(
    exc: BaseException,
    *,
    collector: str,
    step: str,
    secrets: list[str] | None = None,
    checkpoints_moved: tuple[str, ...] | None = None,
) -> CollectorStepFailed:
    category = classify_failure(exc)
    retry_at = exc.retry_at if isinstance(exc, RateLimitError) else None
    message = sanitize_exception_message(exc, secrets or [])
    return CollectorStepFailed(
        f"[{category.value}] {collector}.{step}: {message}",
        category=category,
        retry_at=retry_at,
        collector=collector,
        step=step,
        committed=_committed_counts(exc),
        checkpoints_moved=checkpoints_moved,
    )
