"""Discord bot-API benchmark: requests per 1,000 messages, first and unchanged runs.

Builds a guild in the Discord REST fake (``tests/fakes/discord_api_server.py``): ``--messages``
messages over ``--channels`` text channels and ``--forum-posts`` forum posts (3 replies each),
spread evenly over ``--days`` days up to now. The fake enforces per-bucket limits
(``--bucket-limit`` requests per ``--bucket-window`` seconds per channel) on a fast clock
shared with the collector, so waits cost no wall time but are counted, with the seconds a real
run would have slept. Then ``DiscordCollector`` (``source: api``, unpartitioned) runs into a
fresh SQLite store, in this process:

1. **first**: the whole history;
2. **unchanged, look-back N days**: the same collector again, nothing changed upstream
   (the look-back window re-reads the last ``--lookback-days`` days for edits and deletions);
3. **unchanged, look-back 0**: checkpoints only.

Printed per run: requests (listing vs message pages), requests per 1,000 messages in the guild,
rate-limit waits, the seconds a real run would have slept, 429s served.

    PYTHONPATH=plugins:. python benchmarks/bench_discord_api.py --messages 10000
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path

from tests.fakes.discord_api_server import DEFAULT_TOKEN, DiscordApiServer
from tests.fakes.wire import FakeClock

from core.collectors import RunContext
from discord_activity_tracker.collector import DiscordCollector

GUILD = "900000000000000001"


def build(server: DiscordApiServer, messages: int, channels: int, forum_posts: int, days: float) -> int:
    data = server.data
    data.guild(GUILD, "Bench Guild")
    channel_ids = [str(900000000000000100 + n) for n in range(channels)]
    for n, channel_id in enumerate(channel_ids):
        data.channel(GUILD, channel_id, f"channel-{n}")
    forum = "900000000000000099"
    data.channel(GUILD, forum, "help-forum", kind=15)
    now = dt.datetime.fromtimestamp(server.fake_clock.time(), dt.UTC) - dt.timedelta(minutes=1)
    start = now - dt.timedelta(days=days)
    step = (now - start) / max(messages, 1)
    authors = ("alice", "bob", "helper")
    posts_every = max(messages // max(forum_posts, 1), 1)
    stored = 0
    for n in range(messages):
        at = start + step * n
        if forum_posts and n % posts_every == 0 and stored // posts_every < forum_posts:
            post = data.thread(forum, f"question {n}", content=f"question {n}", at=at)
            for r in range(3):
                data.post(post["id"], authors[r % 3], f"answer {r}", at=at + dt.timedelta(seconds=r + 1))
            stored += 4
            continue
        data.post(channel_ids[n % channels], authors[n % 3], f"message {n} " + "x" * (n % 200), at=at)
        stored += 1
    return stored


def run(server: DiscordApiServer, clock: FakeClock, store_url: str, lookback_days: float) -> dict[str, float]:
    server.log.clear()
    slept_before = sum(clock.sleeps)
    collector = DiscordCollector(
        {
            "source": "api",
            "guilds": [{"guild_id": GUILD}],
            "lookback_days": lookback_days,
            "max_rate_limit_wait": 600,
        },
        context=RunContext(
            store_url=store_url,
            collector_name="discord_bot",
            connections={
                "discord_bot_default": {"password": DEFAULT_TOKEN, "extra": {"base_url": server.api_url}}
            },
        ),
        clock=clock.time,
        sleep=clock.sleep,
    )
    collector.validate()
    result = collector.run()
    pages = server.log.count(where=lambda e: e.path.endswith("/messages"))
    return {
        "requests": len(server.log),
        "message_pages": pages,
        "listing": len(server.log) - pages,
        "messages_read": result.counts["messages_read"],
        "messages_new": result.counts["messages_new"],
        "rate_limit_waits": result.counts["http_rate_limit_waits"],
        "simulated_sleep_s": round(sum(clock.sleeps) - slept_before, 1),
        "served_429": server.log.count(status=429),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=10_000)
    parser.add_argument("--channels", type=int, default=10)
    parser.add_argument("--forum-posts", type=int, default=200)
    parser.add_argument("--days", type=float, default=365)
    parser.add_argument("--lookback-days", type=float, default=7)
    parser.add_argument("--bucket-limit", type=int, default=5)
    parser.add_argument("--bucket-window", type=float, default=5.0)
    args = parser.parse_args()
    clock = FakeClock()
    server = DiscordApiServer(clock=clock, bucket_limit=args.bucket_limit, bucket_window=args.bucket_window)
    total = build(server, args.messages, args.channels, args.forum_posts, args.days)
    with tempfile.TemporaryDirectory() as folder, server:
        store_url = f"sqlite:///{Path(folder) / 'store.db'}"
        print(
            f"guild: {total} messages, {args.channels} channels, {args.forum_posts} forum posts, "
            f"{args.days:g} days; buckets {args.bucket_limit}/{args.bucket_window:g}s"
        )
        for label, lookback in (
            ("first", args.lookback_days),
            (f"unchanged, look-back {args.lookback_days:g} d", args.lookback_days),
            ("unchanged, look-back 0", 0),
        ):
            numbers = run(server, clock, store_url, lookback)
            per_thousand = 1000 * numbers["requests"] / total
            print(
                f"{label:<28} requests {numbers['requests']:>6} ({numbers['listing']} listing, "
                f"{numbers['message_pages']} message pages) = {per_thousand:6.1f} per 1,000 messages; "
                f"read {numbers['messages_read']}, new {numbers['messages_new']}; "
                f"waits {numbers['rate_limit_waits']} ({numbers['simulated_sleep_s']} s simulated), "
                f"429s {numbers['served_429']}"
            )


if __name__ == "__main__":
    main()
