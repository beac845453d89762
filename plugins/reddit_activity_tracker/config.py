"""The ``config:`` block of the reddit entry in collectors.yaml, and its connection.

The connection (``reddit_default``) holds a Reddit "script"/"web" app's client id (login) and
secret (password), and the User-Agent in its extra. Only app-only OAuth (client credentials)
is accepted: session cookies and hand-made bearer tokens are refused (Reddit's Data API terms).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.connections import connection_extra, connection_from_env
from core.errors import ConfigError, config_error
from core.operations.http.config import normalize_base_url

__all__ = ["DocumentConfig", "RedditConfig", "RedditCredentials", "SubredditConfig", "resolve_connection"]

# <platform>:<app id>:<version> (by /u/<reddit user>), the form Reddit asks for; generic ones are throttled.
USER_AGENT = re.compile(r"^[\w.-]+:[\w.-]+:v?[\w.+-]+ \(by /u/[\w-]{3,20}\)$")
# Keys of the original's cookie and raw-token paths: refused, never used.
_FORBIDDEN_EXTRA = ("reddit_session", "session_cookie", "cookie", "bearer_token", "access_token", "token")


class SubredditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_]{1,20}$")
    mode: Literal["full", "keyword"] = "full"  # keyword: matched submissions and their trees only
    keywords: tuple[str, ...] = ()

    @field_validator("name")
    @classmethod
    def _lower(cls, value: str) -> str:
        return value.lower()

    @field_validator("keywords")
    @classmethod
    def _keywords(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(k.strip().lower() for k in value if k.strip())

    def matches(self, *texts: str | None) -> list[str]:
        """The keywords found (whole words, case-insensitive) in ``texts``."""
        haystack = " ".join(t for t in texts if t).lower()
        return [k for k in self.keywords if re.search(rf"(?<![\w+#]){re.escape(k)}(?![\w+#])", haystack)]


class DocumentConfig(BaseModel):
    """One vector document per submission: its text, then its comments in tree order."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_score: int = 1  # submissions below are not indexed (keyword matches always are)
    max_depth: int = Field(default=4, ge=0)  # 0: top-level comments only
    max_comments: int = Field(default=100, ge=0)
    max_chars: int = Field(default=40_000, ge=1_000)


class RedditConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connection_id: str = "reddit_default"
    api_url: str = "https://oauth.reddit.com"
    token_url: str = "https://www.reddit.com/api/v1/access_token"  # noqa: S105 - a URL
    user_agent: str | None = Field(default=None, description="else the connection extra's user_agent")
    subreddits: tuple[SubredditConfig, ...] = Field(min_length=1)
    page_size: int = Field(default=100, ge=1, le=100)
    overlap_minutes: int = Field(default=10, ge=0)
    lookback_days: int = Field(default=30, ge=1)  # how far the first run reads (listings end at ~1,000 items)
    refresh_days: int = Field(default=7, ge=0)  # items this recent are re-read by /api/info (0: never)
    refresh_interval_minutes: int = Field(default=55, ge=0)  # at most one refresh per this interval
    max_tree_requests: int = Field(default=20, ge=1)  # /comments + /api/morechildren calls per submission
    queries_per_minute: float = Field(default=90, gt=0, le=100)  # the free tier allows 100
    min_remaining: int = Field(default=2, ge=0)
    max_rate_limit_wait: float = Field(default=300, ge=0)
    document: DocumentConfig = DocumentConfig()
    vectors: Any = None  # parsed by the framework (AbstractCollector.vector_settings)

    @field_validator("subreddits")
    @classmethod
    def _unique(cls, value: tuple[SubredditConfig, ...]) -> tuple[SubredditConfig, ...]:
        names = [s.name for s in value]
        duplicate = next((n for n in names if names.count(n) > 1), None)
        if duplicate:
            raise ValueError(f"subreddit {duplicate!r} is listed twice")
        for sub in value:
            if sub.mode == "keyword" and not sub.keywords:
                raise ValueError(f"subreddit {sub.name!r} is in keyword mode without keywords")
        return value

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> RedditConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, "reddit config") from None

    def subreddit(self, name: str) -> SubredditConfig:
        for sub in self.subreddits:
            if sub.name == name.lower():
                return sub
        raise ConfigError(f"reddit collector: partition {name!r} is not in config.subreddits")


class RedditCredentials(BaseModel):
    model_config = ConfigDict(frozen=True)

    client_id: str
    client_secret: str = Field(repr=False)
    user_agent: str


def resolve_connection(fields: Mapping[str, Any] | None, settings: RedditConfig) -> RedditCredentials:
    """Client id, secret and User-Agent from the connection (or ``$AIRFLOW_CONN_<ID>``)."""
    conn_id = settings.connection_id
    fields = fields or connection_from_env(conn_id) or {}
    extra = connection_extra(fields, conn_id)
    refused = [key for key in _FORBIDDEN_EXTRA if key in extra]
    if refused:
        raise ConfigError(
            f"reddit connection {conn_id}: extra {refused[0]!r} is not supported: only app-only OAuth "
            "(client id as login, secret as password) is used; session cookies and hand-made bearer "
            "tokens are outside Reddit's Data API terms (docs/reddit.md)"
        )
    client_id, secret = str(fields.get("login") or ""), str(fields.get("password") or "")
    if not client_id or not secret:
        raise ConfigError(
            f"reddit connection {conn_id}: needs the app's client id as login and its secret as password "
            "(register an app: docs/reddit.md)"
        )
    user_agent = settings.user_agent or str(extra.get("user_agent") or "")
    if not USER_AGENT.match(user_agent):
        raise ConfigError(
            f"reddit config: user_agent {user_agent!r} is not descriptive: Reddit asks for "
            "'<platform>:<app id>:<version> (by /u/<username>)' and throttles generic ones "
            f"(set config.user_agent or the extra of connection {conn_id})"
        )
    return RedditCredentials(client_id=client_id, client_secret=secret, user_agent=user_agent)


def base_urls(settings: RedditConfig) -> tuple[str, str]:
    return (
        normalize_base_url(settings.api_url, api_name="reddit api_url"),
        normalize_base_url(settings.token_url, api_name="reddit token_url"),
    )
