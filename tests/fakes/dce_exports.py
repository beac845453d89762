"""DiscordChatExporter exports shaped like the JSON of several exporter generations.

Written for these tests (no third-party text): each builder returns an export as Python data,
with the keys, nesting and value conventions the JSON writer of that generation used.

- ``gen_2020``: no ``exportedAt``, no ``categoryId``; authors without ``nickname``, ``color``
  or ``roles``; Unicode reactions with ``"emoji": {"id": null, ...}``; no ``stickers``,
  ``inlineEmojis`` or ``interaction``; ``callEndedTimestamp`` written as null.
- ``gen_2022``: ``exportedAt``, ``categoryId``, nicknames, colors, roles, stickers, Unicode
  emoji ids written as ``""`` with a ``code``, slash-command ``interaction``.
- ``gen_2024``: ``inlineEmojis``, reactions listing their ``users``, discriminator ``"0000"``,
  references carrying a ``type``, ``isBot`` and ``callEndedTimestamp`` left out; a thread.
- ``group_dm``: guild id ``"0"``, channel type ``DirectGroupTextChat``, ``categoryId: ""``.
- ``forum_post``: a forum thread, whose ``category`` is the forum.
- ``webhook_channel``: one webhook posting under a different name each time.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from typing import Any

GUILD = {"id": "731502448123904020", "name": "Northwind Makers", "iconUrl": "https://cdn.example/icons/n.png"}
ALICE = "731502711224565770"
BOB = "731503002137296946"
HOOK = "903112250661257216"


def _snowflake(base: int, n: int) -> str:
    return str(base + n * 4_194_304)


def gen_2020() -> dict[str, Any]:
    channel = {
        "id": "731502448123904021",
        "type": "GuildTextChat",
        "category": "Text Channels",
        "name": "general",
        "topic": None,
    }
    alice = {
        "id": ALICE,
        "name": "alice",
        "discriminator": "4821",
        "isBot": False,
        "avatarUrl": "https://cdn.example/a.png",
    }
    bob = {
        "id": BOB,
        "name": "bob",
        "discriminator": "0907",
        "isBot": False,
        "avatarUrl": "https://cdn.example/b.png",
    }
    base = 731600000000000000
    messages = [
        {
            "id": _snowflake(base, 1),
            "type": "Default",
            "timestamp": "2020-07-14T09:12:03.118+00:00",
            "timestampEdited": None,
            "callEndedTimestamp": None,
            "isPinned": False,
            "content": "Has anyone flashed the new board yet?",
            "author": alice,
            "attachments": [],
            "embeds": [],
            "reactions": [
                {
                    "emoji": {
                        "id": None,
                        "name": "❤",
                        "isAnimated": False,
                        "imageUrl": "https://twemoji.example/2764.svg",
                    },
                    "count": 2,
                }
            ],
            "mentions": [],
        },
        {
            "id": _snowflake(base, 2),
            "type": "Reply",
            "timestamp": "2020-07-14T09:15:40.5+02:00",
            "timestampEdited": "2020-07-14T09:16:02+02:00",
            "callEndedTimestamp": None,
            "isPinned": True,
            "content": 'Yes, @alice, it works [with {brackets}] and "quotes" \\ too',
            "author": bob,
            "attachments": [
                {
                    "id": _snowflake(base, 90),
                    "url": "https://cdn.example/f.jpg",
                    "fileName": "f.jpg",
                    "fileSizeBytes": 4096,
                }
            ],
            "embeds": [
                {
                    "title": "Board",
                    "url": None,
                    "timestamp": None,
                    "description": "",
                    "fields": [],
                    "images": [],
                }
            ],
            "reactions": [
                {
                    "emoji": {
                        "id": "731502448123909999",
                        "name": "maker",
                        "isAnimated": True,
                        "imageUrl": "https://cdn.example/e.gif",
                    },
                    "count": 1,
                }
            ],
            "mentions": [alice],
            "reference": {
                "messageId": _snowflake(base, 1),
                "channelId": channel["id"],
                "guildId": GUILD["id"],
            },
        },
    ]
    return {
        "guild": GUILD,
        "channel": channel,
        "dateRange": {"after": None, "before": None},
        "messages": messages,
        "messageCount": len(messages),
    }


def gen_2022() -> dict[str, Any]:
    channel = {
        "id": "731502448123904022",
        "type": "GuildTextChat",
        "categoryId": "731502448123904001",
        "category": "Projects",
        "name": "firmware",
        "topic": "Firmware talk",
    }
    role = {"id": "731502448123904100", "name": "Maintainer", "color": "#1ABC9C", "position": 3}
    alice = {
        "id": ALICE,
        "name": "alice",
        "discriminator": "4821",
        "nickname": "Alice M.",
        "color": "#1ABC9C",
        "isBot": False,
        "roles": [role],
        "avatarUrl": "https://cdn.example/a2.png",
    }
    bot = {
        "id": "731509999999999999",
        "name": "BuildBot",
        "discriminator": "0001",
        "nickname": "BuildBot",
        "color": None,
        "isBot": True,
        "roles": [],
        "avatarUrl": "https://cdn.example/bot.png",
    }
    base = 980000000000000000
    messages = [
        {
            "id": _snowflake(base, 1),
            "type": "Default",
            "timestamp": "2022-05-02T18:00:00.000+00:00",
            "timestampEdited": None,
            "callEndedTimestamp": None,
            "isPinned": False,
            "content": "/build target:rp2040",
            "author": alice,
            "attachments": [],
            "embeds": [],
            "stickers": [
                {
                    "id": "980000000000000777",
                    "name": "ship it",
                    "format": "Lottie",
                    "sourceUrl": "https://cdn.example/s.json",
                }
            ],
            "reactions": [
                {
                    "emoji": {
                        "id": "",
                        "name": "👍",
                        "code": "thumbsup",
                        "isAnimated": False,
                        "imageUrl": "https://twemoji.example/1f44d.svg",
                    },
                    "count": 3,
                }
            ],
            "mentions": [],
        },
        {
            "id": _snowflake(base, 2),
            "type": "ChatInputCommand",
            "timestamp": "2022-05-02T18:00:01.250+00:00",
            "timestampEdited": None,
            "callEndedTimestamp": None,
            "isPinned": False,
            "content": "",
            "author": bot,
            "attachments": [],
            "embeds": [
                {
                    "title": "Build #812",
                    "color": "#2ECC71",
                    "fields": [{"name": "status", "value": "ok", "isInline": True}],
                }
            ],
            "stickers": [],
            "reactions": [],
            "mentions": [],
            "interaction": {"id": "980000000000000555", "name": "build", "user": alice},
        },
    ]
    return {
        "guild": GUILD,
        "channel": channel,
        "dateRange": {"after": "2022-05-01T00:00:00+00:00", "before": None},
        "exportedAt": "2022-05-03T08:00:00.000+00:00",
        "messages": messages,
        "messageCount": len(messages),
    }


def gen_2024(
    *, nickname: str = "Alice (new)", exported_at: str = "2024-09-01T12:00:00.000+00:00"
) -> dict[str, Any]:
    channel = {
        "id": "1280000000000000001",
        "type": "GuildPublicThread",
        "categoryId": "731502448123904022",
        "category": "firmware",
        "name": "rp2040 flashing issue",
        "topic": None,
    }
    alice = {
        "id": ALICE,
        "name": "alice",
        "discriminator": "0000",
        "nickname": nickname,
        "color": "#1ABC9C",
        "roles": [],
        "avatarUrl": "https://cdn.example/a3.png",
    }
    bob = {
        "id": BOB,
        "name": "bob_",
        "discriminator": "0000",
        "nickname": None,
        "color": None,
        "isBot": False,
        "roles": [],
        "avatarUrl": "https://cdn.example/b3.png",
    }
    base = 1280000000000000000
    messages = [
        {
            "id": _snowflake(base, 1),
            "type": "Default",
            "timestamp": "2024-08-30T07:00:00+00:00",
            "timestampEdited": None,
            "isPinned": False,
            "content": "Flashing fails at 87% <:maker:731502448123909999>",
            "author": alice,
            "attachments": [],
            "embeds": [],
            "stickers": [],
            "reactions": [
                {
                    "emoji": {
                        "id": "",
                        "name": "😢",
                        "code": "cry",
                        "isAnimated": False,
                        "imageUrl": "https://twemoji.example/1f622.svg",
                    },
                    "count": 1,
                    "users": [bob],
                }
            ],
            "mentions": [],
            "inlineEmojis": [
                {
                    "id": "731502448123909999",
                    "name": "maker",
                    "code": "maker",
                    "isAnimated": False,
                    "imageUrl": "https://cdn.example/e.png",
                }
            ],
        },
        {
            "id": _snowflake(base, 2),
            "type": "Reply",
            "timestamp": "2024-08-30T07:05:00+00:00",
            "timestampEdited": None,
            "isPinned": False,
            "content": "Try a shorter cable",
            "author": bob,
            "attachments": [],
            "embeds": [],
            "stickers": [],
            "reactions": [],
            "mentions": [alice],
            "inlineEmojis": [],
            "reference": {
                "type": "Default",
                "messageId": _snowflake(base, 1),
                "channelId": channel["id"],
                "guildId": GUILD["id"],
            },
        },
    ]
    return {
        "guild": GUILD,
        "channel": channel,
        "dateRange": {"after": None, "before": None},
        "exportedAt": exported_at,
        "messages": messages,
        "messageCount": len(messages),
    }


def group_dm() -> dict[str, Any]:
    guild = {"id": "0", "name": "Direct Messages", "iconUrl": "https://cdn.example/dm.png"}
    channel = {
        "id": "1190000000000000001",
        "type": "DirectGroupTextChat",
        "categoryId": "",
        "category": "Private",
        "name": "alice, bob",
        "topic": None,
    }
    alice = {
        "id": ALICE,
        "name": "alice",
        "discriminator": "0000",
        "nickname": "alice",
        "color": None,
        "isBot": False,
        "roles": [],
        "avatarUrl": "",
    }
    message = {
        "id": "1190000000000000101",
        "type": "RecipientAdd",
        "timestamp": "2023-12-24T20:00:00+00:00",
        "timestampEdited": None,
        "callEndedTimestamp": None,
        "isPinned": False,
        "content": "Added bob to the group.",
        "author": alice,
        "attachments": [],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [],
        "reference": {"messageId": "", "channelId": "", "guildId": None},
    }
    return {
        "guild": guild,
        "channel": channel,
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2023-12-25T00:00:00+00:00",
        "messages": [message],
        "messageCount": 1,
    }


def forum_post() -> dict[str, Any]:
    channel = {
        "id": "1300000000000000009",
        "type": "GuildPublicThread",
        "categoryId": "1300000000000000001",
        "category": "help-forum",
        "name": "How do I update the bootloader?",
        "topic": None,
    }
    bob = {
        "id": BOB,
        "name": "bob_",
        "discriminator": "0000",
        "nickname": None,
        "isBot": False,
        "avatarUrl": "https://cdn.example/b3.png",
    }
    messages = [
        {
            "id": "1300000000000000009",
            "type": "Default",
            "timestamp": "2024-10-01T10:00:00+00:00",
            "timestampEdited": None,
            "isPinned": False,
            "content": "Steps I tried: ...",
            "author": bob,
            "attachments": [],
            "embeds": [],
            "stickers": [],
            "reactions": [],
            "mentions": [],
        }
    ]
    return {
        "guild": GUILD,
        "channel": channel,
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2024-10-02T00:00:00+00:00",
        "messages": messages,
        "messageCount": 1,
    }


WEBHOOK_NAMES = ("GitHub", "CI status", "Release notes")


def webhook_channel() -> dict[str, Any]:
    channel = {
        "id": "1300000000000000100",
        "type": "GuildTextChat",
        "categoryId": None,
        "category": None,
        "name": "feed",
        "topic": None,
    }
    messages = []
    for number, name in enumerate(WEBHOOK_NAMES, start=1):
        messages.append(
            {
                "id": str(1300000000000000100 + number),
                "type": "Default",
                "timestamp": f"2024-10-0{number}T10:00:00+00:00",
                "timestampEdited": None,
                "isPinned": False,
                "content": f"event {number}",
                "author": {
                    "id": HOOK,
                    "name": name,
                    "discriminator": "0000",
                    "nickname": name,
                    "isBot": True,
                    "roles": [],
                    "avatarUrl": None,
                },
                "attachments": [],
                "embeds": [],
                "stickers": [],
                "reactions": [],
                "mentions": [],
            }
        )
    return {
        "guild": GUILD,
        "channel": channel,
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2024-10-05T00:00:00+00:00",
        "messages": messages,
        "messageCount": len(messages),
    }


def _fresh(build: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Each call returns its own copy (tests change the exports they get)."""

    @functools.wraps(build)
    def fresh(*args: Any, **kwargs: Any) -> dict[str, Any]:
        return copy.deepcopy(build(*args, **kwargs))

    return fresh


gen_2020, gen_2022, gen_2024 = _fresh(gen_2020), _fresh(gen_2022), _fresh(gen_2024)
group_dm, forum_post, webhook_channel = _fresh(group_dm), _fresh(forum_post), _fresh(webhook_channel)

GENERATIONS = {
    "gen_2020": gen_2020,
    "gen_2022": gen_2022,
    "gen_2024": gen_2024,
    "group_dm": group_dm,
    "forum_post": forum_post,
    "webhook_channel": webhook_channel,
}
