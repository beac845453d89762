"""Where the Discord file ingest spends its time: parse, validate, encode (+ spool), COPY, merge.

    PYTHONPATH=plugins:. python benchmarks/bench_discord_ingest_profile.py [--messages 20000]
        [--channels 4] [--batch-size 2000] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

Runs the collector's two passes one after the other in this thread under cProfile (the collector
itself overlaps them: the validation pass of the next file runs in a background thread while
this one is written): the validation pass (``spool_export``: JSON parse, schema validation, COPY
encoding into the spool file), then the write pass (``DiscordCollector._write_file``: COPY
into staging tables or straight into the table, and the INSERT ... SELECT merge). Prints the
machine load and each phase's share of the profiled time (profiling inflates Python-heavy
phases alike; shares, not absolute numbers, are the claim).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import tempfile
import time
from pathlib import Path

from benchmarks.bench_discord_ingest import _create_db, _drop_db
from benchmarks.generate_discord_export import generate_exports
from core.collectors import RunContext
from core.store import Store
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.spool import spool_export

# Validation-pass functions by the file they live in: tottime is summed per phase.
_PASS_ONE = {
    "parse": ("ijson", "export_reader.py", "json/", "orjson"),
    "validate": ("pydantic", "api_schemas.py"),
    "encode + spool": ("rows.py", "spool.py", "pg_copy.py", "hashlib", "tempfile"),
}


def _shares(stats: pstats.Stats, buckets: dict[str, tuple[str, ...]]) -> dict[str, float]:
    totals = dict.fromkeys([*buckets, "other"], 0.0)
    for (filename, _line, name), (_cc, _nc, tottime, _ct, _callers) in stats.stats.items():  # type: ignore[attr-defined]
        where = f"{filename}:{name}"
        bucket = next((b for b, marks in buckets.items() if any(m in where for m in marks)), "other")
        totals[bucket] += tottime
    return totals


def _cumulative(stats: pstats.Stats, function: str, filename: str) -> float:
    return sum(
        ct
        for (file, _line, name), (_cc, _nc, _tt, ct, _callers) in stats.stats.items()  # type: ignore[attr-defined]
        if name == function and file.endswith(filename)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    admin_dsn = args.pg.replace("postgresql+psycopg2://", "postgresql://")
    name = _create_db(admin_dsn)
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-discord-profile-") as tmp:
            exports = Path(tmp) / "exports"
            paths = generate_exports(exports, messages=args.messages, channels=args.channels)
            collector = DiscordCollector(
                {"export_dir": str(exports), "batch_size": args.batch_size}, context=RunContext(store_url=url)
            )
            collector.validate_config()
            collector.migrate()
            print(f"load average {os.getloadavg()} on {os.cpu_count()} cores")
            size = sum(p.stat().st_size for p in paths)
            print(f"{args.messages} messages, {len(paths)} exports, {size / 1e6:.1f} MB")
            first, second = cProfile.Profile(), cProfile.Profile()
            counts: dict[str, int] = dict.fromkeys(("messages_read", "messages_new"), 0)
            counts.update(
                messages_updated_or_same=0, messages_outside_window=0, messages_resumed_past=0, batches=0
            )
            walls = [0.0, 0.0]
            for path in paths:
                began = time.perf_counter()
                first.enable()
                spooled = spool_export(path, batch_size=args.batch_size, copy_format=True)
                first.disable()
                walls[0] += time.perf_counter() - began
                began = time.perf_counter()
                with spooled:
                    second.enable()
                    collector._write_file(spooled, counts)
                    second.disable()
                walls[1] += time.perf_counter() - began
            one = _shares(pstats.Stats(first), _PASS_ONE)
            two = pstats.Stats(second)
            two_total = sum(t[2] for t in two.stats.values())  # type: ignore[attr-defined]
            copy = _cumulative(two, "_copy", "pg_copy.py")  # into staging tables or straight into the table
            profiles = _cumulative(two, "upsert_profiles", "profiles.py")
            phases = {
                **one,
                "COPY": copy,
                "person profiles (core.identity)": profiles,
                "merge + other SQL": max(0.0, two_total - copy - profiles),
            }
            total = sum(phases.values())
            print(f"validation pass {walls[0]:.2f} s wall, write pass {walls[1]:.2f} s wall (profiled)")
            print(
                f"messages stored: {counts['messages_new']} new, {counts['messages_updated_or_same']} known"
            )
            for phase, seconds in phases.items():
                print(f"  {phase:28s} {seconds:7.2f} s  {seconds / total:5.0%}")
            print(f"load average {os.getloadavg()}")
    finally:
        Store.from_url(url).dispose()
        _drop_db(admin_dsn, name)


if __name__ == "__main__":
    main()
