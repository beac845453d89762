"""Retry decisions driven by the failure category (Airflow 3.3 ``RetryPolicy``)."""

from __future__ import annotations

import datetime as dt
import random
from typing import TYPE_CHECKING, Any

from airflow.sdk import RetryDecision, RetryPolicy

from core.errors import CollectorFailureCategory, RateLimitError, classify_failure

if TYPE_CHECKING:
    from airflow.sdk import Context

__all__ = ["CollectorRetryPolicy"]

_FAIL_NOW = {
    CollectorFailureCategory.AUTH,
    CollectorFailureCategory.PERMISSION,
    CollectorFailureCategory.VALIDATION,
    CollectorFailureCategory.COMMAND,
}
_BACK_OFF = {
    CollectorFailureCategory.NETWORK,
    CollectorFailureCategory.TIMEOUT,
    CollectorFailureCategory.RESOURCE,
}


class CollectorRetryPolicy(RetryPolicy):
    """Retry decisions by failure category (``core.errors.classify_failure``):

    * auth, permission, validation, command: fail now (retrying cannot help).
    * rate_limit: retry at the reset time the source announced.
    * network, timeout, resource: exponential backoff with jitter from ``base_delay_seconds``
      (``base * 2**(try-1)``, capped at ``max_delay_seconds``, +/- ``jitter_fraction``). A full
      disk or an exhausted connection limit does not clear in seconds, so resource failures
      wait as long as network ones (and alert at once: see ``AlertRouting``).
    * conflict (deadlock, serialization failure, lock not available, the collect lock held
      by another run): a short exponential backoff from ``conflict_base_delay_seconds``,
      capped at ``conflict_max_delay_seconds``, with a wide jitter
      (``conflict_jitter_fraction``) so two runs that collided do not retry in lockstep.
    * unknown: the task's own ``retries``/``retry_delay``.
    """

    def __init__(
        self,
        base_delay_seconds: float = 60.0,
        max_delay_seconds: float = 3600.0,
        jitter_fraction: float = 0.2,
        conflict_base_delay_seconds: float = 5.0,
        conflict_max_delay_seconds: float = 300.0,
        conflict_jitter_fraction: float = 0.5,
    ) -> None:
        self.base_delay_seconds = base_delay_seconds
        self.max_delay_seconds = max_delay_seconds
        self.jitter_fraction = jitter_fraction
        self.conflict_base_delay_seconds = conflict_base_delay_seconds
        self.conflict_max_delay_seconds = conflict_max_delay_seconds
        self.conflict_jitter_fraction = conflict_jitter_fraction

    def evaluate(
        self,
        exception: BaseException,
        try_number: int,
        max_tries: int,
        context: Context | None = None,
    ) -> RetryDecision:
        category = classify_failure(exception)
        if category in _FAIL_NOW:
            return RetryDecision.fail(reason=f"{category.value} failures are not retried")
        if category is CollectorFailureCategory.RATE_LIMIT:
            return RetryDecision.retry(
                delay=self.rate_limit_delay(exception),
                reason="rate limited: retrying when the source said the limit resets",
            )
        if category in _BACK_OFF:
            return RetryDecision.retry(
                delay=self.backoff_delay(try_number),
                reason=f"{category.value} failure: exponential backoff",
            )
        if category is CollectorFailureCategory.CONFLICT:
            return RetryDecision.retry(
                delay=self.conflict_delay(try_number),
                reason="conflict with a concurrent writer: short backoff with jitter",
            )
        return RetryDecision.default()

    def rate_limit_delay(self, exception: BaseException) -> dt.timedelta:
        retry_at = getattr(exception, "retry_at", None)
        if retry_at is None and isinstance(exception.__cause__, RateLimitError):
            retry_at = exception.__cause__.retry_at
        if isinstance(retry_at, dt.datetime):
            seconds = (retry_at - dt.datetime.now(dt.UTC)).total_seconds() + 1.0
        else:
            seconds = self.base_delay_seconds
        seconds = min(max(seconds, 1.0), self.max_delay_seconds)
        return dt.timedelta(seconds=seconds + random.uniform(0, 2.0))

    def backoff_delay(self, try_number: int) -> dt.timedelta:
        return _exponential(try_number, self.base_delay_seconds, self.max_delay_seconds, self.jitter_fraction)

    def conflict_delay(self, try_number: int) -> dt.timedelta:
        return _exponential(
            try_number,
            self.conflict_base_delay_seconds,
            self.conflict_max_delay_seconds,
            self.conflict_jitter_fraction,
        )

    def serialize(self) -> dict[str, Any]:
        return {
            "__type": "CollectorRetryPolicy",
            "base_delay_seconds": self.base_delay_seconds,
            "max_delay_seconds": self.max_delay_seconds,
            "jitter_fraction": self.jitter_fraction,
            "conflict_base_delay_seconds": self.conflict_base_delay_seconds,
            "conflict_max_delay_seconds": self.conflict_max_delay_seconds,
            "conflict_jitter_fraction": self.conflict_jitter_fraction,
        }

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> CollectorRetryPolicy:
        return cls(
            base_delay_seconds=float(data.get("base_delay_seconds", 60.0)),
            max_delay_seconds=float(data.get("max_delay_seconds", 3600.0)),
            jitter_fraction=float(data.get("jitter_fraction", 0.2)),
            conflict_base_delay_seconds=float(data.get("conflict_base_delay_seconds", 5.0)),
            conflict_max_delay_seconds=float(data.get("conflict_max_delay_seconds", 300.0)),
            conflict_jitter_fraction=float(data.get("conflict_jitter_fraction", 0.5)),
        )


def _exponential(try_number: int, base: float, cap: float, jitter_fraction: float) -> dt.timedelta:
    """``base * 2**(try-1)`` capped at ``cap``, +/- ``jitter_fraction`` of it, at least 1 s."""
    capped = min(base * (2 ** max(0, try_number - 1)), cap)
    jitter = capped * jitter_fraction * random.uniform(-1.0, 1.0)
    return dt.timedelta(seconds=max(1.0, capped + jitter))
