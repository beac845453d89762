"""Rate-limit signals read from responses, through one small policy object per API.

Headers come from the network, so every value is checked before it is believed: a value
that is not a number, is negative, or is absurd (an epoch reset in milliseconds, a reset
or ``Retry-After`` more than a day away) is ignored, as if the header were absent, and the
caller's ``on_bad`` hook hears about it (the client logs each header once). The
absent-header defaults are the safe ones: an unknown reset is assumed a minute away
(``tokens.UNKNOWN_RESET_WAIT``), an unknown ``Retry-After`` is the configured default wait.
Nothing here can raise on a header value.

A :class:`HeaderRateLimitPolicy` says which headers carry the quota, whether the reset is
an epoch time or seconds from now, which statuses are refusals, and where a wait hint may
hide in the body. Presets: :data:`RETRY_AFTER_ONLY` (HyperKitty and other quiet APIs),
:data:`SLACK` (429 + ``Retry-After`` per method), :data:`REDDIT` (``X-Ratelimit-*`` with
a float remaining and a reset in seconds), :data:`DISCORD` (a bucket per route,
``X-RateLimit-Reset-After``, the body's ``retry_after``). GitHub's lives in
:mod:`core.operations.github.ratelimit`.
"""

from __future__ import annotations

import dataclasses
import email.utils
import math
from collections.abc import Callable, Mapping
from typing import Any, Literal

__all__ = [
    "DISCORD",
    "MAX_HORIZON_SECONDS",
    "REDDIT",
    "RETRY_AFTER_ONLY",
    "SLACK",
    "BadHeader",
    "HeaderRateLimitPolicy",
    "RateLimitRefusal",
    "RateLimitSnapshot",
    "retry_after_seconds",
]

# Rate-limit windows are seconds to an hour: a reset or a wait further away than this is a
# broken header, not a plan.
MAX_HORIZON_SECONDS = 24 * 3600.0
# Epoch seconds beyond this (year 2286) cannot be a reset time in seconds (milliseconds are ~1.7e12).
_MAX_EPOCH_SECONDS = 1e10

BadHeader = Callable[[str, str], None]
"""``on_bad(header, reason)``: a header value was ignored (never given the value itself)."""


def _ignore(header: str, reason: str) -> None:
    return None


def _number(headers: Mapping[str, str], name: str | None, on_bad: BadHeader) -> float | None:
    if name is None:
        return None
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        on_bad(name, "not a number")
        return None
    if not math.isfinite(value):
        on_bad(name, "not a finite number")
        return None
    if value < 0:
        on_bad(name, "negative")
        return None
    return value


def _count(headers: Mapping[str, str], name: str | None, on_bad: BadHeader) -> int | None:
    value = _number(headers, name, on_bad)
    return None if value is None else int(value)


@dataclasses.dataclass(frozen=True)
class RateLimitSnapshot:
    """The quota one response reported. ``reset_at`` is epoch seconds."""

    resource: str
    limit: int | None
    remaining: int | None
    reset_at: float | None
    used: int | None


@dataclasses.dataclass(frozen=True)
class RateLimitRefusal:
    """A refused request: ``wait`` (``retry_after`` seconds, or the default) or ``exhausted``
    (this credential is spent on ``resource`` until ``reset_at``: rotate or wait)."""

    kind: Literal["wait", "exhausted"]
    resource: str
    retry_after: float | None = None
    reset_at: float | None = None


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
        seconds = float(raw)
        if not math.isfinite(seconds):
            raise ValueError(raw)
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


@dataclasses.dataclass(frozen=True)
class HeaderRateLimitPolicy:
    """How one API announces its limits; see the module doc for the presets.

    ``resource_per_path``: each endpoint path is its own bucket (Discord routes, Slack
    methods), so a spent bucket never blocks another. ``free_paths``: path prefixes the API
    never charges (GitHub's ``/rate_limit``).
    """

    limit_header: str | None = "X-RateLimit-Limit"
    remaining_header: str | None = "X-RateLimit-Remaining"
    reset_header: str | None = "X-RateLimit-Reset"
    used_header: str | None = "X-RateLimit-Used"
    resource_header: str | None = None
    reset_is_delta: bool = False  # seconds from now, not an epoch time
    refusal_statuses: frozenset[int] = frozenset({429})
    body_retry_after: str | None = None  # top-level JSON field with the wait in seconds
    wait_markers: tuple[str, ...] = ()  # message fragments that mean "slow down" without headers
    default_resource: str = "default"
    resource_per_path: bool = False
    free_paths: tuple[str, ...] = ()

    def resource_for(self, path: str) -> str:
        """The bucket a request to ``path`` (no query) spends, known before it is sent."""
        return path if self.resource_per_path else self.default_resource

    def snapshot(
        self, headers: Mapping[str, str], *, now: float, path: str = "", on_bad: BadHeader | None = None
    ) -> RateLimitSnapshot | None:
        """The quota in ``headers``, or ``None`` without limit/remaining headers."""
        bad = on_bad or _ignore
        limit = _count(headers, self.limit_header, bad)
        remaining = _count(headers, self.remaining_header, bad)
        if limit is None and remaining is None:
            return None
        reset = _number(headers, self.reset_header, bad)
        reset_at: float | None = None
        if reset is not None and self.reset_is_delta:
            if reset > MAX_HORIZON_SECONDS:
                bad(str(self.reset_header), "more than a day away")
            else:
                reset_at = now + reset
        elif reset is not None:
            if reset >= _MAX_EPOCH_SECONDS:
                bad(str(self.reset_header), "not epoch seconds (milliseconds?)")
            elif abs(reset - now) > MAX_HORIZON_SECONDS:
                bad(str(self.reset_header), "more than a day away from now")
            else:
                reset_at = float(int(reset))
        resource = self.resource_for(path)
        if self.resource_header and not self.resource_per_path:
            resource = (headers.get(self.resource_header) or "").strip()[:40] or resource
        return RateLimitSnapshot(
            resource=resource,
            limit=limit,
            remaining=remaining,
            reset_at=reset_at,
            used=_count(headers, self.used_header, bad),
        )

    def refusal(
        self,
        status: int,
        headers: Mapping[str, str],
        body: Any,
        message: str,
        *,
        now: float,
        path: str = "",
        on_bad: BadHeader | None = None,
    ) -> RateLimitRefusal | None:
        """What a non-2xx answer means for rate limiting; ``None``: it is not about limits."""
        if status not in self.refusal_statuses:
            return None
        snapshot = self.snapshot(headers, now=now, path=path, on_bad=on_bad)
        resource = snapshot.resource if snapshot else self.resource_for(path)
        retry_after = retry_after_seconds(headers, now, on_bad=on_bad)
        if retry_after is None and self.body_retry_after and isinstance(body, dict):
            value = body.get(self.body_retry_after)
            if isinstance(value, int | float) and not isinstance(value, bool):
                seconds = float(value)
                if math.isfinite(seconds) and 0 <= seconds <= MAX_HORIZON_SECONDS:
                    retry_after = seconds
        if retry_after is not None:
            return RateLimitRefusal("wait", resource, retry_after=retry_after)
        if snapshot is not None and snapshot.remaining == 0:
            return RateLimitRefusal("exhausted", resource, reset_at=snapshot.reset_at)
        lowered = message.lower()
        if status == 429 or any(marker in lowered for marker in self.wait_markers):
            return RateLimitRefusal("wait", resource)
        return None

    def charges(self, path: str, *, refused: bool, not_modified: bool) -> bool:
        """Whether the API counts this answer against the quota (for ``quota_consuming``)."""
        return not (refused or not_modified or path.startswith(self.free_paths))


RETRY_AFTER_ONLY = HeaderRateLimitPolicy(
    limit_header=None,
    remaining_header=None,
    reset_header=None,
    used_header=None,
    body_retry_after="retry_after",
)
SLACK = HeaderRateLimitPolicy(
    limit_header=None, remaining_header=None, reset_header=None, used_header=None, resource_per_path=True
)
REDDIT = HeaderRateLimitPolicy(
    limit_header=None,
    remaining_header="X-Ratelimit-Remaining",
    reset_header="X-Ratelimit-Reset",
    used_header="X-Ratelimit-Used",
    reset_is_delta=True,
)
DISCORD = HeaderRateLimitPolicy(
    reset_header="X-RateLimit-Reset-After",
    used_header=None,
    reset_is_delta=True,
    resource_per_path=True,
    body_retry_after="retry_after",
)
