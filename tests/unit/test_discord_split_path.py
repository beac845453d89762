"""The export reader's split path (DCE's layout cut between messages, each parsed by orjson) reads
exactly what ijson reads: the same items, the same hash, the same errors, whatever the layout."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from benchmarks.generate_discord_export import write_channel_export

from core.errors import DataValidationError
from discord_activity_tracker.export_reader import MAX_DEPTH, ExportReader

SAMPLES = Path(__file__).resolve().parents[2] / "include" / "sample_data" / "discord"
BUFFERS = (7, 100, 64 * 1024)


def _message(index: int, **changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": str(1_200_000_000_000_000_000 + index),
        "type": "Default",
        "timestamp": "2024-03-01T10:00:00.000+01:00",
        "timestampEdited": None,
        "isPinned": False,
        "content": f'message {index} with [brackets], {{braces}} and "quotes" \\ ',
        "author": {"id": "286799796633731072", "name": "mira.k", "nickname": "Mira", "isBot": False},
        "attachments": [{"id": "1200000000000000999", "url": "https://cdn/1200000000000000999/a.png"}],
        "embeds": [{"title": "t", "fields": [{"name": "n", "value": "v"}], "color": 16711680}],
        "reactions": [],
        "mentions": [],
    }
    message.update(changes)
    return message


def _export(messages: list[Any], **tail: Any) -> dict[str, Any]:
    return {
        "guild": {"id": "837979678781341696", "name": "Acme Libraries", "iconUrl": None},
        "channel": {"id": "837979912278245376", "type": "GuildTextChat", "name": "general"},
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2024-03-10T18:00:00.000+01:00",
        "messages": messages,
        "messageCount": len(messages),
        **tail,
    }


def _write(tmp_path: Path, text: str, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode())
    return path


def _outcome(path: Path, *, split: bool, buffer_size: int = 64 * 1024) -> tuple[Any, ...]:
    reader = ExportReader(path, split=split, buffer_size=buffer_size)
    try:
        with reader:
            items = [raw for raw, _message in reader.iter_checked()]
            return ("read", items, reader.sha256, reader.parsed_by)
    except DataValidationError as exc:
        return ("rejected", str(exc), exc.location, reader.parsed_by)


def _same_as_ijson(path: Path, *, parsed_by: str) -> list[Any]:
    expected = _outcome(path, split=False)
    assert expected[3] == "ijson" or expected[0] == "rejected"
    for size in BUFFERS:
        got = _outcome(path, split=True, buffer_size=size)
        assert got[:3] == expected[:3], size
        assert got[3] == (parsed_by if expected[0] == "read" else got[3]), size
    if expected[0] == "read":
        assert expected[2] == hashlib.sha256(path.read_bytes()).hexdigest()
        return expected[1]
    return []


@pytest.mark.parametrize("indent", [1, 2, 4, "\t"])
def test_indented_exports_are_split_and_read_as_ijson_reads_them(tmp_path: Path, indent: Any) -> None:
    data = _export([_message(n) for n in range(5)])
    path = _write(tmp_path, json.dumps(data, ensure_ascii=False, indent=indent))
    assert _same_as_ijson(path, parsed_by="orjson") == data["messages"]


def test_windows_line_ends_are_split_too(tmp_path: Path) -> None:
    data = _export([_message(n) for n in range(3)])
    path = _write(tmp_path, json.dumps(data, indent=2).replace("\n", "\r\n"))
    assert _same_as_ijson(path, parsed_by="orjson") == data["messages"]


def test_sample_and_generated_exports_take_the_split_path(tmp_path: Path) -> None:
    channel = _export([])["channel"]
    generated = write_channel_export(tmp_path / "generated.json", channel=channel, message_count=300, seed=3)
    for path in [*sorted(SAMPLES.glob("*.json")), generated]:
        _same_as_ijson(path, parsed_by="orjson")


@pytest.mark.parametrize(
    "text",
    [
        json.dumps(_export([_message(0), _message(1)])),  # compact: nothing to split at
        json.dumps(_export([_message(0), _message(1)]), indent=None, separators=(",", ":")),
    ],
)
def test_other_layouts_are_read_by_ijson(tmp_path: Path, text: str) -> None:
    assert len(_same_as_ijson(_write(tmp_path, text), parsed_by="ijson")) == 2


def test_empty_messages_array(tmp_path: Path) -> None:
    path = _write(tmp_path, json.dumps(_export([]), indent=2))
    assert _same_as_ijson(path, parsed_by="orjson") == []


def test_a_cut_inside_a_message_falls_back_after_the_messages_already_read(tmp_path: Path) -> None:
    # The second message holds objects laid out exactly like messages: the cut between them
    # leaves pieces that are not JSON on their own, and ijson takes over from message 1.
    text = json.dumps(_export([_message(0), "SECOND", _message(2)]), indent=2)
    inner = '{\n  "id": "1200000000000000001", "type": "Default", "timestamp": "2024-03-01T10:00:00+00:00",'
    inner += (
        ' "content": "x", "author": {"id": "1", "name": "a"}, "embeds": [\n    {"a": 1},\n    {"b": 2}\n  ]}'
    )
    path = _write(tmp_path, text.replace('"SECOND"', inner))
    items = _same_as_ijson(path, parsed_by="ijson")
    assert [item["id"] for item in items] == [
        "1200000000000000000",
        "1200000000000000001",
        "1200000000000000002",
    ]


@pytest.mark.parametrize(
    "number",
    [
        "9223372036854775807",  # the largest 64-bit integer: ijson reads it, as an int
        "-9223372036854775808",
        "9223372036854775808",  # beyond: ijson rejects the file, orjson would read a float
        "18446744073709551615",  # orjson would read an int
        "123456789012345678901234567890",
        "-123456789012345678901234567890",
    ],
)
def test_long_integers_are_left_to_ijson(tmp_path: Path, number: str) -> None:
    text = json.dumps(_export([_message(0, embeds=[{"n": "NUMBER"}]), _message(1)]), indent=2)
    path = _write(tmp_path, text.replace('"NUMBER"', number))
    items = _same_as_ijson(path, parsed_by="ijson")
    if items:
        assert items[0]["embeds"][0]["n"] == int(number)
    # ... and in an array, after a line break
    path = _write(tmp_path, text.replace('"NUMBER"', f"[\n 1,\n     {number}]"), "in-array.json")
    _same_as_ijson(path, parsed_by="ijson")


def test_long_digit_runs_in_strings_do_not_matter(tmp_path: Path) -> None:
    data = _export([_message(0, content="see 12345678901234567890123/x and 1200000000000000000")])
    assert _same_as_ijson(_write(tmp_path, json.dumps(data, indent=2)), parsed_by="orjson")


def test_a_second_messages_array_is_read_as_ijson_reads_it(tmp_path: Path) -> None:
    text = json.dumps(_export([_message(0)], later="LATER"), indent=2)
    path = _write(
        tmp_path, text.replace('"later": "LATER"', '"messages": [\n    ' + json.dumps(_message(1)) + "\n  ]")
    )
    assert [item["id"] for item in _same_as_ijson(path, parsed_by="ijson")] == [
        "1200000000000000000",
        "1200000000000000001",
    ]


def test_a_messages_key_spelled_with_escapes_is_read_as_ijson_reads_it(tmp_path: Path) -> None:
    text = json.dumps(_export([_message(1)], first="FIRST"), indent=2)
    text = text.replace(
        '"exportedAt"', '"mess\\u0061ges": [\n    ' + json.dumps(_message(0)) + '\n  ],\n  "exportedAt"'
    )
    text = text.replace(',\n  "first": "FIRST"', "")
    path = _write(tmp_path, text)
    assert [item["id"] for item in _same_as_ijson(path, parsed_by="ijson")] == [
        "1200000000000000000",
        "1200000000000000001",
    ]


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ('"isPinned": false,\n      "content": "message 1', '"isPinned": false\n      "content": "message 1'),
        ('"id": "1200000000000000001"', '"id": 1200000000000000001'),  # schema
        ('"content": "message 2', '"content": "\\ud800 message 2'),  # a lone surrogate
        ('"messageCount": 3\n}', '"messageCount": 3\n} trailing'),
        ('"messageCount": 3\n}', '"messageCount": 3\n'),  # cut short
        ('"content": "message 0', '"content": "\x00 message 0'),
    ],
)
def test_broken_files_give_ijson_s_outcome(tmp_path: Path, old: str, new: str) -> None:
    text = json.dumps(_export([_message(n) for n in range(3)]), indent=2)
    assert old in text
    _same_as_ijson(_write(tmp_path, text.replace(old, new)), parsed_by="ijson")


def test_too_deep_is_the_same_error(tmp_path: Path) -> None:
    deep = "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)
    text = json.dumps(
        _export([_message(n, embeds=[{"x": "DEEP"}] if n == 1 else []) for n in range(3)]), indent=2
    )
    path = _write(tmp_path, text.replace('"DEEP"', deep))
    assert _outcome(path, split=False)[0] == "rejected"
    _same_as_ijson(path, parsed_by="ijson")


def test_a_tail_key_like_the_split_path_s_own_is_read_as_ijson_reads_it(tmp_path: Path) -> None:
    # The last piece is parsed as {"\u0000": [<rest of the file>: a key of that name later on
    # must not stand in for the messages.
    text = json.dumps(_export([_message(0)], later="LATER"), indent=2)
    path = _write(
        tmp_path, text.replace('"later": "LATER"', '"\\u0000": [\n    ' + json.dumps(_message(1)) + "\n  ]")
    )
    assert [item["id"] for item in _same_as_ijson(path, parsed_by="ijson")] == ["1200000000000000000"]
