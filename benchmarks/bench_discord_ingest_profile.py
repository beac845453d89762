"""Where the Discord file ingest spends its time: parse, validate, encode (+ spool), COPY, merge.

    PYTHONPATH=plugins:. python benchmarks/bench_discord_ingest_profile.py [--messages 20000]
        [--channels 4] [--batch-size 2000] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]
    PYTHONPATH=plugins:. python benchmarks/bench_discord_ingest_profile.py --compare-parsers 5

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
import functools
import pstats
import tempfile
import time
from pathlib import Path

from benchmarks.bench_discord_ingest import _create_db, _drop_db
from benchmarks.generate_discord_export import generate_exports
from benchmarks.harness import alternate, print_load, report
from core.collectors import RunContext
from core.store import Store
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.export_reader import ExportReader
from discord_activity_tracker.spool import spool_export

# Validation-pass phases by the functions that do them (cumulative time: a generator's counts
# only while it runs, so the consumer's work is not in it); the rest of the pass is "other".
_PASS_ONE: dict[str, list[tuple[str, ...]]] = {
    "parse (read, hash, depth guard, JSON)": [("_raw_messages", "export_reader.py")],
    "validate (pydantic)": [
        ("<method 'validate_python' of 'pydantic_core._pydantic_core.SchemaValidator' objects>", "~")
    ],
    # ``add`` flushes each full batch itself; the last, partial one is flushed by spool_export
    "encode + spool (rows, hash, pickle)": [("add", "spool.py"), ("flush", "spool.py", "spool_export")],
}


def _cumulative(stats: pstats.Stats, function: str, filename: str, caller: str | None = None) -> float:
    """Cumulative seconds of ``function`` (in ``filename``), or only of its calls from ``caller``."""
    total = 0.0
    for (file, _line, name), (_cc, _nc, _tt, ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        if name != function or not file.endswith(filename):
            continue
        if caller is None:
            total += ct
        else:
            total += sum(entry[3] for (_f, _l, who), entry in callers.items() if who == caller)
    return total


def _read_all(paths: list[Path], *, split: bool) -> float:
    """CPU seconds to read and validate every message of ``paths`` (no rows, no spool)."""
    began = time.process_time()
    for path in paths:
        with ExportReader(path, split=split) as reader:
            for _raw, _message in reader.iter_checked():
                pass
            if reader.parsed_by != ("orjson" if split else "ijson"):
                raise SystemExit(f"{path.name} was read by {reader.parsed_by}")
    return time.process_time() - began


def _compare_parsers(paths: list[Path], reps: int) -> None:
    size = sum(p.stat().st_size for p in paths)
    print(f"{len(paths)} exports, {size / 1e6:.1f} MB; read + validate, CPU seconds")
    print_load("before")
    samples = alternate(
        {
            "ijson": functools.partial(_read_all, paths, split=False),
            "split + orjson": functools.partial(_read_all, paths, split=True),
        },
        reps,
    )
    print_load("after")
    for line in report(samples, "ijson"):
        print(line)


def _counts() -> dict[str, int]:
    return dict.fromkeys(
        (
            "messages_read",
            "messages_new",
            "messages_updated_or_same",
            "messages_outside_window",
            "messages_resumed_past",
            "batches",
        ),
        0,
    )


def _unprofiled(paths: list[Path], exports: Path, pg: str, batch_size: int) -> None:
    """Both passes once more, not profiled, on a fresh database: each pass's wall time and this
    thread's CPU time in it (what the write pass does not spend in Python, it waits on PostgreSQL)."""
    admin_dsn = pg.replace("postgresql+psycopg2://", "postgresql://")
    name = _create_db(admin_dsn)
    url = pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        collector = DiscordCollector(
            {"export_dir": str(exports), "batch_size": batch_size}, context=RunContext(store_url=url)
        )
        collector.validate_config()
        collector.migrate()
        counts = _counts()
        cpu, wall = [0.0, 0.0], [0.0, 0.0]
        for path in paths:
            began, began_cpu = time.perf_counter(), time.thread_time()
            spooled = spool_export(path, batch_size=batch_size, copy_format=True)
            cpu[0] += time.thread_time() - began_cpu
            wall[0] += time.perf_counter() - began
            began, began_cpu = time.perf_counter(), time.thread_time()
            with spooled:
                collector._write_file(spooled, counts)
            cpu[1] += time.thread_time() - began_cpu
            wall[1] += time.perf_counter() - began
        print(
            f"not profiled: validation pass {wall[0]:.2f} s wall, {cpu[0]:.2f} s CPU; write pass "
            f"{wall[1]:.2f} s wall, {cpu[1]:.2f} s CPU in Python ({cpu[1] / wall[1]:.0%} of its wall time)"
        )
    finally:
        Store.from_url(url).dispose()
        _drop_db(admin_dsn, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    parser.add_argument(
        "--compare-parsers",
        type=int,
        metavar="REPS",
        default=0,
        help="instead: read and validate the exports REPS times with each message parser "
        "(split at DCE's layout + orjson, and ijson alone), alternately; CPU seconds",
    )
    args = parser.parse_args()
    if args.compare_parsers:
        with tempfile.TemporaryDirectory(prefix="bench-discord-parsers-") as tmp:
            paths = generate_exports(Path(tmp), messages=args.messages, channels=args.channels)
            _compare_parsers(paths, args.compare_parsers)
        return
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
            print_load("before")
            size = sum(p.stat().st_size for p in paths)
            print(f"{args.messages} messages, {len(paths)} exports, {size / 1e6:.1f} MB")
            _unprofiled(paths, exports, args.pg, args.batch_size)
            first, second = cProfile.Profile(), cProfile.Profile()
            counts = _counts()
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
            one_stats = pstats.Stats(first)
            one = {
                phase: sum(_cumulative(one_stats, *function) for function in functions)
                for phase, functions in _PASS_ONE.items()
            }
            one_total = sum(t[2] for t in one_stats.stats.values())  # type: ignore[attr-defined]
            one["other Python of the validation pass"] = max(0.0, one_total - sum(one.values()))
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
            print_load("after")
    finally:
        Store.from_url(url).dispose()
        _drop_db(admin_dsn, name)


if __name__ == "__main__":
    main()
