"""Discord channel-days as Markdown files in a context repository (``publish:`` renderer).

Layout (as the original's Discord export)::

    <folder_prefix>/YYYY/YYYY-MM/YYYY-MM-DD/<channel>.md

one file per channel and UTC day with messages. The file starts with front matter (guild,
channel, channel id, date, message count, ``first_message``/``last_message``), then every
message in time order under an anchor ``m-<message id>``; a reply links to the anchor of the
message it answers when that is in the same file, else to the message on Discord. The channel
name is made a safe file name; channels sharing a name get ``-<channel id>`` appended (all of
them, so a name never changes meaning). Deleted messages are left out; a day whose messages
are all gone loses its file.

Source keys: ``discord:<channel id>:<YYYY-MM-DD>``. Same rows, same bytes.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Connection, and_, func, select, true

from core.errors import sanitize_exception_message
from core.operations.filenames import join_path, safe_component
from core.publishing.settings import PublishSettings
from core.publishing.source import PublishedFile, RenderFailure
from core.store.timestamps import as_utc
from discord_activity_tracker.tables import (
    discord_authors,
    discord_channels,
    discord_guilds,
    discord_messages,
)

__all__ = ["DiscordDaysPublisher", "source_key"]

_m = discord_messages
_BATCH = 2000


def source_key(channel_id: str, day: dt.date) -> str:
    return f"discord:{channel_id}:{day.isoformat()}"


def _quoted(value: object) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'


def _not_deleted() -> Any:
    # ``deleted_at`` exists once the bot-API mode's migration ran; exports never delete.
    column = _m.c.get("deleted_at")
    return column.is_(None) if column is not None else true()


class DiscordDaysPublisher:
    """The :class:`~core.publishing.PublishSource` of the Discord tracker."""

    name = "discord_days"

    def __init__(self, settings: PublishSettings) -> None:
        self.settings = settings

    # ------------------------------------------------------------------ selection

    def _changed_days(self, conn: Connection, changed_since: int | None) -> list[tuple[str, dt.date]]:
        query = select(_m.c.channel_id, _m.c.created_at)
        if changed_since is not None:
            query = query.where(_m.c.change_seq >= changed_since)
        days = {(str(c), as_utc(t).date()) for c, t in conn.execute(query)}
        return sorted(days)

    def live_keys(self, conn: Connection) -> set[str]:
        result = conn.execution_options(yield_per=_BATCH).execute(
            select(_m.c.channel_id, _m.c.created_at).where(_not_deleted())
        )
        return {source_key(str(c), as_utc(t).date()) for c, t in result}

    def _channels(self, conn: Connection) -> dict[str, dict[str, Any]]:
        rows = conn.execute(
            select(
                discord_channels.c.channel_id,
                discord_channels.c.name,
                discord_channels.c.guild_id,
                discord_guilds.c.name.label("guild"),
            ).select_from(
                discord_channels.join(
                    discord_guilds, discord_guilds.c.guild_id == discord_channels.c.guild_id
                )
            )
        ).mappings()
        channels = {str(r["channel_id"]): dict(r) for r in rows}
        names = Counter(safe_component(str(c["name"])).casefold() for c in channels.values())
        for channel_id, channel in channels.items():
            slug = safe_component(str(channel["name"]))
            channel["slug"] = f"{slug}-{channel_id}" if names[slug.casefold()] > 1 else slug
        return channels

    def _day_rows(self, conn: Connection, channel_id: str, day: dt.date) -> list[dict[str, Any]]:
        start = dt.datetime.combine(day, dt.time(), tzinfo=dt.UTC)
        columns = [
            _m.c.message_id,
            _m.c.reply_to_message_id,
            _m.c.content,
            _m.c.created_at,
            _m.c.edited_at,
            _m.c.attachments,
            func.coalesce(_m.c.author_name, discord_authors.c.name).label("author"),
        ]
        # A day's margin either side: stored timestamps may carry any offset; the day is decided here.
        rows = conn.execute(
            select(*columns)
            .select_from(_m.join(discord_authors, discord_authors.c.author_id == _m.c.author_id))
            .where(
                and_(
                    _m.c.channel_id == channel_id,
                    _m.c.created_at >= start - dt.timedelta(days=1),
                    _m.c.created_at < start + dt.timedelta(days=2),
                    _not_deleted(),
                )
            )
        ).mappings()
        found = [dict(r) for r in rows if as_utc(r["created_at"]).date() == day]
        found.sort(key=lambda r: (as_utc(r["created_at"]), int(r["message_id"])))
        return found

    # ------------------------------------------------------------------ rendering

    def render(self, conn: Connection, changed_since: int | None) -> Iterator[PublishedFile | RenderFailure]:
        days = self._changed_days(conn, changed_since)
        if not days:
            return
        channels = self._channels(conn)
        for channel_id, day in days:
            key = source_key(channel_id, day)
            try:
                rows = self._day_rows(conn, channel_id, day)
                if not rows:
                    continue  # every message of the day deleted: live_keys drops the file
                yield self.file_for(channels[channel_id], day, rows)
            except Exception as exc:  # noqa: BLE001 - one bad day never stops the others
                yield RenderFailure(key, sanitize_exception_message(exc))

    def path_for(self, channel: Mapping[str, Any], day: dt.date) -> str:
        folder = join_path(self.settings.folder_prefix, f"{day:%Y}", f"{day:%Y-%m}", day.isoformat())
        budget = self.settings.max_path_bytes - len(f"{folder}/.md".encode())
        name = safe_component(str(channel["slug"]), max_chars=100, max_bytes=max(8, min(200, budget)))
        return f"{folder}/{name}.md"

    def file_for(self, channel: Mapping[str, Any], day: dt.date, rows: list[dict[str, Any]]) -> PublishedFile:
        channel_id = str(channel["channel_id"])
        return PublishedFile(
            source_key(channel_id, day),
            self.path_for(channel, day),
            render_day(channel, day, rows).encode("utf-8"),
        )


def _message_url(channel: Mapping[str, Any], message_id: str) -> str:
    return f"https://discord.com/channels/{channel['guild_id']}/{channel['channel_id']}/{message_id}"


def render_day(channel: Mapping[str, Any], day: dt.date, rows: Iterable[Mapping[str, Any]]) -> str:
    """One channel-day as Markdown (rows in time order, deleted messages already left out)."""
    messages = list(rows)
    present = {str(r["message_id"]): r for r in messages}
    front = {
        "guild": _quoted(channel["guild"]),
        "channel": _quoted(channel["name"]),
        "channel_id": _quoted(channel["channel_id"]),
        "date": _quoted(day.isoformat()),
        "messages": str(len(messages)),
        "first_message": _quoted(as_utc(messages[0]["created_at"]).isoformat()),
        "last_message": _quoted(as_utc(messages[-1]["created_at"]).isoformat()),
    }
    lines = [
        "---",
        *(f"{k}: {v}" for k, v in front.items()),
        "---",
        "",
        f"# #{channel['name']} on {day.isoformat()}",
    ]
    for row in messages:
        message_id = str(row["message_id"])
        stamp = as_utc(row["created_at"]).strftime("%H:%M")
        edited = ", edited" if row.get("edited_at") else ""
        lines += ["", f'<a id="m-{message_id}"></a>', f"**{row['author']}** ({stamp} UTC{edited})"]
        target = row.get("reply_to_message_id")
        if target:
            target = str(target)
            if target in present:
                lines.append(f"> replying to [{present[target]['author']}](#m-{target})")
            else:
                lines.append(f"> replying to [a message]({_message_url(channel, target)})")
        lines.append("")
        lines.append(str(row.get("content") or "").strip() or "_(no text)_")
        files = [a.get("fileName", "") for a in row.get("attachments") or [] if isinstance(a, dict)]
        if any(files):
            lines.append("")
            lines.append("Attachments: " + ", ".join(f for f in files if f))
    return "\n".join(lines) + "\n"
