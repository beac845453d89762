"""The ``config:`` block of the ``wg21`` entry in collectors.yaml, and the dispatch connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.connections import connection_from_env
from core.errors import ConfigError, config_error

__all__ = ["DispatchSettings", "DownloadSettings", "Wg21Config", "dispatch_token", "origin_of", "split_url"]


def split_url(url: str) -> tuple[str, str]:
    """``(origin, path)`` of an http(s) URL: the kit's client wants the origin as base URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.username or parts.password:
        raise ValueError(f"not an http(s) URL without userinfo: {url!r}")
    return f"{parts.scheme}://{parts.netloc}", parts.path or "/"


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


class DownloadSettings(BaseModel):
    """Paper files fetched for their text (vector documents), within hard caps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    max_bytes: int = Field(default=20_000_000, ge=1_000, le=200_000_000)
    max_pages: int = Field(default=20, ge=1, le=500)
    """PDF pages converted (the abstract and the first sections are what retrieval needs)."""
    max_text_chars: int = Field(default=20_000, ge=500, le=1_000_000)
    max_per_run: int = Field(default=50, ge=1, le=5_000)
    max_attempts: int = Field(default=3, ge=1, le=20)
    origins: list[str] = Field(default_factory=list)
    """Origins (``https://host``) files may be fetched from, besides ``site_url``'s."""

    @field_validator("origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        return [split_url(v)[0].lower() for v in value]


class DispatchSettings(BaseModel):
    """GitHub ``repository_dispatch`` for every new paper, through the framework's outbox."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = False
    repository: str = Field(default="", pattern=r"^$|^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
    connection_id: str = "github_dispatch"
    api_url: str = "https://api.github.com"
    event_type: str = Field(default="wg21_papers_convert", min_length=1, max_length=100)
    max_papers_per_dispatch: int = Field(default=100, ge=1, le=1_000)
    max_payload_bytes: int = Field(default=60_000, ge=1_000, le=65_000)
    """GitHub refuses a dispatch body of 64 KB or more."""

    @field_validator("api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        split_url(value)
        return value.rstrip("/")


class Wg21Config(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    index_url: str = "https://wg21.link/index.json"
    site_url: str = "https://www.open-std.org/jtc1/sc22/wg21/docs/papers/"
    mailings: bool = True
    first_year: int = Field(default=2015, ge=1989, le=2100)
    """Mailings before this year are not read from open-std.org (the index still has them)."""
    mailing_settle_days: int = Field(default=14, ge=0, le=365)
    notify_first_run: bool = False
    """Dispatch the papers of the very first run too (off: the first run is the baseline)."""
    max_page_bytes: int = Field(default=20_000_000, ge=10_000)
    """Cap on the papers index and each year page."""
    max_index_bytes: int = Field(default=200_000_000, ge=10_000)
    """Cap on index.json (about 10 MB in 2026)."""
    max_rate_limit_wait: float = Field(default=300, ge=0)
    download: DownloadSettings = DownloadSettings()
    dispatch: DispatchSettings = DispatchSettings()
    vectors: Any = None  # parsed by the framework (AbstractCollector.vector_settings)

    @field_validator("index_url", "site_url")
    @classmethod
    def _urls(cls, value: str) -> str:
        split_url(value)
        return value

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> Wg21Config:
        try:
            settings = cls.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, "wg21 config") from None
        if settings.dispatch.enabled and not settings.dispatch.repository:
            raise ConfigError("wg21 config: dispatch.repository: required when dispatch.enabled is true")
        return settings


def dispatch_token(fields: Mapping[str, Any] | None, settings: DispatchSettings) -> str:
    """The dispatch token: the connection's password (``AIRFLOW_CONN_<ID>`` outside Airflow)."""
    fields = fields or connection_from_env(settings.connection_id) or {}
    token = str(fields.get("password") or "")
    if not token:
        raise ConfigError(
            f"wg21 config: dispatch.connection_id: connection {settings.connection_id} has no password (the token)"
        )
    return token
