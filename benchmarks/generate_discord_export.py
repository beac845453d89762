"""Generate a large, deterministic set of DiscordChatExporter JSON exports for benchmarks.

    python benchmarks/generate_discord_export.py --messages 200000 --channels 8 --out benchmarks/out/discord

One file per channel, named and shaped like DCE's own output (indented JSON, snowflake ids
that encode the message time, replies, edits, attachments, embeds, reactions, mentions, a
bot). Files are written one message at a time, so memory stays flat at any size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import orjson

__all__ = ["generate_exports", "snowflake_at", "write_channel_export"]

DISCORD_EPOCH_MS = 1_420_070_400_000
GUILD = {
    "id": "837840745267200000",
    "name": "Acme Libraries",
    "iconUrl": "https://cdn.discordapp.com/icons/837840745267200000/a1b2c3.png",
}
START = dt.datetime(2023, 1, 2, 8, 0, tzinfo=dt.UTC)

_VOCABULARY = (
    "template constexpr allocator iterator range view span coroutine module concept lambda "
    "build cmake linker header vcpkg conan release benchmark regression segfault sanitizer "
    "the a we it is this that works fails again after before with without please thanks "
    "compile error warning flag clang gcc msvc apple arm x86 windows linux ubuntu docs example "
    "café naïve Zoë 構文 テンプレート 编译器 错误 🎉 🚀 ✅ 🙏"
)
_WORDS = _VOCABULARY.split()
_EMOJI = (
    ("", "👍", "thumbsup"),
    ("", "🎉", "tada"),
    ("", "❤️", "heart"),
    ("838203133132800777", "acme", "acme"),
)


def snowflake_at(moment: dt.datetime, sequence: int, worker: int = 0) -> str:
    """A Discord snowflake whose timestamp bits are ``moment``; ``worker`` fills the 10
    worker/process bits so generated channels never share an id."""
    millis = int(moment.timestamp() * 1000) - DISCORD_EPOCH_MS
    return str((millis << 22) | ((worker & 0x3FF) << 12) | (sequence & 0xFFF))


def _timestamp(moment: dt.datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _user(index: int) -> dict[str, Any]:
    is_bot = index == 0
    return {
        "id": str(900_000_000_000_000_000 + index),
        "name": "acme-ci" if is_bot else f"user{index:04d}",
        "discriminator": "0000",
        "nickname": "Acme CI" if is_bot else f"User {index:04d}",
        "color": "#3BA55C" if index % 7 == 0 else None,
        "isBot": is_bot,
        "roles": [{"id": "838203133132800100", "name": "Contributor", "color": "#3BA55C", "position": 3}]
        if index % 7 == 0
        else [],
        "avatarUrl": f"https://cdn.discordapp.com/embed/avatars/{index % 6}.png",
    }


def _message(
    rng: random.Random, moment: dt.datetime, sequence: int, channel_id: str, recent: list[str], users: int
) -> dict[str, Any]:
    worker = int(channel_id) % 1024
    message_id = snowflake_at(moment, sequence, worker)
    author = _user(0 if rng.random() < 0.01 else rng.randrange(1, users))
    reply_to = rng.choice(recent) if recent and rng.random() < 0.12 else None
    edited = _timestamp(moment + dt.timedelta(minutes=rng.randint(1, 90))) if rng.random() < 0.05 else None
    message: dict[str, Any] = {
        "id": message_id,
        "type": "Reply" if reply_to else "Default",
        "timestamp": _timestamp(moment),
        "timestampEdited": edited,
        "callEndedTimestamp": None,
        "isPinned": rng.random() < 0.002,
        "content": " ".join(rng.choices(_WORDS, k=rng.randint(3, 60))),
        "author": author,
        "attachments": [],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [],
        "inlineEmojis": [],
    }
    if rng.random() < 0.05:
        message["attachments"].append(
            {
                "id": snowflake_at(moment, sequence + 1, worker),
                "url": f"https://cdn.discordapp.com/attachments/{channel_id}/{message_id}/build.log",
                "fileName": "build.log",
                "fileSizeBytes": rng.randint(200, 2_000_000),
            }
        )
    if rng.random() < 0.03:
        message["embeds"].append(
            {
                "title": "acme/acme-lib: pull request opened",
                "url": f"https://github.com/acme/acme-lib/pull/{rng.randint(1, 5000)}",
                "timestamp": None,
                "description": "Fix allocator propagation in small_vector",
                "color": "#24292F",
                "images": [],
                "fields": [],
                "inlineEmojis": [],
            }
        )
    if rng.random() < 0.08:
        emoji_id, name, code = rng.choice(_EMOJI)
        message["reactions"].append(
            {
                "emoji": {
                    "id": emoji_id,
                    "name": name,
                    "code": code,
                    "isAnimated": False,
                    "imageUrl": "https://cdn.jsdelivr.net/x.svg",
                },
                "count": rng.randint(1, 12),
                "users": [],
            }
        )
    if rng.random() < 0.05:
        message["mentions"].append(_user(rng.randrange(1, users)))
    if reply_to:
        message["reference"] = {
            "type": "Default",
            "messageId": reply_to,
            "channelId": channel_id,
            "guildId": GUILD["id"],
        }
    return message


def _indented(value: Any, depth: int) -> bytes:
    text = orjson.dumps(value, option=orjson.OPT_INDENT_2)
    return (b" " * depth) + text.replace(b"\n", b"\n" + b" " * depth)


def _messages(
    rng: random.Random, count: int, channel_id: str, users: int, start: dt.datetime = START
) -> Iterator[dict[str, Any]]:
    moment = start
    recent: list[str] = []
    for sequence in range(count):
        moment += dt.timedelta(seconds=rng.randint(1, 900))
        message = _message(rng, moment, sequence, channel_id, recent, users)
        recent.append(message["id"])
        if len(recent) > 50:
            del recent[0]
        yield message


def write_channel_export(
    path: Path,
    *,
    channel: dict[str, Any],
    message_count: int,
    seed: int,
    users: int = 500,
    start: dt.datetime = START,
) -> Path:
    """Write one channel export with ``message_count`` messages after ``start``, streaming."""
    rng = random.Random(seed)
    with path.open("wb") as out:
        _write_preamble(out, channel)
        for index, message in enumerate(_messages(rng, message_count, channel["id"], users, start)):
            if index:
                out.write(b",\n")
            out.write(_indented(message, 4))
        out.write(b"\n  ],\n" + f'  "messageCount": {message_count}\n}}\n'.encode())
    return path


def _write_preamble(out: BinaryIO, channel: dict[str, Any]) -> None:
    header = {
        "guild": GUILD,
        "channel": channel,
        "dateRange": {"after": None, "before": None},
        "exportedAt": _timestamp(dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)),
    }
    body = orjson.dumps(header, option=orjson.OPT_INDENT_2)
    out.write(body[: body.rindex(b"}")].rstrip() + b',\n  "messages": [\n')


def generate_exports(out_dir: Path, *, messages: int, channels: int, seed: int = 20240301) -> list[Path]:
    """Write ``channels`` export files holding ``messages`` messages in total; return their paths."""
    if channels < 1 or messages < 0:
        raise ValueError("need at least one channel and a non-negative message count")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(channels):
        share = messages // channels + (1 if number < messages % channels else 0)
        channel = {
            "id": str(838_565_520_998_400_000 + number),
            "type": "GuildTextChat",
            "categoryId": "838203133132800010",
            "category": "Community",
            "name": f"bench-{number:02d}",
            "topic": "Generated for benchmarks",
        }
        name = f"{GUILD['name']} - {channel['category']} - {channel['name']} [{channel['id']}].json"
        paths.append(
            write_channel_export(out_dir / name, channel=channel, message_count=share, seed=seed + number)
        )
    return paths


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate DiscordChatExporter JSON exports for benchmarks.")
    parser.add_argument("--messages", type=int, default=200_000, help="messages in total, over all channels")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--out", type=Path, required=True, help="output folder (created if missing)")
    parser.add_argument("--seed", type=int, default=20240301)
    args = parser.parse_args(argv)
    paths = generate_exports(args.out, messages=args.messages, channels=args.channels, seed=args.seed)
    total = sum(p.stat().st_size for p in paths)
    print(f"wrote {len(paths)} files, {args.messages} messages, {total / 1e6:.1f} MB to {args.out}")


if __name__ == "__main__":
    main()
