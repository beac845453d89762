"""The refresh window and comment trees.

* :func:`refresh` re-reads stored things created within ``refresh_days`` through
  ``/api/info`` (100 fullnames a call) for edits, scores, comment counts, deletions and
  removals. A thing that breaks the schema is skipped and named; the others are written.
* :func:`read_tree` reads a submission's comment tree (``/comments/{id}``) and the comments
  its ``more`` stubs leave out (``/api/morechildren``, 100 ids a call), within a request budget.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, func, select

from core.errors import DataValidationError
from core.streams import Checkpointer
from reddit_activity_tracker.api_schemas import Comment, More, Submission, Thing, parse_listing, parse_things
from reddit_activity_tracker.client import RedditClient
from reddit_activity_tracker.config import SubredditConfig
from reddit_activity_tracker.rows import write_comments, write_submissions
from reddit_activity_tracker.state import RedditState
from reddit_activity_tracker.tables import reddit_comments, reddit_submissions

__all__ = ["read_missing_submissions", "read_tree", "refresh"]

log = logging.getLogger("reddit_activity_tracker")
INFO_BATCH = 100


def _window_fullnames(engine: Engine, sub: str, since: dt.datetime) -> Iterator[str]:
    with engine.connect() as conn:
        for table, prefix in ((reddit_submissions, "t3_"), (reddit_comments, "t1_")):
            query = (
                select(table.c.id)
                .where(table.c.subreddit == sub, table.c.created_at >= since, table.c.is_deleted.is_(False))
                .order_by(table.c.created_at, table.c.id)
            )
            for thing_id in conn.execute(query).scalars():
                yield prefix + thing_id


def _comment_counts(engine: Engine, ids: list[str]) -> dict[str, tuple[int, int]]:
    """Per submission: ``num_comments`` as stored and how many of its comments are stored."""
    with engine.connect() as conn:
        stored = dict(
            conn.execute(
                select(reddit_submissions.c.id, reddit_submissions.c.num_comments).where(
                    reddit_submissions.c.id.in_(ids)
                )
            ).all()
        )
        have = dict(
            conn.execute(
                select(reddit_comments.c.submission_id, func.count())
                .where(reddit_comments.c.submission_id.in_(ids))
                .group_by(reddit_comments.c.submission_id)
            ).all()
        )
    return {i: (stored[i], have.get(i, 0)) for i in stored}


def _valid(things: list[Thing], endpoint: str, errors: list[str]) -> tuple[list[Submission], list[Comment]]:
    """Each thing validated alone: a bad one is named in ``errors`` and skipped."""
    submissions: list[Submission] = []
    comments: list[Comment] = []
    for index, thing in enumerate(things):
        model: type[Submission | Comment]
        if thing.kind == "t3":
            model = Submission
        elif thing.kind == "t1":
            model = Comment
        else:
            continue
        try:
            parsed = parse_things([thing], thing.kind, model, endpoint=endpoint)[0]
        except DataValidationError as exc:
            name = thing.data.get("name")
            location = (exc.location or "").replace("[0]", f"[{index}]", 1)
            errors.append(f"{endpoint}: {name if isinstance(name, str) else f'item {index}'} skipped: "
                          f"{str(exc).split('; ')[0]} at {location}")  # fmt: skip
            continue
        if isinstance(parsed, Submission):
            submissions.append(parsed)
        elif isinstance(parsed, Comment):
            comments.append(parsed)
    return submissions, comments


def refresh(
    client: RedditClient,
    sub: SubredditConfig,
    checkpoint: Checkpointer[RedditState],
    *,
    since: dt.datetime,
    now: dt.datetime,
    counts: collections.Counter[str],
    errors: list[str],
) -> list[str]:
    """Re-read the window; returns the submissions whose comment count grew past what is stored."""
    engine = checkpoint.store.engine
    fullnames = list(_window_fullnames(engine, sub.name, since))
    grown: list[str] = []
    for start in range(0, len(fullnames), INFO_BATCH):
        batch = fullnames[start : start + INFO_BATCH]
        response = client.get("/api/info", {"id": ",".join(batch), "raw_json": 1})
        listing = parse_listing(response.data, endpoint="/api/info")
        submissions, comments = _valid(listing.data.children, "/api/info", errors)
        before = _comment_counts(engine, [s.id for s in submissions])

        def work(
            conn: Any, submissions: list[Submission] = submissions, comments: list[Comment] = comments
        ) -> None:
            if submissions:
                write_submissions(conn, submissions, sub, now)
            if comments:
                write_comments(conn, comments, sub, now)

        checkpoint.commit(work)
        returned = {s.name for s in submissions} | {c.name for c in comments}
        counts["refreshed"] += len(returned)
        counts["refresh_missing"] += len(set(batch) - returned)
        grown += [s.id for s in submissions if s.id in before and s.num_comments > before[s.id][0]
                  and s.num_comments > before[s.id][1]]  # fmt: skip
    return grown


def read_missing_submissions(
    client: RedditClient,
    sub: SubredditConfig,
    checkpoint: Checkpointer[RedditState],
    comments: list[Comment],
    *,
    now: dt.datetime,
    counts: collections.Counter[str],
    errors: list[str],
) -> None:
    """The submissions of new comments that are not stored (older than the ``/new`` walk reached),
    read by ``/api/info``, so every stored comment has its submission and its document."""
    wanted = sorted({c.submission_id for c in comments})
    with checkpoint.store.engine.connect() as conn:
        known = set()
        for start in range(0, len(wanted), 500):
            chunk = wanted[start : start + 500]
            known |= set(
                conn.execute(
                    select(reddit_submissions.c.id).where(reddit_submissions.c.id.in_(chunk))
                ).scalars()
            )
    missing = [f"t3_{i}" for i in wanted if i not in known]
    for start in range(0, len(missing), INFO_BATCH):
        response = client.get(
            "/api/info", {"id": ",".join(missing[start : start + INFO_BATCH]), "raw_json": 1}
        )
        listing = parse_listing(response.data, endpoint="/api/info")
        submissions, _comments = _valid(listing.data.children, "/api/info", errors)
        checkpoint.commit(
            lambda conn, found=submissions: write_submissions(conn, found, sub, now) if found else None
        )
        counts["submissions_of_comments"] += len(submissions)


def _flatten(children: list[Any], comments: list[Thing], more: list[str]) -> None:
    """t1 things in tree order (each followed by its replies); ``more`` ids collected."""
    for child in children:
        if not isinstance(child, dict):
            continue
        kind, data = child.get("kind"), child.get("data")
        if not isinstance(data, dict):
            continue
        if kind == "more":
            more += More.model_validate(data).children
        elif kind == "t1":
            comments.append(Thing(kind="t1", data=data))
            replies = data.get("replies")
            if isinstance(replies, dict):
                _flatten((replies.get("data") or {}).get("children") or [], comments, more)
        else:
            comments.append(Thing(kind=str(kind), data=data))  # refused by parse_things, naming it


def read_tree(
    client: RedditClient, submission_id: str, *, max_requests: int, counts: collections.Counter[str]
) -> tuple[Submission | None, list[Comment]]:
    endpoint = f"/comments/{submission_id}"
    response = client.get(endpoint, {"sort": "new", "limit": 500, "depth": 10, "raw_json": 1})
    body = response.data
    if not isinstance(body, list) or len(body) != 2:
        raise DataValidationError(
            "expected [submission listing, comment listing]", source=endpoint, location="$"
        )
    head = parse_listing(body[0], endpoint=endpoint)
    submissions = parse_things(
        head.data.children, "t3", Submission, endpoint=endpoint, path="$[0].data.children"
    )
    things: list[Thing] = []
    more: list[str] = []
    tree = parse_listing(body[1], endpoint=endpoint)
    _flatten([t.model_dump() for t in tree.data.children], things, more)
    requests = 1
    while more and requests < max_requests:
        batch, more = more[:INFO_BATCH], more[INFO_BATCH:]
        answer = client.get(
            "/api/morechildren",
            {
                "link_id": f"t3_{submission_id}",
                "children": ",".join(batch),
                "api_type": "json",
                "raw_json": 1,
            },
        )
        requests += 1
        data = answer.data.get("json", {}).get("data", {}) if isinstance(answer.data, dict) else {}
        found = data.get("things") if isinstance(data, dict) else None
        if not isinstance(found, list):
            raise DataValidationError(
                "no json.data.things", source="/api/morechildren", location="$.json.data"
            )
        _flatten(found, things, more)
    if more:
        counts["tree_truncated"] += 1
        log.warning(
            "comments of %s: %d left unread (max_tree_requests=%d)", submission_id, len(more), max_requests
        )
    comments = parse_things(things, "t1", Comment, endpoint=endpoint, path="$tree")
    counts["tree_requests"] += requests
    return (submissions[0] if submissions else None), comments
