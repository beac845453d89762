"""Validated payloads -> table rows. The API path and the export importer both go through
here, so the same message gives the same row whichever way it arrived."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from core.identity import Profile, ProfileEmail, email_sha256
from slack_activity_tracker.api_schemas import Channel, File, Message, Team, User

__all__ = [
    "channel_row",
    "file_rows",
    "message_row",
    "team_row",
    "ts_at",
    "user_profile",
    "user_row",
]

MESSAGE_CONTENT = (
    "ts_at",
    "thread_ts",
    "is_root",
    "user_id",
    "bot_id",
    "subtype",
    "text",
    "blocks",
    "edited_ts",
    "edited_by",
    "reply_count",
    "reply_users",
    "latest_reply",
    "reactions",
    "attachments",
    "client_msg_id",
    "deleted_at",
)


def ts_at(ts: str) -> dt.datetime:
    """A Slack ``ts`` (``"1712345678.123456"``) as an aware UTC datetime, exact to the microsecond."""
    seconds, _, fraction = ts.partition(".")
    return dt.datetime.fromtimestamp(int(seconds), dt.UTC).replace(microsecond=int((fraction + "000000")[:6]))


def _epoch(value: int | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(value, dt.UTC) if value else None


def _hash(row: dict[str, Any], columns: tuple[str, ...]) -> str:
    payload = json.dumps([row.get(c) for c in columns], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(payload.encode()).hexdigest()


def message_row(team_id: str, channel_id: str, message: Message) -> dict[str, Any]:
    """A ``slack_messages`` row (without ``updated_at``, set by the writer)."""
    thread_ts = message.thread_ts
    reactions = (
        sorted(
            ({"name": r.get("name"), "count": r.get("count"), "users": sorted(r.get("users") or [])}
             for r in message.reactions),
            key=lambda r: str(r["name"]),
        )
        if message.reactions
        else None
    )
    row: dict[str, Any] = {
        "team_id": team_id,
        "channel_id": channel_id,
        "ts": message.ts,
        "ts_at": ts_at(message.ts),
        "thread_ts": thread_ts,
        "is_root": thread_ts is None or thread_ts == message.ts,
        "user_id": message.user,
        "bot_id": message.bot_id,
        "subtype": message.subtype,
        "text": message.text,
        "blocks": message.blocks or None,
        "edited_ts": message.edited.ts if message.edited else None,
        "edited_by": message.edited.user if message.edited else None,
        "reply_count": message.reply_count,
        "reply_users": sorted(message.reply_users) if message.reply_users else None,
        "latest_reply": message.latest_reply,
        "reactions": reactions,
        "attachments": message.attachments or None,
        "client_msg_id": message.client_msg_id,
        # A deleted root that still has replies stays as a tombstone: deleted, thread kept.
        "deleted_at": ts_at(message.ts) if message.subtype == "tombstone" else None,
    }
    row["content_hash"] = _hash(row, MESSAGE_CONTENT)
    return row


def file_rows(
    team_id: str, channel_id: str, message: Message, now: dt.datetime
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(``slack_files`` rows, ``slack_message_files`` rows) of a message's ``files[]`` (metadata only)."""
    files: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for item in message.files or []:
        files.append(_file_row(team_id, item, now))
        links.append({"team_id": team_id, "channel_id": channel_id, "ts": message.ts, "file_id": item.id})
    return files, links


def _file_row(team_id: str, item: File, now: dt.datetime) -> dict[str, Any]:
    preview = item.preview[:4000] if item.preview else None
    return {
        "team_id": team_id,
        "file_id": item.id,
        "name": item.name,
        "title": item.title,
        "mimetype": item.mimetype,
        "filetype": item.filetype,
        "size": item.size,
        "mode": item.mode,
        "user_id": item.user,
        "created_at": _epoch(item.created),
        "permalink": item.permalink,
        "preview_text": preview,
        "updated_at": now,
    }


USER_CONTENT = (
    "handle",
    "real_name",
    "display_name",
    "is_bot",
    "deleted",
    "tz",
    "title",
    "avatar_url",
    "email_sha256",
    "email",
    "profile_updated",
)


def user_row(team_id: str, user: User, *, store_emails: bool) -> dict[str, Any]:
    email = (user.profile.email or "").strip() or None
    row: dict[str, Any] = {
        "team_id": team_id,
        "user_id": user.id,
        "handle": user.name,
        "real_name": user.profile.real_name or user.real_name,
        "display_name": user.profile.display_name or None,
        "is_bot": user.is_bot,
        "deleted": user.deleted,
        "tz": user.tz,
        "title": user.profile.title or None,
        "avatar_url": user.profile.image_72,
        "email_sha256": email_sha256(email) if email else None,
        "email": email if store_emails else None,
        "profile_updated": user.updated,
    }
    row["content_hash"] = _hash(row, USER_CONTENT)
    return row


def user_profile(team_id: str, user: User, seen_at: dt.datetime, domain: str | None) -> Profile:
    """A ``person_profiles`` sighting: ``external_id`` is ``<team>/<user>`` (user ids are per workspace)."""
    email = (user.profile.email or "").strip()
    return Profile(
        external_id=f"{team_id}/{user.id}",
        seen_at=seen_at,
        username=user.name,
        display_name=user.profile.display_name or user.profile.real_name or user.real_name or user.name,
        profile_url=f"https://{domain}.slack.com/team/{user.id}" if domain else None,
        is_bot=user.is_bot,
        attrs={
            "team_id": team_id,
            "real_name": user.profile.real_name or user.real_name,
            "title": user.profile.title,
            "tz": user.tz,
            "deleted": user.deleted,
        },
        emails=[ProfileEmail(email, verified=False, evidence="slack_profile")] if email else (),
    )


def channel_row(team_id: str, channel: Channel, now: dt.datetime) -> dict[str, Any]:
    return {
        "team_id": team_id,
        "channel_id": channel.id,
        "name": channel.name or channel.id,
        "is_private": channel.is_private,
        "is_archived": channel.is_archived,
        "is_member": channel.is_member,
        "is_ext_shared": channel.is_ext_shared,
        "topic": channel.topic.value if channel.topic else None,
        "purpose": channel.purpose.value if channel.purpose else None,
        "creator_id": channel.creator,
        "created_at": _epoch(channel.created),
        "num_members": channel.num_members,
        "updated_at": now,
    }


def team_row(team: Team, now: dt.datetime) -> dict[str, Any]:
    return {
        "team_id": team.id,
        "name": team.name,
        "domain": team.domain,
        "enterprise_id": team.enterprise_id,
        "updated_at": now,
    }
