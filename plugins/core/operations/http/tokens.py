"""A pool of credentials that spends one credential's quota before moving to the next.

Credentials are only ever shown by :func:`fingerprint` (a short hash), never in clear.
Each :class:`Token` carries the ``requests`` auth that attaches it at send time (a header,
a query parameter, an OAuth2 access token: :mod:`core.operations.http.auth`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
from collections.abc import Callable, Iterator, Sequence

import requests.auth

from core.errors import RateLimitError
from core.operations.http.auth import Credential, HeaderAuth, secrets_of
from core.operations.http.ratelimit import RateLimitSnapshot

__all__ = ["Token", "TokenPool", "fingerprint"]

# Seconds added after a reset time before trying again (clock skew with the server).
RESET_MARGIN = 1.0
# Assumed reset horizon when a rate-limited response gives no X-RateLimit-Reset.
UNKNOWN_RESET_WAIT = 60.0


def fingerprint(secret: str) -> str:
    """Short, stable, non-reversible label for a token (``tok-1a2b3c4d``)."""
    if not secret:
        return "anonymous"
    return "tok-" + hashlib.sha256(secret.encode()).hexdigest()[:8]


@dataclasses.dataclass(eq=False)
class Token:
    """One credential and the quota last seen for it, per rate-limit resource."""

    secret: str = dataclasses.field(repr=False)
    fingerprint: str
    auth: requests.auth.AuthBase | None = dataclasses.field(default=None, repr=False)
    quotas: dict[str, RateLimitSnapshot] = dataclasses.field(default_factory=dict)

    def secrets(self) -> list[str]:
        return [self.secret, *secrets_of(self.auth)] if self.secret else secrets_of(self.auth)

    def __str__(self) -> str:
        return self.fingerprint

    def quota(self, resource: str) -> RateLimitSnapshot | None:
        return self.quotas.get(resource)


def _describe(snapshot: RateLimitSnapshot | None) -> str:
    if snapshot is None or snapshot.remaining is None:
        return "remaining=unknown"
    limit = "?" if snapshot.limit is None else str(snapshot.limit)
    reset = ""
    if snapshot.reset_at is not None:
        try:
            reset = " resets " + dt.datetime.fromtimestamp(snapshot.reset_at, dt.UTC).strftime("%H:%M:%SZ")
        except (OverflowError, OSError, ValueError):  # pragma: no cover - from_headers bounds reset_at
            reset = " resets at an unusable time"
    return f"remaining={snapshot.remaining}/{limit}{reset}"


class TokenPool:
    """Chooses the token for the next request.

    The current token is kept while it has quota above ``min_remaining``; then the pool
    rotates to the token with the most quota left (unknown quota counts as full). When
    every token is spent it sleeps until the earliest reset if that is at most
    ``max_wait`` seconds away, else raises :class:`RateLimitError` with ``retry_at``.
    An empty pool is one anonymous "token" (no credential attached).

    ``secrets`` are plain strings attached by ``credential(secret)`` (a bearer header by
    default) or ready ``requests`` auth objects (e.g. an OAuth2 client). ``label`` names
    the API in log lines; the pool logs to ``<logger>.tokens``.
    """

    def __init__(
        self,
        secrets: Sequence[str | requests.auth.AuthBase],
        *,
        credential: Credential = HeaderAuth,
        min_remaining: float = 5,
        max_wait: float = 60.0,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
        label: str = "HTTP",
        logger: str = "core.operations.http",
    ) -> None:
        self._tokens = [self._token(s, credential) for s in secrets] or [
            Token(secret="", fingerprint="anonymous")
        ]
        self._current = self._tokens[0]
        self._min_remaining = min_remaining
        self._max_wait = max_wait
        self._clock = clock
        self._sleep = sleep
        self._label = label
        self._log = logging.getLogger(f"{logger}.tokens")

    @staticmethod
    def _token(secret: str | requests.auth.AuthBase, credential: Credential) -> Token:
        if isinstance(secret, str):
            return Token(secret=secret, fingerprint=fingerprint(secret), auth=credential(secret))
        label = getattr(secret, "label", "") or type(secret).__name__
        return Token(secret="", fingerprint=fingerprint(str(label)), auth=secret)

    def __len__(self) -> int:
        return len(self._tokens)

    def __iter__(self) -> Iterator[Token]:
        return iter(self._tokens)

    @property
    def current(self) -> Token:
        return self._current

    def secrets(self) -> list[str]:
        """Literal values to redact from any text leaving the client."""
        return [value for t in self._tokens for value in t.secrets()]

    # ------------------------------------------------------------------ quota bookkeeping

    def observe(self, token: Token, snapshot: RateLimitSnapshot | None) -> None:
        """Record the quota a response reported for ``token``."""
        if snapshot is None:
            return
        token.quotas[snapshot.resource] = snapshot
        if self._log.isEnabledFor(logging.DEBUG):  # _describe formats dates: only when it is shown
            self._log.debug(
                "%s quota %s %s: %s", self._label, token.fingerprint, snapshot.resource, _describe(snapshot)
            )

    def mark_exhausted(self, token: Token, resource: str, reset_at: float | None) -> None:
        """The server refused ``token`` for its primary limit."""
        previous = token.quotas.get(resource)
        token.quotas[resource] = RateLimitSnapshot(
            resource=resource,
            limit=previous.limit if previous else None,
            remaining=0,
            reset_at=reset_at if reset_at is not None else self._clock() + UNKNOWN_RESET_WAIT,
            used=previous.used if previous else None,
        )
        self._log.info("%s token %s exhausted its %s quota", self._label, token.fingerprint, resource)

    def quota_report(self, resource: str = "core") -> list[dict[str, object]]:
        """JSON-safe quota per token (fingerprints only)."""
        report: list[dict[str, object]] = []
        for token in self._tokens:
            snap = token.quota(resource)
            report.append(
                {
                    "token": token.fingerprint,
                    "resource": resource,
                    "limit": snap.limit if snap else None,
                    "remaining": snap.remaining if snap else None,
                    "reset_at": snap.reset_at if snap else None,
                }
            )
        return report

    def log_quota(self, resource: str = "core", level: int = logging.INFO) -> None:
        for token in self._tokens:
            self._log.log(
                level,
                "%s quota %s %s: %s",
                self._label,
                token.fingerprint,
                resource,
                _describe(token.quota(resource)),
            )

    # ------------------------------------------------------------------ selection

    def _spendable(self, token: Token, resource: str, now: float) -> bool:
        snap = token.quota(resource)
        if snap is None or snap.remaining is None:
            return True
        if snap.reset_at is not None and snap.reset_at + RESET_MARGIN <= now:
            return True
        return snap.remaining > self._min_remaining

    def _headroom(self, token: Token, resource: str, now: float) -> float:
        snap = token.quota(resource)
        if snap is None or snap.remaining is None:
            return float("inf")
        if snap.reset_at is not None and snap.reset_at + RESET_MARGIN <= now:
            return float(snap.limit) if snap.limit is not None else float("inf")
        return float(snap.remaining)

    def acquire(self, resource: str = "core") -> Token:
        """The token to use now; may sleep (bounded) or raise :class:`RateLimitError`."""
        for _ in range(2):
            now = self._clock()
            if self._spendable(self._current, resource, now):
                return self._current
            candidates = [t for t in self._tokens if self._spendable(t, resource, now)]
            if candidates:
                best = max(candidates, key=lambda t: self._headroom(t, resource, now))
                self._log.info(
                    "%s token %s is low on %s quota (%s); switching to %s (%s)",
                    self._label,
                    self._current.fingerprint,
                    resource,
                    _describe(self._current.quota(resource)),
                    best.fingerprint,
                    _describe(best.quota(resource)),
                )
                self._current = best
                self.log_quota(resource)
                return best
            reset_at = self._earliest_reset(resource, now)
            wait = max(reset_at + RESET_MARGIN - now, 0.0)
            self.log_quota(resource, logging.WARNING)
            if wait > self._max_wait:
                raise RateLimitError(
                    f"all {len(self._tokens)} {self._label} token(s) are out of {resource} quota; "
                    f"earliest reset in {wait:.0f}s exceeds the {self._max_wait:.0f}s wait bound",
                    retry_at=dt.datetime.fromtimestamp(reset_at, dt.UTC),
                )
            self._log.warning(
                "all %s tokens are out of %s quota; sleeping %.1fs until the reset",
                self._label,
                resource,
                wait,
            )
            self._sleep(wait)
        # Slept past the reset and still nothing spendable: the clock or the server disagree.
        reset_at = self._earliest_reset(resource, self._clock())
        raise RateLimitError(
            f"{self._label} {resource} quota still exhausted after waiting for the reset",
            retry_at=dt.datetime.fromtimestamp(reset_at, dt.UTC),
        )

    def _earliest_reset(self, resource: str, now: float) -> float:
        resets = [
            snap.reset_at
            for t in self._tokens
            if (snap := t.quota(resource)) is not None and snap.reset_at is not None
        ]
        return min(resets) if resets else now + UNKNOWN_RESET_WAIT
