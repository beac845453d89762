"""Discord REST objects -> the DiscordChatExporter JSON shape the file ingest validates.

The API path writes through the same :mod:`~discord_activity_tracker.api_schemas` models and
:mod:`~discord_activity_tracker.rows` builders as exports do, so both paths store the same
rows for the same message. The mapping follows what DCE writes (2024 generation): camelCase
keys, type names instead of numbers, timestamps with milliseconds and an offset, unicode
emoji with an empty id, discriminator ``"0000"`` for migrated usernames, the display name
(guild nickname, else global name, else username) as ``nickname``, CDN avatar URLs.
REST carries no role colours: ``color`` is null and ``roles`` empty.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from core.errors import DataValidationError
from discord_activity_tracker.api_schemas import ExportHeader, Message

__all__ = [
    "CHANNEL_TYPES",
    "MESSAGE_TYPES",
    "adapt_message",
    "dce_timestamp",
    "export_header",
    "snowflake_at",
    "snowflake_time",
]

DISCORD_EPOCH_MS = 1_420_070_400_000
CDN = "https://cdn.discordapp.com"

MESSAGE_TYPES = {
    0: "Default",
    1: "RecipientAdd",
    2: "RecipientRemove",
    3: "Call",
    4: "ChannelNameChange",
    5: "ChannelIconChange",
    6: "ChannelPinnedMessage",
    7: "GuildMemberJoin",
    18: "ThreadCreated",
    19: "Reply",
    21: "ThreadStarterMessage",
}
"""REST message ``type`` -> DCE's name; other types are written as their number, as DCE does."""

CHANNEL_TYPES = {
    0: "GuildTextChat",
    1: "DirectTextChat",
    2: "GuildVoiceChat",
    3: "DirectGroupTextChat",
    4: "GuildCategory",
    5: "GuildNews",
    10: "GuildNewsThread",
    11: "GuildPublicThread",
    12: "GuildPrivateThread",
    13: "GuildStageVoice",
    14: "GuildDirectory",
    15: "GuildForum",
    16: "GuildMedia",
}


def snowflake_at(moment: dt.datetime) -> int:
    """The smallest snowflake of ``moment``'s millisecond, minus one: ``after=`` this value
    returns every message created at or after ``moment``."""
    millis = int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS
    return max((millis << 22) - 1, 0)


def snowflake_time(snowflake: int | str) -> dt.datetime:
    return dt.datetime.fromtimestamp(((int(snowflake) >> 22) + DISCORD_EPOCH_MS) / 1000, dt.UTC)


def dce_timestamp(value: Any) -> Any:
    """An ISO-8601 timestamp as DCE writes it (milliseconds, ``+00:00``); anything else is
    returned unchanged for the schema to reject with its own message."""
    if not isinstance(value, str):
        return value
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return value
    if parsed.tzinfo is None:
        return value
    return parsed.astimezone(dt.UTC).isoformat(timespec="milliseconds")


def _avatar_url(user: Mapping[str, Any]) -> str:
    avatar = user.get("avatar")
    if isinstance(avatar, str) and avatar:
        extension = "gif" if avatar.startswith("a_") else "png"
        return f"{CDN}/avatars/{user.get('id')}/{avatar}.{extension}?size=512"
    try:
        index = (int(str(user.get("id"))) >> 22) % 6
    except ValueError:
        index = 0
    return f"{CDN}/embed/avatars/{index}.png"


def _user(user: Any, nick: str | None = None) -> Any:
    if not isinstance(user, Mapping):
        return user  # the schema names what is wrong
    discriminator = user.get("discriminator")
    if discriminator in (None, "0"):
        discriminator = "0000"
    name = user.get("username")
    return {
        "id": user.get("id"),
        "name": name,
        "discriminator": discriminator,
        "nickname": nick or user.get("global_name") or name,
        "color": None,
        "isBot": bool(user.get("bot", False)),
        "roles": [],
        "avatarUrl": _avatar_url(user),
    }


def _attachment(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    return {
        "id": item.get("id"),
        "url": item.get("url"),
        "fileName": item.get("filename"),
        "fileSizeBytes": item.get("size"),
    }


def _reaction(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    value = item.get("emoji")
    emoji: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
    return {
        "emoji": {
            "id": emoji.get("id") or "",
            "name": emoji.get("name"),
            "isAnimated": bool(emoji.get("animated", False)),
        },
        "count": item.get("count"),
    }


def _sticker(item: Any) -> Any:
    if not isinstance(item, Mapping):
        return item
    return {"id": item.get("id"), "name": item.get("name")}


def _list(value: Any) -> Any:
    return [] if value is None else value


def adapt_message(raw: Mapping[str, Any], guild_id: str) -> dict[str, Any]:
    """The DCE JSON of a REST message (not yet validated: :func:`validate_message` does that)."""
    kind = raw.get("type")
    value = raw.get("member")
    member: Mapping[str, Any] = value if isinstance(value, Mapping) else {}
    message: dict[str, Any] = {
        "id": raw.get("id"),
        "type": MESSAGE_TYPES.get(kind, str(kind)) if isinstance(kind, int) else kind,
        "timestamp": dce_timestamp(raw.get("timestamp")),
        "timestampEdited": dce_timestamp(raw.get("edited_timestamp")),
        "callEndedTimestamp": None,
        "isPinned": bool(raw.get("pinned", False)),
        "content": raw.get("content"),
        "author": _user(raw.get("author"), member.get("nick")),
        "attachments": [_attachment(a) for a in _list(raw.get("attachments"))]
        if isinstance(_list(raw.get("attachments")), list)
        else raw.get("attachments"),
        "components": _list(raw.get("components")),
        "embeds": _list(raw.get("embeds")),
        "stickers": [_sticker(s) for s in _list(raw.get("sticker_items"))]
        if isinstance(_list(raw.get("sticker_items")), list)
        else raw.get("sticker_items"),
        "reactions": [_reaction(r) for r in _list(raw.get("reactions"))]
        if isinstance(_list(raw.get("reactions")), list)
        else raw.get("reactions"),
        "mentions": [_user(u) for u in _list(raw.get("mentions"))]
        if isinstance(_list(raw.get("mentions")), list)
        else raw.get("mentions"),
        "inlineEmojis": [],
    }
    reference = raw.get("message_reference")
    if isinstance(reference, Mapping) and reference.get("message_id"):
        message["reference"] = {
            "messageId": reference.get("message_id"),
            "channelId": reference.get("channel_id"),
            "guildId": reference.get("guild_id") or guild_id,
        }
    return message


def validate_message(raw: Mapping[str, Any], guild_id: str, *, source: str) -> tuple[dict[str, Any], Message]:
    """The DCE JSON of ``raw`` and its validated model; a :class:`DataValidationError` names the
    message id and the REST field otherwise."""
    adapted = adapt_message(raw, guild_id)
    try:
        return adapted, Message.model_validate(adapted)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise DataValidationError(
            f"message {str(raw.get('id'))[:24]}: {where}: {first['msg']}",
            source=source,
            location=f"message {str(raw.get('id'))[:24]}",
        ) from None


def export_header(
    guild: Mapping[str, Any], channel: Mapping[str, Any], parent: Mapping[str, Any] | None
) -> ExportHeader:
    """The export header DCE writes for ``channel`` (its ``category`` is the parent: the category
    of a channel, the channel or forum of a thread)."""
    icon = guild.get("icon")
    kind = channel.get("type")
    header = {
        "guild": {
            "id": guild.get("id"),
            "name": guild.get("name"),
            "iconUrl": f"{CDN}/icons/{guild.get('id')}/{icon}.png?size=512" if icon else None,
        },
        "channel": {
            "id": channel.get("id"),
            "type": CHANNEL_TYPES.get(kind, str(kind)) if isinstance(kind, int) else kind,
            "categoryId": channel.get("parent_id"),
            "category": parent.get("name") if parent else None,
            "name": channel.get("name"),
            "topic": channel.get("topic"),
        },
    }
    try:
        return ExportHeader.model_validate(header)
    except ValidationError as exc:
        first = exc.errors()[0]
        raise DataValidationError(
            f"channel {str(channel.get('id'))[:24]}: {'.'.join(str(p) for p in first['loc'])}: {first['msg']}",
            source=f"/channels/{str(channel.get('id'))[:24]}",
        ) from None
