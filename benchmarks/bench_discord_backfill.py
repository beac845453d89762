"""An hourly backfill over unchanged Discord exports: skipping known files outside each window vs
reading every file (what every bounded run did before; the same code with ``skip_unchanged_files``
off).

    PYTHONPATH=plugins:. python benchmarks/bench_discord_backfill.py [--set samples|generated]
        [--runs 73] [--repeat 3] [--channels 2] [--files-per-channel 6] [--messages-per-file 1000]
        [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

Each rep, for each side in turn (alternating which goes first): a fresh PostgreSQL database, one
unbounded run that ingests the exports (not timed), then ``--runs`` bounded runs over consecutive
one-hour windows (timed: wall time, and the bytes the runs validated). Prints the machine load,
every rep, then the median and range per side and of the per-rep ratios (benchmarks/harness.py).
"""

from __future__ import annotations

import argparse
import datetime as dt
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.bench_discord_ingest import _create_db, _drop_db
from benchmarks.generate_discord_export import START, write_channel_export
from benchmarks.harness import alternate, print_load, report
from core.collectors import RunContext
from discord_activity_tracker.collector import DiscordCollector

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "include" / "sample_data" / "discord"
# The samples' last file is the only one with messages after this: the backfill sees one meet.
SAMPLES_BACKFILL_START = dt.datetime(2024, 3, 10, tzinfo=dt.UTC)


def generate(out: Path, *, channels: int, files_per_channel: int, messages_per_file: int) -> dt.datetime:
    """Exports split by period, as DiscordChatExporter's --after/--before write them: each file a
    consecutive stretch of one channel; returns a backfill start inside the middle file."""
    span = dt.timedelta(seconds=450 * messages_per_file)  # the generator's mean gap is 450 s
    for channel_number in range(channels):
        channel = {
            "id": str(838_565_520_998_400_000 + channel_number),
            "type": "GuildTextChat",
            "name": f"backfill-{channel_number:02d}",
            "topic": None,
        }
        for part in range(files_per_channel):
            write_channel_export(
                out / f"backfill-{channel_number:02d}-part{part:02d} [{channel['id']}].json",
                channel=channel,
                message_count=messages_per_file,
                seed=1000 * channel_number + part,
                start=START + part * 1.2 * span,
            )
    return START + (files_per_channel // 2) * 1.2 * span + span / 4


def backfill(exports: Path, url: str, *, skip: bool, start: dt.datetime, runs: int) -> tuple[float, int, int]:
    """(seconds, bytes validated, files skipped) of ``runs`` hourly bounded runs."""
    config = {"export_dir": str(exports), "skip_unchanged_files": skip}
    DiscordCollector(config, context=RunContext(store_url=url)).run()
    validated = skipped = 0
    began = time.perf_counter()
    for hour in range(runs):
        since = start + dt.timedelta(hours=hour)
        context = RunContext(store_url=url, since=since, until=since + dt.timedelta(hours=1))
        counts = DiscordCollector(config, context=context).run().counts
        validated += counts["bytes_validated"]
        skipped += counts["files_outside_window"]
    return time.perf_counter() - began, validated, skipped


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=("samples", "generated"), default="samples")
    parser.add_argument("--runs", type=int, default=73)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--channels", type=int, default=2)
    parser.add_argument("--files-per-channel", type=int, default=6)
    parser.add_argument("--messages-per-file", type=int, default=1000)
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    admin_dsn = args.pg.replace("postgresql+psycopg2://", "postgresql://")
    work = Path(tempfile.mkdtemp(prefix="bench-discord-backfill-"))
    try:
        if args.set == "samples":
            exports, start = work / "exports", SAMPLES_BACKFILL_START
            shutil.copytree(SAMPLES, exports)
        else:
            exports = work / "exports"
            exports.mkdir()
            start = generate(
                exports,
                channels=args.channels,
                files_per_channel=args.files_per_channel,
                messages_per_file=args.messages_per_file,
            )
        files = sorted(exports.glob("*.json"))
        size = sum(p.stat().st_size for p in files)
        print_load("before")
        print(
            f"{len(files)} exports, {size / 1e6:.1f} MB; {args.runs} hourly bounded runs from {start.isoformat()}"
        )
        parsed: dict[str, int] = {}

        def side(label: str, skip: bool) -> Callable[[], float]:
            def measure() -> float:
                name = _create_db(admin_dsn)
                try:
                    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
                    seconds, validated, skipped = backfill(
                        exports, url, skip=skip, start=start, runs=args.runs
                    )
                finally:
                    _drop_db(admin_dsn, name)
                parsed[label] = validated
                print(f"    {label}: {validated / 1e6:.1f} MB validated, {skipped} files skipped")
                return seconds

            return measure

        samples = alternate(
            {
                "read every file": side("read every file", False),
                "skip outside window": side("skip outside window", True),
            },
            args.repeat,
        )
        print_load("after")
        for line in report(samples, baseline="read every file"):
            print(line)
        for label, validated in parsed.items():
            print(f"{label}: {validated / 1e6:.1f} MB validated over {args.runs} runs")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
