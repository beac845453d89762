"""Discord ingest throughput into PostgreSQL against a bare COPY of the same rows (the ceiling).

    PYTHONPATH=plugins:. python benchmarks/bench_discord_ingest.py [--messages 200000] [--channels 8]
        [--batch-size 2000] [--repeat 3] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

1. Generates the export set (benchmarks/generate_discord_export.py) unless it exists.
2. Runs the real collector (``python -m core.cli run discord``) in a child process on a
   fresh database and reports messages/s, the child's peak RSS and CPU time.
3. Builds the same message rows and COPYs them into an empty copy of ``discord_messages``
   with the same indexes, checked (no foreign keys, triggers, upsert, validation or
   checkpoints): the ceiling.
Steps 2 and 3 alternate ``--repeat`` times on a fresh pair of databases each; the table
shows each path's best time (shared machines are noisy), and every run is listed above it.
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


def run_collector(exports: Path, url: str, batch_size: int, tmp: Path) -> tuple[float, dict, float, int]:
    config = tmp / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{exports}", batch_size: {batch_size}}}
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


def copy_ceiling(exports: Path, url: str) -> tuple[float, int, list[str]]:
    """Rows built from the same exports, COPYed into an empty copy of discord_messages.

    The database is migrated by the collector's own migrations, so ``discord_messages`` is
    the table the collector writes; the ceiling table copies its columns, defaults (the
    change sequence stamp included) and indexes, and the copy is checked index by index.
    It has no foreign keys, no triggers, no upsert, no validation and no checkpoints.
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
    for path in discover_exports(exports):
        with ExportReader(path) as reader:
            header = reader.open()
            for raw, message in reader.iter_checked():
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
        started = time.perf_counter()
        cursor.copy_expert(
            f"COPY copy_target ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '')",
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
    parser.add_argument("--repeat", type=int, default=3, help="runs of each path; the best counts")
    parser.add_argument("--dir", type=Path, default=ROOT / "benchmarks" / "out" / "discord")
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

    indexes: list[str] = []
    ingest_runs: list[float] = []
    copy_runs: list[float] = []
    cpu_runs: list[float] = []
    peaks_kb: list[int] = []
    for run in range(1, max(1, args.repeat) + 1):
        ingest_db, copy_db = _create_db(admin), _create_db(admin)
        try:
            ingest_s, counts, cpu_s, peak_kb = run_collector(
                exports, f"{base}/{ingest_db}", args.batch_size, tmp
            )
            copy_s, copied, indexes = copy_ceiling(exports, f"{base}/{copy_db}")
        finally:
            _drop_db(admin, ingest_db)
            _drop_db(admin, copy_db)
        if counts["messages_new"] != copied:
            raise SystemExit(f"the collector stored {counts['messages_new']} messages, the ceiling {copied}")
        ingest_runs.append(ingest_s)
        copy_runs.append(copy_s)
        cpu_runs.append(cpu_s)
        peaks_kb.append(peak_kb)
        print(
            f"run {run}: collector {ingest_s:.1f} s (CPU {cpu_s:.1f} s), ceiling {copy_s:.1f} s, "
            f"ratio {copy_s / ingest_s:.0%}"
        )

    ratios = [c / i for c, i in zip(copy_runs, ingest_runs, strict=True)]
    ingest_s, copy_s = min(ingest_runs), min(copy_runs)
    ingest_rate = copied / ingest_s
    copy_rate = copied / copy_s
    print(
        f"exports: {args.messages} messages, {args.channels} files, {size_mb:.0f} MB; batch size {args.batch_size}"
    )
    print(f"ceiling table indexes, identical to discord_messages' ({len(indexes)}):")
    for definition in indexes:
        print(f"  {definition}")
    print(f"{'path (best of ' + str(len(ingest_runs)) + ')':<44}{'seconds':>10}{'messages/s':>14}")
    print(f"{'collector (validate + upsert + checkpoints)':<44}{ingest_s:>10.1f}{ingest_rate:>14,.0f}")
    print(f"{'bare COPY of the same rows (ceiling)':<44}{copy_s:>10.1f}{copy_rate:>14,.0f}")
    print(
        f"ratio: {ingest_rate / copy_rate:.0%} of the COPY ceiling (median of the runs' ratios "
        f"{statistics.median(ratios):.0%}); "
        f"collector peak RSS {max(peaks_kb) / 1024:.0f} MB, CPU {min(cpu_runs):.1f} s"
    )


if __name__ == "__main__":
    main()
