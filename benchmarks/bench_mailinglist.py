"""Mailing-list collector benchmark: messages/s from monthly mbox exports into PostgreSQL, peak RSS
at two archive sizes, and HyperKitty requests per 1,000 messages for an incremental and an
unchanged run.

Builds an archive in the HyperKitty fake (``tests/fakes/hyperkitty_server.py``, served by this
process over loopback HTTP, never the internet): ``--messages`` synthetic messages, the same
number per month (``--per-month``, so a bigger archive is more months, not bigger ones), a
third of them replies. Then, each in a child process (``python -m core.cli run mailinglist
--skip-sync``, which reports its own peak RSS, ``VmHWM``) on a fresh PostgreSQL database. The
fake and its archive live in this process; the child is a new program (fork + exec), so its
``VmHWM`` counts the collector alone, never the fake's memory:

1. **mbox backfill** of the whole archive (``backfill: mbox``; the run also does its first head
   walk, thread refresh and full reconcile walk: the requests are counted apart), once for
   ``--small`` messages and once for ``--messages``: peak RSS at both sizes;
2. **incremental**: ``--new`` messages archived since (half of them replies to old threads), the
   collector again: requests per 1,000 new messages;
3. **unchanged**: again with nothing new: requests per 1,000 messages stored.

    PYTHONPATH=plugins:. python benchmarks/bench_mailinglist.py --messages 100000 --small 20000
"""

from __future__ import annotations

import argparse
import collections
import datetime as dt
import json
import os
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
from tests.fakes.hyperkitty_server import HyperKittyData, HyperKittyFake, synthetic_message

ROOT = Path(__file__).resolve().parents[1]
LIST = "boost@lists.example.org"
_CLI_REPORTING_PEAK = """
import atexit, runpy, sys
def _report_peak():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print("peak_rss_kb", peak, file=sys.stderr)
atexit.register(_report_peak)
runpy.run_module("core.cli", run_name="__main__", alter_sys=True)
"""


def build(messages: int, per_month: int) -> tuple[HyperKittyData, dt.date]:
    """``messages`` over consecutive months ending last month; every third one a reply."""
    data = HyperKittyData((LIST,))
    months = -(-messages // per_month)
    today = dt.datetime.now(dt.UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first = today
    for _ in range(months):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    step = dt.timedelta(days=28) / per_month
    month_start = first
    for n in range(messages):
        if n and n % per_month == 0:
            month_start = (month_start + dt.timedelta(days=32)).replace(day=1)
        date = month_start + step * (n % per_month)
        reply_to = n - 1 if n % 3 == 2 else None
        data.archive(synthetic_message(n, reply_to=reply_to, date=date), LIST, at=date)
    return data, first.date()


def _create_db(admin: str) -> str:
    name = f"bench_ml_{uuid.uuid4().hex[:8]}"
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


def run(config: dict[str, Any], url: str, tmp: Path) -> tuple[float, dict[str, int], float, int]:
    path = tmp / "collectors.yaml"
    path.write_text(
        textwrap.dedent(f"""
        collectors:
          mailinglist:
            collector: mailinglist_activity_tracker.collector:MailingListCollector
            config: {json.dumps(config)}
        """)
    )
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _CLI_REPORTING_PEAK,
            *("run", "mailinglist", "--config-file", str(path)),
            *("--db", url, "--skip-sync"),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if child.returncode != 0:
        raise SystemExit(child.stderr[-4000:])
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak_kb = int(child.stderr.rsplit("peak_rss_kb ", 1)[1].split()[0])
    return elapsed, json.loads(child.stdout)["collect"]["counts"], cpu, peak_kb


def _requests(fake: HyperKittyFake) -> collections.Counter[str]:
    kinds: collections.Counter[str] = collections.Counter()
    for e in fake.log:
        rest = e.path.split(f"/{LIST}/", 1)[-1]
        kinds["export" if rest.startswith("export/") else rest.split("/", 1)[0] or "list"] += 1
    fake.log.clear()
    return kinds


def _show(label: str, elapsed: float, counts: dict[str, int], cpu: float, peak_kb: int, sent: Any) -> None:
    print(
        f"{label}: {elapsed:.1f} s wall, CPU {cpu:.1f} s, peak RSS {peak_kb / 1024:.0f} MB, "
        f"{sum(sent.values())} requests ({', '.join(f'{k} {v}' for k, v in sorted(sent.items()))})"
    )
    shown = (
        "mbox_months",
        "mbox_messages",
        "messages_new",
        "details",
        "index_pages",
        "thread_pages",
        "reconcile_pages",
        "statistics_refreshed",
    )
    print("   ", ", ".join(f"{k} {counts[k]}" for k in shown if k in counts))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=100_000)
    parser.add_argument(
        "--small", type=int, default=20_000, help="the smaller archive (peak RSS at two sizes)"
    )
    parser.add_argument("--per-month", type=int, default=4_000)
    parser.add_argument("--new", type=int, default=1_000, help="messages archived before the incremental run")
    parser.add_argument("--pg", default="postgresql://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        for size in (args.small, args.messages):
            built = time.perf_counter()
            data, first = build(size, args.per_month)
            print(
                f"archive: {size} messages, {args.per_month} a month from {first} (built in "
                f"{time.perf_counter() - built:.0f} s)"
            )
            config = {
                "lists": [LIST],
                "backfill": "mbox",
                "backfill_from": first.isoformat(),
                "requests_per_second": 10_000,  # the fake: measure the collector, not politeness
            }
            with HyperKittyFake(data, mbox_export=True) as fake:
                config["base_url"] = fake.base_url
                db = _create_db(args.pg)
                url = args.pg.rsplit("/", 1)[0] + f"/{db}"
                try:
                    fake.log.clear()
                    elapsed, counts, cpu, peak_kb = run(config, url, tmp)
                    sent = _requests(fake)
                    _show(f"mbox backfill of {size}", elapsed, counts, cpu, peak_kb, sent)
                    print(
                        f"    {counts['mbox_messages'] / elapsed:,.0f} messages/s over the whole run "
                        f"(mbox months, then the first head walk, thread refresh and reconcile)"
                    )
                    if size != args.messages:
                        continue
                    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
                    for n in range(size, size + args.new):
                        # half replies to recent threads, half new threads
                        reply_to = (size - 1 - (n % 500)) if n % 2 else None
                        at = now + dt.timedelta(seconds=n - size)
                        data.archive(synthetic_message(n, reply_to=reply_to, date=at), LIST, at=at)
                    elapsed, counts, cpu, peak_kb = run(config, url, tmp)
                    sent = _requests(fake)
                    _show(f"incremental (+{args.new})", elapsed, counts, cpu, peak_kb, sent)
                    print(f"    {sum(sent.values()) / (args.new / 1000):.1f} requests per 1,000 new messages")
                    elapsed, counts, cpu, peak_kb = run(config, url, tmp)
                    sent = _requests(fake)
                    _show("unchanged", elapsed, counts, cpu, peak_kb, sent)
                    stored = size + args.new
                    print(
                        f"    {sum(sent.values()) / (stored / 1000):.3f} requests per 1,000 messages stored"
                    )
                finally:
                    _drop_db(args.pg, db)


if __name__ == "__main__":
    main()
