"""The Slack tracker's protocol implementations: frozen, JSON-round-trippable (XCom)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any, Self

from core.protocols import Activity, Checkpoint, IncrementalState, RunResult

__all__ = ["SlackChannelState", "SlackCollectResult", "SlackMessageActivity"]


@dataclasses.dataclass(frozen=True)
class SlackCollectResult(RunResult):
    """:class:`core.protocols.TrackerResult` of a Slack collect run: the channels read
    (``<team>/<channel>``) and those skipped (``<team>/<channel>: <reason>``, also in ``errors``)."""

    step: str | None = "collect"
    channels: Sequence[str] = ()
    skipped: Sequence[str] = ()


@dataclasses.dataclass(frozen=True)
class SlackMessageActivity(Activity):
    """:class:`core.protocols.ActivityRecord` for one Slack message."""

    @classmethod
    def from_message_row(cls, row: Mapping[str, Any], domain: str | None = None) -> Self:
        from slack_activity_tracker.preprocess import permalink

        ts_at = row["ts_at"]
        is_reply = not row.get("is_root", True)
        return cls(
            source_system="slack",
            external_id=f"{row['team_id']}/{row['channel_id']}/{row['ts']}",
            occurred_at=ts_at,
            activity_type="reply" if is_reply else "message",
            actor_external_id=f"{row['team_id']}/{row['user_id']}" if row.get("user_id") else None,
            source_url=permalink(domain, row["channel_id"], row["ts"], row.get("thread_ts") if is_reply else None),
            summary=str(row.get("text") or "")[:200],
        )


@dataclasses.dataclass(frozen=True)
class SlackChannelState(Checkpoint):
    """:class:`core.protocols.IncrementalState` of one channel (``<team>/<channel>``).

    ``checkpoint_token`` is the ``latest`` (a Slack ts, frozen at the start) of the last
    complete run. While a run reads history newest-first, ``extras.pending`` holds
    ``{"latest", "oldest", "run_latest"}``: a crashed run resumes below the last committed
    page. ``extras.last_deep_sweep`` is when the thread horizon was last widened.
    """

    @classmethod
    def from_state(cls, state: IncrementalState | None) -> SlackChannelState:
        if state is None:
            return cls()
        return cls(state.checkpoint_token, state.human_readable_marker, dict(state.extras))

    @property
    def pending(self) -> Mapping[str, Any] | None:
        value = self.extras.get("pending")
        return value if isinstance(value, Mapping) else None
