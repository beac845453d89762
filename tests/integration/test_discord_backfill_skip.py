"""Cheap backfills of Discord exports (issue 18, trap 6): a bounded run skips, after hashing, every
export whose bytes are known (validated by any earlier run) and hold no message created in its
window; every other file is read, so a backfill still repairs the rows of its window."""

from __future__ import annotations

import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from core.collectors import RunContext
from core.errors import DataValidationError
from core.store import Store
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.tables import discord_export_contents, discord_export_files, discord_messages
from tests.conftest import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
BEFORE_EVERYTHING = {
    "since": dt.datetime(2001, 1, 1, tzinfo=dt.UTC),
    "until": dt.datetime(2001, 1, 2, tzinfo=dt.UTC),
}


def _run(folder: Path, store_url: str, **window: Any) -> dict[str, int]:
    collector = DiscordCollector(
        {"export_dir": str(folder), "batch_size": 7}, context=RunContext(store_url=store_url, **window)
    )
    return collector.run().counts


def _stamp(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).astimezone(dt.UTC)


def _ranges(folder: Path) -> dict[Path, tuple[dt.datetime, dt.datetime]]:
    ranges = {}
    for path in sorted(folder.glob("*.json")):
        stamps = [_stamp(m["timestamp"]) for m in json.loads(path.read_text(encoding="utf-8"))["messages"]]
        ranges[path] = (min(stamps), max(stamps))
    return ranges


def _copy_samples(tmp_path: Path) -> Path:
    folder = tmp_path / "exports"
    shutil.copytree(SAMPLES, folder)
    return folder


def test_a_known_file_outside_the_window_is_skipped_and_a_changed_one_is_read(
    store_url: str, tmp_path: Path
) -> None:
    folder = _copy_samples(tmp_path)
    files = len(_ranges(folder))

    first = _run(folder, store_url, **BEFORE_EVERYTHING)  # bytes never seen: every file is read
    assert first["files_outside_window"] == 0 and first["messages_read"] > 0
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(discord_export_contents)).scalar_one() == files
        # A bounded run records content facts only, never the fingerprints unbounded runs skip by.
        assert conn.execute(select(func.count()).select_from(discord_export_files)).scalar_one() == 0

    again = _run(folder, store_url, **BEFORE_EVERYTHING)
    assert again["files_outside_window"] == files and again["messages_read"] == 0

    changed = sorted(folder.glob("*.json"))[0]
    changed.write_bytes(changed.read_bytes() + b"\n")
    after_change = _run(folder, store_url, **BEFORE_EVERYTHING)
    assert after_change["files_outside_window"] == files - 1 and after_change["messages_read"] > 0
    assert _run(folder, store_url, **BEFORE_EVERYTHING)["files_outside_window"] == files


def test_window_bounds_are_the_runs_own_since_inclusive_until_exclusive(
    store_url: str, tmp_path: Path
) -> None:
    folder = _copy_samples(tmp_path)
    ranges = _ranges(folder)
    _run(folder, store_url)
    path, (first, last) = next(iter(ranges.items()))
    meets = sum(1 for low, high in ranges.values() if low < first and high >= first - dt.timedelta(seconds=1))

    ending_at_first = _run(folder, store_url, since=first - dt.timedelta(seconds=1), until=first)
    assert ending_at_first["files_outside_window"] == len(ranges) - meets

    starting_at_last = _run(folder, store_url, since=last, until=last + dt.timedelta(seconds=1))
    others = sum(1 for low, high in ranges.values() if low <= last <= high)
    assert starting_at_last["files_outside_window"] == len(ranges) - others
    assert starting_at_last["messages_read"] > 0, f"{path.name} holds a message at {last}: it must be read"


def test_a_backfill_still_repairs_the_rows_of_its_window(store_url: str, tmp_path: Path) -> None:
    folder = _copy_samples(tmp_path)
    ranges = _ranges(folder)
    _run(folder, store_url)
    store = Store.from_url(store_url)
    since, until = dt.datetime(2024, 2, 1, tzinfo=dt.UTC), dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    in_window = discord_messages.c.created_at >= since, discord_messages.c.created_at < until
    with store.engine.begin() as conn:
        stored = conn.execute(select(func.count()).where(*in_window)).scalar_one()
        conn.execute(discord_messages.delete().where(*in_window))
    assert stored > 0

    counts = _run(folder, store_url, since=since, until=until)

    meeting = sum(1 for low, high in ranges.values() if low < until and high >= since)
    assert 0 < meeting < len(ranges)
    assert counts["files_outside_window"] == len(ranges) - meeting and counts["files"] == meeting
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).where(*in_window)).scalar_one() == stored


def test_a_partitioned_run_does_not_validate_known_files_of_other_channels(
    store_url: str, tmp_path: Path
) -> None:
    folder = _copy_samples(tmp_path)
    general = "837979912278245376"
    others = [p for p in folder.glob("*.json") if general not in p.name]
    first = _run(folder, store_url, partition=general, **BEFORE_EVERYTHING)
    assert first["files_other_partition"] == len(others)
    assert first["bytes_validated"] == sum(p.stat().st_size for p in folder.glob("*.json"))

    again = _run(folder, store_url, partition=general, **BEFORE_EVERYTHING)
    assert again["files_other_partition"] == len(others) and again["bytes_validated"] == 0

    broken = others[0]
    broken.write_bytes(broken.read_bytes()[:-40])  # new bytes, never validated: read, and refused
    with pytest.raises(DataValidationError) as refused:
        _run(folder, store_url, partition=general, **BEFORE_EVERYTHING)
    assert broken.name in str(refused.value)
