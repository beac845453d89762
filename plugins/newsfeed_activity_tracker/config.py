"""The ``config:`` block of a newsfeed entry in collectors.yaml, and its connection."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.connections import connection_from_env
from core.errors import ConfigError, config_error
from core.operations.http.config import normalize_base_url

__all__ = ["NewsfeedConfig", "resolve_connection"]


class NewsfeedConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    connection_id: str = "newsfeed_default"
    api_url: str | None = Field(default=None, description="overrides the connection's host")
    page_size: int = Field(default=100, ge=1, le=500)
    overlap_minutes: int = Field(default=10, ge=0)
    max_rate_limit_wait: float = Field(default=300, ge=0)
    vectors: Any = None  # parsed by the framework (AbstractCollector.vector_settings)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> NewsfeedConfig:
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, "newsfeed config") from None


def resolve_connection(fields: Mapping[str, Any] | None, settings: NewsfeedConfig) -> tuple[str, list[str]]:
    """Base URL (``api_url``, else the connection's host) and the API key, if any (its password)."""
    conn_id = settings.connection_id
    fields = fields or connection_from_env(conn_id) or {}
    host = settings.api_url or str(fields.get("host") or "")
    if not host:
        raise ConfigError(f"newsfeed config: api_url is empty and connection {conn_id} has no host")
    port = fields.get("port") if not settings.api_url else None
    url = host if "://" in host else f"https://{host}" + (f":{port}" if port else "")
    key = fields.get("password")
    return normalize_base_url(url, api_name=f"connection {conn_id}"), [str(key)] if key else []
