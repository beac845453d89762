"""Which items of a page the label filter keeps, and the children a newly matched parent brings.

With ``filters.issue_labels_any`` an issue or pull request is stored when it carries a
matching label, or when it is stored already (once followed, always followed: its later
edits, label removals included, keep its rows true). Comments and review comments are kept
when their parent is stored.

An issue can start to match long after its comments were listed (someone adds the label
today to an issue discussed last year): the comment lists were read past those comments
and will not show them again. :func:`children_of` fetches them from the issue's own lists
(``/issues/{n}/comments``, ``/pulls/{n}/comments``), and the collector writes them in the
same transaction as the issue. Reviews and pull-request details need nothing special: their
work queue is built from the stored pull requests.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from core.operations.github_ops import GitHubClient
from github_activity_tracker.api_schemas import Issue, IssueComment, ReviewComment, parse_list
from github_activity_tracker.filters import GitHubFilters
from github_activity_tracker.tables import github_issues

__all__ = ["Children", "children_of", "keep_children", "keep_issues", "stored_numbers"]


def stored_numbers(conn: Connection, repo_id: int, numbers: Iterable[int]) -> set[int]:
    wanted = sorted(set(numbers))
    if not wanted:
        return set()
    query = select(github_issues.c.number).where(
        github_issues.c.repo_id == repo_id, github_issues.c.number.in_(wanted)
    )
    return {int(n) for n in conn.execute(query).scalars()}


def keep_issues(
    conn: Connection, repo_id: int, filters: GitHubFilters, issues: Sequence[Issue]
) -> tuple[list[Issue], list[Issue]]:
    """(issues to store, those among them not stored before: they just started to match)."""
    if not filters.labels_active:
        return list(issues), []
    stored = stored_numbers(conn, repo_id, (i.number for i in issues))
    kept = [i for i in issues if i.number in stored or filters.labels_match(lb.name for lb in i.labels)]
    return kept, [i for i in kept if i.number not in stored]


def keep_children(
    conn: Connection, repo_id: int, filters: GitHubFilters, items: Sequence[Any], parent: str
) -> list[Any]:
    """Comments (``parent="issue_number"``) or review comments (``"pull_number"``) of stored parents."""
    if not filters.labels_active or not items:
        return list(items)
    stored = stored_numbers(conn, repo_id, (getattr(i, parent) for i in items))
    return [i for i in items if getattr(i, parent) in stored]


@dataclasses.dataclass
class Children:
    issue_comments: list[IssueComment] = dataclasses.field(default_factory=list)
    review_comments: list[ReviewComment] = dataclasses.field(default_factory=list)
    requests: int = 0


def children_of(
    client: GitHubClient,
    repo: str,
    issues: Sequence[Issue],
    *,
    per_page: int,
    issue_comments: bool,
    review_comments: bool,
) -> Children:
    """Every comment (and review comment, for pull requests) of these issues, from their own lists."""
    found = Children()
    for issue in issues:
        if issue_comments and issue.comments:
            for page in client.pages(f"/repos/{repo}/issues/{issue.number}/comments", {"per_page": per_page}):
                found.requests += 1
                found.issue_comments += parse_list(IssueComment, page.data, endpoint=page.endpoint)
        if review_comments and issue.is_pull_request:
            for page in client.pages(f"/repos/{repo}/pulls/{issue.number}/comments", {"per_page": per_page}):
                found.requests += 1
                found.review_comments += parse_list(ReviewComment, page.data, endpoint=page.endpoint)
    return found
