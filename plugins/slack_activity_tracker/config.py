"""The Slack collector's config (its collectors.yaml ``config:`` block) and its connections.

One bot token per workspace, each in its own Airflow connection of the Slack provider's type
(``conn_type: slack``, the token in ``password``; ``extra.base_url`` may point at another API
root, e.g. a test server). ``teams`` lists the workspaces; partitions are ``<team>/<channel>``.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.config import resolve_path
from core.connections import connection_extra, connection_from_env
from core.errors import ConfigError
from core.vectors.settings import parse_vector_settings

__all__ = [
    "DEFAULT_BASE_URL",
    "ChannelFilter",
    "SlackConfig",
    "SlackConnection",
    "TeamConfig",
    "parse_config",
    "parse_partition",
    "resolve_connection",
]

DEFAULT_BASE_URL = "https://slack.com/api/"
ChannelType = Literal["public_channel", "private_channel"]


class ChannelFilter(BaseModel):
    """Channel names or ids (glob patterns; ``<team>/<channel>`` also matches)."""

    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(default_factory=lambda: ["*"])
    exclude: list[str] = Field(default_factory=list)

    def wanted(self, team_id: str, channel_id: str, name: str) -> bool:
        keys = (channel_id, name, f"#{name}", f"{team_id}/{channel_id}", f"{team_id}/{name}")

        def hit(patterns: list[str]) -> bool:
            return any(fnmatch.fnmatchcase(key, pattern) for pattern in patterns for key in keys)

        return hit(self.include) and not hit(self.exclude)


class TeamConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    team_id: str = Field(pattern=r"^[A-Z0-9]+$")
    connection_id: str = Field(min_length=1)
    types: list[ChannelType] = Field(default_factory=lambda: ["public_channel"], min_length=1)
    join: Literal["none", "public"] = "none"
    channels: ChannelFilter = Field(default_factory=ChannelFilter)
    # Slack's workspace export (the zip, or its unpacked folder): history imported without API quota.
    export_path: Path | None = None

    @property
    def export_file(self) -> Path | None:
        return resolve_path(self.export_path) if self.export_path is not None else None


class SlackConfig(BaseModel):
    """See docs/slack.md for every field."""

    model_config = ConfigDict(extra="forbid")

    teams: list[TeamConfig] = Field(min_length=1)
    lookback_days: float = Field(default=3, ge=0)
    thread_horizon_days: float = Field(default=45, ge=0)
    deep_sweep_horizon_days: float = Field(default=365, ge=0)
    deep_sweep_every_days: float = Field(default=30, ge=0)  # 0: never
    visibility_days: float | None = Field(default=None, gt=0)
    initial_start: dt.datetime | None = None
    # "tier3": internal or Marketplace apps (history/replies Tier 3, pages of ``page_limit``).
    # "non_marketplace": distributed non-Marketplace apps since 2025 (limit 15, 1 request/min).
    pacing: Literal["tier3", "non_marketplace"] = "tier3"
    page_limit: int = Field(default=200, gt=0, le=999)
    min_request_interval_seconds: float = Field(default=0.0, ge=0)
    max_rate_limit_wait: float = Field(default=300, ge=0)
    rate_limit_max_retries: int = Field(default=3, ge=0, le=20)
    transient_max_retries: int = Field(default=2, ge=0, le=10)
    retry_backoff_seconds: float = Field(default=0.5, ge=0)
    request_timeout: float = Field(default=30, gt=0)
    users_refresh_hours: float = Field(default=24, ge=0)
    store_emails: bool = False
    replies_full_reread_max: int = Field(default=500, gt=0)
    vectors: dict[str, Any] = Field(default_factory=dict)

    @field_validator("vectors")
    @classmethod
    def _vectors(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse_vector_settings(value)
        return value

    @field_validator("initial_start")
    @classmethod
    def _utc(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    @model_validator(mode="after")
    def _unique_teams(self) -> SlackConfig:
        ids = [team.team_id for team in self.teams]
        if len(set(ids)) != len(ids):
            raise ValueError(f"teams: a team_id appears twice ({ids})")
        return self

    @property
    def history_limit(self) -> int:
        """``limit`` of conversations.history/replies: 15 for non-Marketplace apps (Slack clamps it)."""
        return min(self.page_limit, 15) if self.pacing == "non_marketplace" else self.page_limit

    @property
    def history_interval(self) -> float:
        """Seconds between two history/replies requests of one workspace."""
        return max(60.0, self.min_request_interval_seconds) if self.pacing == "non_marketplace" else (
            self.min_request_interval_seconds
        )

    def team(self, team_id: str) -> TeamConfig:
        for team in self.teams:
            if team.team_id == team_id:
                return team
        raise ConfigError(f"slack collector: team {team_id!r} is not in config.teams")


def parse_config(raw: Mapping[str, Any]) -> SlackConfig:
    try:
        return SlackConfig.model_validate(dict(raw))
    except ValidationError as exc:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"slack collector: {problems}") from None


def parse_partition(partition: str) -> tuple[str, str]:
    """``<team>/<channel>`` -> (team, channel); ``ConfigError`` otherwise."""
    team, sep, channel = partition.partition("/")
    if not sep or not team or not channel or "/" in channel:
        raise ConfigError(f"slack collector: partition must be '<team>/<channel>', got {partition!r}")
    return team, channel


class SlackConnection(BaseModel):
    model_config = ConfigDict(frozen=True)

    conn_id: str
    token: str = Field(repr=False)
    base_url: str = DEFAULT_BASE_URL


def resolve_connection(fields: Mapping[str, Any] | None, *, conn_id: str) -> SlackConnection:
    """Token and API root from the connection fields (or ``AIRFLOW_CONN_<ID>`` outside Airflow)."""
    data: Mapping[str, Any] = fields or connection_from_env(conn_id) or {}
    if not data:
        raise ConfigError(f"connection {conn_id}: not defined (a Slack connection whose password is the bot token)")
    extra = connection_extra(data, conn_id)
    token = str(data.get("password") or extra.get("token") or "").strip()
    if not token:
        raise ConfigError(f"connection {conn_id}: password (the bot token) is empty")
    base = str(extra.get("base_url") or data.get("host") or DEFAULT_BASE_URL).strip()
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"connection {conn_id}: base_url must be an http(s) URL, got {base!r}")
    if "@" in base.split("//", 1)[1].split("/", 1)[0]:
        raise ConfigError(f"connection {conn_id}: put the token in the password field, not in the URL")
    return SlackConnection(conn_id=conn_id, token=token, base_url=base.rstrip("/") + "/")


