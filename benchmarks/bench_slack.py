"""Slack collector benchmark: messages/s into PostgreSQL, peak RSS, API requests per 1,000 messages.

Builds a workspace in the Slack fake (``tests/fakes/slack_server.py``): ``--messages`` messages
over ``--channels`` channels and 400 days, ``--thread-share`` of the top-level messages with
replies (5 each), and writes it as Slack's workspace export (zip). Then, each in a child process
(``python -m core.cli run slack --skip-sync``) on a fresh PostgreSQL database, against the fake
served by this process over HTTP (no rate limits: the fake's limits would only measure sleeping):

1. **export**: the workspace export imported (``export_path``; the API window is empty);
2. **api first**: the same history through the Web API (history + replies);
3. **api unchanged**: the same collector again, nothing changed upstream.

Printed per path: wall time, messages/s, the child's CPU time and peak RSS (``VmHWM``, which the
child reports itself), and the API requests it sent (per method, and per 1,000 messages stored).

    PYTHONPATH=plugins:. python benchmarks/bench_slack.py --messages 200000
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg2
from tests.fakes.slack_server import SlackDataset, SlackServer

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "xoxb-T1-" + "BenchTokenValue0" * 2
DAY = 86_400.0
_CLI_REPORTING_PEAK = """
import atexit, runpy, sys
def _report_peak():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print("peak_rss_kb", peak, file=sys.stderr)
atexit.register(_report_peak)
runpy.run_module("core.cli", run_name="__main__", alter_sys=True)
"""


def build(messages: int, channels: int, thread_share: float, seed: int) -> tuple[SlackDataset, int]:
    rng = random.Random(seed)
    data = SlackDataset()
    data.add_team("T1", "Bench", "bench", token=TOKEN)
    for n in range(200):
        data.add_user("T1", f"U{n:04d}", f"user{n}", display_name=f"User {n}", email=f"user{n}@example.org")
    for c in range(channels):
        data.add_channel("T1", f"C{c:04d}", f"channel-{c}")
    start = time.time() - 400 * DAY
    per_channel = messages // channels
    total = 0
    for c in range(channels):
        channel = f"C{c:04d}"
        written = 0
        step = 400 * DAY / per_channel
        while written < per_channel:
            at = start + written * step + rng.uniform(0, step / 2)  # evenly over the 400 days, up to now
            user = f"U{rng.randrange(200):04d}"
            text = f"message {written} about <#C0000|channel-0>, see <https://www.boost.org|Boost> <@U0001> :tada:"
            ts = data.post("T1", channel, user, text, at=at)
            written += 1
            if rng.random() < thread_share and written + 5 <= per_channel:
                for r in range(5):
                    data.reply("T1", channel, ts, f"U{rng.randrange(200):04d}", f"reply {r}", at=at + 1 + r)
                written += 5
        total += written
    return data, total


def _create_db(admin: str) -> str:
    name = f"bench_slack_{uuid.uuid4().hex[:8]}"
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


def _drop_db(admin: str, name: str) -> None:
    conn = psycopg2.connect(admin)
    conn.autocommit = True
    conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def run(config: dict[str, Any], url: str, api_url: str, tmp: Path) -> tuple[float, dict[str, int], float, int]:
    path = tmp / "collectors.yaml"
    path.write_text(textwrap.dedent(f"""
        collectors:
          slack:
            collector: slack_activity_tracker.collector:SlackCollector
            connections: [slack_api_bench]
            config: {json.dumps(config)}
        """))
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}",
           "AIRFLOW_CONN_SLACK_API_BENCH": json.dumps({"conn_type": "slack", "password": TOKEN,
                                                        "extra": {"base_url": api_url}})}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, "-c", _CLI_REPORTING_PEAK, "run", "slack", "--config-file", str(path), "--db", url,
         "--skip-sync"],
        env=env, capture_output=True, text=True, check=False,
    )
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(child.stderr[-4000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak_kb = int(child.stderr.rsplit("peak_rss_kb ", 1)[1].split()[0])
    return elapsed, json.loads(child.stdout)["collect"]["counts"], cpu, peak_kb


def _requests(server: SlackServer) -> collections.Counter[str]:
    counts: collections.Counter[str] = collections.Counter(e.path.removeprefix("/api/") for e in server.log)
    server.log.clear()
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--thread-share", type=float, default=0.02, help="share of top-level messages with replies")
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    built = time.perf_counter()
    data, total = build(args.messages, args.channels, args.thread_share, args.seed)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        export = data.write_export("T1", tmp / "export.zip")
        print(f"workspace: {total} messages in {args.channels} channels, export {export.stat().st_size / 1e6:.1f} MB "
              f"(built in {time.perf_counter() - built:.0f} s)")
        base = {"teams": [{"team_id": "T1", "connection_id": "slack_api_bench"}], "retry_backoff_seconds": 0}
        now_iso = time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(time.time() + 3600))
        with SlackServer(data, limits=False) as server:
            paths = [
                ("export", {**base, "teams": [{**base["teams"][0], "export_path": str(export)}],
                            "initial_start": now_iso}, True),
                ("api first", base, True),
                ("api unchanged", base, False),
            ]
            db = None
            try:
                for label, config, fresh in paths:
                    if fresh:
                        if db:
                            _drop_db(args.pg, db)
                        db = _create_db(args.pg)
                    url = args.pg.rsplit("/", 1)[0] + f"/{db}"
                    server.log.clear()
                    elapsed, counts, cpu, peak_kb = run(config, url, server.api_url(), tmp)
                    sent = _requests(server)
                    stored = counts.get("export_messages", 0) + counts.get("messages", 0) + counts.get("replies", 0)
                    per_k = sum(sent.values()) / (total / 1000)
                    rate = f"{total / elapsed:,.0f} messages/s" if label != "api unchanged" else "-"
                    print(f"{label}: {elapsed:.1f} s wall, {rate} (of {total}), CPU {cpu:.1f} s, "
                          f"peak RSS {peak_kb / 1024:.0f} MB, {sum(sent.values())} requests "
                          f"= {per_k:.2f} per 1,000 messages; read {stored} messages")
                    print("   ", ", ".join(f"{k} {v}" for k, v in sorted(sent.items())))
            finally:
                if db:
                    _drop_db(args.pg, db)


if __name__ == "__main__":
    main()
