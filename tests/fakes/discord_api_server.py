"""A Discord REST API (v10) fake on the wire toolkit (``tests/fakes/wire.py``), stdlib only.

Serves under ``/api/v10`` what a read-only bot uses: ``/users/@me``, ``/applications/@me``
(``flags``: the Message Content intent unless ``message_content=False``), ``/guilds/{id}``,
``/guilds/{id}/channels``, ``/guilds/{id}/threads/active``, ``/channels/{id}``,
``/channels/{id}/threads/archived/public`` (``before`` an ISO time, ``limit`` <= 100,
``has_more``), ``/channels/{id}/messages`` (``after``/``before``/``around``, ``limit`` <= 100,
newest first, as Discord answers) and ``/channels/{id}/messages/{id}``.

Authentication is ``Authorization: Bot <token>``: an unknown token (or a user token sent as a
bot's) is ``401 {"message": "401: Unauthorized", "code": 0}``; ``user_tokens`` answer
``/users/@me`` with a user account (``bot`` false), which the client must refuse. A channel in
``forbidden`` is ``403`` code 50001 (Missing Access); an unknown one ``404`` code 10003.
``message_content=False`` mimics a bot without the Message Content intent (empty content,
embeds and attachments).

Rate limits: every route belongs to a bucket (``X-RateLimit-Bucket``, shared per channel or
guild) of ``bucket_limit`` requests per ``bucket_window`` seconds of the fake's clock, with
``X-RateLimit-Limit``/``-Remaining``/``-Reset``/``-Reset-After``; past it the answer is 429
with ``Retry-After``, ``X-RateLimit-Scope: user`` and ``{"message", "retry_after", "global",
"code"}``. ``global_limit`` requests per second across all routes answer 429 with
``X-RateLimit-Global: true``. ``invalid_requests`` counts 401/403/429 answers (but shared ones).

Dataset mutators: ``guild``, ``channel``, ``thread`` (in a text channel, or a forum post with
its starter message), ``archive``, ``post``, ``edit``, ``delete``, and ``load_export`` (a
DiscordChatExporter export turned back into REST objects, for round-trip tests).

Standalone: ``python tests/fakes/discord_api_server.py --port 8000 --token <bot token>``.
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import sys
import threading
import time
import zlib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.wire import FakeClock, Reply, Request, WireServer

__all__ = [
    "DEFAULT_TOKEN",
    "DiscordApiServer",
    "DiscordData",
    "WallClock",
    "rest_message_from_export",
    "snowflake",
]

DISCORD_EPOCH_MS = 1_420_070_400_000
DEFAULT_TOKEN = "MTA5ODc2NTQzMjEwOTg3NjU0.GbOtTk.fake-bot-token-secret-value-0123456789"
PREFIX = "/api/v10"

DCE_MESSAGE_TYPES = {
    "Default": 0,
    "RecipientAdd": 1,
    "RecipientRemove": 2,
    "Call": 3,
    "ChannelNameChange": 4,
    "ChannelIconChange": 5,
    "ChannelPinnedMessage": 6,
    "GuildMemberJoin": 7,
    "ThreadCreated": 18,
    "Reply": 19,
    "ThreadStarterMessage": 21,
}
DCE_CHANNEL_TYPES = {
    "GuildTextChat": 0,
    "GuildNews": 5,
    "GuildForum": 15,
    "GuildPublicThread": 11,
    "GuildNewsThread": 10,
    "GuildPrivateThread": 12,
}


def snowflake(moment: dt.datetime, sequence: int = 0) -> str:
    millis = int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS
    return str((millis << 22) + sequence)


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="microseconds")


def _rest_user(user: Mapping[str, Any]) -> dict[str, Any]:
    """A DCE author as Discord's REST user: ``nickname`` is the global name, the avatar hash is
    the file name of DCE's CDN URL."""
    url = str(user.get("avatarUrl") or "")
    avatar = url.rsplit("/", 1)[-1].split(".", 1)[0] if "/avatars/" in url and "/embed/" not in url else None
    discriminator = user.get("discriminator") or "0"
    return {
        "id": user["id"],
        "username": user["name"],
        "discriminator": "0" if discriminator == "0000" else discriminator,
        "global_name": user.get("nickname"),
        "avatar": avatar,
        **({"bot": True} if user.get("isBot") else {}),
    }


def rest_message_from_export(message: Mapping[str, Any], channel_id: str) -> dict[str, Any]:
    """What Discord's REST API returns for a message DCE exported (the fields DCE reads)."""
    reference = message.get("reference")
    rest: dict[str, Any] = {
        "id": message["id"],
        "channel_id": channel_id,
        "type": DCE_MESSAGE_TYPES[message["type"]],
        "content": message["content"],
        "timestamp": _iso(dt.datetime.fromisoformat(message["timestamp"])),
        "edited_timestamp": _iso(dt.datetime.fromisoformat(message["timestampEdited"]))
        if message.get("timestampEdited")
        else None,
        "pinned": bool(message.get("isPinned")),
        "tts": False,
        "mention_everyone": False,
        "author": _rest_user(message["author"]),
        "attachments": [
            {
                "id": a["id"],
                "filename": a["fileName"],
                "size": a["fileSizeBytes"],
                "url": a["url"],
                "proxy_url": a["url"],
                "content_type": "application/octet-stream",
            }
            for a in message.get("attachments") or []
        ],
        "embeds": list(message.get("embeds") or []),
        "components": list(message.get("components") or []),
        "mentions": [_rest_user(u) for u in message.get("mentions") or []],
        "mention_roles": [],
        "flags": 0,
    }
    reactions = message.get("reactions") or []
    if reactions:
        rest["reactions"] = [
            {
                "emoji": {
                    "id": r["emoji"].get("id") or None,
                    "name": r["emoji"]["name"],
                    **({"animated": True} if r["emoji"].get("isAnimated") else {}),
                },
                "count": r["count"],
                "count_details": {"burst": 0, "normal": r["count"]},
                "me": False,
                "burst_colors": [],
            }
            for r in reactions
        ]
    stickers = message.get("stickers") or []
    if stickers:
        rest["sticker_items"] = [{"id": s["id"], "name": s["name"], "format_type": 1} for s in stickers]
    if reference:
        rest["message_reference"] = {
            "type": 0,
            "message_id": reference["messageId"],
            "channel_id": reference.get("channelId"),
            "guild_id": reference.get("guildId"),
        }
    return rest


class WallClock(FakeClock):
    """Real time for the fake's rate-limit windows, when the client sleeps for real (a child
    process, Airflow)."""

    def time(self) -> float:
        return time.time()


class DiscordData:
    """Guilds, channels (threads included) and messages, with the mutators tests need."""

    def __init__(self, start: dt.datetime, now: Callable[[], dt.datetime] | None = None) -> None:
        self.lock = threading.RLock()
        self.clock = start
        self.now = now  # the server's clock: edits happen "now"
        self.guilds: dict[str, dict[str, Any]] = {}
        self.channels: dict[str, dict[str, Any]] = {}
        self.messages: dict[str, dict[str, dict[str, Any]]] = collections.defaultdict(dict)
        self._sequence = 0
        self.users = {
            "alice": {
                "id": "700000000000000001",
                "username": "alice",
                "discriminator": "0",
                "global_name": "Alice A.",
                "avatar": "a1b2c3",
            },
            "bob": {
                "id": "700000000000000002",
                "username": "bob_",
                "discriminator": "0",
                "global_name": None,
                "avatar": None,
            },
            "helper": {
                "id": "700000000000000003",
                "username": "helper-bot",
                "discriminator": "4321",
                "global_name": None,
                "avatar": "a_99ff",
                "bot": True,
            },
        }

    def tick(self, minutes: float = 1) -> dt.datetime:
        with self.lock:
            self.clock += dt.timedelta(minutes=minutes)
            return self.clock

    def _id(self, moment: dt.datetime) -> str:
        self._sequence += 1
        return snowflake(moment, self._sequence % 4096)

    # ---------------------------------------------------------------- structure

    def guild(self, guild_id: str, name: str, icon: str | None = None) -> dict[str, Any]:
        with self.lock:
            self.guilds[guild_id] = {
                "id": guild_id,
                "name": name,
                "icon": icon,
                "owner_id": "1",
                "features": [],
                "roles": [],
            }
            return self.guilds[guild_id]

    def channel(
        self,
        guild_id: str,
        channel_id: str,
        name: str,
        *,
        kind: int = 0,
        parent_id: str | None = None,
        topic: str | None = None,
    ) -> dict[str, Any]:
        with self.lock:
            self.channels[channel_id] = {
                "id": channel_id,
                "guild_id": guild_id,
                "type": kind,
                "name": name,
                "parent_id": parent_id,
                "topic": topic,
                "position": len(self.channels),
                "nsfw": False,
                "permission_overwrites": [],
            }
            return self.channels[channel_id]

    def thread(
        self,
        parent_id: str,
        name: str,
        *,
        author: str = "alice",
        content: str = "",
        at: dt.datetime | None = None,
        thread_id: str | None = None,
    ) -> dict[str, Any]:
        """A public thread of ``parent_id``; in a forum (type 15) also its starter message (id = thread id)."""
        with self.lock:
            parent = self.channels[parent_id]
            moment = at or self.tick()
            tid = thread_id or self._id(moment)
            thread = {
                "id": tid,
                "guild_id": parent["guild_id"],
                "parent_id": parent_id,
                "type": 11,
                "name": name,
                "owner_id": self.users[author]["id"],
                "message_count": 0,
                "member_count": 1,
                "thread_metadata": {
                    "archived": False,
                    "archive_timestamp": _iso(moment),
                    "auto_archive_duration": 4320,
                    "locked": False,
                },
            }
            self.channels[tid] = thread
            if parent["type"] == 15:
                self.post(tid, author, content or name, at=moment, message_id=tid)
            return thread

    def archive(self, thread_id: str, at: dt.datetime | None = None) -> None:
        with self.lock:
            metadata = self.channels[thread_id]["thread_metadata"]
            metadata["archived"] = True
            metadata["archive_timestamp"] = _iso(at or self.tick())

    # ---------------------------------------------------------------- messages

    def post(
        self,
        channel_id: str,
        author: str,
        content: str,
        *,
        reply_to: str | None = None,
        at: dt.datetime | None = None,
        message_id: str | None = None,
        **extra: Any,
    ) -> dict[str, Any]:
        with self.lock:
            moment = at or self.tick()
            mid = message_id or self._id(moment)
            channel = self.channels[channel_id]
            message: dict[str, Any] = {
                "id": mid,
                "channel_id": channel_id,
                "type": 19 if reply_to else 0,
                "content": content,
                "timestamp": _iso(moment),
                "edited_timestamp": None,
                "pinned": False,
                "tts": False,
                "mention_everyone": False,
                "author": dict(self.users[author]),
                "attachments": [],
                "embeds": [],
                "mentions": [],
                "mention_roles": [],
                "components": [],
                "flags": 0,
            }
            if reply_to:
                message["message_reference"] = {
                    "type": 0,
                    "message_id": reply_to,
                    "channel_id": channel_id,
                    "guild_id": channel["guild_id"],
                }
            message.update(extra)
            self.messages[channel_id][mid] = message
            if int(mid) > int(channel.get("last_message_id") or 0):
                channel["last_message_id"] = mid
            if "thread_metadata" in channel:
                channel["message_count"] += 1
            return message

    def edit(self, channel_id: str, message_id: str, content: str) -> dict[str, Any]:
        with self.lock:
            message = self.messages[channel_id][message_id]
            message["content"] = content
            message["edited_timestamp"] = _iso(self.now() if self.now else self.tick())
            return message

    def delete(self, channel_id: str, message_id: str) -> None:
        with self.lock:
            del self.messages[channel_id][message_id]

    def load_export(self, export: Mapping[str, Any]) -> None:
        """A DCE export's guild, channel (and its category or parent) and messages, as REST objects."""
        with self.lock:
            guild, channel = export["guild"], export["channel"]
            icon_url = str(guild.get("iconUrl") or "")
            icon = icon_url.rsplit("/", 1)[-1].split(".", 1)[0] if "/icons/" in icon_url else None
            if guild["id"] not in self.guilds:
                self.guild(guild["id"], guild["name"], icon)
            kind = DCE_CHANNEL_TYPES[channel["type"]]
            parent_id = channel.get("categoryId") or None
            if parent_id and parent_id not in self.channels:
                parent_kind = 0 if kind in (10, 11, 12) else 4
                self.channel(guild["id"], parent_id, channel["category"], kind=parent_kind)
            if kind in (10, 11, 12):
                self.channels[channel["id"]] = {
                    "id": channel["id"],
                    "guild_id": guild["id"],
                    "parent_id": parent_id,
                    "type": kind,
                    "name": channel["name"],
                    "topic": channel.get("topic"),
                    "message_count": 0,
                    "thread_metadata": {
                        "archived": False,
                        "archive_timestamp": _iso(self.clock),
                        "auto_archive_duration": 4320,
                        "locked": False,
                    },
                }
            else:
                self.channel(
                    guild["id"],
                    channel["id"],
                    channel["name"],
                    kind=kind,
                    parent_id=parent_id,
                    topic=channel.get("topic"),
                )
            for message in export["messages"]:
                self.messages[channel["id"]][message["id"]] = rest_message_from_export(message, channel["id"])
            if export["messages"]:
                self.channels[channel["id"]]["last_message_id"] = max(
                    (m["id"] for m in export["messages"]), key=int
                )


class DiscordApiServer(WireServer):
    """See the module docstring."""

    thread_name = "discord-api-fake"

    def __init__(
        self,
        data: DiscordData | None = None,
        *,
        clock: FakeClock | None = None,
        tokens: tuple[str, ...] = (DEFAULT_TOKEN,),
        user_tokens: tuple[str, ...] = (),
        bucket_limit: int = 50,
        bucket_window: float = 1.0,
        global_limit: int | None = None,
        message_content: bool = True,
        **kwargs: Any,
    ) -> None:
        self.fake_clock = clock or FakeClock()
        super().__init__(clock=self.fake_clock.time, **kwargs)
        start = dt.datetime.fromtimestamp(self.fake_clock.time(), dt.UTC) - dt.timedelta(days=30)
        self.data = data or DiscordData(start)
        if self.data.now is None:
            self.data.now = lambda: dt.datetime.fromtimestamp(self.fake_clock.time(), dt.UTC)
        self.tokens = set(tokens)
        self.user_tokens = set(user_tokens)
        self.bucket_limit = bucket_limit
        self.bucket_window = bucket_window
        self.global_limit = global_limit
        self.message_content = message_content
        self.forbidden: set[str] = set()
        self.invalid_requests = 0
        self._buckets: dict[tuple[str, str], tuple[int, float]] = {}  # (bucket, major) -> (used, reset_at)
        self._recent: collections.deque[float] = collections.deque()
        self._limits = threading.Lock()
        self.before_messages: Callable[[str, Mapping[str, str]], None] | None = None

    @property
    def api_url(self) -> str:
        return self.root + PREFIX

    # ---------------------------------------------------------------- dispatch

    def handle(self, request: Request) -> Reply:
        if not request.path.startswith(PREFIX + "/"):
            raise self._error(404, 0, "404: Not Found")
        path = request.path[len(PREFIX) :]
        auth = request.headers.get("Authorization") or ""
        token = auth[4:] if auth.startswith("Bot ") else None
        if token is None or (token not in self.tokens and token not in self.user_tokens):
            raise self._error(401, 0, "401: Unauthorized")
        request.notes["token_ok"] = True
        parts = path.strip("/").split("/")
        route, major = self._route(parts)
        limited = self._limit(route, major)
        reply = self._dispatch(parts, request, token)
        reply.headers.update(limited)
        return reply

    def respond(self, request: Request) -> Reply:
        try:
            reply = super().respond(request)
        except Reply as raised:
            reply = raised
        if reply.status in (401, 403) or (
            reply.status == 429 and reply.headers.get("X-RateLimit-Scope") != "shared"
        ):
            self.invalid_requests += 1
        return reply

    @staticmethod
    def _route(parts: list[str]) -> tuple[str, str]:
        major = parts[1] if len(parts) > 1 and parts[0] in ("channels", "guilds") else ""
        generic = [p if not p.isdigit() or index == 1 else "{id}" for index, p in enumerate(parts)]
        if len(generic) > 1 and generic[0] in ("channels", "guilds"):
            generic[1] = "{major}"
        return "/".join(generic), major

    def _limit(self, route: str, major: str) -> dict[str, str]:
        now = self.fake_clock.time()
        bucket = f"{zlib.crc32(route.encode()):08x}"
        with self._limits:
            if self.global_limit is not None:
                while self._recent and self._recent[0] <= now - 1.0:
                    self._recent.popleft()
                if len(self._recent) >= self.global_limit:
                    wait = round(self._recent[0] + 1.0 - now, 3)
                    raise Reply.json(
                        429,
                        {"message": "You are being rate limited.", "retry_after": wait, "global": True},
                        {
                            "Retry-After": str(max(1, int(wait + 0.999))),
                            "X-RateLimit-Global": "true",
                            "X-RateLimit-Scope": "global",
                        },
                    )
                self._recent.append(now)
            used, reset_at = self._buckets.get((bucket, major), (0, now + self.bucket_window))
            if reset_at <= now:
                used, reset_at = 0, now + self.bucket_window
            after = round(reset_at - now, 3)
            headers = {
                "X-RateLimit-Bucket": bucket,
                "X-RateLimit-Limit": str(self.bucket_limit),
                "X-RateLimit-Reset": f"{reset_at:.3f}",
                "X-RateLimit-Reset-After": f"{after:.3f}",
            }
            if used >= self.bucket_limit:
                raise Reply.json(
                    429,
                    {"message": "You are being rate limited.", "retry_after": after, "global": False},
                    {
                        **headers,
                        "X-RateLimit-Remaining": "0",
                        "Retry-After": str(max(1, int(after + 0.999))),
                        "X-RateLimit-Scope": "user",
                    },
                )
            used += 1
            self._buckets[(bucket, major)] = (used, reset_at)
            headers["X-RateLimit-Remaining"] = str(self.bucket_limit - used)
            return headers

    def _error(self, status: int, code: int, message: str) -> Reply:
        return Reply.json(status, {"message": message, "code": code})

    def _dispatch(self, parts: list[str], request: Request, token: str) -> Reply:
        data = self.data
        with data.lock:
            if parts == ["users", "@me"]:
                bot = token in self.tokens
                return Reply.json(
                    200,
                    {
                        "id": "1098765432109876543",
                        "username": "collector-bot" if bot else "alice",
                        "discriminator": "0",
                        "global_name": None,
                        "avatar": None,
                        "bot": bot,
                        "verified": True,
                        "flags": 0,
                    },
                )
            if parts == ["applications", "@me"]:
                flags = (1 << 19) if self.message_content else 0
                return Reply.json(
                    200,
                    {"id": "1098765432109876543", "name": "collector", "bot_public": False, "flags": flags},
                )
            if parts[0] == "guilds" and len(parts) >= 2:
                guild = data.guilds.get(parts[1])
                if guild is None:
                    raise self._error(404, 10004, "Unknown Guild")
                if len(parts) == 2:
                    return Reply.json(200, guild)
                if parts[2:] == ["channels"]:
                    return Reply.json(
                        200,
                        [
                            c
                            for c in data.channels.values()
                            if c["guild_id"] == parts[1] and "thread_metadata" not in c
                        ],
                    )
                if parts[2:] == ["threads", "active"]:
                    threads = [
                        c
                        for c in data.channels.values()
                        if c["guild_id"] == parts[1]
                        and "thread_metadata" in c
                        and not c["thread_metadata"]["archived"]
                    ]
                    return Reply.json(200, {"threads": threads, "members": []})
            if parts[0] == "channels" and len(parts) >= 2:
                channel = data.channels.get(parts[1])
                if channel is None:
                    raise self._error(404, 10003, "Unknown Channel")
                if parts[1] in self.forbidden:
                    raise self._error(403, 50001, "Missing Access")
                if len(parts) == 2:
                    return Reply.json(200, channel)
                if parts[2:] == ["threads", "archived", "public"]:
                    return self._archived(parts[1], request.query)
                if parts[2] == "messages" and len(parts) == 3:
                    if self.before_messages is not None:
                        self.before_messages(parts[1], request.query)
                    return self._messages(parts[1], request.query)
                if parts[2] == "messages" and len(parts) == 4:
                    message = data.messages[parts[1]].get(parts[3])
                    if message is None:
                        raise self._error(404, 10008, "Unknown Message")
                    return Reply.json(200, self._shown(message))
        raise self._error(404, 0, "404: Not Found")

    def _archived(self, parent_id: str, query: Mapping[str, str]) -> Reply:
        limit = max(2, min(int(query.get("limit") or 50), 100))
        before = dt.datetime.fromisoformat(query["before"]) if query.get("before") else None
        threads = [
            c
            for c in self.data.channels.values()
            if c.get("parent_id") == parent_id
            and "thread_metadata" in c
            and c["thread_metadata"]["archived"]
            and c["type"] in (10, 11)
        ]
        threads.sort(key=lambda c: c["thread_metadata"]["archive_timestamp"], reverse=True)
        if before is not None:
            threads = [
                c
                for c in threads
                if dt.datetime.fromisoformat(c["thread_metadata"]["archive_timestamp"]) < before
            ]
        return Reply.json(200, {"threads": threads[:limit], "members": [], "has_more": len(threads) > limit})

    def _messages(self, channel_id: str, query: Mapping[str, str]) -> Reply:
        if self.data.channels[channel_id]["type"] in (4, 15, 16):
            raise self._error(400, 50024, "Cannot execute action on this channel type")
        try:
            limit = int(query.get("limit") or 50)
        except ValueError:
            raise self._error(400, 50035, "Invalid Form Body") from None
        if not 1 <= limit <= 100:
            raise self._error(400, 50035, "Invalid Form Body")
        ordered = sorted(self.data.messages[channel_id].values(), key=lambda m: int(m["id"]))
        if query.get("after"):
            after = int(query["after"])
            chosen = [m for m in ordered if int(m["id"]) > after][:limit]
        elif query.get("around"):
            around = int(query["around"])
            older = [m for m in ordered if int(m["id"]) < around][-(limit // 2) :]
            newer = [m for m in ordered if int(m["id"]) >= around][: limit - len(older)]
            chosen = older + newer
        else:
            before = int(query["before"]) if query.get("before") else None
            chosen = [m for m in ordered if before is None or int(m["id"]) < before][-limit:]
        return Reply.json(200, [self._shown(m) for m in reversed(chosen)])

    def _shown(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.message_content:
            return message
        return {**message, "content": "", "embeds": [], "attachments": [], "components": []}


def main() -> None:  # pragma: no cover - manual use
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--token", default=DEFAULT_TOKEN)
    args = parser.parse_args()
    server = DiscordApiServer(tokens=(args.token,), clock=FakeClock(time.time()), port=args.port)
    server.data.guild("900000000000000001", "Sample Guild")
    server.data.channel("900000000000000001", "900000000000000010", "general")
    server.data.post("900000000000000010", "alice", "hello")
    print(f"Discord API fake on {server.api_url}")
    server.serve_forever()


if __name__ == "__main__":  # pragma: no cover
    main()
