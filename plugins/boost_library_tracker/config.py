"""The ``config:`` block of a ``boost_libraries`` entry, and its GitHub connection.

The connection (``github_default`` by default, shared with the GitHub tracker) carries the API
base URL in ``host`` (empty: ``https://api.github.com``) and one or more tokens in ``password``
(separated by commas or newlines) or in ``extra.tokens``.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from boost_library_tracker.versions import version_tuple
from core.connections import connection_extra, connection_from_env
from core.errors import ConfigError, config_error
from core.operations.github_ops import DEFAULT_API_URL
from core.operations.http.config import normalize_base_url

__all__ = ["BoostLibrariesConfig", "GitHubAccess", "Releases", "parse_releases", "resolve_connection"]

Releases = Literal["new", "all"] | list[str]
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_TOKEN_SPLIT = re.compile(r"[\s,]+")


def parse_releases(value: Any, field: str = "releases") -> Releases:
    """``"new"`` (default), ``"all"`` (or ``["all"]``), or a list of ``X.Y.Z`` versions."""
    if value in (None, "", "new", ["new"]):
        return "new"
    if value in ("all", ["all"]):
        return "all"
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,]+", value) if part]
    if not isinstance(value, list) or not value:
        raise ConfigError(f"{field}: expected 'new', 'all' or a list of versions, got {value!r}")
    versions: list[str] = []
    for item in value:
        text = str(item).strip().removeprefix("boost-")
        try:
            version_tuple(text)
        except ValueError as exc:
            raise ConfigError(f"{field}: {exc}") from None
        versions.append(text)
    return list(dict.fromkeys(versions))


class BoostLibrariesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    superproject: str = "boostorg/boost"
    releases: Any = Field(default="new", description="'new', 'all' or a list of versions (backfill)")
    connection_id: str = "github_default"
    api_url: str | None = Field(default=None, description="overrides the connection's host")
    per_page: int = Field(default=100, ge=1, le=100)
    max_tag_pages: int = Field(default=50, ge=1, description="a longer tag listing fails (validation)")
    max_rate_limit_wait: float = Field(default=900, ge=0)
    min_remaining: int = Field(default=50, ge=0)
    request_timeout: float = Field(default=60, gt=0)
    transient_max_retries: int = Field(default=4, ge=0)
    max_meta_bytes: int = Field(default=256 * 1024, ge=1024, description="a larger libraries.json is refused")
    vectors: Any = None  # parsed by the framework (AbstractCollector.vector_settings)

    @field_validator("superproject")
    @classmethod
    def _repo(cls, value: str) -> str:
        if not _REPO.match(value):
            raise ValueError(f"expected 'owner/name', got {value!r}")
        return value

    @field_validator("releases", mode="before")
    @classmethod
    def _releases(cls, value: Any) -> Releases:
        try:
            return parse_releases(value)
        except ConfigError as exc:
            raise ValueError(str(exc).removeprefix("releases: ")) from None

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> BoostLibrariesConfig:
        try:
            return cls.model_validate(dict(raw))
        except ValidationError as exc:
            raise config_error(exc, "boost_libraries config") from None


@dataclasses.dataclass(frozen=True)
class GitHubAccess:
    base_url: str
    tokens: tuple[str, ...] = dataclasses.field(default=(), repr=False)


def _tokens(value: object) -> list[str]:
    if isinstance(value, str):
        return [t for t in _TOKEN_SPLIT.split(value) if t]
    if isinstance(value, list | tuple):
        return [t for item in value for t in _tokens(item)]
    return []


def resolve_connection(fields: Mapping[str, Any] | None, settings: BoostLibrariesConfig) -> GitHubAccess:
    """Base URL (``api_url``, else the connection's host, else api.github.com) and the tokens."""
    conn_id = settings.connection_id
    fields = fields or connection_from_env(conn_id) or {}
    extra = connection_extra(fields, conn_id)
    tokens = _tokens(fields.get("password")) + _tokens(extra.get("tokens"))
    host = settings.api_url or str(fields.get("host") or "").strip() or DEFAULT_API_URL
    if "://" not in host:
        port = fields.get("port")
        host = f"https://{host}" + (f":{port}" if port else "")
    base = normalize_base_url(host, api_name=f"connection {conn_id}")
    return GitHubAccess(base_url=base, tokens=tuple(dict.fromkeys(tokens)))
