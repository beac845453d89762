"""Settings of the GitHub REST client: where it talks to and how patient it is."""

from __future__ import annotations

import dataclasses

from core.errors import ConfigError
from core.operations.http import HttpClientConfig

__all__ = ["DEFAULT_API_URL", "DEFAULT_API_VERSION", "GitHubClientConfig"]

DEFAULT_API_URL = "https://api.github.com"
DEFAULT_API_VERSION = "2022-11-28"


@dataclasses.dataclass(frozen=True)
class GitHubClientConfig:
    """How to reach the API and the bounds of every wait and retry.

    ``base_url`` is ``https://api.github.com`` or, for GitHub Enterprise Server,
    ``https://HOST/api/v3``. Every bound is explicit so tests can make waits instant.
    The generic settings go to the kit's :class:`HttpClientConfig` (:attr:`http`), which
    validates them; "secondary" limits are the kit's rate-limit waits.
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
        tokens = tuple(t.strip() for t in self.tokens if t and t.strip())
        if len(set(tokens)) != len(tokens):
            raise ConfigError("GitHub tokens must be distinct")
        object.__setattr__(self, "tokens", tokens)
        if not 1 <= self.per_page <= 100:
            raise ConfigError(f"per_page must be within 1..100, got {self.per_page}")
        http = HttpClientConfig(
            base_url=self.base_url,
            api_name="GitHub",
            logger="core.operations.github",
            user_agent=self.user_agent,
            headers=(("Accept", "application/vnd.github+json"), ("X-GitHub-Api-Version", self.api_version)),
            connect_timeout=self.connect_timeout,
            read_timeout=self.read_timeout,
            min_remaining=self.min_remaining,
            max_rate_limit_wait=self.max_rate_limit_wait,
            rate_limit_max_retries=self.secondary_max_retries,
            rate_limit_default_wait=self.secondary_default_wait,
            transient_max_retries=self.transient_max_retries,
            backoff_base=self.backoff_base,
            backoff_max=self.backoff_max,
            jitter=self.jitter,
            max_redirects=self.max_redirects,
            max_pages=self.max_pages,
        )
        object.__setattr__(self, "base_url", http.base_url)
        object.__setattr__(self, "_http", http)

    @property
    def http(self) -> HttpClientConfig:
        """The kit's settings derived from these (validated once, in ``__post_init__``)."""
        return self._http  # type: ignore[attr-defined]
