"""Messages -> documents for the vector step: a root message and all its replies form one document.

A message's thread root is found by walking ``reply_to_message_id`` up while the target is
stored. The document id is the root message id; it changes content (and is re-synced)
whenever any message of the thread is added, edited or deleted. Deleted messages
(``deleted_at``, set by the bot API's look-back re-read) are left out of the text; a thread
whose every message is deleted has no document, and its id is removed from the index.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, func, select

from core.store.timestamps import as_utc
from core.vectors.documents import Document
from discord_activity_tracker.tables import (
    discord_authors,
    discord_channels,
    discord_guilds,
    discord_messages,
)

__all__ = ["THREAD_TYPE_NAMES", "deleted_thread_roots", "merged_thread_roots", "thread_documents"]

THREAD_TYPE_NAMES = ("GuildNewsThread", "GuildPublicThread", "GuildPrivateThread")
_MAX_DEPTH = 100
_BATCH = 500
_m = discord_messages


def _changed_ids(engine: Engine, changed_since: int | None) -> Iterator[list[str]]:
    query = select(_m.c.message_id).order_by(_m.c.created_at, _m.c.message_id)
    if changed_since is not None:
        query = query.where(_m.c.change_seq >= changed_since)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(query)
        for partition in result.scalars().partitions(_BATCH):
            yield list(partition)


def _roots(engine: Engine, ids: Sequence[str]) -> set[str]:
    """Thread root of every id: its topmost ancestor that is stored, or, when that message is in
    a Discord thread (a forum post, a thread of a channel), the thread itself: its id is the
    thread's starter message id."""
    parent: dict[str, str | None] = {}
    channel_of: dict[str, str] = {}
    missing: set[str] = set()
    frontier = set(ids)
    with engine.connect() as conn:
        for _ in range(_MAX_DEPTH):
            unknown = [i for i in frontier if i not in parent and i not in missing]
            if not unknown:
                break
            rows = conn.execute(
                select(_m.c.message_id, _m.c.reply_to_message_id, _m.c.channel_id).where(
                    _m.c.message_id.in_(unknown)
                )
            ).all()
            found: dict[str, str | None] = {row[0]: row[1] for row in rows}
            channel_of.update({row[0]: row[2] for row in rows})
            missing.update(i for i in unknown if i not in found)
            parent.update(found)
            frontier = {target for target in found.values() if target}
        threads = _thread_channels(conn, set(channel_of.values()))
    roots: set[str] = set()
    for message_id in ids:
        current = message_id
        for _ in range(_MAX_DEPTH):
            target = parent.get(current)
            if target is None or target in missing or target not in parent:
                break
            current = target
        channel = channel_of.get(current)
        roots.add(channel if channel in threads else current)
    return roots


def _thread_channels(conn: Connection, channel_ids: set[str]) -> set[str]:
    if not channel_ids:
        return set()
    query = select(discord_channels.c.channel_id).where(
        discord_channels.c.channel_id.in_(sorted(channel_ids)), discord_channels.c.type.in_(THREAD_TYPE_NAMES)
    )
    return set(conn.execute(query).scalars())


def _thread_rows(engine: Engine, root: str) -> list[dict[str, Any]]:
    columns = [
        _m.c.message_id,
        _m.c.reply_to_message_id,
        _m.c.content,
        _m.c.created_at,
        _m.c.edited_at,
        _m.c.updated_at,
        _m.c.attachments,
        _m.c.channel_id,
        _m.c.guild_id,
        # The name the message was posted under (webhooks and bots change it per message).
        func.coalesce(_m.c.author_name, discord_authors.c.name).label("author"),
        discord_authors.c.author_id,
        discord_channels.c.name.label("channel"),
        discord_guilds.c.name.label("guild"),
    ]
    joined = (
        _m.join(discord_authors, discord_authors.c.author_id == _m.c.author_id)
        .join(discord_channels, discord_channels.c.channel_id == _m.c.channel_id)
        .join(discord_guilds, discord_guilds.c.guild_id == _m.c.guild_id)
    )
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    with engine.connect() as conn:
        # A thread's document: its starter message (id = the thread's), everything posted in it,
        # and the replies to those.
        in_thread = select(_m.c.message_id).where(_m.c.channel_id == root)
        wanted = [root, *conn.execute(in_thread).scalars()]
        while wanted and len(seen) < 10_000:
            batch = [w for w in wanted if w not in seen]
            seen.update(batch)
            found = [
                dict(r)
                for r in conn.execute(
                    select(*columns)
                    .select_from(joined)
                    .where(_m.c.message_id.in_(batch), _m.c.deleted_at.is_(None))
                ).mappings()
            ]
            rows.extend(found)
            wanted = list(
                conn.execute(select(_m.c.message_id).where(_m.c.reply_to_message_id.in_(batch))).scalars()
            )
    rows.sort(key=lambda r: (r["created_at"], r["message_id"]))
    return rows


def _render(rows: list[dict[str, Any]]) -> str:
    lines: list[str] = []
    for row in rows:
        stamp = as_utc(row["created_at"]).strftime("%Y-%m-%d %H:%M")
        edited = " (edited)" if row["edited_at"] else ""
        prefix = "" if row is rows[0] else "> reply: "
        content = row["content"].strip() or "(no text)"
        files = ", ".join(a.get("fileName", "") for a in row["attachments"] or [] if isinstance(a, dict))
        attachment = f"\n[attachments: {files}]" if files else ""
        lines.append(f"{prefix}**{row['author']}** ({stamp}{edited}): {content}{attachment}")
    return "\n\n".join(lines)


def _document(root_id: str, rows: list[dict[str, Any]]) -> Document:
    root = rows[0]  # the root message, or its first reply left when the root is deleted
    # When Discord last changed the thread: its newest message or edit (not the store's write time).
    updated = max(as_utc(r["edited_at"] or r["created_at"]) for r in rows)
    return Document(
        source="discord",
        doc_id=root_id,
        title=f"#{root['channel']} thread by {root['author']}",
        text=_render(rows),
        updated_at=updated,
        metadata={
            "guild": root["guild"],
            "channel": root["channel"],
            "channel_id": root["channel_id"],
            "author": root["author"],
            "authors": sorted({r["author"] for r in rows}),
            "message_count": len(rows),
            "started_at": as_utc(root["created_at"]).isoformat(),
            "url": f"https://discord.com/channels/{root['guild_id']}/{root['channel_id']}/{root_id}",
        },
    )


def merged_thread_roots(engine: Engine, changed_since: int | None) -> list[str]:
    """Messages whose parent was stored at or after ``changed_since``: until then they were
    thread roots with documents of their own (a backfill window can store a reply before its
    parent); now they belong to their parent's thread, and their own documents must go."""
    if changed_since is None:
        return []  # every document is rebuilt; the ledger's retry list removes the rest
    changed = select(_m.c.message_id).where(_m.c.change_seq >= changed_since)
    with engine.connect() as conn:
        return list(
            conn.execute(select(_m.c.message_id).where(_m.c.reply_to_message_id.in_(changed))).scalars()
        )


def deleted_thread_roots(engine: Engine, changed_since: int | None) -> list[str]:
    """Threads with a message deleted at or after ``changed_since`` (ever, when ``None``) whose
    every message is now deleted: their documents must go."""
    query = select(_m.c.message_id).where(_m.c.deleted_at.is_not(None))
    if changed_since is not None:
        query = query.where(_m.c.change_seq >= changed_since)
    gone: list[str] = []
    with engine.connect() as conn:
        deleted = list(conn.execute(query).scalars())
    for start in range(0, len(deleted), _BATCH):
        for root in sorted(_roots(engine, deleted[start : start + _BATCH])):
            if root not in gone and not _thread_rows(engine, root):
                gone.append(root)
    return gone


def thread_documents(engine: Engine, changed_since: int | None, doc_ids: Iterable[str]) -> Iterator[Document]:
    """Documents of every thread with a message changed at or after the change sequence
    ``changed_since`` (every thread when ``None``), plus the threads ``doc_ids``."""
    emitted: set[str] = set()
    batches = _changed_ids(engine, changed_since)
    extra = list(doc_ids)
    for ids in [extra, *batches] if extra else batches:
        for root in sorted(_roots(engine, ids) - emitted):
            emitted.add(root)
            rows = _thread_rows(engine, root)
            if rows:
                yield _document(root, rows)
