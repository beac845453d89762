"""Ways to get the protocols wrong that pyright must catch: each marked line reports that rule.

Ruff skips this file (pyproject.toml): the code is wrong on purpose.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping
from typing import Any

from core.protocols import (
    ActivityRecord,
    IncrementalState,
    RunResult,
    TrackerResult,
    require_tracker_result,
)
from github_activity_tracker.protocol_impl import GitHubActivity

WHEN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


def take_result(result: TrackerResult) -> None: ...


def take_activity(record: ActivityRecord) -> None: ...


def take_state(state: IncrementalState) -> None: ...


# --------------------------------------------------------------------------- not a result at all

take_result("ok")  # expect-error: reportArgumentType
as_dict = {"success": True, "counts": {}, "errors": [], "duration_seconds": None}
take_result(as_dict)  # expect-error: reportArgumentType
not_a_result: TrackerResult = "success"  # expect-error: reportAssignmentType
take_activity("discord:123")  # expect-error: reportArgumentType
take_state("12345")  # expect-error: reportArgumentType


# --------------------------------------------------------------------------- string-typed fields


@dataclasses.dataclass(frozen=True)
class StringlyResult:
    success: str  # "true"
    counts: Mapping[str, int]
    errors: tuple[str, ...]
    duration_seconds: float | None


@dataclasses.dataclass(frozen=True)
class StringCounts:
    success: bool
    counts: Mapping[str, str]  # {"messages": "3"}
    errors: tuple[str, ...]
    duration_seconds: float | None


@dataclasses.dataclass(frozen=True)
class StringDuration:
    success: bool
    counts: Mapping[str, int]
    errors: tuple[str, ...]
    duration_seconds: str  # "1.5s"


@dataclasses.dataclass(frozen=True)
class StringTimestamp:
    source_system: str
    external_id: str
    occurred_at: str  # ISO text instead of a datetime
    activity_type: str
    actor_external_id: str | None
    source_url: str | None
    summary: str


@dataclasses.dataclass(frozen=True)
class StringExtras:
    checkpoint_token: str | None
    human_readable_marker: str | None
    extras: str  # JSON text instead of a mapping


@dataclasses.dataclass(frozen=True)
class IntegerToken:
    checkpoint_token: int  # a message id kept as a number
    human_readable_marker: str | None
    extras: Mapping[str, Any]


take_result(StringlyResult("true", {}, (), None))  # expect-error: reportArgumentType
take_result(StringCounts(True, {"messages": "3"}, (), None))  # expect-error: reportArgumentType
take_result(StringDuration(True, {}, (), "1.5s"))  # expect-error: reportArgumentType
iso_text = StringTimestamp("x", "1", "2026-03-01T12:00:00Z", "message", None, None, "")
take_activity(iso_text)  # expect-error: reportArgumentType
take_state(StringExtras(None, None, "{}"))  # expect-error: reportArgumentType
take_state(IntegerToken(41, None, {}))  # expect-error: reportArgumentType


# --------------------------------------------------------------------------- missing members


@dataclasses.dataclass(frozen=True)
class NoDuration:
    success: bool
    counts: Mapping[str, int]
    errors: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class NoSummary:
    source_system: str
    external_id: str
    occurred_at: dt.datetime
    activity_type: str
    actor_external_id: str | None
    source_url: str | None


take_result(NoDuration(True, {}, ()))  # expect-error: reportArgumentType
take_activity(NoSummary("x", "1", WHEN, "message", None, None))  # expect-error: reportArgumentType
take_result(GitHubActivity("a/b#1", WHEN, "issue_opened", None, None, ""))  # expect-error: reportArgumentType


# --------------------------------------------------------------------------- frozen and read-only

result = RunResult(success=True)
result.success = False  # expect-error: reportAttributeAccessIssue
as_protocol: TrackerResult = require_tracker_result(result)
seconds: float = as_protocol.duration_seconds  # expect-error: reportAssignmentType
rows: str = as_protocol.counts["rows"]  # expect-error: reportAssignmentType
as_protocol.counts = {}  # expect-error: reportAttributeAccessIssue
