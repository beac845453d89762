"""The tracker's own tables and their forward-only migrations. Ids are base36 without the
``t3_``/``t1_`` prefix; a comment's submission may be missing (no foreign key)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, DateTime, Float, Integer, MetaData, String, Table, Text

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = ["MIGRATIONS", "reddit_comments", "reddit_submissions"]

metadata = MetaData()


def _item_columns() -> list[Column]:
    return [
        Column("subreddit", String(32), nullable=False, index=True),
        Column("author", String(64)),  # null once the account or the item is deleted
        Column("author_fullname", String(32)),
        Column("permalink", Text, nullable=False),
        Column("score", Integer, nullable=False),
        Column("stickied", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False, index=True),
        Column("edited_at", DateTime(timezone=True)),
        Column("is_deleted", Boolean, nullable=False),  # by its author: text blanked, never indexed
        Column("is_removed", Boolean, nullable=False),  # by moderators/admins: text blanked too
        Column("matched_keywords", Text, nullable=False),  # comma-separated, "" for none
        Column("updated_at", DateTime(timezone=True), nullable=False),  # when this row last changed
        change_column(),
    ]


reddit_submissions = Table(
    "reddit_submissions",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("title", Text, nullable=False),
    Column("selftext", Text, nullable=False),
    Column("url", Text),
    Column("domain", String(255)),
    Column("is_self", Boolean, nullable=False),
    Column("flair", String(255)),
    Column("upvote_ratio", Float),
    Column("num_comments", Integer, nullable=False),
    Column("removed_by_category", String(64)),
    Column("over_18", Boolean, nullable=False),
    Column("locked", Boolean, nullable=False),
    *_item_columns(),
)
reddit_comments = Table(
    "reddit_comments",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("submission_id", String(16), nullable=False, index=True),
    Column("parent_fullname", String(24), nullable=False),
    Column("body", Text, nullable=False),
    Column("distinguished", String(32)),
    *_item_columns(),
)

MIGRATIONS = (
    Migration(1, "submissions and comments", create_tables(reddit_submissions, reddit_comments)),
    Migration(2, "change_seq for the vector step", track_changes(reddit_submissions, reddit_comments)),
)
