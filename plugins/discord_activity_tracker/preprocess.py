"""Messages -> documents for the vector step: a root message and all its replies form one document.

A message's thread root is found by walking ``reply_to_message_id`` up while the target is
stored. The document id is the root message id; it changes content (and is re-synced)
whenever any message of the thread is added, edited or deleted. Deleted messages
(``deleted_at``, set by the bot API's look-back re-read) are left out of the text; a thread
whose every message is deleted has no document, and its id is removed from the index.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, exists, func, select

from core.store.timestamps import as_utc
from core.vectors.documents import Document
from discord_activity_tracker.tables import (
    discord_authors,
    discord_channels,
    discord_guilds,
    discord_messages,
)

__all__ = [
    "THREAD_TYPE_NAMES",
    "deleted_thread_roots",
    "former_chain_roots",
    "merged_thread_roots",
    "thread_documents",
]

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


def _roots(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Thread root of every id: its topmost ancestor that is stored, or, when that message is in
    a Discord thread (a forum post, a thread of a channel), the thread itself: its id is the
    thread's starter message id."""
    parent: dict[str, str | None] = {}
    channel_of: dict[str, str] = {}
    missing: set[str] = set()
    frontier = set(ids)
    for _ in range(_MAX_DEPTH):
        unknown = sorted(i for i in frontier if i not in parent and i not in missing)
        if not unknown:
            break
        found: dict[str, str | None] = {}
        for chunk in _chunks(unknown):
            for message_id, reply_to, channel_id in conn.execute(
                select(_m.c.message_id, _m.c.reply_to_message_id, _m.c.channel_id).where(
                    _m.c.message_id.in_(chunk)
                )
            ):
                found[message_id] = reply_to
                channel_of[message_id] = channel_id
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
    threads: set[str] = set()
    for chunk in _chunks(sorted(channel_ids)):
        query = select(discord_channels.c.channel_id).where(
            discord_channels.c.channel_id.in_(chunk), discord_channels.c.type.in_(THREAD_TYPE_NAMES)
        )
        threads.update(conn.execute(query).scalars())
    return threads


_COLUMNS = (
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
)
_JOINED = (
    _m.join(discord_authors, discord_authors.c.author_id == _m.c.author_id)
    .join(discord_channels, discord_channels.c.channel_id == _m.c.channel_id)
    .join(discord_guilds, discord_guilds.c.guild_id == _m.c.guild_id)
)
_MAX_THREAD_MESSAGES = 10_000


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _BATCH):
        yield list(values[start : start + _BATCH])


def _threads_rows(conn: Connection, roots: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The stored, not deleted messages of each thread in ``roots``, oldest first, loaded
    set-based: a handful of statements per batch of roots, whatever the number of threads.

    A thread's document holds its starter message (id = the thread's), every message posted in
    the thread channel, and, level by level, the replies to those (at most about
    ``_MAX_THREAD_MESSAGES`` per thread)."""
    members: dict[str, set[str]] = {root: {root} for root in roots}
    for chunk in _chunks(sorted(members)):
        for message_id, channel_id in conn.execute(
            select(_m.c.message_id, _m.c.channel_id).where(_m.c.channel_id.in_(chunk))
        ):
            members[channel_id].add(message_id)
    frontier: dict[str, set[str]] = {root: set(ids) for root, ids in members.items()}
    for _ in range(_MAX_DEPTH):
        growing = {
            root: ids for root, ids in frontier.items() if ids and len(members[root]) < _MAX_THREAD_MESSAGES
        }
        if not growing:
            break
        children: dict[str, list[str]] = {}
        for chunk in _chunks(sorted(set().union(*growing.values()))):
            for message_id, parent in conn.execute(
                select(_m.c.message_id, _m.c.reply_to_message_id).where(_m.c.reply_to_message_id.in_(chunk))
            ):
                children.setdefault(parent, []).append(message_id)
        frontier = {}
        for root, ids in growing.items():
            fresh = {
                child for parent in ids for child in children.get(parent, ()) if child not in members[root]
            }
            members[root] |= fresh
            frontier[root] = fresh
    found: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(set().union(*members.values()) if members else set())):
        query = (
            select(*_COLUMNS)
            .select_from(_JOINED)
            .where(_m.c.message_id.in_(chunk), _m.c.deleted_at.is_(None))
        )
        found.update((row["message_id"], dict(row)) for row in conn.execute(query).mappings())
    threads: dict[str, list[dict[str, Any]]] = {}
    for root, ids in members.items():
        rows = [found[i] for i in ids if i in found]
        rows.sort(key=lambda r: (r["created_at"], r["message_id"]))
        threads[root] = rows
    return threads


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


def former_chain_roots(engine: Engine, changed_since: int | None) -> list[str]:
    """Roots of reply chains inside Discord threads with a message stored at or after
    ``changed_since``. Versions before a thread became one document gave each such chain a
    document of its own; none is a document id now (a thread's messages all belong to the
    thread's document), so removing them cleans what those versions left in the index."""
    if changed_since is None:
        return []  # a full re-sync: the ledger's retry list removes documents no longer built
    threads = select(discord_channels.c.channel_id).where(discord_channels.c.type.in_(THREAD_TYPE_NAMES))
    touched = (
        select(_m.c.channel_id)
        .where(_m.c.change_seq >= changed_since, _m.c.channel_id.in_(threads))
        .distinct()
    )
    parent = _m.alias("parent")
    query = select(_m.c.message_id).where(
        _m.c.channel_id.in_(touched),
        _m.c.message_id != _m.c.channel_id,
        ~exists().where(parent.c.message_id == _m.c.reply_to_message_id),
    )
    with engine.connect() as conn:
        return list(conn.execute(query).scalars())


def deleted_thread_roots(engine: Engine, changed_since: int | None) -> list[str]:
    """Threads with a message deleted at or after ``changed_since`` (ever, when ``None``) whose
    every message is now deleted: their documents must go."""
    query = select(_m.c.message_id).where(_m.c.deleted_at.is_not(None))
    if changed_since is not None:
        query = query.where(_m.c.change_seq >= changed_since)
    gone: list[str] = []
    with engine.connect() as conn:
        deleted = list(conn.execute(query).scalars())
        for ids in _chunks(deleted):
            candidates = sorted(_roots(conn, ids) - set(gone))
            threads = _threads_rows(conn, candidates)
            gone.extend(root for root in candidates if not threads[root])
    return gone


def thread_documents(engine: Engine, changed_since: int | None, doc_ids: Iterable[str]) -> Iterator[Document]:
    """Documents of every thread with a message changed at or after the change sequence
    ``changed_since`` (every thread when ``None``), plus the threads ``doc_ids``.

    Changed messages are read in batches of ``_BATCH``; each batch's threads are found and
    loaded set-based on one connection kept for the whole walk (no statement per thread)."""
    emitted: set[str] = set()
    batches = _changed_ids(engine, changed_since)
    extra = list(doc_ids)
    with engine.connect() as conn:
        for ids in itertools.chain(_chunks(extra), batches):
            roots = sorted(_roots(conn, ids) - emitted)
            emitted.update(roots)
            threads = _threads_rows(conn, roots)
            for root in roots:
                if threads[root]:
                    yield _document(root, threads[root])
            conn.rollback()  # end the read transaction between batches
