"""One small declarative definition per stream: endpoint, fixed params, cursor, primary key.

Three shapes cover everything the tracker reads:

``updated``
    Lists GitHub can sort by ``updated`` and filter with ``since`` (issues and pull
    requests, issue comments, review comments). An incremental run first sends a
    conditional request for the newest page (``direction=desc``, same URL every run, so its
    ETag stays valid): 304 means nothing changed and costs no quota. Otherwise, when that
    page reaches back past the checkpoint it is all there is to read; when it does not
    (first run, long pause), the stream is read oldest-first by keyset
    (``since=<newest updated_at stored>``, ``direction=asc``), one transaction per page,
    so a crash re-reads at most one page and items updated meanwhile cannot be skipped.
``newest_first``
    The commit list (newest first, ``since``/``until`` by committer date). Pages are read
    newest to oldest; until the window is complete the checkpoint records the part still to
    read (``pending``), so a rerun resumes with ``since``/``until`` instead of starting over.
``work_queue``
    Per-item endpoints driven by the store: commit details (file lists) of commits whose
    files are still ``pending``, and pull-request details plus reviews of pull requests
    whose ``updated_at`` moved since they were last synced.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import Connection

from core import streams as declared
from github_activity_tracker.api_schemas import Commit, Issue, IssueComment, ReviewComment, parse_pull_list
from github_activity_tracker.rows import write_issue_comments, write_issues, write_review_comments

__all__ = [
    "COMMITS",
    "COMMIT_FILES",
    "ISSUES",
    "ISSUE_COMMENTS",
    "PULL_LIST",
    "PULL_REQUESTS",
    "REVIEW_COMMENTS",
    "STREAMS",
    "UPDATED_STREAMS",
    "Stream",
    "iso_param",
]

Writer = Callable[[Connection, int, str, Sequence[Any], dt.datetime], int]


def iso_param(value: dt.datetime) -> str:
    """GitHub's timestamp format for ``since``/``until`` (UTC, second precision, ``Z``)."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class Stream:
    name: str
    path: str  # "{repo}" is "owner/name"; work queues also use "{sha}" / "{number}"
    shape: Literal["updated", "newest_first", "work_queue"]
    primary_key: tuple[str, ...]
    cursor_field: str | None = None
    model: type[BaseModel] | None = None
    params: Mapping[str, str] = dataclasses.field(default_factory=dict)
    write: Writer | None = None
    cursor: Callable[[Any], dt.datetime] | None = None

    def url(self, repo: str, **parts: object) -> str:
        return self.path.format(repo=repo, **parts)

    def probe_params(self, per_page: int) -> dict[str, str | int]:
        """The newest page, same URL every run (what the conditional request asks about)."""
        if self.shape == "newest_first":
            return {**self.params, "per_page": per_page}
        return {**self.params, "sort": "updated", "direction": "desc", "per_page": per_page}

    def keyset_params(self, since: dt.datetime | None, per_page: int) -> dict[str, str | int]:
        params: dict[str, str | int] = {
            **self.params,
            "sort": "updated",
            "direction": "asc",
            "per_page": per_page,
        }
        if since is not None:
            params["since"] = iso_param(since)
        return params

    def window_params(
        self, since: dt.datetime | None, until: dt.datetime | None, per_page: int
    ) -> dict[str, str | int]:
        params: dict[str, str | int] = {**self.params, "per_page": per_page}
        if since is not None:
            params["since"] = iso_param(since)
        if until is not None:
            params["until"] = iso_param(until)
        return params


def _write_issues(
    conn: Connection, repo_id: int, full_name: str, items: Sequence[Any], now: dt.datetime
) -> int:
    return write_issues(conn, repo_id, full_name, items, now)


def _write_issue_comments(
    conn: Connection, repo_id: int, full_name: str, items: Sequence[Any], now: dt.datetime
) -> int:
    return write_issue_comments(conn, repo_id, items, now)


def _write_review_comments(
    conn: Connection, repo_id: int, full_name: str, items: Sequence[Any], now: dt.datetime
) -> int:
    return write_review_comments(conn, repo_id, items, now)


def _updated_at(item: Any) -> dt.datetime:
    return item.updated_at


def _committed_at(item: Any) -> dt.datetime:
    return item.committed_at


COMMITS = Stream(
    name="commits",
    path="/repos/{repo}/commits",
    shape="newest_first",
    primary_key=("repo_id", "sha"),
    cursor_field="commit.committer.date",
    model=Commit,
    cursor=_committed_at,
)
COMMIT_FILES = Stream(
    name="commit_files",
    path="/repos/{repo}/commits/{sha}",
    shape="work_queue",
    primary_key=("repo_id", "sha", "filename"),
    model=Commit,
)
ISSUES = Stream(
    name="issues",
    path="/repos/{repo}/issues",
    shape="updated",
    primary_key=("repo_id", "number"),
    cursor_field="updated_at",
    model=Issue,
    params={"state": "all"},
    write=_write_issues,
    cursor=_updated_at,
)
PULL_REQUESTS = Stream(
    name="pull_requests",
    path="/repos/{repo}/pulls/{number}",
    shape="work_queue",
    primary_key=("repo_id", "number"),
)
REVIEWS_PATH = "/repos/{repo}/pulls/{number}/reviews"
ISSUE_COMMENTS = Stream(
    name="issue_comments",
    path="/repos/{repo}/issues/comments",
    shape="updated",
    primary_key=("comment_id",),
    cursor_field="updated_at",
    model=IssueComment,
    write=_write_issue_comments,
    cursor=_updated_at,
)
REVIEW_COMMENTS = Stream(
    name="review_comments",
    path="/repos/{repo}/pulls/comments",
    shape="updated",
    primary_key=("comment_id",),
    cursor_field="updated_at",
    model=ReviewComment,
    write=_write_review_comments,
    cursor=_updated_at,
)

STREAMS: dict[str, Stream] = {
    s.name: s for s in (COMMITS, COMMIT_FILES, ISSUES, PULL_REQUESTS, ISSUE_COMMENTS, REVIEW_COMMENTS)
}
UPDATED_STREAMS: tuple[Stream, ...] = (ISSUES, ISSUE_COMMENTS, REVIEW_COMMENTS)


PULL_LIST: declared.Stream[Issue] = declared.Stream(
    name="pull_list",
    path="/repos/{repo}/pulls",
    model=Issue,
    primary_key=("repo_id", "number"),
    cursor_field="updated_at",
    order="newest_first",
    params={"state": "all", "sort": "updated", "direction": "desc"},
    page_size_param="per_page",
    parse=lambda data, endpoint: parse_pull_list(data, endpoint=endpoint),
)
"""Pull requests from ``/pulls`` (newest-updated first, no ``since``) when a repository's issues
are disabled: a framework-declared stream (:mod:`core.streams`), read by ``read_stream``
with the collector's writer (rows need the repository id)."""
