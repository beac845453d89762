"""The tracker's own tables and their forward-only migrations."""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, DateTime, Integer, MetaData, String, Table, Text

from core.store import Migration, create_tables
from core.store.changes import change_column, track_changes

__all__ = ["MIGRATIONS", "newsfeed_comments", "newsfeed_stories"]

metadata = MetaData()


def _item_columns() -> list[Column]:
    return [
        Column("author", String(100)),
        Column("text", Text, nullable=False),
        Column("deleted", Boolean, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        change_column(),  # set by the database on every write: what the vector step follows
    ]


newsfeed_stories = Table(
    "newsfeed_stories",
    metadata,
    Column("story_id", BigInteger, primary_key=True, autoincrement=False),
    Column("title", Text, nullable=False),
    Column("url", Text),
    Column("score", Integer, nullable=False),
    *_item_columns(),
)
newsfeed_comments = Table(
    "newsfeed_comments",
    metadata,
    Column("comment_id", BigInteger, primary_key=True, autoincrement=False),
    Column("story_id", BigInteger, nullable=False, index=True),
    Column("parent_id", BigInteger, nullable=False),
    *_item_columns(),
)

MIGRATIONS = (
    Migration(1, "stories and comments", create_tables(newsfeed_stories, newsfeed_comments)),
    Migration(2, "change_seq for the vector step", track_changes(newsfeed_stories, newsfeed_comments)),
)
