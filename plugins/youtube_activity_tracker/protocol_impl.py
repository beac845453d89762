"""The tracker's protocol implementations: frozen, JSON-round-trippable (they travel as XCom)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, Self

from core.protocols import Activity, RunResult
from core.store import as_utc

__all__ = ["YouTubeCollectResult", "YouTubeVideoActivity"]


@dataclasses.dataclass(frozen=True)
class YouTubeCollectResult(RunResult):
    """:class:`core.protocols.TrackerResult` of a collect run (videos, quota units, transcripts)."""

    step: str | None = "collect"


@dataclasses.dataclass(frozen=True)
class YouTubeVideoActivity(Activity):
    """:class:`core.protocols.ActivityRecord` for one stored video (its publication)."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> Self:
        return cls(
            source_system="youtube",
            external_id=str(row["video_id"]),
            occurred_at=as_utc(row["published_at"]),
            activity_type="video",
            actor_external_id=str(row["channel_id"]),
            source_url=f"https://www.youtube.com/watch?v={row['video_id']}",
            summary=str(row.get("title") or "")[:200],
        )
