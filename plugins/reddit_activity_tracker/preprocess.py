"""Documents for the vector step: one per submission (id ``<subreddit>/<id>``), its title and
text, then its comments in tree order (indented by depth, with their score; the best first
among siblings), skipping deleted and removed ones, within ``document`` limits."""

from __future__ import annotations

import collections
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Engine, or_, select, union

from core.store import as_utc
from core.vectors.documents import Document
from reddit_activity_tracker.config import DocumentConfig
from reddit_activity_tracker.rows import SOURCE
from reddit_activity_tracker.tables import reddit_comments as comments
from reddit_activity_tracker.tables import reddit_submissions as submissions

__all__ = ["documents", "removed_submission_ids"]

_SITE = "https://www.reddit.com"


_BATCH = 500


def _indexable(settings: DocumentConfig) -> Any:
    return (
        submissions.c.is_deleted.is_(False)
        & submissions.c.is_removed.is_(False)
        & or_(submissions.c.score >= settings.min_score, submissions.c.matched_keywords != "")
    )


def _thread_lines(rows: Sequence[Mapping[str, Any]], root: str, settings: DocumentConfig) -> list[str]:
    children: dict[str, list[Mapping[str, Any]]] = collections.defaultdict(list)
    for row in rows:
        children[row["parent_fullname"]].append(row)
    lines: list[str] = []
    size = 0
    stack = [(c, 0) for c in sorted(children[root], key=lambda r: (r["score"], r["id"]))]
    while stack and len(lines) < settings.max_comments:
        row, depth = stack.pop()
        if depth > settings.max_depth:
            continue
        if not (row["is_deleted"] or row["is_removed"]):
            line = f"{'  ' * depth}- {row['author'] or '[deleted]'} ({row['score']}): {row['body']}"
            if size + len(line) > settings.max_chars:
                break
            lines.append(line)
            size += len(line)
        replies = sorted(children[f"t1_{row['id']}"], key=lambda r: (r["score"], r["id"]))
        stack += [(c, depth + 1) for c in replies]
    return lines


def documents(
    engine: Engine, settings: DocumentConfig, changed_since: int | None, doc_ids: Iterable[str]
) -> Iterator[Document]:
    wanted = [i.split("/", 1)[1] for i in doc_ids if "/" in i]
    query = select(submissions).where(_indexable(settings)).order_by(submissions.c.id)
    if changed_since is not None:  # the submission or any of its comments changed, or asked for again
        changed = union(
            select(submissions.c.id).where(submissions.c.change_seq >= changed_since),
            select(comments.c.submission_id).where(comments.c.change_seq >= changed_since),
        )
        query = query.where(submissions.c.id.in_(changed) | submissions.c.id.in_(wanted))
    with engine.connect() as conn:
        for part in conn.execute(query).mappings().partitions(_BATCH):
            # One statement for the comments of a batch of submissions, not one per submission.
            threads: dict[str, list[dict[str, Any]]] = {post["id"]: [] for post in part}
            for row in conn.execute(
                select(comments).where(comments.c.submission_id.in_(list(threads)))
            ).mappings():
                threads[row["submission_id"]].append(dict(row))
            yield from (_document(post, threads[post["id"]], settings) for post in part)


def _document(post: Any, thread: list[dict[str, Any]], settings: DocumentConfig) -> Document:
    head = [f"# {post['title']}", "" if post["is_self"] else post["url"] or "", post["selftext"]]
    text = "\n".join(line for line in head if line)
    lines = _thread_lines(thread, f"t3_{post['id']}", settings)
    if lines:
        text += "\n\nComments:\n" + "\n".join(lines)
    return Document(
        source=SOURCE,
        doc_id=f"{post['subreddit']}/{post['id']}",
        title=post["title"],
        text=text[: settings.max_chars + 2_000],
        updated_at=as_utc(post["updated_at"]),
        metadata={
            "subreddit": post["subreddit"],
            "author": post["author"] or "",
            "score": post["score"],
            "num_comments": post["num_comments"],
            "created_at": as_utc(post["created_at"]).isoformat(),
            "flair": post["flair"] or "",
            "url": _SITE + post["permalink"],
            "matched_keywords": post["matched_keywords"],
        },
    )


def removed_submission_ids(engine: Engine, settings: DocumentConfig, changed_since: int | None) -> list[str]:
    """Submissions that changed (since the horizon) and are no longer indexable: deleted by
    their author, removed, or below ``min_score``; their records leave the index."""
    query = select(submissions.c.subreddit, submissions.c.id).where(~_indexable(settings))
    if changed_since is not None:
        query = query.where(submissions.c.change_seq >= changed_since)
    with engine.connect() as conn:
        return [f"{sub}/{thing_id}" for sub, thing_id in conn.execute(query).all()]
