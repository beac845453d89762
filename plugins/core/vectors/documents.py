"""What a tracker hands to the vector step: source-neutral documents and the records cut from them."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["Document", "VectorRecord", "content_hash", "record_id"]

MetadataValue = str | int | float | bool | list[str]


@dataclasses.dataclass(frozen=True)
class Document:
    """One retrievable unit (a Discord thread, a GitHub issue with its comments...).

    ``doc_id`` is stable across runs; ``updated_at`` is when the source last changed it (as
    the source says, where it says); it travels as metadata. Which documents a sync builds is
    decided by the store's change sequence (:mod:`core.store.changes`), not by this field.
    """

    source: str
    doc_id: str
    text: str
    updated_at: dt.datetime
    metadata: Mapping[str, MetadataValue] = dataclasses.field(default_factory=dict)
    title: str | None = None

    def content_hash(self) -> str:
        return content_hash(self.text, self.metadata, self.title)


@dataclasses.dataclass(frozen=True)
class VectorRecord:
    """One chunk as the sink receives it: id, the text to embed, flat metadata."""

    id: str
    text: str
    metadata: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def as_payload(self, text_field: str = "text") -> dict[str, Any]:
        """Flat record as integrated-embedding indexes take it (``_id`` + text field + metadata)."""
        payload: dict[str, Any] = {"_id": self.id, text_field: self.text}
        for key, value in self.metadata.items():
            if key not in payload and value is not None:
                payload[key] = value
        return payload


def record_id(source: str, doc_id: str, chunk_no: int) -> str:
    """Deterministic record id ``<source>:<doc_id>:<chunk_no>``."""
    return f"{source}:{doc_id}:{chunk_no}"


def content_hash(text: str, metadata: Mapping[str, Any] | None = None, title: str | None = None) -> str:
    """Stable hash of everything that reaches the index for a document."""
    digest = hashlib.sha256()
    digest.update((title or "").encode())
    digest.update(b"\x00")
    digest.update(text.encode())
    digest.update(b"\x00")
    digest.update(orjson.dumps(dict(metadata or {}), option=orjson.OPT_SORT_KEYS))
    return digest.hexdigest()
