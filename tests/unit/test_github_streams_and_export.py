"""Stream definitions, document ids, markdown file names."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

from github_activity_tracker.markdown_export import issue_path, safe_title
from github_activity_tracker.preprocess import IssueBundle, doc_id, parse_doc_id, render_markdown
from github_activity_tracker.streams import COMMITS, ISSUE_COMMENTS, ISSUES, STREAMS, iso_param

WHEN = dt.datetime(2024, 3, 5, 6, 7, 8, 999, tzinfo=dt.timezone(dt.timedelta(hours=2)))


def test_stream_definitions() -> None:
    assert set(STREAMS) == {
        "commits",
        "commit_files",
        "issues",
        "pull_requests",
        "issue_comments",
        "review_comments",
    }
    assert ISSUES.url("a/b") == "/repos/a/b/issues" and ISSUES.primary_key == ("repo_id", "number")
    assert ISSUES.probe_params(100) == {
        "state": "all",
        "sort": "updated",
        "direction": "desc",
        "per_page": 100,
    }
    assert ISSUE_COMMENTS.keyset_params(WHEN, 50) == {
        "sort": "updated",
        "direction": "asc",
        "per_page": 50,
        "since": "2024-03-05T04:07:08Z",
    }
    assert COMMITS.probe_params(30) == {"per_page": 30}
    assert COMMITS.window_params(None, WHEN, 30) == {"per_page": 30, "until": "2024-03-05T04:07:08Z"}
    assert iso_param(WHEN) == "2024-03-05T04:07:08Z"


def test_doc_ids() -> None:
    assert doc_id("boostorg/json", 12) == "boostorg/json#12"
    assert parse_doc_id("boostorg/json#12") == ("boostorg/json", 12)
    assert parse_doc_id("boostorg/json#x") is None and parse_doc_id("json#1") is None


def _bundle(title: str) -> IssueBundle:
    return IssueBundle(
        issue={
            "repo_id": 1,
            "number": 3,
            "repo_full_name": "boostorg/json",
            "title": title,
            "is_pull_request": False,
            "state": "closed",
            "state_reason": "completed",
            "user_login": None,
            "labels": ["bug"],
            "milestone": None,
            "body": None,
            "created_at": dt.datetime(2023, 12, 31, 23, 30),
            "updated_at": WHEN,
            "html_url": "https://github.com/boostorg/json/issues/3",
            "row_updated_at": WHEN,
        },
        comments=[
            {
                "comment_id": 9,
                "user_login": "bob",
                "body": "second",
                "created_at": WHEN,
                "row_updated_at": WHEN,
            },
            {
                "comment_id": 8,
                "user_login": "amy",
                "body": "first",
                "created_at": WHEN - dt.timedelta(days=1),
                "row_updated_at": WHEN,
            },
        ],
    )


def test_markdown_rendering_orders_the_conversation() -> None:
    text = render_markdown(_bundle("Parser: crash"))
    assert text.startswith(
        "# Parser: crash (boostorg/json#3)\n\nIssue by a deleted user, opened 2023-12-31 23:30 UTC"
    )
    assert "closed (completed)" in text and "Labels: bug" in text and "_No description._" in text
    assert text.index("first") < text.index("second")


def test_markdown_file_names(tmp_path: Path) -> None:
    assert safe_title('a/b\\c:d*e?f"g<h>i|j') == "a b c d e f g h i j"
    assert safe_title("...") == "untitled" and len(safe_title("x" * 500)) == 120
    path = issue_path(tmp_path, _bundle("Fix: the / thing"))
    assert path.relative_to(tmp_path).as_posix() == "boostorg/json/2023/2023-12/#3 - Fix the thing.md"
