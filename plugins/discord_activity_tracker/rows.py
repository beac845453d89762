"""Export objects -> table rows (the one place that knows both shapes).

A message row is made from the raw export object (field names are the export's own) and
its validated model (parsed timestamps), both from the validation pass. ``updated_at`` is
not part of a row: the write pass sets it when the batch commits. On PostgreSQL messages
skip the dict: :func:`message_copy_line` writes the same values as COPY text.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Mapping
from typing import Any

import orjson

from core.store.pg_copy import NULL, copy_json, copy_text
from discord_activity_tracker.api_schemas import ExportHeader, Message

__all__ = [
    "MESSAGE_COLUMNS",
    "author_row",
    "channel_row",
    "content_hash",
    "guild_row",
    "message_copy_line",
    "message_row",
]

MESSAGE_COLUMNS = (
    "message_id",
    "channel_id",
    "guild_id",
    "author_id",
    "type",
    "content",
    "created_at",
    "edited_at",
    "reply_to_message_id",
    "is_pinned",
    "attachments",
    "embeds",
    "stickers",
    "reactions",
    "mentions",
    "interaction",
    "content_hash",
    "author_name",
)
"""The columns of a message row, in the order :func:`message_copy_line` writes them: every
column of ``discord_messages`` but ``updated_at`` (set when the batch commits)."""

_SORTED = orjson.OPT_SORT_KEYS
# ISO-8601 that PostgreSQL reads exactly as Python does (DCE writes this); anything else
# fromisoformat accepted (more fraction digits, week dates, ...) is written out from the parsed value.
_PLAIN_TIMESTAMP = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)", re.ASCII
).fullmatch


def content_hash(message: Mapping[str, Any]) -> str:
    """Everything the export says about the message, in canonical form."""
    return hashlib.sha256(orjson.dumps(message, option=_SORTED)).hexdigest()


def guild_row(header: ExportHeader, now: dt.datetime) -> dict[str, Any]:
    return {
        "guild_id": header.guild.id,
        "name": header.guild.name,
        "icon_url": header.guild.icon_url,
        "updated_at": now,
    }


def channel_row(header: ExportHeader, now: dt.datetime) -> dict[str, Any]:
    channel = header.channel
    return {
        "channel_id": channel.id,
        "guild_id": header.guild.id,
        "name": channel.name,
        "type": channel.type,
        "category_id": channel.category_id,
        "category": channel.category,
        "topic": channel.topic,
        "updated_at": now,
    }


def author_row(user: Mapping[str, Any], seen_at: dt.datetime | None = None) -> dict[str, Any]:
    """``user`` as a ``discord_authors`` row; ``seen_at`` is the time of the message it came with."""
    return {
        "author_id": user["id"],
        "name": user["name"],
        "discriminator": user.get("discriminator"),
        "nickname": user.get("nickname"),
        "color": user.get("color"),
        "is_bot": bool(user.get("isBot", False)),
        "avatar_url": user.get("avatarUrl"),
        "roles": list(user.get("roles") or []),
        "seen_at": seen_at.astimezone(dt.UTC) if seen_at is not None else None,
    }


def message_row(raw: Mapping[str, Any], message: Message, header: ExportHeader) -> dict[str, Any]:
    edited = message.timestamp_edited
    return {
        "message_id": raw["id"],
        "channel_id": header.channel.id,
        "guild_id": header.guild.id,
        "author_id": raw["author"]["id"],
        "type": raw["type"],
        "content": raw["content"],
        "created_at": message.timestamp.astimezone(dt.UTC),
        "edited_at": edited.astimezone(dt.UTC) if edited else None,
        "reply_to_message_id": message.reply_to_message_id,
        "is_pinned": bool(raw.get("isPinned", False)),
        "attachments": raw.get("attachments") or [],
        "embeds": raw.get("embeds") or [],
        "stickers": raw.get("stickers") or [],
        "reactions": raw.get("reactions") or [],
        "mentions": [user["id"] for user in raw.get("mentions") or ()],
        "interaction": raw.get("interaction"),
        "content_hash": content_hash(raw),
        "author_name": raw["author"]["name"],
    }


def _json_list(value: Any) -> str:
    return copy_json(value) if value else "[]"


def _timestamp(written: str, parsed: dt.datetime) -> str:
    return written if _PLAIN_TIMESTAMP(written) else parsed.astimezone(dt.UTC).isoformat()


def message_copy_line(raw: Mapping[str, Any], message: Message, channel_and_guild: str) -> str:
    """:func:`message_row` as one COPY text line (no newline); ``channel_and_guild`` is their two ids
    joined by a tab. Ids and timestamps are validated, so only text and JSON need escaping."""
    edited = message.timestamp_edited
    reply_to = message.reply_to_message_id
    author = raw["author"]
    mentions = raw.get("mentions")
    interaction = raw.get("interaction")
    return "\t".join(
        (
            raw["id"],
            channel_and_guild,
            author["id"],
            copy_text(raw["type"]),
            copy_text(raw["content"]),
            _timestamp(raw["timestamp"], message.timestamp),
            _timestamp(raw["timestampEdited"], edited) if edited else NULL,
            reply_to or NULL,
            "t" if raw.get("isPinned") else "f",
            _json_list(raw.get("attachments")),
            _json_list(raw.get("embeds")),
            _json_list(raw.get("stickers")),
            _json_list(raw.get("reactions")),
            copy_json([user["id"] for user in mentions]) if mentions else "[]",
            NULL if interaction is None else copy_json(interaction),
            content_hash(raw),
            copy_text(author["name"]),
        )
    )
