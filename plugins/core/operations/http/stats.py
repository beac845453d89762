"""Counters of what a client sent and what it cost (for benchmarks, tests and run counts)."""

from __future__ import annotations

import dataclasses
from collections import Counter
from typing import Any

__all__ = ["RequestStats"]


@dataclasses.dataclass
class RequestStats:
    """``requests`` counts every HTTP attempt; ``quota_consuming`` the ones the API charges for.

    What is free is the rate-limit policy's call (:meth:`RateLimitPolicy.charges`): by
    default a 304 and a refusal for an exhausted quota are not charged.
    """

    prefix: str = "http_"  # of the keys :meth:`counts` returns
    requests: int = 0
    not_modified: int = 0
    quota_consuming: int = 0
    retries: int = 0
    transport_errors: int = 0
    rate_limit_waits: int = 0
    bad_headers: int = 0  # rate-limit headers ignored as unusable (each header counted once)
    redirects: int = 0
    slept_seconds: float = 0.0
    by_status: Counter[int] = dataclasses.field(default_factory=Counter)
    by_token: Counter[str] = dataclasses.field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "not_modified": self.not_modified,
            "quota_consuming": self.quota_consuming,
            "retries": self.retries,
            "transport_errors": self.transport_errors,
            "rate_limit_waits": self.rate_limit_waits,
            "bad_headers": self.bad_headers,
            "redirects": self.redirects,
            "slept_seconds": round(self.slept_seconds, 3),
            "by_status": {str(k): v for k, v in sorted(self.by_status.items())},
            "by_token": dict(sorted(self.by_token.items())),
        }

    def counts(self, prefix: str | None = None) -> dict[str, int]:
        """Integer counters for a ``TrackerResult.counts`` mapping."""
        p = self.prefix if prefix is None else prefix
        return {
            f"{p}requests": self.requests,
            f"{p}not_modified": self.not_modified,
            f"{p}quota_consuming": self.quota_consuming,
            f"{p}retries": self.retries,
            f"{p}rate_limit_waits": self.rate_limit_waits,
            f"{p}bad_headers": self.bad_headers,
            f"{p}redirects": self.redirects,
        }
