"""Settings of the GitHub REST client: where it talks to and how patient it is."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from core.errors import ConfigError

__all__ = ["DEFAULT_API_URL", "DEFAULT_API_VERSION", "GitHubClientConfig"]

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_API_VERSION = "2022-11-28"


@dataclasses.dataclass(frozen=True)
class GitHubClientConfig:
    """How to reach the API and the bounds of every wait and retry.

    ``base_url`` is ``https://api.github.com`` or, for GitHub Enterprise Server,
    ``https://HOST/api/v3``. Every bound is explicit so tests can make waits instant.
    """

    base_url: str = DEFAULT_API_URL
    tokens: tuple[str, ...] = dataclasses.field(default=(), repr=False)
    user_agent: str = "community-collectors-github/0.1"
    api_version: str = DEFAULT_API_VERSION
    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    per_page: int = 100
    # Token pool: a token whose remaining quota is at or below this floor counts as spent.
    min_remaining: int = 5
    # Longest wait (seconds) for a rate-limit reset or a Retry-After before giving up with
    # RateLimitError(retry_at=...) and letting the scheduler come back later.
    max_rate_limit_wait: float = 60.0
    # Secondary rate limits: attempts after the first, the wait when no Retry-After is sent.
    secondary_max_retries: int = 3
    secondary_default_wait: float = 60.0
    # 5xx, connection resets, truncated bodies, timeouts (idempotent requests only).
    transient_max_retries: int = 4
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    # Random extra seconds added to every wait: ``jitter * rng()``.
    jitter: float = 1.0
    max_redirects: int = 5
    max_pages: int | None = None

    def __post_init__(self) -> None:
        base = self.base_url.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in {"http", "https"} or not parts.hostname:
            raise ConfigError(f"GitHub base_url must be an http(s) URL with a host, got {base!r}")
        if parts.query or parts.fragment or parts.username or parts.password:
            raise ConfigError("GitHub base_url must not carry a query, fragment or credentials")
        object.__setattr__(self, "base_url", base)
        tokens = tuple(t.strip() for t in self.tokens if t and t.strip())
        if len(set(tokens)) != len(tokens):
            raise ConfigError("GitHub tokens must be distinct")
        object.__setattr__(self, "tokens", tokens)
        if not 1 <= self.per_page <= 100:
            raise ConfigError(f"per_page must be within 1..100, got {self.per_page}")
        for name in ("min_remaining", "secondary_max_retries", "transient_max_retries", "max_redirects"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        for name in (
            "max_rate_limit_wait",
            "secondary_default_wait",
            "backoff_base",
            "backoff_max",
            "jitter",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must not be negative")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise ConfigError("timeouts must be positive")
