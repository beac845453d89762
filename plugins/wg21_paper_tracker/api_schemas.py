"""What the wg21.link index sends: one JSON object keyed by document id.

Every entry is validated on its own: a bad entry is rejected with its id and field named, the
good ones are kept (one broken entry must not stop the index).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from core.errors import DataValidationError
from wg21_paper_tracker.fields import DocId, parse_doc_id

__all__ = ["IndexEntry", "ParsedIndex", "parse_index"]

_TEXT_LIMIT = 20_000


class IndexEntry(BaseModel):
    """One entry; every field may be missing or null (old entries lack most of them)."""

    model_config = ConfigDict(frozen=True)  # unknown fields are ignored (the index grows new ones)

    type: str | None = None
    title: str | None = None
    author: str | None = None
    date: str | None = None
    subgroup: str | None = None
    link: str | None = None
    long_link: str | None = None
    github_url: str | None = None

    @field_validator("author", "subgroup", mode="before")
    @classmethod
    def _joined(cls, value: Any) -> Any:
        """A list of names is accepted as well as the usual comma-separated string."""
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return ", ".join(value)
        return value

    @field_validator("type", "title", "author", "date", "subgroup", "link", "long_link", "github_url")
    @classmethod
    def _bounded(cls, value: str | None) -> str | None:
        if value is not None and len(value) > _TEXT_LIMIT:
            raise ValueError(f"longer than {_TEXT_LIMIT} characters")
        return value


@dataclasses.dataclass(frozen=True)
class ParsedIndex:
    entries: list[tuple[DocId, IndexEntry]]
    rejected: list[str]  # "<key>: <field>: <problem>", for the run's errors
    aliases: int  # keys without a revision that name a revisioned paper (P2300 -> latest): skipped


def parse_index(data: Any, *, source: str) -> ParsedIndex:
    if not isinstance(data, dict):
        raise DataValidationError(
            f"expected a JSON object keyed by document id, got {type(data).__name__}",
            source=source,
            location="$",
        )
    entries: list[tuple[DocId, IndexEntry]] = []
    rejected: list[str] = []
    aliases = 0
    for key, value in data.items():
        doc = parse_doc_id(str(key))
        if doc is None:
            rejected.append(f"{str(key)[:60]!r}: not a document id")
            continue
        if doc.prefix == "P" and doc.revision is None:
            aliases += 1
            continue
        try:
            entries.append((doc, IndexEntry.model_validate(value)))
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(map(str, first["loc"])) or "$"
            rejected.append(f"{doc.doc_id}: {where}: {first['msg']}")
    return ParsedIndex(entries, rejected, aliases)
