"""A Slack Web API fake on the wire toolkit (``tests/fakes/wire.py``), stdlib only.

Serves ``GET|POST /api/<method>`` (query or form parameters, as ``slack_sdk`` sends them) with
the token (``Authorization: Bearer``) routed to its workspace. Methods: ``auth.test``,
``team.info``, ``users.list``, ``users.info``, ``conversations.list`` / ``info`` / ``join`` /
``members`` / ``history`` / ``replies``, ``files.info``. Cursors with ``has_more`` and
``response_metadata.next_cursor``; ``ok: false`` errors with HTTP 200; per-method, per-team
rate limits answering 429 with ``Retry-After`` and ``{"ok": false, "error": "ratelimited"}``;
the non-Marketplace mode (history and replies: ``limit`` clamped to 15, one request a minute).

The dataset's mutators: ``post``, ``reply`` (updates the parent's counters),
``reply(broadcast=True)``, ``edit``, ``delete`` (a root with replies becomes a ``tombstone``),
``file_share``, ``join_event`` / ``leave_event``, ``visibility_days`` (the Free-plan cutoff),
``remove_bot`` (the bot kicked from a channel). ``SlackServer.schedule`` runs a mutator or
queues a fault at the N-th request of a method (e.g. the bot kicked mid-run).

Faults: the toolkit's ``Fault`` queue, plus ``slack_error(code)`` (HTTP 200, ``ok: false``),
``html_500()`` (Slack's HTML error page), ``malformed()`` (a JSON body cut short).

Standalone: ``python tests/fakes/slack_server.py --port 8000 --dataset small --token xoxb-T1-x:T1``.
"""

from __future__ import annotations

import argparse
import base64
import collections
import dataclasses
import json
import sys
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

if __package__ in (None, ""):  # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.wire import Fault, Reply, Request, WireServer

__all__ = ["HTML_500", "SlackDataset", "SlackServer", "html_500", "malformed", "slack_error"]

HTML_500 = (
    "<!DOCTYPE html><html><head><title>Server Error | Slack</title></head>"
    "<body><h1>Slack is having trouble</h1><p>Please try again.</p></body></html>"
)

# Per-method limits (requests per minute per workspace), from the tier table.
TIERS = {
    "auth.test": 100, "team.info": 50, "users.list": 20, "users.info": 100,
    "conversations.list": 20, "conversations.info": 50, "conversations.join": 50,
    "conversations.members": 100, "conversations.history": 50, "conversations.replies": 50,
    "files.info": 100,
}
PACED = ("conversations.history", "conversations.replies")


def slack_error(code: str, *, method: str | None = None, times: int = 1, **fields: Any) -> Fault:
    """The next ``times`` calls (of ``method``) answer HTTP 200 ``{"ok": false, "error": code}``."""
    return Fault(200, body=json.dumps({"ok": False, "error": code, **fields}),
                 path=f"/api/{method}" if method else None, times=times, kind=code)


def html_500(*, method: str | None = None, times: int = 1) -> Fault:
    return Fault(500, headers={"Content-Type": "text/html"}, body=HTML_500,
                 path=f"/api/{method}" if method else None, times=times, kind="html_500")


def malformed(*, method: str | None = None, times: int = 1) -> Fault:
    return Fault(None, body=lambda b: b[: max(1, len(b) // 2)], path=f"/api/{method}" if method else None,
                 times=times, kind="malformed")


@dataclasses.dataclass
class FakeChannel:
    id: str
    name: str
    is_private: bool = False
    is_archived: bool = False
    is_member: bool = True
    created: int = 1_600_000_000
    topic: str = ""
    members: set[str] = dataclasses.field(default_factory=set)
    messages: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class FakeTeam:
    id: str
    name: str
    domain: str
    users: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    channels: dict[str, FakeChannel] = dataclasses.field(default_factory=dict)
    files: dict[str, dict[str, Any]] = dataclasses.field(default_factory=dict)
    scopes: set[str] = dataclasses.field(default_factory=lambda: {"team:read", "users:read", "users:read.email"})


class SlackDataset:
    """Workspaces, users, channels and messages; ``now`` is the clock new messages are stamped by."""

    def __init__(self, now: Callable[[], float] = time.time) -> None:
        self.now = now
        self.lock = threading.RLock()
        self.teams: dict[str, FakeTeam] = {}
        self.tokens: dict[str, str] = {}
        self.visibility_days: float | None = None
        self._micro = 0

    # ---------------------------------------------------------------- building

    def add_team(self, team_id: str, name: str | None = None, domain: str | None = None,
                 token: str | None = None) -> FakeTeam:
        with self.lock:
            team = self.teams[team_id] = FakeTeam(team_id, name or team_id.lower(), domain or team_id.lower())
            if token:
                self.tokens[token] = team_id
            return team

    def add_user(self, team_id: str, user_id: str, name: str, *, display_name: str = "", real_name: str = "",
                 email: str | None = None, is_bot: bool = False, deleted: bool = False) -> dict[str, Any]:
        with self.lock:
            user = {
                "id": user_id, "team_id": team_id, "name": name, "deleted": deleted, "is_bot": is_bot,
                "real_name": real_name or name, "tz": "Europe/Berlin", "updated": int(self.now()),
                "profile": {"display_name": display_name, "real_name": real_name or name, "title": "",
                            "image_72": f"https://avatars.example/{user_id}.png",
                            **({"email": email} if email else {})},
            }
            self.teams[team_id].users[user_id] = user
            return user

    def add_channel(self, team_id: str, channel_id: str, name: str, **fields: Any) -> FakeChannel:
        with self.lock:
            channel = self.teams[team_id].channels[channel_id] = FakeChannel(channel_id, name, **fields)
            return channel

    def _ts(self, at: float | None) -> str:
        with self.lock:
            self._micro = (self._micro + 1) % 1_000_000
            seconds = int(at if at is not None else self.now())
            return f"{seconds}.{self._micro:06d}"

    def channel(self, team_id: str, channel_id: str) -> FakeChannel:
        return self.teams[team_id].channels[channel_id]

    # ---------------------------------------------------------------- mutators

    def post(self, team_id: str, channel_id: str, user: str, text: str, *, at: float | None = None,
             **fields: Any) -> str:
        with self.lock:
            ts = self._ts(at)
            message = {"type": "message", "ts": ts, "user": user, "text": text,
                       "client_msg_id": f"cm-{ts}", **fields}
            self.channel(team_id, channel_id).messages[ts] = message
            return ts

    def reply(self, team_id: str, channel_id: str, thread_ts: str, user: str, text: str, *,
              at: float | None = None, broadcast: bool = False) -> str:
        with self.lock:
            channel = self.channel(team_id, channel_id)
            parent = channel.messages[thread_ts]
            ts = self._ts(at)
            message = {"type": "message", "ts": ts, "user": user, "text": text, "thread_ts": thread_ts,
                       "parent_user_id": parent.get("user")}
            if broadcast:
                message["subtype"] = "thread_broadcast"
            channel.messages[ts] = message
            self._recount(channel, thread_ts)
            return ts

    def broadcast_reply(self, team_id: str, channel_id: str, thread_ts: str, user: str, text: str,
                        **kwargs: Any) -> str:
        return self.reply(team_id, channel_id, thread_ts, user, text, broadcast=True, **kwargs)

    def _recount(self, channel: FakeChannel, thread_ts: str) -> None:
        parent = channel.messages.get(thread_ts)
        if parent is None:
            return
        replies = sorted((m for m in channel.messages.values()
                          if m.get("thread_ts") == thread_ts and m["ts"] != thread_ts), key=lambda m: float(m["ts"]))
        if not replies:
            for key in ("thread_ts", "reply_count", "reply_users", "reply_users_count", "latest_reply"):
                parent.pop(key, None)
            if parent.get("subtype") == "tombstone":
                del channel.messages[thread_ts]
            return
        parent.update({
            "thread_ts": thread_ts,
            "reply_count": len(replies),
            "reply_users": sorted({str(r.get("user")) for r in replies}),
            "reply_users_count": len({r.get("user") for r in replies}),
            "latest_reply": replies[-1]["ts"],
        })

    def edit(self, team_id: str, channel_id: str, ts: str, text: str, *, at: float | None = None) -> None:
        with self.lock:
            message = self.channel(team_id, channel_id).messages[ts]
            message["text"] = text
            message["edited"] = {"user": message.get("user"), "ts": self._ts(at)}

    def delete(self, team_id: str, channel_id: str, ts: str) -> None:
        with self.lock:
            channel = self.channel(team_id, channel_id)
            message = channel.messages[ts]
            thread_ts = message.get("thread_ts")
            if thread_ts == ts and message.get("reply_count"):
                message.clear()
                message.update({"type": "message", "subtype": "tombstone", "ts": ts, "user": "USLACKBOT",
                                "text": "This message was deleted.", "hidden": True, "thread_ts": ts})
                self._recount(channel, ts)
                return
            del channel.messages[ts]
            if thread_ts and thread_ts != ts:
                self._recount(channel, thread_ts)

    def react(self, team_id: str, channel_id: str, ts: str, name: str, user: str) -> None:
        with self.lock:
            message = self.channel(team_id, channel_id).messages[ts]
            reactions = message.setdefault("reactions", [])
            for reaction in reactions:
                if reaction["name"] == name:
                    reaction["users"].append(user)
                    reaction["count"] += 1
                    return
            reactions.append({"name": name, "users": [user], "count": 1})

    def file_share(self, team_id: str, channel_id: str, user: str, text: str, *, name: str = "notes.txt",
                   mode: str = "snippet", filetype: str = "text", preview: str | None = None,
                   at: float | None = None) -> tuple[str, str]:
        with self.lock:
            team = self.teams[team_id]
            file_id = f"F{len(team.files) + 1:06d}"
            info = {"id": file_id, "name": name, "title": name, "mimetype": "text/plain", "filetype": filetype,
                    "size": len(preview or "") or 1234, "mode": mode, "user": user, "created": int(self.now()),
                    "permalink": f"https://{team.domain}.slack.com/files/{user}/{file_id}/{name}",
                    "url_private": f"https://files.slack.com/files-pri/{team_id}-{file_id}/{name}"}
            if preview:
                info["preview"] = preview
            team.files[file_id] = info
            ts = self.post(team_id, channel_id, user, text, at=at, subtype="file_share", files=[dict(info)])
            return ts, file_id

    def join_event(self, team_id: str, channel_id: str, user: str, *, at: float | None = None) -> str:
        return self.post(team_id, channel_id, user, f"<@{user}> has joined the channel", at=at,
                         subtype="channel_join")

    def leave_event(self, team_id: str, channel_id: str, user: str, *, at: float | None = None) -> str:
        return self.post(team_id, channel_id, user, f"<@{user}> has left the channel", at=at,
                         subtype="channel_leave")

    def set_visibility_days(self, days: float | None) -> None:
        self.visibility_days = days

    def remove_bot(self, team_id: str, channel_id: str) -> None:
        """The bot is removed from the channel (``/kick``): history and replies answer
        ``not_in_channel`` from now on, ``conversations.list`` reports ``is_member: false``."""
        with self.lock:
            channel = self.channel(team_id, channel_id)
            channel.is_member = False
            channel.members.discard("UBOT")

    # ---------------------------------------------------------------- workspace export

    def write_export(self, team_id: str, path: Path) -> Path:
        """Slack's workspace export of ``team_id`` as a zip: ``users.json``, ``channels.json``,
        ``groups.json`` and ``<channel>/<YYYY-MM-DD>.json`` (replies included, oldest first, with
        the ``team``/``user_profile``/``replies`` fields real exports carry)."""
        import datetime as dt
        import zipfile

        with self.lock:
            team = self.teams[team_id]
            with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
                archive.writestr("users.json", json.dumps(list(team.users.values())))
                public = [c for c in team.channels.values() if not c.is_private]
                private = [c for c in team.channels.values() if c.is_private]
                for name, channels in (("channels.json", public), ("groups.json", private)):
                    archive.writestr(name, json.dumps([
                        {"id": c.id, "name": c.name, "created": c.created, "creator": "U1",
                         "is_archived": c.is_archived, "is_general": c.name == "general",
                         "members": sorted(c.members), "topic": {"value": c.topic, "creator": "", "last_set": 0},
                         "purpose": {"value": "", "creator": "", "last_set": 0}}
                        for c in channels
                    ]))
                for channel in team.channels.values():
                    days: dict[str, list[dict[str, Any]]] = collections.defaultdict(list)
                    for message in sorted(channel.messages.values(), key=lambda m: float(m["ts"])):
                        if message.get("subtype") == "tombstone":
                            continue
                        day = dt.datetime.fromtimestamp(float(message["ts"]), dt.UTC).date().isoformat()
                        item = json.loads(json.dumps(message))
                        item["team"] = team_id
                        user = team.users.get(str(message.get("user")))
                        if user:
                            item["user_profile"] = {"name": user["name"], "real_name": user["real_name"]}
                        if message.get("reply_count"):
                            item["replies"] = [{"user": m.get("user"), "ts": m["ts"]}
                                               for m in sorted(channel.messages.values(), key=lambda m: float(m["ts"]))
                                               if m.get("thread_ts") == message["ts"] and m["ts"] != message["ts"]]
                        days[day].append(item)
                    for day, items in sorted(days.items()):
                        archive.writestr(f"{channel.name}/{day}.json", json.dumps(items, indent=1))
        return path


def small_dataset(now: Callable[[], float] = time.time, token: str = "xoxb-T1-fake-token") -> SlackDataset:  # noqa: S107 - a fake
    """Two channels of one workspace, a thread, a bot and a deleted user (the standalone default)."""
    data = SlackDataset(now)
    base = now() - 5 * 86_400
    data.add_team("T1", "Acme", "acme", token=token)
    data.add_user("T1", "U1", "ada", display_name="Ada", email="ada@example.org")
    data.add_user("T1", "U2", "bob", display_name="Bob")
    data.add_user("T1", "B1", "helper-bot", is_bot=True)
    data.add_user("T1", "U9", "gone", deleted=True)
    data.add_channel("T1", "C1", "general")
    data.add_channel("T1", "C2", "boost-users")
    root = data.post("T1", "C1", "U1", "How do I use <#C2|boost-users>? :thinking_face:", at=base)
    data.reply("T1", "C1", root, "U2", "Ask <@U1> in there, see <https://boost.org|Boost>", at=base + 60)
    data.post("T1", "C1", "U2", "Plain message", at=base + 120)
    data.post("T1", "C2", "B1", "Bot says hi", at=base + 180, bot_id="BB1")
    return data


class SlackServer(WireServer):
    """The Slack Web API over HTTP (see the module docstring)."""

    methods = ("GET", "POST")
    thread_name = "slack-fake"

    def __init__(self, dataset: SlackDataset, *, marketplace: bool = True, limits: bool = True,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dataset = dataset
        self.marketplace = marketplace
        self.limits = limits
        self.tier_limits = dict(TIERS)
        self._calls: dict[tuple[str, str], collections.deque[float]] = collections.defaultdict(collections.deque)
        self._arrivals: collections.Counter[str] = collections.Counter()
        self._scheduled: dict[
            tuple[str, int], tuple[Fault | None, threading.Event | None, Callable[[], None] | None]
        ] = {}

    def schedule(self, method: str, call: int, fault: Fault | None = None, *,
                 action: Callable[[], None] | None = None) -> threading.Event:
        """From the ``call``-th request of ``method`` on (1-based): run ``action`` (a dataset
        mutator, e.g. ``remove_bot``) and queue ``fault`` just before it is answered; the returned
        event is set when that request arrives (to kill a client then)."""
        arrived = threading.Event()
        self._scheduled[(method, call)] = (fault, arrived, action)
        return arrived

    def respond(self, request: Request) -> Reply:
        method = request.path.removeprefix("/api/")
        with self.dataset.lock:
            self._arrivals[method] += 1
            planned = self._scheduled.pop((method, self._arrivals[method]), None)
        if planned is not None:
            fault, arrived, action = planned
            if action is not None:
                action()
            if fault is not None:
                self.faults.add(fault)
            if arrived is not None:
                arrived.set()
        return super().respond(request)

    def set_marketplace_mode(self, marketplace: bool) -> None:
        self.marketplace = marketplace

    def api_url(self) -> str:
        return self.url("/api/")

    def calls(self, method: str) -> int:
        return self.log.count(path=f"/api/{method}")

    def error(self, status: int, request: Request) -> Reply:
        if status >= 500:
            return Reply.text(status, HTML_500, content_type="text/html")
        return Reply.json(status, {"ok": False, "error": "http_error"})

    # ---------------------------------------------------------------- dispatch

    def handle(self, request: Request) -> Reply:
        if not request.path.startswith("/api/"):
            return Reply.json(404, {"ok": False, "error": "unknown_method"})
        method = request.path[len("/api/"):]
        params = dict(request.query)
        if request.body and "form-urlencoded" in (request.headers.get("Content-Type") or ""):
            params.update(parse_qsl(request.body.decode(), keep_blank_values=True))
        auth = request.headers.get("Authorization") or ""
        token = auth.removeprefix("Bearer ").strip() or params.get("token", "")
        with self.dataset.lock:
            team_id = self.dataset.tokens.get(token)
            if team_id is None:
                return self._fail("not_authed" if not token else "invalid_auth")
            team = self.dataset.teams[team_id]
            request.notes["team"] = team_id
            limited = self._limited(team_id, method)
            if limited is not None:
                return limited
            handler = getattr(self, "m_" + method.replace(".", "_"), None)
            if handler is None:
                return self._fail("unknown_method")
            try:
                return Reply.json(200, {"ok": True, **handler(team, params)})
            except _SlackFail as fail:
                return self._fail(fail.code, **fail.fields)

    @staticmethod
    def _fail(code: str, **fields: Any) -> Reply:
        return Reply.json(200, {"ok": False, "error": code, **fields})

    def _limited(self, team_id: str, method: str) -> Reply | None:
        if not self.limits:
            return None
        per_minute = 1 if (not self.marketplace and method in PACED) else self.tier_limits.get(method, 100)
        window = self._calls[(team_id, method)]
        now = self.clock()
        while window and window[0] <= now - 60:
            window.popleft()
        if len(window) >= per_minute:
            retry = max(1, int(window[0] + 60 - now + 0.999))
            return Reply.json(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry)})
        window.append(now)
        return None

    # ---------------------------------------------------------------- helpers

    @staticmethod
    def _page(items: list[Any], params: dict[str, str], *, default: int = 100, cap: int = 1000) -> tuple[list[Any], str]:
        try:
            limit = int(params.get("limit") or default)
        except ValueError:
            raise _SlackFail("invalid_arguments") from None
        limit = max(1, min(limit, cap))
        start = 0
        cursor = params.get("cursor")
        if cursor:
            try:
                start = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
            except ValueError:
                raise _SlackFail("invalid_cursor") from None
        chunk = items[start:start + limit]
        more = start + limit < len(items)
        return chunk, base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""

    def _channel(self, team: FakeTeam, params: dict[str, str]) -> FakeChannel:
        channel = team.channels.get(params.get("channel", ""))
        if channel is None:
            raise _SlackFail("channel_not_found")
        return channel

    @staticmethod
    def _channel_json(channel: FakeChannel) -> dict[str, Any]:
        return {"id": channel.id, "name": channel.name, "is_channel": not channel.is_private,
                "is_private": channel.is_private, "is_archived": channel.is_archived,
                "is_member": channel.is_member, "is_ext_shared": False, "created": channel.created,
                "creator": "U1", "topic": {"value": channel.topic}, "purpose": {"value": ""},
                "num_members": len(channel.members)}

    def _visible(self, message: dict[str, Any]) -> bool:
        days = self.dataset.visibility_days
        return days is None or float(message["ts"]) >= self.dataset.now() - days * 86_400

    def _readable(self, channel: FakeChannel) -> None:
        if not channel.is_member:
            raise _SlackFail("not_in_channel")

    # ---------------------------------------------------------------- methods

    def m_auth_test(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        return {"url": f"https://{team.domain}.slack.com/", "team": team.name, "user": "collector-bot",
                "team_id": team.id, "user_id": "UBOT", "bot_id": "BBOT", "is_enterprise_install": False}

    def m_team_info(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        if "team:read" not in team.scopes:
            raise _SlackFail("missing_scope", needed="team:read", provided="channels:history")
        return {"team": {"id": team.id, "name": team.name, "domain": team.domain, "email_domain": ""}}

    def m_users_list(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        users = [self._user_json(team, u) for _, u in sorted(team.users.items())]
        chunk, cursor = self._page(users, params, default=100, cap=1000)
        return {"members": chunk, "response_metadata": {"next_cursor": cursor}}

    def _user_json(self, team: FakeTeam, user: dict[str, Any]) -> dict[str, Any]:
        data = json.loads(json.dumps(user))
        if "users:read.email" not in team.scopes:
            data["profile"].pop("email", None)
        return data

    def m_users_info(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        user = team.users.get(params.get("user", ""))
        if user is None:
            raise _SlackFail("user_not_found")
        return {"user": self._user_json(team, user)}

    def m_conversations_list(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        types = set((params.get("types") or "public_channel").split(","))
        exclude_archived = params.get("exclude_archived") in ("1", "true")
        channels = [
            self._channel_json(c) for _, c in sorted(team.channels.items())
            if ("private_channel" if c.is_private else "public_channel") in types
            and not (exclude_archived and c.is_archived)
            and (not c.is_private or c.is_member)
        ]
        chunk, cursor = self._page(channels, params, default=100, cap=1000)
        return {"channels": chunk, "response_metadata": {"next_cursor": cursor}}

    def m_conversations_info(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        return {"channel": self._channel_json(self._channel(team, params))}

    def m_conversations_join(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(team, params)
        if channel.is_private:
            raise _SlackFail("method_not_supported_for_channel_type")
        if channel.is_archived:
            raise _SlackFail("is_archived")
        if channel.is_member:
            return {"channel": self._channel_json(channel), "warning": "already_in_channel",
                    "response_metadata": {"warnings": ["already_in_channel"]}}
        channel.is_member = True
        channel.members.add("UBOT")
        return {"channel": self._channel_json(channel)}

    def m_conversations_members(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(team, params)
        chunk, cursor = self._page(sorted(channel.members), params)
        return {"members": chunk, "response_metadata": {"next_cursor": cursor}}

    def _window(self, messages: Iterable[dict[str, Any]], params: dict[str, str]) -> list[dict[str, Any]]:
        inclusive = params.get("inclusive") in ("1", "true")
        oldest = float(params.get("oldest") or 0)
        latest = float(params.get("latest") or 1e12)
        kept = []
        for message in messages:
            ts = float(message["ts"])
            if (inclusive and oldest <= ts <= latest) or (not inclusive and oldest < ts < latest):
                kept.append(message)
        return kept

    def _limit_cap(self) -> int:
        return 999 if self.marketplace else 15

    def m_conversations_history(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(team, params)
        self._readable(channel)
        top = [m for m in channel.messages.values()
               if (m.get("thread_ts") in (None, m["ts"]) or m.get("subtype") == "thread_broadcast")
               and self._visible(m)]
        top = sorted(self._window(top, params), key=lambda m: float(m["ts"]), reverse=True)
        chunk, cursor = self._page(top, params, default=100, cap=self._limit_cap())
        return {"messages": json.loads(json.dumps(chunk)), "has_more": bool(cursor), "pin_count": 0,
                "response_metadata": {"next_cursor": cursor}}

    def m_conversations_replies(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        channel = self._channel(team, params)
        self._readable(channel)
        ts = params.get("ts", "")
        parent = channel.messages.get(ts)
        if parent is None or not self._visible(parent):
            raise _SlackFail("thread_not_found")
        replies = [m for m in channel.messages.values() if m.get("thread_ts") == ts and m["ts"] != ts]
        replies = sorted(self._window(replies, params), key=lambda m: float(m["ts"]))
        chunk, cursor = self._page(replies, params, default=100, cap=self._limit_cap())
        return {"messages": json.loads(json.dumps([parent, *chunk])), "has_more": bool(cursor),
                "response_metadata": {"next_cursor": cursor}}

    def m_files_info(self, team: FakeTeam, params: dict[str, str]) -> dict[str, Any]:
        info = team.files.get(params.get("file", ""))
        if info is None:
            raise _SlackFail("file_not_found")
        return {"file": info}


class _SlackFail(Exception):
    def __init__(self, code: str, **fields: Any) -> None:
        super().__init__(code)
        self.code = code
        self.fields = fields


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--dataset", choices=["small"], default="small")
    parser.add_argument("--token", default="xoxb-T1-fake-token:T1", help="TOKEN:TEAM")
    args = parser.parse_args(argv)
    token, _, _team = args.token.partition(":")
    server = SlackServer(small_dataset(token=token), port=args.port)
    print(f"Slack fake on {server.api_url()}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
