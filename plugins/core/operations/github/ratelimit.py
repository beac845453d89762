"""Reading GitHub's rate-limit signals from response headers and bodies."""

from __future__ import annotations

import dataclasses
import email.utils
from collections.abc import Mapping

__all__ = ["RateLimitSnapshot", "mentions_secondary_limit", "retry_after_seconds"]

_SECONDARY_MARKERS = ("secondary rate limit", "abuse detection")


def _as_int(value: str | None) -> int | None:
    if value is None:
        return None
    try:
        return int(value.strip())
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class RateLimitSnapshot:
    """The ``X-RateLimit-*`` headers of one response. ``reset_at`` is epoch seconds."""

    resource: str
    limit: int | None
    remaining: int | None
    reset_at: float | None
    used: int | None

    @classmethod
    def from_headers(cls, headers: Mapping[str, str]) -> RateLimitSnapshot | None:
        limit = _as_int(headers.get("X-RateLimit-Limit"))
        remaining = _as_int(headers.get("X-RateLimit-Remaining"))
        if limit is None and remaining is None:
            return None
        reset = _as_int(headers.get("X-RateLimit-Reset"))
        return cls(
            resource=(headers.get("X-RateLimit-Resource") or "core").strip() or "core",
            limit=limit,
            remaining=remaining,
            reset_at=float(reset) if reset is not None else None,
            used=_as_int(headers.get("X-RateLimit-Used")),
        )


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or HTTP-date), or ``None``."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    raw = raw.strip()
    seconds = _as_int(raw)
    if seconds is not None:
        return float(max(seconds, 0))
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(when.timestamp() - now, 0.0)


def mentions_secondary_limit(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _SECONDARY_MARKERS)
