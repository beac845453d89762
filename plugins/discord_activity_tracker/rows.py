"""Export objects -> table rows (the one place that knows both shapes).

Messages are mapped from the raw export objects of the write pass (the file was validated
against ``api_schemas`` in the pass before), so the field names here are the export's own.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping
from typing import Any

import orjson

from discord_activity_tracker.api_schemas import ExportHeader

__all__ = ["author_row", "channel_row", "guild_row", "message_row", "parse_instant"]


def parse_instant(value: str) -> dt.datetime:
    """An export timestamp (ISO-8601 with offset, already validated) in UTC."""
    return dt.datetime.fromisoformat(value).astimezone(dt.UTC)


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


def author_row(user: Mapping[str, Any], now: dt.datetime) -> dict[str, Any]:
    return {
        "author_id": user["id"],
        "name": user["name"],
        "discriminator": user.get("discriminator"),
        "nickname": user.get("nickname"),
        "color": user.get("color"),
        "is_bot": bool(user.get("isBot", False)),
        "avatar_url": user.get("avatarUrl"),
        "roles": list(user.get("roles") or []),
        "updated_at": now,
    }


def message_row(message: Mapping[str, Any], header: ExportHeader, now: dt.datetime) -> dict[str, Any]:
    edited = message.get("timestampEdited")
    reference = message.get("reference") or {}
    return {
        "message_id": message["id"],
        "channel_id": header.channel.id,
        "guild_id": header.guild.id,
        "author_id": message["author"]["id"],
        "type": message["type"],
        "content": message["content"],
        "created_at": parse_instant(message["timestamp"]),
        "edited_at": parse_instant(edited) if edited else None,
        "reply_to_message_id": reference.get("messageId"),
        "is_pinned": bool(message.get("isPinned", False)),
        "attachments": message.get("attachments") or [],
        "embeds": message.get("embeds") or [],
        "stickers": message.get("stickers") or [],
        "reactions": message.get("reactions") or [],
        "mentions": [user["id"] for user in message.get("mentions") or ()],
        "interaction": message.get("interaction"),
        # Everything the export says about the message, in canonical form.
        "content_hash": hashlib.sha256(orjson.dumps(message, option=orjson.OPT_SORT_KEYS)).hexdigest(),
        "updated_at": now,
    }
