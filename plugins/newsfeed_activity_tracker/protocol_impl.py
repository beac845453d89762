"""The tracker's protocol implementations: frozen, JSON-round-trippable (they travel as XCom)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self

from core.protocols import Activity, RunResult
from core.store import as_utc

__all__ = ["NewsfeedActivity", "NewsfeedCollectResult"]


@dataclasses.dataclass(frozen=True)
class NewsfeedCollectResult(RunResult):
    """:class:`core.protocols.TrackerResult` of a collect run (counts per stream, HTTP stats)."""

    step: str | None = "collect"


@dataclasses.dataclass(frozen=True)
class NewsfeedActivity(Activity):
    """:class:`core.protocols.ActivityRecord` for one stored story or comment."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any], base_url: str = "") -> Self:
        item_id = row.get("comment_id") or row["story_id"]
        return cls(
            source_system="newsfeed",
            external_id=str(item_id),
            occurred_at=as_utc(row["created_at"]),
            activity_type="comment" if "comment_id" in row else "story",
            actor_external_id=row.get("author"),
            source_url=f"{base_url}/item?id={item_id}" if base_url else None,
            summary=str(row.get("title") or row.get("text") or "")[:200],
        )
