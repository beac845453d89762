"""Speed and memory of the Discord export reader's passes: validate, validated batches, and
the collector's validation pass that spools COPY rows (validate + rows + spool).

    PYTHONPATH=plugins:. python benchmarks/bench_discord_reader.py [--messages 200000] [--channels 8]
        [--dir benchmarks/out/discord] [--batch-size 1000]

Generates the export set with generate_discord_export.py unless --dir already holds one,
times each pass over every file, then repeats each pass on the largest file under
tracemalloc to report its peak Python heap against the file's size.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

from benchmarks.generate_discord_export import generate_exports
from discord_activity_tracker.export_reader import ExportReader, discover_exports, validate_export
from discord_activity_tracker.spool import spool_export


def _validate(path: Path, _batch_size: int) -> int:
    return validate_export(path).message_count


def _batches(path: Path, batch_size: int) -> int:
    count = 0
    with ExportReader(path) as export:
        for batch in export.iter_batches(batch_size):
            count += len(batch)
    return count


def _spool(path: Path, batch_size: int) -> int:
    with spool_export(path, batch_size=batch_size, copy_format=True) as spooled:
        return spooled.summary.message_count


def _timed(label: str, paths: list[Path], run: Callable[[Path, int], int], batch_size: int) -> None:
    size = sum(p.stat().st_size for p in paths)
    started = time.perf_counter()
    messages = sum(run(p, batch_size) for p in paths)
    seconds = time.perf_counter() - started
    print(
        f"{label:<9} {messages:>9,} messages  {size / 1e6:7.1f} MB  {seconds:6.2f} s  "
        f"{messages / seconds:>9,.0f} msg/s  {size / 1e6 / seconds:6.1f} MB/s"
    )


def _peak(label: str, path: Path, run: Callable[[Path, int], int], batch_size: int) -> None:
    tracemalloc.start()
    try:
        run(path, batch_size)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    size = path.stat().st_size
    print(f"{label:<9} peak heap {peak / 1e6:6.2f} MB for a {size / 1e6:.1f} MB file ({peak / size:.1%})")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Time the Discord export reader.")
    parser.add_argument("--messages", type=int, default=200_000)
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--dir", type=Path, default=Path("benchmarks/out/discord"))
    parser.add_argument("--batch-size", type=int, default=1000)
    args = parser.parse_args(argv)

    paths = discover_exports(args.dir) if args.dir.is_dir() else []
    if not paths:
        paths = generate_exports(args.dir, messages=args.messages, channels=args.channels)
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    _timed("validate", paths, _validate, args.batch_size)
    _timed("batches", paths, _batches, args.batch_size)
    _timed("spool", paths, _spool, args.batch_size)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"max RSS grew by {(rss_after - rss_before) / 1024:.1f} MB over the timed passes")
    largest = max(paths, key=lambda p: p.stat().st_size)
    _peak("validate", largest, _validate, args.batch_size)
    _peak("batches", largest, _batches, args.batch_size)
    _peak("spool", largest, _spool, args.batch_size)


if __name__ == "__main__":
    main()
