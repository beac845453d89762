"""Messages -> vector documents.

- One **thread document** per root with replies: ``<team>/<channel>/<thread_ts>``.
- One **channel-day document** for the top-level messages without replies of one UTC day:
  ``<team>/<channel>/<YYYY-MM-DD>`` (stable ids, unlike the original's 1-hour merging).

Deleted messages are left out; a document with no live message left is removed
(:func:`removed_documents`). Slack markup is rendered readable: ``<@U123>`` -> ``@display``,
``<#C123|name>`` -> ``#name``, ``<url|label>`` -> ``[label](url)``, ``<!here>`` -> ``@here``,
common ``:emoji:`` codes -> the character, HTML entities unescaped.
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Engine, and_, or_, select

from core.store.timestamps import as_utc
from core.vectors.documents import Document
from slack_activity_tracker.tables import (
    slack_channels,
    slack_files,
    slack_message_files,
    slack_messages,
    slack_teams,
    slack_users,
)

__all__ = ["SOURCE", "documents", "permalink", "removed_documents", "render_markup"]

SOURCE = "slack"
_m = slack_messages
_BATCH = 500
# Channel-join/leave noise and similar never make a document.
SKIP_SUBTYPES = frozenset({"channel_join", "channel_leave", "channel_topic", "channel_purpose", "channel_name",
                           "bot_add", "bot_remove", "tombstone", "pinned_item", "unpinned_item"})

EMOJI = {
    "smile": "😄", "slightly_smiling_face": "🙂", "grinning": "😀", "joy": "😂", "wink": "😉",
    "thumbsup": "👍", "+1": "👍", "thumbsdown": "👎", "-1": "👎", "heart": "❤️", "tada": "🎉",
    "white_check_mark": "✅", "heavy_check_mark": "✔️", "x": "❌", "warning": "⚠️", "eyes": "👀",
    "thinking_face": "🤔", "pray": "🙏", "rocket": "🚀", "fire": "🔥", "clap": "👏", "100": "💯",
    "bug": "🐛", "question": "❓", "exclamation": "❗", "ok_hand": "👌", "raised_hands": "🙌",
    "sweat_smile": "😅", "laughing": "😆", "smiley": "😃", "sob": "😭", "confused": "😕",
}

_ANGLE = re.compile(r"<([^<>]+)>")
_EMOJI_CODE = re.compile(r":([a-z0-9_+\-]+)(?:::skin-tone-\d)?:")


def render_markup(text: str, users: Mapping[str, str], channels: Mapping[str, str]) -> str:
    """Slack's message markup as readable text (see the module docstring)."""

    def angle(match: re.Match[str]) -> str:
        inner = match.group(1)
        target, _, label = inner.partition("|")
        if target.startswith("@"):
            user = target[1:]
            return "@" + (users.get(user) or label or user)
        if target.startswith("#"):
            channel = target[1:]
            return "#" + (label or channels.get(channel) or channel)
        if target.startswith("!"):
            special = target[1:]
            if special in ("here", "channel", "everyone"):
                return f"@{special}"
            if special.startswith("subteam^"):
                return label or "@group"
            return label or special.split("^", 1)[0]
        if label:
            return f"[{label}]({target})"
        return target.removeprefix("mailto:") if target.startswith("mailto:") else target

    rendered = _ANGLE.sub(angle, text)
    rendered = _EMOJI_CODE.sub(lambda m: EMOJI.get(m.group(1), m.group(0)), rendered)
    return rendered.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def permalink(domain: str | None, channel_id: str, ts: str, thread_ts: str | None = None) -> str | None:
    if not domain:
        return None
    url = f"https://{domain}.slack.com/archives/{channel_id}/p{ts.replace('.', '')}"
    if thread_ts and thread_ts != ts:
        url += f"?thread_ts={thread_ts}&cid={channel_id}"
    return url


# --------------------------------------------------------------------------- which documents


def _doc_ids_of(row: Mapping[Any, Any]) -> list[str]:
    """The documents a message row belongs to (a root also to its day, which it may have left)."""
    base = f"{row['team_id']}/{row['channel_id']}"
    ids: list[str] = []
    if row["thread_ts"] and (not row["is_root"] or (row["reply_count"] or 0) > 0):
        ids.append(f"{base}/{row['thread_ts']}")
    if row["is_root"] or row["subtype"] == "thread_broadcast":
        ids.append(f"{base}/{as_utc(row['ts_at']).date().isoformat()}")
    return ids


def _changed_doc_ids(engine: Engine, changed_since: int | None) -> Iterator[list[str]]:
    query = select(_m.c.team_id, _m.c.channel_id, _m.c.ts, _m.c.ts_at, _m.c.thread_ts, _m.c.is_root,
                   _m.c.reply_count, _m.c.subtype).order_by(_m.c.team_id, _m.c.channel_id, _m.c.ts_at)
    if changed_since is not None:
        query = query.where(_m.c.change_seq >= changed_since)
    with engine.connect() as conn:
        result = conn.execution_options(stream_results=True, yield_per=_BATCH).execute(query)
        for part in result.mappings().partitions(_BATCH):
            ids: list[str] = []
            for row in part:
                ids += _doc_ids_of(row)
            yield list(dict.fromkeys(ids))


class _Names:
    """Display names of users and channels, and team domains, loaded per team on first use."""

    def __init__(self) -> None:
        self.users: dict[str, dict[str, str]] = {}
        self.channels: dict[str, dict[str, str]] = {}
        self.teams: dict[str, tuple[str | None, str | None]] = {}

    def load(self, conn: Connection, team_id: str) -> None:
        if team_id in self.users:
            return
        users = conn.execute(
            select(slack_users.c.user_id, slack_users.c.display_name, slack_users.c.real_name,
                   slack_users.c.handle).where(slack_users.c.team_id == team_id)
        ).all()
        channels = conn.execute(
            select(slack_channels.c.channel_id, slack_channels.c.name).where(slack_channels.c.team_id == team_id)
        ).all()
        team = conn.execute(
            select(slack_teams.c.name, slack_teams.c.domain).where(slack_teams.c.team_id == team_id)
        ).first()
        self.users[team_id] = {u[0]: u[1] or u[2] or u[3] or u[0] for u in users}
        self.channels[team_id] = {c[0]: c[1] for c in channels}
        self.teams[team_id] = (team[0], team[1]) if team else (None, None)


_DAY_KEY = re.compile(r"\d{4}-\d{2}-\d{2}")
_DAY_ROWS = (
    or_(_m.c.is_root.is_(True), _m.c.subtype == "thread_broadcast"),
    # roots with replies have their own thread document
    or_(_m.c.reply_count.is_(None), _m.c.reply_count == 0, _m.c.thread_ts.is_(None),
        _m.c.subtype == "thread_broadcast"),
)


def _kind(key: str) -> str:
    return "day" if _DAY_KEY.fullmatch(key) else "thread"


def _day_range(key: str) -> Any:
    start = dt.datetime.fromisoformat(key).replace(tzinfo=dt.UTC)
    return and_(_m.c.ts_at >= start, _m.c.ts_at < start + dt.timedelta(days=1))


def _rows_of(conn: Connection, doc_ids: Sequence[str]) -> dict[str, tuple[str, list[dict[str, Any]]]]:
    """(kind, live rows oldest first, each with its rendered ``files``) of every document in
    ``doc_ids``, loaded set-based: per channel in the batch, one statement for its threads, one
    for its days and one for their files (in slices of ``_BATCH`` keys)."""
    wanted: dict[tuple[str, str], dict[str, list[str]]] = {}
    for doc_id in doc_ids:
        team_id, channel_id, key = doc_id.split("/", 2)
        wanted.setdefault((team_id, channel_id), {"day": [], "thread": []})[_kind(key)].append(key)
    found: dict[str, tuple[str, list[dict[str, Any]]]] = {
        doc_id: (_kind(doc_id.split("/", 2)[2]), []) for doc_id in doc_ids
    }
    for (team_id, channel_id), keys in wanted.items():
        base = f"{team_id}/{channel_id}"
        where = (_m.c.team_id == team_id, _m.c.channel_id == channel_id, _m.c.deleted_at.is_(None))
        rows: list[dict[str, Any]] = []
        for part in _slices(keys["thread"]):
            query = select(_m).where(
                *where, or_(_m.c.thread_ts.in_(part), and_(_m.c.ts.in_(part), _m.c.thread_ts.is_(None)))
            )
            for row in conn.execute(query.order_by(_m.c.ts_at, _m.c.ts)).mappings():
                if row["subtype"] not in SKIP_SUBTYPES:
                    rows.append(dict(row))
                    found[f"{base}/{row['thread_ts'] or row['ts']}"][1].append(rows[-1])
        for part in _slices(keys["day"]):
            days = set(part)
            query = select(_m).where(*where, *_DAY_ROWS, or_(*(_day_range(day) for day in part)))
            for row in conn.execute(query.order_by(_m.c.ts_at, _m.c.ts)).mappings():
                day = as_utc(row["ts_at"]).date().isoformat()
                if row["subtype"] not in SKIP_SUBTYPES and day in days:
                    rows.append(dict(row))
                    found[f"{base}/{day}"][1].append(rows[-1])
        files = _files(conn, team_id, channel_id, sorted({r["ts"] for r in rows}))
        for row in rows:
            row["files"] = files.get(row["ts"], [])
    return found


def _files(conn: Connection, team_id: str, channel_id: str, stamps: Sequence[str]) -> dict[str, list[str]]:
    files: dict[str, list[str]] = {}
    for part in _slices(stamps):
        found = conn.execute(
            select(slack_message_files.c.ts, slack_files.c.name, slack_files.c.title, slack_files.c.filetype,
                   slack_files.c.mode, slack_files.c.preview_text)
            .join(slack_files, and_(slack_files.c.team_id == slack_message_files.c.team_id,
                                    slack_files.c.file_id == slack_message_files.c.file_id))
            .where(slack_message_files.c.team_id == team_id, slack_message_files.c.channel_id == channel_id,
                   slack_message_files.c.ts.in_(part))
            .order_by(slack_message_files.c.ts, slack_message_files.c.file_id)
        ).all()
        for ts, name, title, filetype, mode, preview in found:
            if mode == "tombstone":
                continue
            line = f"[file: {name or title or 'unnamed'} ({filetype or 'file'})]"
            if preview:
                line += "\n" + preview.strip()
            files.setdefault(ts, []).append(line)
    return files


def _slices(values: Sequence[str]) -> Iterator[list[str]]:
    for start in range(0, len(values), _BATCH):
        yield list(values[start : start + _BATCH])


def _render_line(row: Mapping[str, Any], names: _Names) -> str:
    team = row["team_id"]
    users = names.users[team]
    author = users.get(row["user_id"] or "") or row["user_id"] or row["bot_id"] or "unknown"
    stamp = as_utc(row["ts_at"]).strftime("%H:%M")
    text = render_markup(row["text"] or "", users, names.channels[team]).strip()
    files: list[str] = row.get("files") or []
    edited = " (edited)" if row["edited_ts"] else ""
    body = text or "(no text)"
    return f"**@{author}** ({stamp} UTC{edited}): {body}" + ("\n" + "\n".join(files) if files else "")


def _document(doc_id: str, kind: str, rows: list[dict[str, Any]], names: _Names) -> Document:
    team_id, channel_id, key = doc_id.split("/", 2)
    team_name, domain = names.teams[team_id]
    channel = names.channels[team_id].get(channel_id, channel_id)
    users = names.users[team_id]
    first = rows[0]
    day = as_utc(first["ts_at"]).date().isoformat()
    title = f"#{channel} thread, {day}" if kind == "thread" else f"#{channel}, {day}"
    lines = [f"# {title}", *(_render_line(r, names) for r in rows)]
    authors = sorted({users.get(r["user_id"] or "") or r["user_id"] or r["bot_id"] or "unknown" for r in rows})
    metadata: dict[str, Any] = {
        "team_id": team_id,
        "team": team_name or team_id,
        "channel_id": channel_id,
        "channel": channel,
        "kind": kind,
        "started_at": int(as_utc(first["ts_at"]).timestamp()),
        "last_activity_at": int(max(as_utc(r["ts_at"]) for r in rows).timestamp()),
        "authors": authors,
        "message_count": len(rows),
    }
    if kind == "thread":
        metadata["thread_ts"] = key
    url = permalink(domain, channel_id, first["ts"], key if kind == "thread" else None)
    if kind == "thread" and domain:
        url = f"https://{domain}.slack.com/archives/{channel_id}/p{key.replace('.', '')}?thread_ts={key}&cid={channel_id}"
    if url:
        metadata["url"] = url
    updated = max(as_utc(r["updated_at"]) for r in rows)
    return Document(source=SOURCE, doc_id=doc_id, title=title, text="\n".join(lines), updated_at=updated,
                    metadata=metadata)


def documents(engine: Engine, changed_since: int | None, doc_ids: Iterable[str]) -> Iterator[Document]:
    """Documents touched by rows changed at or after ``changed_since`` (all when ``None``), plus ``doc_ids``.

    Each batch of changed rows' documents is loaded set-based on one connection kept for the
    walk (a few statements per channel in the batch, none per document)."""
    names = _Names()
    emitted: set[str] = set()
    extra = [d for d in doc_ids if d.count("/") >= 2]
    with engine.connect() as conn:
        for ids in itertools.chain([extra], _changed_doc_ids(engine, changed_since)):
            fresh = [doc_id for doc_id in dict.fromkeys(ids) if doc_id not in emitted]
            emitted.update(fresh)
            found = _rows_of(conn, fresh)
            for doc_id in fresh:
                kind, rows = found[doc_id]
                if rows:
                    names.load(conn, doc_id.split("/", 1)[0])
                    yield _document(doc_id, kind, rows, names)
            conn.rollback()  # end the read transaction between batches


def removed_documents(engine: Engine, changed_since: int | None) -> Iterator[str]:
    """Documents touched since ``changed_since`` that have no live message left."""
    with engine.connect() as conn:
        for ids in _changed_doc_ids(engine, changed_since):
            found = _rows_of(conn, ids)
            yield from (doc_id for doc_id in ids if not found[doc_id][1])
            conn.rollback()
