"""The ``vectors:`` section of a collector's config."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["VectorSettings"]


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
