"""API things -> rows, and how a batch is written (rows and their authors, in the caller's
transaction). Deleted and removed things keep their row with the text blanked: Reddit's
Data API terms ask that users' deletions be honoured, and the documents drop them."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from sqlalchemy import Connection, delete, select, update

from core.identity import Profile, person_profiles, profile_emails, upsert_profiles
from core.store import upsert_rows
from reddit_activity_tracker.api_schemas import DELETED, Comment, Submission
from reddit_activity_tracker.config import SubredditConfig
from reddit_activity_tracker.tables import reddit_comments, reddit_submissions

__all__ = [
    "SOURCE",
    "comment_row",
    "forget_deleted_accounts",
    "submission_row",
    "write_comments",
    "write_submissions",
]

SOURCE = "reddit"
# A re-read that changes none of these leaves the row (and its change_seq) alone.
_SUBMISSION_CHANGES = ["title", "selftext", "url", "score", "num_comments", "edited_at", "is_deleted",
                       "is_removed", "removed_by_category", "flair", "locked", "stickied", "author",
                       "matched_keywords"]  # fmt: skip
_COMMENT_CHANGES = ["body", "score", "edited_at", "is_deleted", "is_removed", "distinguished", "stickied",
                    "author", "matched_keywords"]  # fmt: skip


def _keywords(sub: SubredditConfig, hidden: bool, *texts: str | None) -> str:
    return "" if hidden else ",".join(sub.matches(*texts))


def _common(item: Submission | Comment, now: dt.datetime) -> dict[str, object]:
    return {
        "subreddit": item.subreddit.lower(),
        "author": item.author_name,
        "author_fullname": item.author_fullname if item.author_name else None,
        "permalink": item.permalink,
        "score": item.score,
        "stickied": item.stickied,
        "created_at": item.created_at,
        "edited_at": item.edited_at,
        "is_deleted": item.is_deleted,
        "is_removed": item.is_removed,
        "updated_at": now,
    }


def submission_row(s: Submission, sub: SubredditConfig, now: dt.datetime) -> dict[str, object]:
    hidden = s.is_deleted or s.is_removed
    return {
        "id": s.id,
        "title": "" if hidden else s.title,
        "selftext": "" if hidden else s.selftext or "",
        "url": None if hidden else s.url,
        "domain": s.domain,
        "is_self": s.is_self,
        "flair": s.link_flair_text,
        "upvote_ratio": s.upvote_ratio,
        "num_comments": s.num_comments,
        "removed_by_category": s.removed_by_category,
        "over_18": s.over_18,
        "locked": s.locked,
        **_common(s, now),
        "matched_keywords": _keywords(sub, hidden, s.title, s.selftext),
        # the permalink ends with the title's slug: cut it from deleted and removed submissions
        "permalink": f"/r/{s.subreddit.lower()}/comments/{s.id}/" if hidden else s.permalink,
    }


def comment_row(c: Comment, sub: SubredditConfig, now: dt.datetime) -> dict[str, object]:
    hidden = c.is_deleted or c.is_removed
    return {
        "id": c.id,
        "submission_id": c.submission_id,
        "parent_fullname": c.parent_id,
        "body": "" if hidden else c.body,
        "distinguished": c.distinguished,
        "matched_keywords": _keywords(sub, hidden, c.body),
        **_common(c, now),
    }


def _profiles(conn: Connection, items: Sequence[Submission | Comment]) -> None:
    """Authors to the shared ``person_profiles``: keyed by the account fullname (``t2_...``),
    else the name; deleted accounts have neither and are skipped."""
    upsert_profiles(
        conn,
        SOURCE,
        [
            Profile(
                i.author_fullname or name,
                seen_at=i.created_at,
                username=name,
                profile_url=f"https://www.reddit.com/user/{name}",
            )
            for i in items
            if (name := i.author_name)
        ],
    )


def forget_deleted_accounts(conn: Connection, items: Sequence[Submission | Comment]) -> int:
    """Things still showing their text but no author: the account was deleted. Reddit's terms
    ask that its account id (``t2_...``) be deleted too: the profile, and the author on every row."""
    orphaned = {i.id: i for i in items if i.author == DELETED and not (i.is_deleted or i.is_removed)}
    if not orphaned:
        return 0
    accounts: set[str] = set()
    for table in (reddit_submissions, reddit_comments):
        query = select(table.c.author_fullname).where(
            table.c.id.in_(orphaned), table.c.author_fullname.is_not(None)
        )
        accounts.update(conn.execute(query).scalars())
    for account in sorted(accounts):
        for table in (reddit_submissions, reddit_comments):
            conn.execute(
                update(table)
                .where(table.c.author_fullname == account)
                .values(author=None, author_fullname=None)
            )
        for table in (profile_emails, person_profiles):
            conn.execute(delete(table).where(table.c.source == SOURCE, table.c.external_id == account))
    return len(accounts)


def write_submissions(
    conn: Connection, items: Sequence[Submission], sub: SubredditConfig, now: dt.datetime
) -> None:
    forget_deleted_accounts(conn, items)
    rows = [submission_row(s, sub, now) for s in items]
    upsert_rows(conn, reddit_submissions, rows, ["id"], only_if_changed=_SUBMISSION_CHANGES)
    _profiles(conn, items)


def write_comments(
    conn: Connection, items: Sequence[Comment], sub: SubredditConfig, now: dt.datetime
) -> None:
    forget_deleted_accounts(conn, items)
    rows = [comment_row(c, sub, now) for c in items]
    upsert_rows(conn, reddit_comments, rows, ["id"], only_if_changed=_COMMENT_CHANGES)
    _profiles(conn, items)
