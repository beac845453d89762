"""Reading GitHub's rate-limit signals from response headers and bodies.

Headers come from the network, so every value is checked before it is believed: a value
that is not a number, is negative, or is absurd (``X-RateLimit-Reset`` in milliseconds,
a reset or ``Retry-After`` more than a day away) is ignored, as if the header were absent,
and the caller's ``on_bad`` hook hears about it (the client logs each header once). The
absent-header defaults are the safe ones: an unknown reset is assumed a minute away
(``tokens.UNKNOWN_RESET_WAIT``), an unknown ``Retry-After`` is the configured secondary
wait. Nothing here can raise on a header value.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
from collections.abc import Callable, Mapping

__all__ = [
    "MAX_HORIZON_SECONDS",
    "BadHeader",
    "RateLimitSnapshot",
    "mentions_secondary_limit",
    "retry_after_seconds",
]

_SECONDARY_MARKERS = ("secondary rate limit", "abuse detection")

# GitHub's primary window is one hour and its Retry-After values are seconds to minutes:
# a reset or a wait further away than this is a broken header, not a plan.
MAX_HORIZON_SECONDS = 24 * 3600.0
# Epoch seconds beyond this (year 2286) cannot be a reset time in seconds (milliseconds are ~1.7e12).
_MAX_EPOCH_SECONDS = 1e10

BadHeader = Callable[[str, str], None]
"""``on_bad(header, reason)``: a header value was ignored (never given the value itself)."""


def _ignore(header: str, reason: str) -> None:
    return None


def _number(headers: Mapping[str, str], name: str, on_bad: BadHeader) -> int | None:
    raw = headers.get(name)
    if raw is None:
        return None
    text = raw.strip()
    try:
        value = int(text)
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            on_bad(name, "not a number")
            return None
        if not math.isfinite(number):
            on_bad(name, "not a finite number")
            return None
        value = int(number)
    if value < 0:
        on_bad(name, "negative")
        return None
    return value


@dataclasses.dataclass(frozen=True)
class RateLimitSnapshot:
    """The ``X-RateLimit-*`` headers of one response. ``reset_at`` is epoch seconds."""

    resource: str
    limit: int | None
    remaining: int | None
    reset_at: float | None
    used: int | None

    @classmethod
    def from_headers(
        cls, headers: Mapping[str, str], *, now: float | None = None, on_bad: BadHeader | None = None
    ) -> RateLimitSnapshot | None:
        """The snapshot, or ``None`` without limit/remaining headers; see the module doc.

        With ``now``, a reset more than :data:`MAX_HORIZON_SECONDS` before or after it is
        ignored too; without it only resets that cannot be epoch seconds are.
        """
        bad = on_bad or _ignore
        limit = _number(headers, "X-RateLimit-Limit", bad)
        remaining = _number(headers, "X-RateLimit-Remaining", bad)
        if limit is None and remaining is None:
            return None
        reset = _number(headers, "X-RateLimit-Reset", bad)
        if reset is not None and reset >= _MAX_EPOCH_SECONDS:
            bad("X-RateLimit-Reset", "not epoch seconds (milliseconds?)")
            reset = None
        elif reset is not None and now is not None and abs(reset - now) > MAX_HORIZON_SECONDS:
            bad("X-RateLimit-Reset", "more than a day away from now")
            reset = None
        resource = (headers.get("X-RateLimit-Resource") or "core").strip() or "core"
        return cls(
            resource=resource[:40],
            limit=limit,
            remaining=remaining,
            reset_at=float(reset) if reset is not None else None,
            used=_number(headers, "X-RateLimit-Used", bad),
        )


def retry_after_seconds(
    headers: Mapping[str, str], now: float, *, on_bad: BadHeader | None = None
) -> float | None:
    """``Retry-After`` as seconds from ``now`` (delta-seconds or HTTP-date), or ``None``.

    A past date is 0; a value that is not one of the two forms, or more than
    :data:`MAX_HORIZON_SECONDS` away, is ``None`` (the caller's default wait applies).
    """
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    bad = on_bad or _ignore
    raw = raw.strip()
    try:
        seconds: float = float(int(raw))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
            seconds = when.timestamp() - now
        except (TypeError, ValueError, OverflowError, IndexError):
            bad("Retry-After", "neither seconds nor an HTTP date")
            return None
    if seconds > MAX_HORIZON_SECONDS:
        bad("Retry-After", "more than a day away")
        return None
    return max(seconds, 0.0)


def mentions_secondary_limit(message: str) -> bool:
    lowered = message.lower()
    return any(marker in lowered for marker in _SECONDARY_MARKERS)
