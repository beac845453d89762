"""The Discord tracker's protocol implementations: frozen, JSON-round-trippable (XCom)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Self

__all__ = ["DiscordChannelState", "DiscordCollectResult", "DiscordMessageActivity"]


@dataclasses.dataclass(frozen=True)
class DiscordCollectResult:
    """:class:`core.protocols.TrackerResult` of a Discord collect run."""

    success: bool
    counts: Mapping[str, int]
    errors: Sequence[str] = ()
    duration_seconds: float | None = None
    files: Sequence[str] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", {str(k): int(v) for k, v in self.counts.items()})
        object.__setattr__(self, "errors", tuple(self.errors))
        object.__setattr__(self, "files", tuple(self.files))

    def asdict(self) -> dict[str, Any]:
        return {
            "success": self.success,
            "counts": dict(self.counts),
            "errors": list(self.errors),
            "duration_seconds": self.duration_seconds,
            "files": list(self.files),
            "step": "collect",
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            success=bool(data["success"]),
            counts=dict(data.get("counts") or {}),
            errors=tuple(data.get("errors") or ()),
            duration_seconds=data.get("duration_seconds"),
            files=tuple(data.get("files") or ()),
        )

    def with_duration(self, seconds: float) -> Self:
        return dataclasses.replace(self, duration_seconds=seconds)


@dataclasses.dataclass(frozen=True)
class DiscordMessageActivity:
    """:class:`core.protocols.ActivityRecord` for one Discord message."""

    external_id: str
    occurred_at: dt.datetime
    actor_external_id: str | None
    source_url: str | None
    summary: str
    activity_type: str = "message"
    source_system: str = "discord"

    def asdict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        values = dict(data)
        values["occurred_at"] = dt.datetime.fromisoformat(values["occurred_at"])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class DiscordChannelState:
    """:class:`core.protocols.IncrementalState` of one channel.

    ``checkpoint_token`` is the newest message id stored for the channel. ``extras`` records
    the export file in progress (path, sha256, messages committed) so a crashed run resumes
    after the last committed batch instead of starting the file over.
    """

    checkpoint_token: str | None
    human_readable_marker: str | None = None
    extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extras", dict(self.extras))

    def asdict(self) -> dict[str, Any]:
        return {
            "checkpoint_token": self.checkpoint_token,
            "human_readable_marker": self.human_readable_marker,
            "extras": dict(self.extras),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            data.get("checkpoint_token"), data.get("human_readable_marker"), dict(data.get("extras") or {})
        )

    @property
    def last_message_id(self) -> int:
        return int(self.checkpoint_token) if self.checkpoint_token else 0
