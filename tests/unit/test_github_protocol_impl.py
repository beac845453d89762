"""GitHub protocol implementations: they satisfy the protocols and survive a JSON round trip (XCom)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from core.protocols import (
    ActivityRecord,
    IncrementalState,
    TrackerResult,
    require_activity_record,
    require_incremental_state,
    require_tracker_result,
    tracker_result_to_dict,
)
from github_activity_tracker.protocol_impl import GitHubActivity, GitHubCollectResult, GitHubRepoState

WHEN = dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC)


def roundtrip(obj):  # type: ignore[no-untyped-def]
    return type(obj).from_dict(json.loads(json.dumps(obj.asdict())))


def test_collect_result() -> None:
    result = GitHubCollectResult(
        success=True, counts={"issues": 3, "github_requests": 9}, repositories=["a/b"], duration_seconds=1.5
    )
    assert isinstance(result, TrackerResult)
    require_tracker_result(result)
    assert roundtrip(result) == result
    assert tracker_result_to_dict(result)["repositories"] == ["a/b"]
    assert result.with_duration(2.0).duration_seconds == 2.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.success = False  # type: ignore[misc]


def test_activities_from_rows() -> None:
    issue = GitHubActivity.from_issue_row(
        {
            "repo_full_name": "a/b",
            "number": 7,
            "is_pull_request": True,
            "created_at": WHEN,
            "user_login": "alice",
            "html_url": "https://github.com/a/b/pull/7",
            "title": "Fix it",
        }
    )
    assert isinstance(issue, ActivityRecord)
    require_activity_record(issue)
    assert (issue.external_id, issue.activity_type, issue.source_system) == (
        "a/b#7",
        "pull_request_opened",
        "github",
    )
    commit = GitHubActivity.from_commit_row(
        {
            "sha": "f" * 40,
            "committed_at": WHEN.replace(tzinfo=None),
            "message": "Subject\n\nBody",
            "author_login": None,
            "author_email": "x@example.org",
            "html_url": None,
        },
        "a/b",
    )
    assert commit.summary == "Subject" and commit.actor_external_id == "x@example.org"
    assert commit.occurred_at == WHEN  # naive (SQLite) read as UTC
    review = GitHubActivity.from_comment_row(
        {"review_id": 5, "pull_number": 7, "submitted_at": WHEN, "user_login": "bob", "body": " LGTM \n"},
        "a/b",
        kind="review",
    )
    assert review.external_id == "a/b#7/review/5" and review.summary == "LGTM"
    for activity in (issue, commit, review):
        assert roundtrip(activity) == activity


def test_repo_state_round_trip_and_forward_only_cursors() -> None:
    state = GitHubRepoState(repo="a/b")
    assert isinstance(state, IncrementalState)
    require_incremental_state(state)
    assert state.checkpoint_token is None and state.human_readable_marker is None

    later = WHEN + dt.timedelta(hours=1)
    moved = (
        state.with_cursor("issues", later).with_cursor("issues", WHEN).with_repo_id(42).with_read("issues")
    )
    assert moved.cursor("issues") == later  # never moved back
    assert moved.with_cursor("issues", None) is moved
    assert json.loads(moved.checkpoint_token or "") == {"issues": later.isoformat()}
    assert "issues up to" in (moved.human_readable_marker or "")

    pending = moved.with_pending("commits", since=None, until=WHEN, top=later)
    assert pending.pending_window("commits") == (None, WHEN, later)
    assert "commits resuming below" in (pending.human_readable_marker or "")
    assert roundtrip(pending) == pending
    assert pending.without_pending("commits").pending_window("commits") is None
    assert GitHubRepoState.from_state("a/b", pending) == pending
    assert pending.was_read("issues") and not pending.was_read("commits")
