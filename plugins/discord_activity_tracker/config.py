"""The Discord collector's config (the ``config:`` block of its collectors.yaml entry).

``source: files`` (the default) ingests DiscordChatExporter exports from ``export_dir``;
``source: api`` reads the guilds listed in ``guilds`` through the bot REST API with the bot
token of the connection ``connection_id``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from core.config import resolve_path
from core.errors import ConfigError
from core.vectors.settings import parse_vector_settings

__all__ = ["DiscordConfig", "GuildConfig", "parse_config"]

_SNOWFLAKE = r"^[0-9]{1,20}$"


class GuildConfig(BaseModel):
    """One guild read through the API. ``channels``: the channel ids to read (empty: every text,
    announcement and forum channel the bot can see); threads of those channels come along
    unless ``threads`` is false."""

    model_config = ConfigDict(extra="forbid")

    guild_id: str = Field(pattern=_SNOWFLAKE)
    channels: list[str] = Field(default_factory=list)
    threads: bool = True

    @field_validator("guild_id", mode="before")
    @classmethod
    def _guild_id_text(cls, value: object) -> object:
        # YAML (and Airflow's native templating) turn an unquoted snowflake into an int.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("channels", mode="before")
    @classmethod
    def _channel_ids_text(cls, value: object) -> object:
        if isinstance(value, list):
            return [str(v) if isinstance(v, int) and not isinstance(v, bool) else v for v in value]
        return value

    @field_validator("channels")
    @classmethod
    def _channel_ids(cls, value: list[str]) -> list[str]:
        bad = [item for item in value if not (item.isascii() and item.isdigit() and len(item) <= 20)]
        if bad:
            raise ValueError(f"channel ids must be snowflakes (digits), got {bad[:3]}")
        return value


class DiscordConfig(BaseModel):
    """``export_dir``: folder of DiscordChatExporter JSON exports (searched recursively);
    relative paths are relative to the project root. The ``api`` settings: see docs/discord.md."""

    model_config = ConfigDict(extra="forbid")

    source: Literal["files", "api"] = "files"
    export_dir: Path | None = None
    batch_size: int = Field(default=2000, gt=0, le=50_000)
    skip_unchanged_files: bool = True
    vectors: dict[str, Any] = Field(default_factory=dict)
    # ---- source: api
    connection_id: str = "discord_bot_default"
    guilds: list[GuildConfig] = Field(default_factory=list)
    lookback_days: float = Field(default=7.0, ge=0, le=90)
    thread_overlap_days: float = Field(default=1.0, ge=0, le=30)
    max_rate_limit_wait: float = Field(default=60.0, ge=0, le=3600)
    global_requests_per_second: float = Field(default=45.0, gt=0, le=50)
    transient_max_retries: int = Field(default=4, ge=0, le=10)

    @field_validator("vectors")
    @classmethod
    def _vectors(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse_vector_settings(value)
        return value

    @model_validator(mode="after")
    def _source_needs(self) -> DiscordConfig:
        if self.source == "files" and self.export_dir is None:
            raise ValueError("export_dir is required when source is files")
        if self.source == "api" and not self.guilds:
            raise ValueError("guilds must list at least one guild when source is api")
        if self.source == "api" and self.export_dir is not None:
            raise ValueError("export_dir belongs to source: files (use a separate entry for exports)")
        return self

    @property
    def export_path(self) -> Path:
        if self.export_dir is None:
            raise ConfigError("discord collector: config.export_dir is not set (source: api)")
        return resolve_path(self.export_dir)

    def guild(self, guild_id: str) -> GuildConfig:
        for guild in self.guilds:
            if guild.guild_id == guild_id:
                return guild
        raise ConfigError(f"discord collector: guild {guild_id} is not in config.guilds")


def parse_config(raw: dict[str, Any]) -> DiscordConfig:
    try:
        return DiscordConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in error['loc']) or '(entry)'}: {error['msg']}"
            for error in exc.errors()
        )
        raise ConfigError(f"discord collector: {problems}") from None
