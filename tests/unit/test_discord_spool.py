"""The validation pass that spools rows: batches, windows, COPY lines, and nothing left behind."""

from __future__ import annotations

import datetime as dt
import json
import os
import threading
from pathlib import Path
from typing import Any

import pytest

from core.errors import DataValidationError
from core.store.pg_copy import NULL, CopyRows
from discord_activity_tracker.export_reader import ExportReader, validate_export
from discord_activity_tracker.rows import MESSAGE_COLUMNS, message_copy_line, message_row
from discord_activity_tracker.spool import SpoolCancelledError, SpooledBatch, Window, spool_export

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
HELP = SAMPLES / "Acme Libraries - Community - help [838469939152158720].json"


def _message(index: int, **changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": str(1_200_000_000_000_000_000 + index),
        "type": "Default",
        "timestamp": f"2024-03-{1 + index % 28:02d}T10:00:00.000+01:00",
        "timestampEdited": None,
        "isPinned": False,
        "content": f"message {index}",
        "author": {"id": str(286_799_796_633_731_000 + index % 3), "name": f"user{index % 3}"},
        "mentions": [],
    }
    message.update(changes)
    return message


def _write(tmp_path: Path, messages: list[Any], name: str = "export.json") -> Path:
    data = {
        "guild": {"id": "837979678781341696", "name": "Acme Libraries"},
        "channel": {"id": "837979912278245376", "type": "GuildTextChat", "name": "general"},
        "exportedAt": "2024-03-10T18:00:00.000+01:00",
        "messages": messages,
    }
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def _open_files() -> set[str]:
    """What this process has open (anonymous spool files show as ``/tmp/#123 (deleted)``)."""
    fds = Path("/proc/self/fd")
    found = set()
    for fd in fds.iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            continue
    return found


def _unescape(field: str) -> str | None:
    if field == NULL:
        return None
    out, chars = [], iter(field)
    for char in chars:
        if char == "\\":
            char = {"t": "\t", "n": "\n", "r": "\r", "\\": "\\"}[next(chars)]
        out.append(char)
    return "".join(out)


# --------------------------------------------------------------------------- rows

_JSON_COLUMNS = {"attachments", "embeds", "stickers", "reactions", "mentions", "interaction"}


def _as_copy_fields(row: dict[str, Any]) -> list[Any]:
    fields: list[Any] = []
    for name in MESSAGE_COLUMNS:
        value = row[name]
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        elif isinstance(value, bool):
            value = "t" if value else "f"
        fields.append(value)
    return fields


def test_a_copy_line_holds_exactly_the_values_of_the_row(tmp_path: Path) -> None:
    tricky = [
        _message(0, content="tab\there, newline\nthere, cr\r, backslash \\ and \\n literally"),
        _message(1, content="", type="Reply", reference={"messageId": "1200000000000000000"}),
        _message(2, content="naïve 構文 🎉", timestampEdited="2024-03-03T12:00:00.000-05:00", isPinned=True),
        _message(3, attachments=[{"id": "1", "url": "u\\v", "fileName": "a\tb.png", "fileSizeBytes": 3}]),
        _message(
            4,
            mentions=[{"id": "42", "name": "x"}],
            interaction={"id": "7", "name": "cmd", "user": {"id": "42", "name": "x"}},
        ),
        _message(5, timestamp="2024-03-01 10:00:00.1234567+05:30:15", timestampEdited="2024-W09-5T10:00:00Z"),
    ]
    samples = [(raw, message) for path in SAMPLES.glob("*.json") for raw, message in _checked(path)]
    for raw, message in [*_checked(_write(tmp_path, tricky)), *samples]:
        header = ExportReader(HELP).open()
        line = message_copy_line(raw, message, f"{header.channel.id}\t{header.guild.id}")
        fields = line.split("\t")
        assert len(fields) == len(MESSAGE_COLUMNS) and "\n" not in line
        row = message_row(raw, message, header)
        for name, field, expected in zip(MESSAGE_COLUMNS, fields, _as_copy_fields(row), strict=True):
            value = _unescape(field)
            if name in ("created_at", "edited_at") and value is not None:
                assert dt.datetime.fromisoformat(value) == expected, name
            elif name in _JSON_COLUMNS and expected is not None:
                assert value is not None and json.loads(value) == json.loads(expected), name
            else:
                assert value == expected, name


def _checked(path: Path) -> list[tuple[dict[str, Any], Any]]:
    with ExportReader(path) as reader:
        return list(reader.iter_checked())


# --------------------------------------------------------------------------- batches


def _batches(path: Path, **options: Any) -> list[SpooledBatch]:
    with spool_export(path, **options) as spooled:
        return list(spooled.batches())


def test_batches_cover_the_file_in_order_with_their_end_positions(tmp_path: Path) -> None:
    path = _write(tmp_path, [_message(i) for i in range(12)])
    batches = _batches(path, batch_size=5)
    assert [(b.end, b.size) for b in batches] == [(5, 5), (10, 5), (12, 2)]
    assert [row["message_id"] for b in batches for row in b.messages] == [
        _message(i)["id"] for i in range(12)
    ]  # type: ignore[index]
    assert [b.newest_id for b in batches] == [int(_message(i)["id"]) for i in (4, 9, 11)]
    assert {a["author_id"] for a in batches[0].authors} == {_message(i)["author"]["id"] for i in range(3)}


def test_copy_format_batches_hold_one_line_per_unique_message(tmp_path: Path) -> None:
    repeated = _message(3, content="edited copy")
    path = _write(tmp_path, [*(_message(i) for i in range(5)), repeated])
    (batch,) = _batches(path, batch_size=10, copy_format=True)
    assert isinstance(batch.messages, CopyRows) and batch.messages.columns == MESSAGE_COLUMNS
    lines = batch.messages.data.decode().splitlines()
    assert len(lines) == batch.messages.count == 5 and batch.size == 6
    assert sum("edited copy" in line for line in lines) == 1 and not any(
        "\tmessage 3\t" in line for line in lines
    )


def test_the_window_keeps_only_its_messages_and_counts_the_rest(tmp_path: Path) -> None:
    path = _write(tmp_path, [_message(i) for i in range(10)])
    window = Window(dt.datetime(2024, 3, 3, tzinfo=dt.UTC), dt.datetime(2024, 3, 6, tzinfo=dt.UTC))
    (batch,) = _batches(path, batch_size=100, window=window)
    kept = [row["created_at"] for row in batch.messages]  # type: ignore[index]
    assert len(kept) == 3 and all(window.since <= moment < window.until for moment in kept)  # type: ignore[operator]
    assert batch.outside_window == 7 and batch.size == 10
    assert {a["author_id"] for a in batch.authors} == {_message(i)["author"]["id"] for i in (2, 3, 4)}


def test_mentioned_users_are_authors_too(tmp_path: Path) -> None:
    path = _write(tmp_path, [_message(0, mentions=[{"id": "99", "name": "someone"}])])
    (batch,) = _batches(path, batch_size=10)
    assert {a["author_id"] for a in batch.authors} == {_message(0)["author"]["id"], "99"}
    assert "updated_at" not in batch.authors[0]


def test_the_summary_is_the_one_a_plain_validation_gives() -> None:
    with spool_export(HELP, batch_size=4) as spooled:
        assert spooled.summary == validate_export(HELP)
    assert spool_export(HELP, batch_size=4, spool=False).summary == validate_export(HELP)


def test_an_export_without_messages_spools_no_batch(tmp_path: Path) -> None:
    with spool_export(_write(tmp_path, []), batch_size=5) as spooled:
        assert spooled.summary.message_count == 0 and list(spooled.batches()) == []


def test_batch_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="batch_size"):
        spool_export(HELP, batch_size=0)


# --------------------------------------------------------------------------- nothing left behind


def test_the_spool_is_an_anonymous_file_gone_once_closed(tmp_path: Path) -> None:
    before = _open_files()
    spooled = spool_export(_write(tmp_path, [_message(i) for i in range(20)]), batch_size=3, copy_format=True)
    spool_files = _open_files() - before
    assert len(spool_files) == 1 and next(iter(spool_files)).endswith("(deleted)")
    assert len(list(spooled.batches())) == 7
    spooled.close()
    assert _open_files() == before


def test_a_malformed_file_raises_and_leaves_no_spool(tmp_path: Path) -> None:
    messages = [_message(i) for i in range(30)]
    messages[25]["author"] = {"id": {"not": "a snowflake"}, "name": "x"}
    before = _open_files()
    with pytest.raises(DataValidationError, match=r"messages\[25\]\.author\.id"):
        spool_export(_write(tmp_path, messages), batch_size=10)
    assert _open_files() == before


def test_cancelling_stops_at_the_next_batch_and_leaves_no_spool(tmp_path: Path) -> None:
    cancel = threading.Event()
    cancel.set()
    before = _open_files()
    with pytest.raises(SpoolCancelledError):
        spool_export(_write(tmp_path, [_message(i) for i in range(30)]), batch_size=10, cancel=cancel)
    assert _open_files() == before
