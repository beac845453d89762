"""The ``config:`` block of a YouTube entry in collectors.yaml, and its connections.

The API key is the password of the ``youtube_default`` connection (its host, when set, replaces
the API's base URL: the tests' fake). An optional proxy for transcripts comes from another
connection (``proxy_connection_id``): host, port, login and password, or ``extra.http_url`` /
``extra.https_url``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.connections import connection_extra, connection_from_env
from core.errors import ConfigError, config_error
from core.operations.http.config import normalize_base_url

__all__ = ["DEFAULT_API_URL", "ProxyUrls", "SearchConfig", "YouTubeConfig", "resolve_api", "resolve_proxy"]

DEFAULT_API_URL = "https://www.googleapis.com/youtube/v3"
_CHANNEL_ID = re.compile(r"^UC[A-Za-z0-9_-]{22}$")
_PLAYLIST_ID = re.compile(r"^[A-Za-z0-9_-]{10,64}$")


class SearchConfig(BaseModel):
    """Discovery by ``search.list`` (100 units a call): off unless queries are listed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    queries: list[str] = Field(default_factory=list)
    max_search_calls_per_day: int = Field(default=20, ge=1, le=100)
    max_pages_per_query: int = Field(default=2, ge=1, le=10)
    start: str = Field(default="2024-01-01T00:00:00Z", description="where the first window begins")


class YouTubeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connection_id: str = "youtube_default"
    api_url: str | None = Field(default=None, description="overrides the connection's host")
    channels: list[str] = Field(default_factory=list)
    playlists: list[str] = Field(default_factory=list)
    search: SearchConfig = Field(default_factory=SearchConfig)
    page_size: int = Field(default=50, ge=1, le=50)
    stop_after_known: int = Field(default=10, ge=1)
    stats_refresh_days: float = Field(default=7, gt=0)
    min_duration_seconds: int = Field(
        default=90, ge=0, description="shorter videos (Shorts) get no transcript or document"
    )
    min_description_chars: int = Field(
        default=400, ge=0, description="a video without transcript needs this much description for a document"
    )
    max_rate_limit_wait: float = Field(default=300, ge=0)
    # transcripts (the collect_youtube_transcripts DAG)
    languages: list[str] = Field(default_factory=lambda: ["en"], min_length=1)
    max_videos_per_run: int = Field(default=200, ge=1)
    max_attempts: int = Field(default=3, ge=1)
    max_blocked_per_run: int = Field(default=3, ge=1)
    blocked_retry_hours: float = Field(default=6, gt=0)
    proxy_connection_id: str | None = None
    max_transcript_bytes: int = Field(
        default=5_000_000, ge=1_000, description="larger pages/tracks are an error"
    )
    transcript_base_url: str | None = Field(
        default=None, description="replaces https://www.youtube.com (tests)"
    )
    vectors: Any = None  # parsed by the framework (AbstractCollector.vector_settings)

    @field_validator("channels")
    @classmethod
    def _channel_ids(cls, value: list[str]) -> list[str]:
        for channel in value:
            if not _CHANNEL_ID.match(channel):
                raise ValueError(f"{channel!r} is not a channel id (UC + 22 characters; not a @handle)")
        return value

    @field_validator("playlists")
    @classmethod
    def _playlist_ids(cls, value: list[str]) -> list[str]:
        for playlist in value:
            if not _PLAYLIST_ID.match(playlist):
                raise ValueError(f"{playlist!r} is not a playlist id")
        return value

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> YouTubeConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, "youtube config") from None

    def partitions(self) -> list[str]:
        """``channel:<id>``, ``playlist:<id>`` and ``search`` (when queries are listed)."""
        names = [f"channel:{c}" for c in self.channels] + [f"playlist:{p}" for p in self.playlists]
        return names + (["search"] if self.search.queries else [])


def _connection(fields: Mapping[str, Any] | None, conn_id: str) -> Mapping[str, Any]:
    return fields or connection_from_env(conn_id) or {}


def resolve_api(fields: Mapping[str, Any] | None, settings: YouTubeConfig) -> tuple[str, list[str]]:
    """Base URL (``api_url``, else the connection's host, else Google's) and the API key."""
    conn_id = settings.connection_id
    conn = _connection(fields, conn_id)
    host = settings.api_url or str(conn.get("host") or "") or DEFAULT_API_URL
    port = conn.get("port") if not settings.api_url and conn.get("host") else None
    url = host if "://" in host else f"https://{host}" + (f":{port}" if port else "")
    key = conn.get("password")
    if not key:
        raise ConfigError(f"youtube config: connection {conn_id} has no password (the API key)")
    return normalize_base_url(url, api_name=f"connection {conn_id}"), [str(key)]


class ProxyUrls(BaseModel):
    model_config = ConfigDict(frozen=True)

    http_url: str | None = None
    https_url: str | None = None
    secrets: tuple[str, ...] = ()


def resolve_proxy(fields: Mapping[str, Any] | None, conn_id: str | None) -> ProxyUrls | None:
    """The transcript proxy, or ``None`` when no proxy connection is configured."""
    if conn_id is None:
        return None
    conn = _connection(fields, conn_id)
    if not conn:
        raise ConfigError(f"youtube config: proxy connection {conn_id} is not defined")
    extra = connection_extra(conn, conn_id)
    password = str(conn.get("password") or "")
    secrets = (password,) if password else ()
    if extra.get("http_url") or extra.get("https_url"):
        return ProxyUrls(http_url=extra.get("http_url"), https_url=extra.get("https_url"), secrets=secrets)
    host = str(conn.get("host") or "")
    if not host:
        raise ConfigError(f"youtube config: proxy connection {conn_id} has no host (or extra.http_url)")
    login = str(conn.get("login") or "")
    userinfo = f"{quote(login, safe='')}:{quote(password, safe='')}@" if login else ""
    scheme_host = host if "://" in host else f"http://{host}"
    scheme, _, bare = scheme_host.partition("://")
    port = f":{conn['port']}" if conn.get("port") else ""
    url = f"{scheme}://{userinfo}{bare}{port}"
    return ProxyUrls(http_url=url, https_url=url, secrets=secrets)
