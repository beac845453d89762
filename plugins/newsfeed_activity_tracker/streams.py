"""The two streams, declared (endpoint, model, key, cursor, paging), and how a page is written.
Stories page by a cursor in the body, comments by a ``Link`` header; both come oldest-updated
first, filtered by ``updated_since``, so every page advances the checkpoint."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from core.identity import Profile, upsert_profiles
from core.operations.http import CursorField, LinkHeader
from core.store import upsert_rows
from core.streams import Stream
from newsfeed_activity_tracker.api_schemas import Comment, Item, Story
from newsfeed_activity_tracker.tables import newsfeed_comments, newsfeed_stories

__all__ = ["COMMENTS", "SOURCE", "STORIES", "STREAMS"]

SOURCE = "newsfeed"


def _item_row(item: Item) -> dict[str, object]:
    return {"author": item.by, "text": item.text, "deleted": item.deleted, "created_at": item.time,
            "updated_at": item.updated_at}  # fmt: skip


def _profiles(conn: Connection, items: Sequence[Item]) -> None:
    """Authors go to the shared ``person_profiles`` (the user name is the account's id here)."""
    upsert_profiles(conn, SOURCE, [Profile(i.by, seen_at=i.time, username=i.by) for i in items if i.by])


def write_stories(conn: Connection, stories: Sequence[Story]) -> None:
    rows = [
        {"story_id": s.id, "title": s.title, "url": s.url, "score": s.score, **_item_row(s)} for s in stories
    ]
    # An unchanged re-read (the overlap window) leaves the row, and so its change_seq, alone.
    upsert_rows(conn, newsfeed_stories, rows, ["story_id"], only_if_changed=["updated_at"])
    _profiles(conn, stories)


def write_comments(conn: Connection, comments: Sequence[Comment]) -> None:
    rows = [
        {"comment_id": c.id, "story_id": c.story_id, "parent_id": c.parent_id, **_item_row(c)}
        for c in comments
    ]
    upsert_rows(conn, newsfeed_comments, rows, ["comment_id"], only_if_changed=["updated_at"])
    _profiles(conn, comments)


STORIES = Stream(
    name="stories",
    path="/v1/stories",
    model=Story,
    primary_key=("story_id",),
    cursor_field="updated_at",
    paginator=CursorField("next_cursor", param="cursor"),
    items_path="stories",
    params={"limit": 100},
    page_size_param="limit",
    since_param="updated_since",
    write=write_stories,
)
COMMENTS = Stream(
    name="comments",
    path="/v1/comments",
    model=Comment,
    primary_key=("comment_id",),
    cursor_field="updated_at",
    paginator=LinkHeader(),
    params={"per_page": 100},
    page_size_param="per_page",
    since_param="updated_since",
    write=write_comments,
)
# Read in this order: a comment's story is usually stored before the comment.
STREAMS: tuple[Stream[Any], ...] = (STORIES, COMMENTS)
