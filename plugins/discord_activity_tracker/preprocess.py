"""Messages -> documents for the vector step: a root message and all its replies form one document.

A message's thread root is found by walking ``reply_to_message_id`` up while the target is
stored. The document id is the root message id; it changes content (and is re-synced)
whenever any message of the thread is added, edited or deleted. Deleted messages
(``deleted_at``, set by the bot API's look-back re-read) are left out of the text; a thread
whose every message is deleted has no document, and its id is removed from the index.
"""

from __future__ import annotations

import datetime as dt
import functools
import itertools
import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, Engine, String, TextClause, column, exists, select, text
from sqlalchemy.sql.selectable import TextualSelect

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


_MAX_THREAD_MESSAGES = 10_000
_THREAD_TYPES = ", ".join(f"'{name}'" for name in THREAD_TYPE_NAMES)


def _chunks(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _BATCH):
        yield list(values[start : start + _BATCH])


# The two statements below are plain SQL text built once per dialect: the batch's ids travel as
# ONE parameter (a text[] array on PostgreSQL, a JSON array on SQLite), not as an expanding IN
# list of one bind parameter per id.
_ID_LIST = {
    "postgresql": "SELECT unnest(CAST(:ids AS text[]))",
    "sqlite": "SELECT value FROM json_each(:ids)",
}


def _ids(conn: Connection, values: Sequence[str]) -> dict[str, Any]:
    return {"ids": list(values) if conn.dialect.name == "postgresql" else orjson.dumps(list(values)).decode()}


def _join(dialect: str, table: str, alias: str, condition: str) -> str:
    """``JOIN table alias ON condition``, on PostgreSQL as a LATERAL subquery behind ``OFFSET 0``:
    one index lookup per row before it. PostgreSQL's estimate of a recursive CTE's size is
    wildly high (a channel holds thousands of messages, on average), and with a plain join it
    hashes the whole table instead. SQLite joins row by row anyway (and has no LATERAL)."""
    if dialect == "postgresql":
        return f"CROSS JOIN LATERAL (SELECT * FROM {table} {alias} WHERE {condition} OFFSET 0) {alias}"
    return f"JOIN {table} {alias} ON {condition}"


def _ancestors_sql(dialect: str) -> str:
    """Every stored message within ``_MAX_DEPTH - 1`` replies above a message of the batch (the
    batch's own messages at depth 0, never walked again from deeper): its id, the id it replies
    to, its channel, and whether that channel is a Discord thread. UNION keeps a message reached
    twice at the same depth once."""
    messages, channels = _m.name, discord_channels.name
    return f"""
WITH RECURSIVE batch(message_id) AS ({_ID_LIST[dialect]}),
up(message_id, reply_to, channel_id, depth) AS (
    SELECT m.message_id, m.reply_to_message_id, m.channel_id, 0
    FROM batch b {_join(dialect, messages, "m", "m.message_id = b.message_id")}
  UNION
    SELECT m.message_id, m.reply_to_message_id, m.channel_id, up.depth + 1
    FROM up {_join(dialect, messages, "m", "m.message_id = up.reply_to")}
    WHERE up.depth < {_MAX_DEPTH - 1} AND up.reply_to NOT IN (SELECT message_id FROM batch)
)
SELECT DISTINCT up.message_id, up.reply_to, up.channel_id,
    EXISTS (SELECT 1 FROM {channels} c WHERE c.channel_id = up.channel_id AND c.type IN ({_THREAD_TYPES}))
FROM up"""


def _threads_sql(dialect: str) -> str:
    """The stored, not deleted messages of each thread (root) of the batch, with what a
    document shows of them.

    members: level 0 is the root itself (stored or not) and every message posted in the
    channel whose id is the root (a Discord thread); level n + 1 the replies to level n, up to
    ``_MAX_DEPTH`` levels. A reply never leads back to level 0, so each message appears once
    per thread. counted: how many members the lower levels hold; a thread stops growing at the
    first level that starts with ``_MAX_THREAD_MESSAGES`` members or more (deleted ones
    count). The attachments come as JSON text: most are ``[]``, which needs no parsing."""
    messages = _m.name

    def join(table: str, alias: str, condition: str) -> str:
        return _join(dialect, table, alias, condition)

    return f"""
WITH RECURSIVE roots(root) AS ({_ID_LIST[dialect]}),
members(root, message_id, level) AS (
    SELECT root, root, 0 FROM roots
  UNION ALL
    SELECT r.root, m.message_id, 0
    FROM roots r {join(messages, "m", "m.channel_id = r.root AND m.message_id <> r.root")}
  UNION ALL
    SELECT p.root, m.message_id, p.level + 1
    FROM members p {join(messages, "m", "m.reply_to_message_id = p.message_id")}
    WHERE p.level < {_MAX_DEPTH} AND m.channel_id <> p.root AND m.message_id <> p.root
),
counted AS (
    SELECT root, message_id,
        count(*) OVER (PARTITION BY root ORDER BY level) - count(*) OVER (PARTITION BY root, level) AS earlier
    FROM members
)
SELECT k.root, m.message_id, m.content, m.created_at, m.edited_at, CAST(m.attachments AS TEXT),
    m.channel_id, m.guild_id, coalesce(m.author_name, a.name), ch.name, g.name  -- the fields of _Message
FROM counted k
{join(messages, "m", "m.message_id = k.message_id AND m.deleted_at IS NULL")}
{join(discord_authors.name, "a", "a.author_id = m.author_id")}
{join(discord_channels.name, "ch", "ch.channel_id = m.channel_id")}
{join(discord_guilds.name, "g", "g.guild_id = m.guild_id")}
WHERE k.earlier < {_MAX_THREAD_MESSAGES}"""


class _Message(NamedTuple):
    """A row of the threads statement: one message of one thread (a message in two threads, a
    reply into a Discord thread from outside it, comes once for each)."""

    root: str
    message_id: str
    content: str
    created_at: dt.datetime
    edited_at: dt.datetime | None
    attachments: str  # the column's JSON text
    channel_id: str
    guild_id: str
    author: str  # the name the message was posted under, else the author's
    channel: str
    guild: str


@functools.cache
def _statements(dialect: str) -> tuple[TextClause, TextualSelect]:
    """(ancestors, threads) for ``dialect``; threads' columns typed as the table's, so both
    dialects hand back datetimes (SQLite keeps text)."""
    types = {"created_at": _m.c.created_at.type, "edited_at": _m.c.edited_at.type}
    threads = text(_threads_sql(dialect)).columns(
        *(column(name, types.get(name, String())) for name in _Message._fields)
    )
    return text(_ancestors_sql(dialect)), threads


def _read_settings(conn: Connection) -> None:
    """Call at the start of each read transaction. The estimates of the recursive statements are
    far too high, and PostgreSQL would JIT-compile them (hundreds of ms) for a few ms of work."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SET LOCAL jit = off"))


def _roots(conn: Connection, ids: Sequence[str]) -> set[str]:
    """Thread root of every id: its topmost ancestor that is stored, or, when that message is in
    a Discord thread (a forum post, a thread of a channel), the thread itself: its id is the
    thread's starter message id.

    One statement reads the ancestors; the walk up stops after ``_MAX_DEPTH`` replies, or at a
    message whose parent is not stored or lies more than ``_MAX_DEPTH - 1`` replies above every
    message of the batch."""
    parent: dict[str, str | None] = {}
    channel_of: dict[str, str] = {}
    threads: set[str] = set()
    ancestors = _statements(conn.dialect.name)[0]
    for message_id, reply_to, channel_id, in_thread in conn.execute(ancestors, _ids(conn, ids)).all():
        parent[message_id] = reply_to
        channel_of[message_id] = channel_id
        if in_thread:
            threads.add(channel_id)
    roots: set[str] = set()
    for message_id in ids:
        current = message_id
        for _ in range(_MAX_DEPTH):
            target = parent.get(current)
            if target is None or target not in parent:
                break
            current = target
        channel = channel_of.get(current)
        roots.add(channel if channel in threads else current)
    return roots


def _threads_rows(conn: Connection, roots: Sequence[str]) -> dict[str, list[_Message]]:
    """The stored, not deleted messages of each thread in ``roots``, oldest first: one statement
    for all of them.

    A thread's document holds its starter message (id = the thread's), every message posted in
    the thread channel, and, level by level, the replies to those (at most about
    ``_MAX_THREAD_MESSAGES`` per thread)."""
    threads: dict[str, list[_Message]] = {root: [] for root in roots}
    if roots:
        for row in conn.execute(_statements(conn.dialect.name)[1], _ids(conn, roots)).all():
            message = _Message._make(row)
            threads[message.root].append(message)
    for messages in threads.values():
        messages.sort(key=_OLDEST_FIRST)
    return threads


_OLDEST_FIRST = operator.attrgetter("created_at", "message_id")


def _file_names(attachments: str | None) -> str:
    """The attachments' file names, from the column's JSON text."""
    if not attachments or attachments == "[]":
        return ""
    return ", ".join(a.get("fileName", "") for a in orjson.loads(attachments) or [] if isinstance(a, dict))


def _render(rows: list[_Message]) -> str:
    lines: list[str] = []
    for row in rows:
        stamp = as_utc(row.created_at).isoformat(" ", "minutes")[:16]  # YYYY-MM-DD HH:MM
        edited = " (edited)" if row.edited_at else ""
        prefix = "" if row is rows[0] else "> reply: "
        content = row.content.strip() or "(no text)"
        files = _file_names(row.attachments)
        attachment = f"\n[attachments: {files}]" if files else ""
        lines.append(f"{prefix}**{row.author}** ({stamp}{edited}): {content}{attachment}")
    return "\n\n".join(lines)


def _document(root_id: str, rows: list[_Message]) -> Document:
    root = rows[0]  # the root message, or its first reply left when the root is deleted
    # When Discord last changed the thread: its newest message or edit (not the store's write time).
    updated = max(as_utc(r.edited_at or r.created_at) for r in rows)
    return Document(
        source="discord",
        doc_id=root_id,
        title=f"#{root.channel} thread by {root.author}",
        text=_render(rows),
        updated_at=updated,
        metadata={
            "guild": root.guild,
            "channel": root.channel,
            "channel_id": root.channel_id,
            "author": root.author,
            "authors": sorted({r.author for r in rows}),
            "message_count": len(rows),
            "started_at": as_utc(root.created_at).isoformat(),
            "url": f"https://discord.com/channels/{root.guild_id}/{root.channel_id}/{root_id}",
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
        _read_settings(conn)
        for ids in _chunks(deleted):
            candidates = sorted(_roots(conn, ids) - set(gone))
            threads = _threads_rows(conn, candidates)
            gone.extend(root for root in candidates if not threads[root])
    return gone


def thread_documents(engine: Engine, changed_since: int | None, doc_ids: Iterable[str]) -> Iterator[Document]:
    """Documents of every thread with a message changed at or after the change sequence
    ``changed_since`` (every thread when ``None``), plus the threads ``doc_ids``.

    Changed messages are read in batches of ``_BATCH``; each batch costs two statements, whatever
    its number of threads and their depth (the walk up to the roots, then the threads' rows), in
    a read transaction of its own on one connection kept for the whole walk."""
    emitted: set[str] = set()
    batches = _changed_ids(engine, changed_since)
    extra = list(doc_ids)
    with engine.connect() as conn:
        for ids in itertools.chain(_chunks(extra), batches):
            _read_settings(conn)
            roots = sorted(_roots(conn, ids) - emitted)
            emitted.update(roots)
            threads = _threads_rows(conn, roots)
            for root in roots:
                if threads[root]:
                    yield _document(root, threads[root])
            conn.rollback()  # end the read transaction between batches
