"""The exception a collector task raises to Airflow: sanitized, categorized, retry hint attached."""

from __future__ import annotations

import datetime as dt

from core.errors import (
    CollectorError,
    CollectorFailureCategory,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
)

__all__ = ["CollectorStepFailed", "to_step_failure"]


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
    ) -> None:
        self.category = category
        self.retry_at = retry_at
        self.collector = collector
        self.step = step
        super().__init__(message)


def to_step_failure(
    exc: BaseException, *, collector: str, step: str, secrets: list[str] | None = None
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
    )
