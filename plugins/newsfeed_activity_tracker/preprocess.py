"""Documents for the vector step: one per story, its comments below it in time order."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sqlalchemy import Engine, select, union

from core.store import as_utc
from core.vectors.documents import Document
from newsfeed_activity_tracker.streams import SOURCE
from newsfeed_activity_tracker.tables import newsfeed_comments as comments
from newsfeed_activity_tracker.tables import newsfeed_stories as stories

__all__ = ["documents", "removed_story_ids"]


def documents(engine: Engine, changed_since: int | None, doc_ids: Iterable[str]) -> Iterator[Document]:
    wanted = [int(i) for i in doc_ids if i.isdigit()]
    query = select(stories).where(stories.c.deleted.is_(False)).order_by(stories.c.story_id)
    if changed_since is not None:  # the story's row or any of its comments changed, or asked for again
        changed = union(
            select(stories.c.story_id).where(stories.c.change_seq >= changed_since),
            select(comments.c.story_id).where(comments.c.change_seq >= changed_since),
        )
        query = query.where(stories.c.story_id.in_(changed) | stories.c.story_id.in_(wanted))
    with engine.connect() as conn:
        for story in conn.execute(query).mappings():
            thread = conn.execute(
                select(comments)
                .where(comments.c.story_id == story["story_id"], comments.c.deleted.is_(False))
                .order_by(comments.c.created_at, comments.c.comment_id)
            ).mappings()
            lines = [f"# {story['title']}", story["url"] or "", story["text"]]
            lines += [
                f"\n{c['author']} ({as_utc(c['created_at']):%Y-%m-%d %H:%M}): {c['text']}" for c in thread
            ]
            yield Document(
                source=SOURCE,
                doc_id=str(story["story_id"]),
                title=story["title"],
                text="\n".join(line for line in lines if line),
                updated_at=as_utc(story["updated_at"]),
                metadata={
                    "author": story["author"] or "",
                    "score": story["score"],
                    "url": story["url"] or "",
                },
            )


def removed_story_ids(engine: Engine, changed_since: int | None) -> list[str]:
    """Stories the API marked deleted (since the horizon): their records leave the index."""
    query = select(stories.c.story_id).where(stories.c.deleted.is_(True))
    if changed_since is not None:
        query = query.where(stories.c.change_seq >= changed_since)
    with engine.connect() as conn:
        return [str(i) for i in conn.execute(query).scalars()]
