"""Documents for the vector step: one per issue and per pull request, with its conversation.

A document's id is ``owner/name#123``; its text is markdown (title, state, labels, body,
then comments, reviews and review comments in time order). Only documents that changed in
the store since the watermark (the issue row, or any of its comments/reviews) are built,
plus the ids the ledger asks for again. The same rendering feeds the markdown export.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, func, or_, select, union

from core.store import as_utc
from core.vectors.documents import Document
from github_activity_tracker.tables import (
    github_issue_comments,
    github_issues,
    github_review_comments,
    github_reviews,
)

__all__ = [
    "IssueBundle",
    "bundle_document",
    "changed_issue_keys",
    "doc_id",
    "documents",
    "load_bundles",
    "parse_doc_id",
    "render_markdown",
]

SOURCE = "github"
_DOC_ID = re.compile(r"^([^/\s#]+/[^/\s#]+)#([0-9]+)$")
Key = tuple[int, int]  # (repo_id, number)


def doc_id(repo_full_name: str, number: int) -> str:
    return f"{repo_full_name}#{number}"


def parse_doc_id(value: str) -> tuple[str, int] | None:
    match = _DOC_ID.match(value)
    return (match.group(1), int(match.group(2))) if match else None


@dataclasses.dataclass
class IssueBundle:
    issue: Mapping[str, Any]
    comments: list[Mapping[str, Any]] = dataclasses.field(default_factory=list)
    reviews: list[Mapping[str, Any]] = dataclasses.field(default_factory=list)
    review_comments: list[Mapping[str, Any]] = dataclasses.field(default_factory=list)

    @property
    def key(self) -> Key:
        return (int(self.issue["repo_id"]), int(self.issue["number"]))

    @property
    def doc_id(self) -> str:
        return doc_id(self.issue["repo_full_name"], int(self.issue["number"]))

    @property
    def changed_at(self) -> dt.datetime:
        stamps = [self.issue["row_updated_at"]]
        for rows in (self.comments, self.reviews, self.review_comments):
            stamps.extend(r["row_updated_at"] for r in rows)
        return max(as_utc(s) for s in stamps if s is not None)

    @property
    def source_updated_at(self) -> dt.datetime:
        """GitHub's own newest ``updated_at`` over the issue and its conversation (reviews:
        ``submitted_at``): what the document's ``updated_at`` metadata reports."""
        stamps = [self.issue["updated_at"]]
        stamps += [r["updated_at"] for rows in (self.comments, self.review_comments) for r in rows]
        stamps += [r.get("submitted_at") for r in self.reviews]
        return max(as_utc(s) for s in stamps if s is not None)


# --------------------------------------------------------------------------- selection


def changed_issue_keys(conn: Connection, changed_since: int | None) -> list[Key]:
    """(repo_id, number) of every issue whose row or conversation changed at or after the change
    sequence ``changed_since`` (:mod:`core.store.changes`)."""
    if changed_since is None:
        query = select(github_issues.c.repo_id, github_issues.c.number)
        return [
            (int(r), int(n))
            for r, n in conn.execute(query.order_by(github_issues.c.repo_id, github_issues.c.number))
        ]
    query = union(
        select(github_issues.c.repo_id, github_issues.c.number).where(
            github_issues.c.change_seq >= changed_since
        ),
        select(github_issue_comments.c.repo_id, github_issue_comments.c.issue_number).where(
            github_issue_comments.c.change_seq >= changed_since
        ),
        select(github_reviews.c.repo_id, github_reviews.c.pull_number).where(
            github_reviews.c.change_seq >= changed_since
        ),
        select(github_review_comments.c.repo_id, github_review_comments.c.pull_number).where(
            github_review_comments.c.change_seq >= changed_since
        ),
    )
    return sorted({(int(r), int(n)) for r, n in conn.execute(query)})


def keys_for_doc_ids(conn: Connection, doc_ids: Iterable[str]) -> list[Key]:
    wanted: dict[str, set[int]] = {}
    for value in doc_ids:
        parsed = parse_doc_id(value)
        if parsed:
            wanted.setdefault(parsed[0].lower(), set()).add(parsed[1])
    keys: list[Key] = []
    for repo, numbers in wanted.items():
        rows = conn.execute(
            select(github_issues.c.repo_id, github_issues.c.number).where(
                func.lower(github_issues.c.repo_full_name) == repo,
                github_issues.c.number.in_(sorted(numbers)),
            )
        )
        keys.extend((int(r), int(n)) for r, n in rows)
    return keys


def _where_keys(table_repo: Any, table_number: Any, keys: Sequence[Key]) -> Any:
    by_repo: dict[int, list[int]] = {}
    for repo_id, number in keys:
        by_repo.setdefault(repo_id, []).append(number)
    return or_(*(and_(table_repo == r, table_number.in_(ns)) for r, ns in by_repo.items()))


def load_bundles(conn: Connection, keys: Sequence[Key]) -> list[IssueBundle]:
    if not keys:
        return []
    issues = conn.execute(
        select(github_issues).where(_where_keys(github_issues.c.repo_id, github_issues.c.number, keys))
    ).mappings()
    bundles = {(int(i["repo_id"]), int(i["number"])): IssueBundle(dict(i)) for i in issues}
    for table, number_col, target in (
        (github_issue_comments, github_issue_comments.c.issue_number, "comments"),
        (github_reviews, github_reviews.c.pull_number, "reviews"),
        (github_review_comments, github_review_comments.c.pull_number, "review_comments"),
    ):
        rows = conn.execute(select(table).where(_where_keys(table.c.repo_id, number_col, keys))).mappings()
        for row in rows:
            bundle = bundles.get((int(row["repo_id"]), int(row[number_col.name])))
            if bundle is not None:
                getattr(bundle, target).append(dict(row))
    return [bundles[k] for k in keys if k in bundles]


# --------------------------------------------------------------------------- rendering


def _day(value: Any) -> str:
    stamp = as_utc(value)
    return stamp.strftime("%Y-%m-%d %H:%M UTC") if stamp else "?"


def _who(login: Any) -> str:
    return f"@{login}" if login else "a deleted user"


def render_markdown(bundle: IssueBundle) -> str:
    """The issue or pull request and its conversation, as markdown."""
    issue = bundle.issue
    kind = "Pull request" if issue["is_pull_request"] else "Issue"
    state = issue["state"]
    if issue.get("merged_at"):
        state = "merged"
    elif issue.get("state_reason"):
        state = f"{state} ({issue['state_reason']})"
    lines = [
        f"# {issue['title']} ({issue['repo_full_name']}#{issue['number']})",
        "",
        f"{kind} by {_who(issue.get('user_login'))}, opened {_day(issue['created_at'])}, {state}.",
    ]
    if issue["is_pull_request"] and issue.get("head_ref"):
        lines.append(f"Merges `{issue['head_ref']}` into `{issue.get('base_ref') or '?'}`.")
    labels = issue.get("labels") or []
    if labels:
        lines.append("Labels: " + ", ".join(str(x) for x in labels))
    milestone = issue.get("milestone")
    if isinstance(milestone, Mapping) and milestone.get("title"):
        lines.append(f"Milestone: {milestone['title']}")
    lines += ["", (issue.get("body") or "").strip() or "_No description._"]

    entries: list[tuple[dt.datetime, int, str]] = []
    for c in bundle.comments:
        text = f"### {_who(c.get('user_login'))} commented on {_day(c['created_at'])}\n\n{(c.get('body') or '').strip()}"
        entries.append((as_utc(c["created_at"]), int(c["comment_id"]), text))
    for r in bundle.reviews:
        when = r.get("submitted_at")
        if when is None:
            continue
        state_text = str(r["state"]).lower().replace("_", " ")
        body = (r.get("body") or "").strip()
        text = f"### {_who(r.get('user_login'))} reviewed ({state_text}) on {_day(when)}" + (
            f"\n\n{body}" if body else ""
        )
        entries.append((as_utc(when), int(r["review_id"]), text))
    for c in bundle.review_comments:
        where = (
            f" on `{c['path']}`" + (f" line {c['line']}" if c.get("line") else "") if c.get("path") else ""
        )
        text = f"### {_who(c.get('user_login'))} commented{where} on {_day(c['created_at'])}\n\n{(c.get('body') or '').strip()}"
        entries.append((as_utc(c["created_at"]), int(c["comment_id"]), text))
    entries.sort(key=lambda e: (e[0], e[1]))
    if entries:
        lines += ["", "## Conversation", ""]
        for _, _, text in entries:
            lines += [text, ""]
    return "\n".join(lines).rstrip() + "\n"


def bundle_document(bundle: IssueBundle) -> Document:
    issue = bundle.issue
    metadata: dict[str, str | int | float | bool | list[str]] = {
        "repo": str(issue["repo_full_name"]),
        "number": int(issue["number"]),
        "type": "pull_request" if issue["is_pull_request"] else "issue",
        "state": "merged" if issue.get("merged_at") else str(issue["state"]),
        "url": str(issue["html_url"]),
        "created_at": as_utc(issue["created_at"]).isoformat(),
        "updated_at": bundle.source_updated_at.isoformat(),
        "comments": len(bundle.comments) + len(bundle.review_comments),
    }
    if issue.get("user_login"):
        metadata["author"] = str(issue["user_login"])
    if issue.get("labels"):
        metadata["labels"] = [str(x) for x in issue["labels"]]
    return Document(
        source=SOURCE,
        doc_id=bundle.doc_id,
        text=render_markdown(bundle),
        updated_at=bundle.source_updated_at,  # GitHub's time, not when the store row changed
        metadata=metadata,
        title=str(issue["title"]),
    )


def documents(
    engine: Engine, changed_since: int | None, doc_ids: Iterable[str] = (), *, batch: int = 200
) -> Iterator[Document]:
    """Documents changed since ``changed_since`` plus ``doc_ids``, in batches of ``batch`` issues."""
    with engine.connect() as conn:
        keys = changed_issue_keys(conn, changed_since)
        extra = keys_for_doc_ids(conn, doc_ids)
    ordered = list(dict.fromkeys([*keys, *extra]))
    for start in range(0, len(ordered), batch):
        with engine.connect() as conn:
            bundles = load_bundles(conn, ordered[start : start + batch])
        for bundle in bundles:
            yield bundle_document(bundle)
