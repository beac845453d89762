"""Frozen dataclasses where the protocols are expected: pyright must report nothing here."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from boost_library_tracker.protocol_impl import (
    BoostLibrariesResult,
    BoostLibraryVersionActivity,
    BoostReleasesState,
)
from core.protocols import (
    Activity,
    ActivityRecord,
    Checkpoint,
    IncrementalState,
    RunResult,
    TrackerResult,
    require_activity_record,
    require_incremental_state,
    require_tracker_result,
    tracker_result_to_dict,
)
from discord_activity_tracker.protocol_impl import (
    DiscordChannelState,
    DiscordCollectResult,
    DiscordMessageActivity,
)
from github_activity_tracker.protocol_impl import GitHubActivity, GitHubCollectResult, GitHubRepoState
from newsfeed_activity_tracker.protocol_impl import NewsfeedActivity, NewsfeedCollectResult
from reddit_activity_tracker.protocol_impl import RedditActivity, RedditCollectResult
from reddit_activity_tracker.state import RedditState
from wg21_paper_tracker.protocol_impl import Wg21Activity, Wg21CollectResult
from youtube_activity_tracker.protocol_impl import YouTubeCollectResult, YouTubeVideoActivity

WHEN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def take_result(result: TrackerResult) -> Mapping[str, int]:
    return result.counts


def take_activity(record: ActivityRecord) -> dt.datetime:
    return record.occurred_at


def take_state(state: IncrementalState) -> str | None:
    return state.checkpoint_token


# --------------------------------------------------------------------------- a collector's own


@dataclasses.dataclass(frozen=True)
class NotesResult:
    """Narrower field types than the protocol's (dict for Mapping, tuple for Sequence, float)."""

    success: bool
    counts: dict[str, int]
    errors: tuple[str, ...] = ()
    duration_seconds: float | None = None
    pages: int = 0


@dataclasses.dataclass(frozen=True)
class NoteActivity:
    source_system: str
    external_id: str
    occurred_at: dt.datetime
    activity_type: str
    actor_external_id: str  # never None for notes: narrower than str | None
    source_url: str | None
    summary: str


@dataclasses.dataclass(frozen=True)
class NotesState:
    checkpoint_token: str | None
    human_readable_marker: str | None = None
    extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class PropertyState:
    """Properties instead of fields (how GitHubRepoState derives its token from cursors)."""

    cursors: Mapping[str, str]

    @property
    def checkpoint_token(self) -> str | None:
        return ",".join(sorted(self.cursors)) or None

    @property
    def human_readable_marker(self) -> str | None:
        return None

    @property
    def extras(self) -> Mapping[str, Any]:
        return {"cursors": dict(self.cursors)}


own_result: TrackerResult = NotesResult(success=True, counts={"notes": 3})
own_activity: ActivityRecord = NoteActivity("notes", "1", WHEN, "note", "alice", None, "hello")
own_state: IncrementalState = NotesState("41")
derived_state: IncrementalState = PropertyState({"issues": "2026-03-01T12:00:00+00:00"})

# --------------------------------------------------------------------------- the framework's

results: Sequence[TrackerResult] = (
    RunResult(success=True, counts={"rows": 1}),
    DiscordCollectResult(success=True, files=("a.json",)),
    GitHubCollectResult(success=True, repositories=("acme/widgets",)),
    NewsfeedCollectResult(success=True, counts={"stories": 3}),
    RedditCollectResult(success=True, counts={"comments": 3}),
    YouTubeCollectResult(success=True, counts={"videos_new": 3, "quota_units": 5}),
    BoostLibrariesResult(success=True, news={"versions": ["1.86.0"]}),
    Wg21CollectResult(success=True, counts={"new_papers": 1}, news={"papers": ["P2300R10"]}),
)
activities: Sequence[ActivityRecord] = (
    Activity("x", "1", WHEN, "message"),
    DiscordMessageActivity("discord", "1", WHEN, "message"),
    GitHubActivity("acme/widgets#1", WHEN, "issue_opened", None, None, "hi"),
    NewsfeedActivity.from_row({"story_id": 1, "created_at": WHEN, "author": "ada", "title": "hi"}),
    RedditActivity.from_row(
        {"id": "abc", "created_at": WHEN, "author": "ada", "body": "hi", "permalink": "/r/x/"}
    ),
    YouTubeVideoActivity.from_row(
        {"video_id": "abc", "published_at": WHEN, "channel_id": "UC1", "title": "hi"}
    ),
    BoostLibraryVersionActivity.from_row(
        {"key": "json", "version": "1.86.0", "name": "JSON", "description": ""}, WHEN
    ),
    Wg21Activity.from_row({"doc_id": "P2300R10", "prefix": "P", "first_seen_at": WHEN, "title": "hi"}),
)
states: Sequence[IncrementalState] = (
    Checkpoint("1"),
    DiscordChannelState("123"),
    GitHubRepoState("acme/widgets"),
    RedditState(),
    BoostReleasesState.of(["1.85.0", "1.86.0"]),
)

take_result(own_result)
take_result(RunResult(True).merged(NotesResult(success=False, counts={"notes": 1})))
take_activity(DiscordMessageActivity.from_dict(own_activity.__dict__))
take_state(GitHubRepoState.from_state("acme/widgets", own_state))

# The guards return the protocol type: the result needs no cast.
guarded_result: TrackerResult = require_tracker_result(object())
guarded_activity: ActivityRecord = require_activity_record(object())
guarded_state: IncrementalState = require_incremental_state(object())
as_json: dict[str, Any] = tracker_result_to_dict(NotesResult(success=True, counts={}))
