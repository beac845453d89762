"""Settings of an HTTP source client: where it talks to and how patient it is."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from core.errors import ConfigError

__all__ = ["HttpClientConfig", "normalize_base_url"]


def normalize_base_url(url: str, *, api_name: str = "HTTP") -> str:
    """``url`` without a trailing slash; refuses non-http(s), hostless, query, fragment or userinfo."""
    base = url.strip().rstrip("/")
    parts = urlsplit(base)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ConfigError(f"{api_name} base_url must be an http(s) URL with a host, got {base!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ConfigError(f"{api_name} base_url must not carry a query, fragment or credentials")
    return base


@dataclasses.dataclass(frozen=True)
class HttpClientConfig:
    """How to reach one API and the bounds of every wait and retry.

    Every bound is explicit so tests can make waits instant. ``api_name`` names the API in
    error messages and logs; ``logger`` is the logger the client (and its token pool, as
    ``<logger>.tokens``) writes to.
    """

    base_url: str
    api_name: str = "HTTP"
    logger: str = "core.operations.http"
    user_agent: str = "community-collectors/0.1"
    headers: tuple[tuple[str, str], ...] = ()  # sent with every request (Accept, API version ...)
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    # Token pool: a credential whose remaining quota is at or below this floor counts as spent.
    min_remaining: float = 0
    # Longest wait (seconds) for a rate-limit reset or a Retry-After before giving up with
    # RateLimitError(retry_at=...) and letting the scheduler come back later.
    max_rate_limit_wait: float = 60.0
    # Refusals that ask to wait (429 + Retry-After, GitHub's secondary limit): attempts after
    # the first, and the wait when the server names none (doubled on each attempt).
    rate_limit_max_retries: int = 3
    rate_limit_default_wait: float = 60.0
    # 5xx, connection resets, truncated bodies, timeouts (idempotent requests only).
    transient_max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    # Random extra seconds added to every wait: ``jitter * rng()``.
    jitter: float = 1.0
    max_redirects: int = 5
    max_pages: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", normalize_base_url(self.base_url, api_name=self.api_name))
        for name in ("min_remaining", "rate_limit_max_retries", "transient_max_retries", "max_redirects"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        for name in (
            "max_rate_limit_wait",
            "rate_limit_default_wait",
            "backoff_base",
            "backoff_max",
            "jitter",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError("timeouts must be positive")
        if self.max_pages is not None and self.max_pages < 1:
            raise ConfigError("max_pages must be at least 1")
