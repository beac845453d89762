"""Discord ingest throughput into PostgreSQL against a bare COPY of the same rows (the ceiling).

    PYTHONPATH=plugins:. python benchmarks/bench_discord_ingest.py [--messages 200000] [--channels 8]
        [--batch-size 2000] [--repeat 3] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

1. Generates the export set (benchmarks/generate_discord_export.py) unless it exists.
2. Runs the real collector (``python -m core.cli run discord``) in a child process on a
   fresh database and reports messages/s, the child's peak RSS and CPU time.
3. Builds the same message rows and COPYs them into an empty copy of ``discord_messages``
   with the same indexes, checked (no foreign keys, triggers, upsert, validation or
   checkpoints): the ceiling.
4. The same COPY into ``discord_messages`` itself, its parent rows inserted first: the
   write with the foreign keys the collector's table has (checked row by row).
5. Runs the collector over an empty export folder: its fixed cost (process start, imports,
   migrations), which every run pays whatever its size.
Steps 2 to 5 alternate (benchmarks/harness.py; the starting side rotates)
``--repeat`` times, each on a fresh database; the machine's load is printed before and after,
each side as median and range, and the claim as the median and range of the per-rep ratios
(the ceiling's rate over the collector's). ``--repeat 1`` (or 2) runs the collector alone, for
its peak RSS (e.g. one 395 MB file: ``--messages 400000 --channels 1 --repeat 1``).
Record the results in docs/performance.md.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import orjson
import psycopg2
from sqlalchemy import Connection, create_engine

from benchmarks.generate_discord_export import generate_exports
from benchmarks.harness import MIN_REPS, alternate, describe, print_load, report
from core.store import Store
from discord_activity_tracker.export_reader import ExportReader, discover_exports
from discord_activity_tracker.rows import message_row
from discord_activity_tracker.tables import DISCORD_MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
# ``python -m core.cli`` that reports its own peak RSS (VmHWM) on the way out: a child's
# ru_maxrss would also count this process's memory, shared between fork and exec.
_CLI_REPORTING_PEAK = """
import atexit, runpy, sys
def _report_peak():
    with open("/proc/self/status") as status:
        peak = next(line.split()[1] for line in status if line.startswith("VmHWM:"))
    print("peak_rss_kb", peak, file=sys.stderr)
atexit.register(_report_peak)
runpy.run_module("core.cli", run_name="__main__", alter_sys=True)
"""


def _create_db(admin_dsn: str) -> str:
    name = f"bench_{uuid.uuid4().hex[:10]}"
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    conn.cursor().execute(f'CREATE DATABASE "{name}"')
    conn.close()
    return name


def _drop_db(admin_dsn: str, name: str) -> None:
    conn = psycopg2.connect(admin_dsn)
    conn.autocommit = True
    conn.cursor().execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def run_collector(
    exports: Path, url: str, batch_size: int, tmp: Path, root: Path = ROOT
) -> tuple[float, dict, float, int]:
    config = tmp / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{exports}", batch_size: {batch_size}}}
        """)
    )
    env = {**os.environ, "PYTHONPATH": f"{root / 'plugins'}:{root}"}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    child = subprocess.run(
        [
            sys.executable,
            "-c",
            _CLI_REPORTING_PEAK,
            "run",
            "discord",
            "--config-file",
            str(config),
            "--db",
            url,
            "--skip-sync",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    peak_kb = int(child.stderr.rsplit("peak_rss_kb ", 1)[1].split()[0])
    return elapsed, json.loads(child.stdout)["collect"]["counts"], cpu, peak_kb


def _index_shapes(conn: Connection, table: str) -> list[str]:
    """The table's index definitions with the index and table names taken out (comparable)."""
    rows = conn.exec_driver_sql(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = %s", (table,)
    ).scalars()
    return sorted(re.sub(r"INDEX \S+ ON \S+", "INDEX ON <table>", definition) for definition in rows)


def copy_ceiling(exports: Path, url: str, *, with_keys: bool = False) -> tuple[float, int, list[str]]:
    """Rows built from the same exports, COPYed into an empty copy of discord_messages.

    The database is migrated by the collector's own migrations, so ``discord_messages`` is
    the table the collector writes; the ceiling table copies its columns, defaults (the
    change sequence stamp included) and indexes, and the copy is checked index by index.
    It has no foreign keys, no triggers, no upsert, no validation and no checkpoints.

    ``with_keys`` COPYs into ``discord_messages`` itself instead, its guilds, channels and
    authors inserted first (untimed): the same write with the table's foreign keys checked
    row by row, which the collector cannot avoid.
    """
    store = Store.from_url(url)
    store.migrate("discord", DISCORD_MIGRATIONS)
    store.dispose()
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "CREATE TABLE copy_target (LIKE discord_messages INCLUDING DEFAULTS INCLUDING INDEXES)"
        )
        indexes = _index_shapes(conn, "discord_messages")
        if _index_shapes(conn, "copy_target") != indexes:
            raise SystemExit(
                f"the ceiling table's indexes differ from discord_messages': "
                f"{_index_shapes(conn, 'copy_target')} vs {indexes}"
            )
    columns: list[str] = []
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    now = dt.datetime.now(dt.UTC)
    rows = 0
    parents: dict[str, dict[str, tuple[str, ...]]] = {"guilds": {}, "channels": {}, "authors": {}}
    for path in discover_exports(exports):
        with ExportReader(path) as reader:
            header = reader.open()
            parents["guilds"][header.guild.id] = (header.guild.id,)
            parents["channels"][header.channel.id] = (header.channel.id, header.guild.id)
            for raw, message in reader.iter_checked():
                parents["authors"][raw["author"]["id"]] = (raw["author"]["id"],)
                row = {**message_row(raw, message, header), "updated_at": now}
                columns = columns or list(row)  # what the collector writes; the rest is defaults
                writer.writerow(
                    [
                        orjson.dumps(row[c]).decode()
                        if isinstance(row[c], (list, dict))
                        else ("" if row[c] is None else row[c])
                        for c in columns
                    ]
                )
                rows += 1
    payload = buffer.getvalue()
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        target = "copy_target"
        if with_keys:
            target = "discord_messages"
            for sql, key in (
                ("INSERT INTO discord_guilds VALUES (%s, 'g', NULL, now())", "guilds"),
                (
                    "INSERT INTO discord_channels (channel_id, guild_id, name, type, updated_at) "
                    "VALUES (%s, %s, 'c', 'GuildTextChat', now())",
                    "channels",
                ),
                (
                    "INSERT INTO discord_authors (author_id, name, is_bot, roles, updated_at) "
                    "VALUES (%s, 'a', false, '[]', now())",
                    "authors",
                ),
            ):
                cursor.executemany(sql, list(parents[key].values()))
            raw.commit()
        started = time.perf_counter()
        cursor.copy_expert(
            f"COPY {target} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '')",
            io.StringIO(payload),
        )
        raw.commit()
        elapsed = time.perf_counter() - started
    finally:
        raw.close()
        engine.dispose()
    return elapsed, rows, indexes


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument(
        "--repeat",
        type=int,
        default=MIN_REPS,
        help=f"alternating reps of each side (at least {MIN_REPS}); fewer runs the collector alone "
        "(peak RSS and CPU, no ratio)",
    )
    parser.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "out" / "discord")
    parser.add_argument(
        "--baseline",
        type=Path,
        metavar="CHECKOUT",
        help="also run the collector of another checkout (e.g. a git worktree of an older "
        "commit), and its fixed cost, as sides of their own: before/after, alternately",
    )
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()

    exports = args.dir / f"{args.messages}x{args.channels}"
    if not discover_exports(exports) if exports.exists() else True:
        print(f"generating {args.messages} messages over {args.channels} channels in {exports}")
        generate_exports(exports, messages=args.messages, channels=args.channels)
    size_mb = sum(p.stat().st_size for p in discover_exports(exports)) / 1e6
    admin = args.pg.replace("postgresql+psycopg2://", "postgresql://")
    base = args.pg.rsplit("/", 1)[0]
    tmp = args.dir / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    print(
        f"exports: {args.messages} messages, {args.channels} files, {size_mb:.0f} MB; batch size {args.batch_size}"
    )

    stored: list[int] = []
    copied: list[int] = []
    cpu_runs: list[float] = []
    baseline_cpu: list[float] = []
    peaks_kb: list[int] = []
    indexes: list[str] = []

    def collector_side() -> float:
        database = _create_db(admin)
        try:
            seconds, counts, cpu_s, peak_kb = run_collector(
                exports, f"{base}/{database}", args.batch_size, tmp
            )
        finally:
            _drop_db(admin, database)
        stored.append(counts["messages_new"])
        cpu_runs.append(cpu_s)
        peaks_kb.append(peak_kb)
        return seconds

    empty = tmp / "no-exports"
    empty.mkdir(exist_ok=True)

    def baseline_side() -> float:
        assert args.baseline is not None
        database = _create_db(admin)
        try:
            seconds, counts, cpu_s, _peak_kb = run_collector(
                exports, f"{base}/{database}", args.batch_size, tmp, root=args.baseline.resolve()
            )
        finally:
            _drop_db(admin, database)
        stored.append(counts["messages_new"])
        baseline_cpu.append(cpu_s)
        return seconds

    def keys_side() -> float:
        database = _create_db(admin)
        try:
            seconds, _rows, _shapes = copy_ceiling(exports, f"{base}/{database}", with_keys=True)
        finally:
            _drop_db(admin, database)
        return seconds

    def fixed_side() -> float:
        """The collector over an empty export folder: process start, imports, migrations, run
        bookkeeping: what every run pays whatever its size."""
        database = _create_db(admin)
        try:
            seconds, _counts, _cpu_s, _peak_kb = run_collector(
                empty, f"{base}/{database}", args.batch_size, tmp
            )
        finally:
            _drop_db(admin, database)
        return seconds

    def baseline_fixed_side() -> float:
        """The baseline checkout's fixed cost (with ``--baseline``)."""
        assert args.baseline is not None
        database = _create_db(admin)
        try:
            seconds, _counts, _cpu_s, _peak_kb = run_collector(
                empty, f"{base}/{database}", args.batch_size, tmp, root=args.baseline.resolve()
            )
        finally:
            _drop_db(admin, database)
        return seconds

    def ceiling_side() -> float:
        database = _create_db(admin)
        try:
            seconds, rows, shapes = copy_ceiling(exports, f"{base}/{database}")
        finally:
            _drop_db(admin, database)
        copied.append(rows)
        indexes[:] = shapes
        return seconds

    print_load("before")
    if args.repeat < MIN_REPS:
        for _ in range(max(1, args.repeat)):
            collector_side()
        print_load("after")
        print(
            f"collector alone ({len(cpu_runs)} run(s), no ratio): peak RSS "
            f"{max(peaks_kb) / 1024:.0f} MB, CPU {describe(cpu_runs, 's', 1.0)}"
        )
        return
    sides = {
        "collector": collector_side,
        "ceiling": ceiling_side,
        "COPY with foreign keys": keys_side,
        "fixed cost": fixed_side,
    }
    if args.baseline is not None:
        sides["baseline collector"] = baseline_side
        sides["baseline fixed cost"] = baseline_fixed_side
    samples = alternate(sides, args.repeat)
    print_load("after")
    if set(stored) != set(copied) or len(set(stored)) != 1:
        raise SystemExit(f"the collector stored {stored} messages, the ceiling {copied}")
    print(f"ceiling table indexes, identical to discord_messages' ({len(indexes)}):")
    for definition in indexes:
        print(f"  {definition}")
    for line in report(samples, "ceiling"):
        print(line)
    shares = [c / i for c, i in zip(samples["ceiling"], samples["collector"], strict=True)]
    fixed = [f / i for f, i in zip(samples["fixed cost"], samples["collector"], strict=True)]
    if args.baseline is not None:
        speedups = [b / i for b, i in zip(samples["baseline collector"], samples["collector"], strict=True)]
        before = [c / b for c, b in zip(samples["ceiling"], samples["baseline collector"], strict=True)]
        print(
            f"baseline collector rate / ceiling rate (per rep): median {statistics.median(before):.0%} "
            f"(range {min(before):.0%} to {max(before):.0%}); collector speed-up over the baseline: "
            f"median {statistics.median(speedups):.2f}x (range {min(speedups):.2f} to {max(speedups):.2f})"
        )
        fixed_before = [
            f / b for f, b in zip(samples["fixed cost"], samples["baseline fixed cost"], strict=True)
        ]
        print(
            f"fixed cost / baseline fixed cost (per rep): median {statistics.median(fixed_before):.2f} "
            f"(range {min(fixed_before):.2f} to {max(fixed_before):.2f})"
        )
        cpu_ratios = [c / b for c, b in zip(cpu_runs, baseline_cpu, strict=True)]
        print(
            f"baseline collector CPU {describe(baseline_cpu, 's', 1.0)}; collector CPU / baseline CPU "
            f"(per rep): median {statistics.median(cpu_ratios):.2f} "
            f"(range {min(cpu_ratios):.2f} to {max(cpu_ratios):.2f})"
        )
    print(
        f"collector rate / ceiling rate (per rep): median {statistics.median(shares):.0%} "
        f"(range {min(shares):.0%} to {max(shares):.0%}, {len(shares)} reps); "
        f"{stored[0]:,} messages"
    )
    print(
        f"fixed cost (no exports) / collector (per rep): median {statistics.median(fixed):.0%} "
        f"(range {min(fixed):.0%} to {max(fixed):.0%})"
    )
    print(
        f"collector peak RSS median {statistics.median(peaks_kb) / 1024:.0f} MB "
        f"(max {max(peaks_kb) / 1024:.0f} MB); CPU {describe(cpu_runs, 's', 1.0)}"
    )


if __name__ == "__main__":
    main()
