"""YouTube collector benchmark: Data API quota units and requests per 1,000 videos.

Builds ``--videos`` uploads over ``--channels`` channels in the YouTube fake
(``tests/fakes/youtube_server.py``, served by this process over HTTP) and runs the metadata
collector in this process into a fresh SQLite store (quota, not speed, is what limits this
source: 10,000 units a day per Google project):

1. **first**: every channel's uploads walked and every video's details read;
2. **unchanged**: the same again, nothing new upstream (the walk stops at ``stop_after_known``);
3. **stats refresh**: a week later, nothing new, statistics of every video re-read (50 per unit);
4. **search**: ``--queries`` search queries over one window (100 units each, plus details).

Printed per run: quota units (per endpoint, and per 1,000 videos stored), HTTP requests.

    PYTHONPATH=plugins:. python benchmarks/bench_youtube.py --videos 1000 --channels 6
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
from pathlib import Path
from typing import Any

from tests.fakes.wire import FakeClock
from tests.fakes.youtube_server import YouTubeData, YouTubeServer

from core.collectors import RunContext
from youtube_activity_tracker.collector import YouTubeCollector

KEY = "AIza" + "BenchKeyBenchKeyBenchKeyBench000"


def run(server: YouTubeServer, store_url: str, clock: FakeClock, config: dict[str, Any]) -> dict[str, int]:
    conns = {"youtube_default": {"host": server.url("/youtube/v3"), "password": KEY}}
    collector = YouTubeCollector(config, context=RunContext(store_url=store_url, connections=conns))
    collector.clock, collector.sleep = clock.time, clock.sleep
    return dict(collector.run().counts)


def report(name: str, counts: dict[str, int], videos: int) -> None:
    units = counts.get("quota_units", 0)
    per_endpoint = ", ".join(f"{k.removeprefix('quota_units_')} {v}" for k, v in sorted(counts.items())
                             if k.startswith("quota_units_"))  # fmt: skip
    print(f"{name:<14} quota units {units:>6} ({per_endpoint}); per 1,000 videos {units * 1000 / videos:8.1f}; "
          f"requests {counts.get('http_requests', 0):>5}; new videos {counts.get('videos_new', 0)}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--videos", type=int, default=1000)
    parser.add_argument("--channels", type=int, default=6)
    parser.add_argument("--queries", type=int, default=3)
    args = parser.parse_args()

    data = YouTubeData()
    channels = [data.channel(f"Conf{n}") for n in range(args.channels)]
    for n in range(args.videos):
        data.upload(channels[n % args.channels], f"Talk {n} about templates - Speaker {n} - Conf 2025")
    clock = FakeClock(dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC).timestamp())
    config: dict[str, Any] = {"channels": channels, "page_size": 50, "stop_after_known": 10}
    with tempfile.TemporaryDirectory() as tmp, YouTubeServer(data, api_keys=(KEY,)) as server:
        store_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(f"{args.videos} videos over {args.channels} channels")
        report("first", run(server, store_url, clock, config), args.videos)
        report("unchanged", run(server, store_url, clock, config), args.videos)
        clock.advance(8 * 86_400)
        report("stats refresh", run(server, store_url, clock, config), args.videos)
        search = {"queries": [f"templates {n}" for n in range(args.queries)], "start": "2023-01-01T00:00:00Z"}
        report("search", run(server, store_url, clock, {"search": search}), args.videos)


if __name__ == "__main__":
    main()
