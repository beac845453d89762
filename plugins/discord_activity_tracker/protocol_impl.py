"""The Discord tracker's protocol implementations: frozen, JSON-round-trippable (XCom)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Self

from core.protocols import Activity, Checkpoint, RunResult

__all__ = ["DiscordChannelState", "DiscordCollectResult", "DiscordMessageActivity"]


@dataclasses.dataclass(frozen=True)
class DiscordCollectResult(RunResult):
    """:class:`core.protocols.TrackerResult` of a Discord collect run, with the files ingested."""

    step: str | None = "collect"
    files: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class DiscordMessageActivity(Activity):
    """:class:`core.protocols.ActivityRecord` for one Discord message."""

    @classmethod
    def from_message_row(cls, row: Mapping[str, Any]) -> Self:
        """From a ``discord_messages`` row (joined or not with its channel's guild id)."""
        created = row["created_at"]
        return cls(
            source_system="discord",
            external_id=row["message_id"],
            occurred_at=created if created.tzinfo else created.replace(tzinfo=dt.UTC),
            activity_type="reply" if row.get("reply_to_message_id") else "message",
            actor_external_id=row.get("author_id"),
            source_url=f"https://discord.com/channels/{row['guild_id']}/{row['channel_id']}/{row['message_id']}",
            summary=str(row.get("content") or "")[:200],
        )


@dataclasses.dataclass(frozen=True)
class DiscordChannelState(Checkpoint):
    """:class:`core.protocols.IncrementalState` of one channel.

    ``checkpoint_token`` is the newest message id stored for the channel. ``extras`` records
    the export file in progress (path, sha256, messages committed) so a crashed run resumes
    after the last committed batch instead of starting the file over.
    """

    @property
    def last_message_id(self) -> int:
        return int(self.checkpoint_token) if self.checkpoint_token else 0
