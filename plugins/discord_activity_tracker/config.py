"""The Discord collector's config (the ``config:`` block of its collectors.yaml entry)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.config import resolve_path
from core.errors import ConfigError
from core.vectors.settings import parse_vector_settings

__all__ = ["DiscordConfig", "parse_config"]


class DiscordConfig(BaseModel):
    """``export_dir``: folder of DiscordChatExporter JSON exports (searched recursively);
    relative paths are relative to the project root."""

    model_config = ConfigDict(extra="forbid")

    export_dir: Path
    batch_size: int = Field(default=2000, gt=0, le=50_000)
    skip_unchanged_files: bool = True
    vectors: dict[str, Any] = Field(default_factory=dict)

    @field_validator("vectors")
    @classmethod
    def _vectors(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse_vector_settings(value)
        return value

    @property
    def export_path(self) -> Path:
        return resolve_path(self.export_dir)


def parse_config(raw: dict[str, Any]) -> DiscordConfig:
    try:
        return DiscordConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"discord collector: {problems}") from None
