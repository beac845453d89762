"""The ``vectors:`` section of a collector's config."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from core.errors import ConfigError

__all__ = ["VectorSettings", "parse_vector_settings"]


class VectorSettings(BaseModel):
    """Where a collector's documents go and how they are cut.

    ``sink: local`` keeps records in the store (embedded default); ``pinecone`` uses the
    ``pinecone_default`` connection (see docs/pinecone.md).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = True
    sink: Literal["local", "pinecone"] = "local"
    namespace: str | None = None
    index: str = "community-activity"
    sparse_index: str | None = None
    model: str = "llama-text-embed-v2"
    sparse_model: str = "pinecone-sparse-english-v0"
    text_field: str = "text"
    cloud: str = "aws"
    region: str = "us-east-1"
    chunk_size: int = Field(default=1200, gt=0)
    chunk_overlap: int = Field(default=150, ge=0)
    min_chunk_chars: int = Field(default=40, ge=0)
    batch_documents: int = Field(default=200, gt=0)

    @model_validator(mode="after")
    def _overlap_smaller_than_chunk(self) -> VectorSettings:
        if self.chunk_overlap >= self.chunk_size:
            raise ValueError(
                f"chunk_overlap ({self.chunk_overlap}) must be smaller than chunk_size ({self.chunk_size})"
            )
        return self


def parse_vector_settings(raw: Mapping[str, Any] | None) -> VectorSettings:
    """The ``vectors:`` section, or a ``ConfigError`` naming the offending field."""
    try:
        return VectorSettings.model_validate(dict(raw or {}))
    except ValidationError as exc:
        problems = "; ".join(
            f"config.vectors.{'.'.join(str(p) for p in e['loc']) or '(section)'}: {e['msg']}"
            for e in exc.errors()
        )
        raise ConfigError(problems) from None
