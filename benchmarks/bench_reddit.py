"""Reddit collector benchmark: API requests per 1,000 items for a first run, an unchanged run,
an unchanged run once the refresh interval has passed (the /api/info re-read of the refresh
window) and an incremental run, plus the wall time the pacing would cost at the configured
queries/minute.

Builds one subreddit in the Reddit fake (``tests/fakes/reddit_server.py``, served by this
process over loopback HTTP, never the internet): ``--submissions`` submissions and
``--comments`` comments spread over the last ``--days`` days, then runs the real collector
(real client, real HTTP, OAuth token endpoint included) into a fresh SQLite store. Time is a
fake clock shared with the fake (pacing and token expiry cost no real time; the paced wall
time reported is what the clock advanced).

    PYTHONPATH=plugins:. python benchmarks/bench_reddit.py --submissions 100 --comments 900 --new 100
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
from pathlib import Path
from typing import Any

from tests.fakes.reddit_server import RedditData, RedditServer
from tests.fakes.wire import FakeClock

from core.collectors import RunContext
from reddit_activity_tracker.collector import RedditCollector

START = 1_750_000_000.0
CLIENT_ID, SECRET = "bench-client", "bench-secret-value"
UA = "linux:community-collectors-bench:v0.1 (by /u/cppa_bot)"


def build(submissions: int, comments: int, days: float) -> RedditData:
    """Submissions and comments interleaved evenly in time; each comment on one of the 20 newest submissions."""
    items = submissions + comments
    data = RedditData(START - days * 86400, step=days * 86400 / (items + 1))
    rng = random.Random(7)
    posts: list[str] = []
    for n in range(items):
        if len(posts) < submissions and (not posts or n * submissions >= len(posts) * items):
            posts.append(data.post("cpp", f"Submission {n} about templates", selftext="x" * 200, score=5))
        else:
            data.comment(rng.choice(posts[-20:]), f"Comment {n} on concepts and ranges", score=2)
    return data


def run(server: RedditServer, store_url: str, clock: FakeClock) -> dict[str, Any]:
    server.log.clear()
    before = clock.time()
    collector = RedditCollector(
        {
            "api_url": server.root,
            "token_url": server.token_url,
            "subreddits": [{"name": "cpp"}],
            "queries_per_minute": 90,
        },
        context=RunContext(
            store_url=store_url,
            connections={
                "reddit_default": {"login": CLIENT_ID, "password": SECRET, "extra": {"user_agent": UA}}
            },
        ),
    )
    collector.clock, collector.sleep = clock.time, clock.sleep
    result = collector.run()
    by_path: dict[str, int] = {}
    for exchange in server.log:
        key = "/r/cpp/*" if exchange.path.startswith("/r/") else exchange.path
        by_path[key] = by_path.get(key, 0) + 1
    api = sum(n for path, n in by_path.items() if path != "/api/v1/access_token")
    stored = result.counts.get("submissions", 0) + result.counts.get("comments", 0)
    return {"api_requests": api, "by_path": by_path, "stored": stored, "refreshed": result.counts.get("refreshed", 0),
            "clock_seconds": round(clock.time() - before, 1)}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=100)
    parser.add_argument("--comments", type=int, default=900)
    parser.add_argument("--days", type=float, default=5)
    parser.add_argument("--new", type=int, default=100, help="comments added before the incremental run")
    args = parser.parse_args(argv)
    clock = FakeClock(START)
    data = build(args.submissions, args.comments, args.days)
    total = args.submissions + args.comments
    report: dict[str, Any] = {"items": total}
    with (
        tempfile.TemporaryDirectory() as tmp,
        RedditServer(
            data, client_id=CLIENT_ID, client_secret=SECRET, budget=10**6, cap=10**6, clock=clock.time
        ) as server,
    ):
        store_url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        report["first"] = run(server, store_url, clock)
        report["unchanged"] = run(server, store_url, clock)
        clock.advance(3600)
        report["unchanged_with_refresh"] = run(server, store_url, clock)
        post = next(t["id"] for n, t in data.things.items() if n.startswith("t3_"))
        for n in range(args.new):
            data.comment(post, f"new comment {n}", at=clock.time() - args.new + n)
        report["incremental"] = run(server, store_url, clock)
    for name in ("first", "unchanged", "unchanged_with_refresh"):
        report[name]["per_1000_items"] = round(report[name]["api_requests"] * 1000 / total, 1)
    report["incremental"]["per_1000_new"] = round(
        report["incremental"]["api_requests"] * 1000 / max(args.new, 1), 1
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
