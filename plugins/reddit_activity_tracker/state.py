"""A subreddit's checkpoint: per listing (``submissions``, ``comments``) the newest thing
stored and, while a walk down the listing is unfinished, where it resumes.

Listings are newest first, so a walk's pages are committed one by one with a *pending*
marker (``top``: the newest thing of this walk; ``after``: the next page) while ``newest``
stays at the previous walk's top. A crash resumes at ``after``; the walk ends at
``newest`` (or its time minus the overlap), and only then ``newest`` becomes ``top``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Mapping
from typing import Any, Self

from core.protocols import IncrementalState

__all__ = ["Mark", "RedditState", "StreamState"]


@dataclasses.dataclass(frozen=True)
class Mark:
    """A thing in a listing: its fullname and creation time (epoch seconds)."""

    fullname: str
    created: float

    @property
    def created_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.created, dt.UTC)


@dataclasses.dataclass(frozen=True)
class StreamState:
    newest: Mark | None = None
    top: Mark | None = None  # pending walk: its newest thing
    after: str | None = None  # pending walk: the next page's ``after``

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.newest is not None:
            out["newest"] = dataclasses.asdict(self.newest)
        if self.top is not None:
            out["top"] = dataclasses.asdict(self.top)
        if self.after is not None:
            out["after"] = self.after
        return out

    @classmethod
    def from_json(cls, raw: Any) -> StreamState:
        if not isinstance(raw, Mapping):
            return cls()

        def mark(value: Any) -> Mark | None:
            if isinstance(value, Mapping) and isinstance(value.get("fullname"), str):
                return Mark(value["fullname"], float(value.get("created") or 0))
            return None

        after = raw.get("after")
        return cls(mark(raw.get("newest")), mark(raw.get("top")), after if isinstance(after, str) else None)


@dataclasses.dataclass(frozen=True)
class RedditState:
    """:class:`core.protocols.IncrementalState` of one subreddit."""

    streams: Mapping[str, StreamState] = dataclasses.field(default_factory=dict)
    refreshed: float | None = None  # when the refresh window was last re-read (epoch seconds)

    @property
    def checkpoint_token(self) -> str | None:
        extras = self.extras
        return json.dumps(extras, sort_keys=True, separators=(",", ":")) if extras else None

    @property
    def human_readable_marker(self) -> str | None:
        parts = [
            f"{name} up to {s.newest.fullname} ({s.newest.created_at:%Y-%m-%d %H:%M}Z)"
            + (f", resuming after {s.after}" if s.after else "")
            for name, s in sorted(self.streams.items())
            if s.newest is not None
        ]
        return "; ".join(parts) or None

    @property
    def extras(self) -> Mapping[str, Any]:
        out: dict[str, Any] = {name: s.to_json() for name, s in sorted(self.streams.items())}
        if self.refreshed is not None:
            out["refreshed"] = self.refreshed
        return out

    @classmethod
    def from_state(cls, state: IncrementalState | None) -> RedditState:
        extras = dict(state.extras or {}) if state is not None else {}
        refreshed = extras.pop("refreshed", None)
        return cls(
            {name: StreamState.from_json(raw) for name, raw in extras.items()},
            float(refreshed) if isinstance(refreshed, int | float) else None,
        )

    def stream(self, name: str) -> StreamState:
        return self.streams.get(name, StreamState())

    def with_stream(self, name: str, value: StreamState) -> Self:
        return dataclasses.replace(self, streams={**self.streams, name: value})

    def with_refreshed(self, when: float) -> Self:
        return dataclasses.replace(self, refreshed=when)
