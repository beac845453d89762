"""The tracker's protocol implementations: frozen, JSON-round-trippable (they travel as XCom)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self

from core.protocols import Activity, RunResult
from core.store import as_utc

__all__ = ["RedditActivity", "RedditCollectResult"]


@dataclasses.dataclass(frozen=True)
class RedditCollectResult(RunResult):
    """:class:`core.protocols.TrackerResult` of a collect run (counts per listing, refresh, HTTP)."""

    step: str | None = "collect"


@dataclasses.dataclass(frozen=True)
class RedditActivity(Activity):
    """:class:`core.protocols.ActivityRecord` for one stored submission or comment."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        is_comment = "body" in row
        return cls(
            source_system="reddit",
            external_id=("t1_" if is_comment else "t3_") + str(row["id"]),
            occurred_at=as_utc(row["created_at"]),
            activity_type="comment" if is_comment else "submission",
            actor_external_id=row.get("author_fullname") or row.get("author"),
            source_url=f"https://www.reddit.com{row['permalink']}" if row.get("permalink") else None,
            summary=str(row.get("title") or row.get("body") or "")[:200],
        )
