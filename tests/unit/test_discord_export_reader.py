"""The DiscordChatExporter export reader: sample exports, every kind of broken file, bounded memory."""

from __future__ import annotations

import copy
import ctypes
import hashlib
import json
import os
import subprocess
import sys
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from benchmarks.generate_discord_export import write_channel_export

from core.errors import CollectorFailureCategory, ConfigError, DataValidationError, classify_failure
from discord_activity_tracker.export_reader import ExportReader, discover_exports, validate_export

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
GENERAL_FULL = SAMPLES / "Acme Libraries - Community - general [837979912278245376].json"
GENERAL_LATER = SAMPLES / "Acme Libraries - Community - general [837979912278245376] (after 2024-03-08).json"
HELP = SAMPLES / "Acme Libraries - Community - help [838469939152158720].json"


def _all_messages(path: Path) -> list[Any]:
    with ExportReader(path) as export:
        return list(export.iter_messages())


def _message(index: int, **changes: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": str(1_200_000_000_000_000_000 + index),
        "type": "Default",
        "timestamp": "2024-03-01T10:00:00.000+01:00",
        "timestampEdited": None,
        "callEndedTimestamp": None,
        "isPinned": False,
        "content": f"message {index}",
        "author": {"id": "286799796633731072", "name": "mira.k", "nickname": "Mira", "isBot": False},
        "attachments": [],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [],
    }
    message.update(changes)
    return message


def _export(messages: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "guild": {"id": "837979678781341696", "name": "Acme Libraries", "iconUrl": None},
        "channel": {"id": "837979912278245376", "type": "GuildTextChat", "name": "general"},
        "dateRange": {"after": None, "before": None},
        "exportedAt": "2024-03-10T18:00:00.000+01:00",
        "messages": [_message(0), _message(1)] if messages is None else messages,
        "messageCount": 2 if messages is None else len(messages),
    }


def _write(tmp_path: Path, data: Any, name: str = "export.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def _validation_error(path: Path) -> DataValidationError:
    with pytest.raises(DataValidationError) as caught:
        validate_export(path)
    error = caught.value
    assert error.source == str(path)
    assert str(path) in str(error)
    assert classify_failure(error) is CollectorFailureCategory.VALIDATION
    return error


# --------------------------------------------------------------------------- the samples


def test_the_sample_folder_holds_four_exports_of_three_channels_in_path_order() -> None:
    paths = discover_exports(SAMPLES)
    assert [p.name for p in paths] == sorted(p.name for p in paths)
    assert len(paths) == 4
    headers = [ExportReader(p).open() for p in paths]
    assert {h.guild.name for h in headers} == {"Acme Libraries"}
    assert sorted(h.channel.name for h in headers) == ["announcements", "general", "general", "help"]


def test_summaries_agree_with_a_full_read_of_each_sample() -> None:
    total = 0
    for path in discover_exports(SAMPLES):
        summary = validate_export(path)
        messages = _all_messages(path)
        assert summary.message_count == len(messages) == json.loads(path.read_bytes())["messageCount"]
        assert summary.max_message_id == max((m.id for m in messages), key=int)
        assert summary.min_message_id == min((m.id for m in messages), key=int)
        assert summary.last_activity_at == max(m.last_activity_at for m in messages)
        assert summary.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
        assert summary.size_bytes == path.stat().st_size
        total += summary.message_count
    assert 40 <= total <= 80


def test_sample_messages_carry_every_feature_the_collector_stores() -> None:
    messages = [m for p in discover_exports(SAMPLES) for m in _all_messages(p)]
    by_id = {m.id: m for m in messages}
    replies = [m for m in messages if m.reply_to_message_id]
    assert replies and all(m.reply_to_message_id in by_id for m in replies)
    assert any(m.timestamp_edited for m in messages)
    assert any(m.attachments and m.attachments[0].file_name for m in messages)
    assert any(m.embeds for m in messages)
    assert any(m.stickers for m in messages)
    assert any(m.mentions for m in messages)
    assert any(m.interaction for m in messages)
    assert any(m.author.is_bot for m in messages)
    emoji_ids = {r["emoji"]["id"] for m in messages for r in m.reactions or ()}
    assert "" in emoji_ids, "standard emoji reactions have an empty id"
    assert any(e.isdigit() for e in emoji_ids), "custom emoji reactions have a snowflake id"
    text = " ".join(m.content for m in messages)
    for sample in ("🎉", "田中", "中文", "Françoise", "Zoë"):
        assert sample in text
    assert all(m.timestamp.tzinfo is not None for m in messages)


def test_the_later_general_export_overlaps_the_first_with_one_message_edited_since() -> None:
    full = {m.id: m for m in _all_messages(GENERAL_FULL)}
    later = {m.id: m for m in _all_messages(GENERAL_LATER)}
    shared = sorted(set(full) & set(later), key=int)
    assert len(shared) == 2
    unchanged, edited = (full[i] for i in shared)
    assert later[unchanged.id] == unchanged
    assert later[edited.id].content != edited.content
    assert edited.timestamp_edited is None and later[edited.id].timestamp_edited is not None
    # Written by exporters in different time zones: same instant, different offsets.
    assert later[edited.id].timestamp == edited.timestamp
    assert later[edited.id].timestamp.utcoffset() != edited.timestamp.utcoffset()


def test_batches_hold_at_most_batch_size_messages_in_file_order() -> None:
    with ExportReader(HELP) as export:
        batches = list(export.iter_batches(5))
    expected = _all_messages(HELP)
    assert [len(b) for b in batches] == [5, 5, 5, 4]
    assert [m.id for b in batches for m in b] == [m.id for m in expected]
    with ExportReader(HELP) as export, pytest.raises(ValueError, match="batch_size"):
        next(export.iter_batches(0))


def test_messages_can_be_read_once_per_reader() -> None:
    with ExportReader(HELP) as export:
        assert len(list(export.iter_messages())) == 19
        assert len(export.sha256) == 64
        with pytest.raises(RuntimeError, match="already read"):
            list(export.iter_messages())


def test_checked_messages_come_with_the_object_they_were_validated_from() -> None:
    with ExportReader(HELP) as export:
        pairs = list(export.iter_checked())
        with pytest.raises(RuntimeError, match="already read"):
            list(export.iter_checked())
    raw_messages = json.loads(HELP.read_bytes())["messages"]
    assert [raw for raw, _message in pairs] == raw_messages
    assert [message for _raw, message in pairs] == _all_messages(HELP)


def test_validate_export_shows_the_header_then_every_message_in_order() -> None:
    seen: list[Any] = []
    summary = validate_export(
        HELP, on_header=seen.append, on_message=lambda raw, message: seen.append((raw["id"], message.id))
    )
    assert seen[0] == summary.header and len(seen) == 1 + summary.message_count
    assert seen[1:] == [(m.id, m.id) for m in _all_messages(HELP)]


def test_the_header_is_available_before_a_broken_message_is_reached(tmp_path: Path) -> None:
    path = _write(tmp_path, _export([_message(0), _message(1, id=17)]))
    with ExportReader(path) as export:
        assert export.header.channel.name == "general"
        messages = export.iter_messages()
        assert next(messages).content == "message 0"
        with pytest.raises(DataValidationError, match=r"at=messages\[1\]\.id"):
            next(messages)


# --------------------------------------------------------------------------- schema errors


@pytest.mark.parametrize(
    ("change", "location", "reason"),
    [
        (
            {"author": {"id": {"value": "1"}, "name": "x"}},
            "messages[1].author.id",
            "valid string (got object)",
        ),
        ({"timestamp": "last Tuesday"}, "messages[1].timestamp", "not an ISO-8601 timestamp"),
        ({"timestamp": "2024-03-01T10:00:00"}, "messages[1].timestamp", "no UTC offset"),
        ({"timestamp": 1709283600}, "messages[1].timestamp", "got number"),
        ({"id": 1200000000000000001}, "messages[1].id", "valid string (got number)"),
        ({"id": "12ab"}, "messages[1].id", "should match pattern"),
        ({"isPinned": "yes"}, "messages[1].isPinned", "valid boolean"),
        (
            {"attachments": [{"id": "1", "url": "u", "fileName": 12, "fileSizeBytes": 12}]},
            "messages[1].attachments[0].fileName",
            "valid string (got number)",
        ),
        ({"reactions": [["not", "an", "object"]]}, "messages[1].reactions[0]", "valid dictionary"),
        ({"author": {"id": "1", "name": "a\u0000b"}}, "messages[1].author.name", "contains a NUL character"),
        ({"reference": {"messageId": "12ab"}}, "messages[1].reference.messageId", "should match pattern"),
        ({"reference": {"messageId": 5}}, "messages[1].reference.messageId", "got number"),
        ({"content": None}, "messages[1].content", "got null"),
    ],
)
def test_a_wrong_type_names_the_file_and_the_json_path(
    tmp_path: Path, change: dict[str, Any], location: str, reason: str
) -> None:
    path = _write(tmp_path, _export([_message(0), _message(1, **change), _message(2)]))
    error = _validation_error(path)
    assert error.location == location
    assert reason in str(error)


def test_a_missing_field_is_reported_as_missing(tmp_path: Path) -> None:
    message = _message(1)
    del message["author"]
    error = _validation_error(_write(tmp_path, _export([_message(0), message])))
    assert error.location == "messages[1].author"
    assert "required field is missing" in str(error)


def test_a_message_that_is_not_an_object_is_rejected(tmp_path: Path) -> None:
    error = _validation_error(_write(tmp_path, _export([_message(0), "hello"])))  # type: ignore[list-item]
    assert error.location == "messages[1]"
    assert "got string" in str(error)


def test_the_index_of_a_bad_message_deep_in_a_big_file_is_exact(tmp_path: Path) -> None:
    messages = [_message(i) for i in range(2000)]
    messages[1234]["author"] = {**messages[1234]["author"], "id": {"oops": True}}
    error = _validation_error(_write(tmp_path, _export(messages)))
    assert error.location == "messages[1234].author.id"


def test_unknown_fields_are_ignored(tmp_path: Path) -> None:
    message = _message(
        0, futureField={"nested": [1, 2.5]}, author={**_message(0)["author"], "pronouns": "she/her"}
    )
    data = _export([message])
    data["somethingNew"] = [1, 2, 3]
    path = _write(tmp_path, data)
    assert validate_export(path).message_count == 1


# --------------------------------------------------------------------------- header errors


def test_a_missing_guild_names_the_header_field(tmp_path: Path) -> None:
    data = _export()
    del data["guild"]
    error = _validation_error(_write(tmp_path, data))
    assert error.location == "guild"
    assert "required field is missing" in str(error)


def test_a_header_written_after_the_messages_counts_as_missing(tmp_path: Path) -> None:
    data = _export()
    reordered = {"messages": data.pop("messages"), **data}
    error = _validation_error(_write(tmp_path, reordered))
    assert error.location == "guild"
    assert "before 'messages'" in str(error)


def test_a_bad_channel_id_names_the_header_path(tmp_path: Path) -> None:
    data = _export()
    data["channel"]["id"] = 837979912278245376
    error = _validation_error(_write(tmp_path, data))
    assert error.location == "channel.id"


@pytest.mark.parametrize(
    ("data", "location", "reason"),
    [
        ([1, 2], "$", "top-level JSON value is an array"),
        ({"guild": {"id": "1", "name": "g"}}, "messages", "no 'messages' array"),
        ({**_export(), "messages": {"0": {}}}, "messages", "'messages' must be an array, got an object"),
    ],
)
def test_a_file_that_is_not_an_export_says_so(tmp_path: Path, data: Any, location: str, reason: str) -> None:
    error = _validation_error(_write(tmp_path, data))
    assert error.location == location
    assert reason in str(error)


# --------------------------------------------------------------------------- malformed JSON


def test_a_syntax_error_reports_line_column_and_json_path(tmp_path: Path) -> None:
    text = (
        '{\n  "guild": {"id": "1", "name": "g"},\n  "channel": {"id": "2", "type": "GuildTextChat", "name": "c"},\n'
        '  "messages": [\n'
        '    {"id": "10", "type": "Default", "timestamp": "2024-01-01T00:00:00+00:00" "content": "x"}\n'
        "  ]\n}\n"
    )
    path = tmp_path / "syntax.json"
    path.write_text(text, encoding="utf-8")
    error = _validation_error(path)
    # yajl notices the problem at the last byte of the unexpected token ("content").
    offset = text.index('"content"') + len('"content"') - 1
    column = offset - text.rindex("\n", 0, offset)
    assert f"at byte {offset} (line 5, column {column})" in str(error)
    assert error.location == "messages[0].timestamp"
    assert str(error).startswith("malformed JSON: after key and value, inside map, I expect ',' or '}'")


def test_a_syntax_error_far_into_a_big_file_is_located_exactly(tmp_path: Path) -> None:
    path = _write(tmp_path, _export([_message(i) for i in range(3000)]))
    text = path.read_text(encoding="utf-8")
    marker = '"content": "message 2500"'
    offset = text.index(marker) + len(marker)
    path.write_text(text[:offset] + " ]" + text[offset:], encoding="utf-8")
    assert offset > 10 * 64 * 1024, "the error must lie beyond the parser's first buffers"
    error = _validation_error(path)
    assert error.location == "messages[2500].content"
    assert f"at byte {offset + 1} (line {text.count(chr(10), 0, offset) + 1}," in str(error)


def test_a_truncated_file_says_where_it_ends(tmp_path: Path) -> None:
    whole = HELP.read_bytes()
    cut = whole.index(b'"content"', len(whole) // 2)
    path = tmp_path / HELP.name
    path.write_bytes(whole[:cut])
    error = _validation_error(path)
    assert str(error).startswith("file is truncated: premature EOF")
    assert f"at byte {cut} " in str(error)
    messages_before_cut = whole[:cut].count(b'"type": "Reply"') + whole[:cut].count(b'"type": "Default"')
    assert messages_before_cut > 0
    assert error.location is not None and error.location.startswith("messages[")


def test_trailing_garbage_is_malformed(tmp_path: Path) -> None:
    path = _write(tmp_path, _export())
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n{}")
    error = _validation_error(path)
    assert "trailing garbage" in str(error)
    assert error.location == "$"


def test_invalid_utf8_is_malformed(tmp_path: Path) -> None:
    path = _write(tmp_path, _export())
    path.write_bytes(path.read_bytes().replace(b"Acme Libraries", b"Acme \xff Libraries"))
    error = _validation_error(path)
    assert "invalid bytes in UTF8 string" in str(error)
    assert error.location == "guild.name"


@pytest.mark.parametrize("content", [b"", b"  \n\t \n"])
def test_an_empty_file_says_it_is_empty(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "empty.json"
    path.write_bytes(content)
    error = _validation_error(path)
    assert str(error).startswith("file is empty")


# --------------------------------------------------------------------------- unreadable files


def test_a_directory_named_like_an_export_is_not_readable(tmp_path: Path) -> None:
    path = tmp_path / "general.json"
    path.mkdir()
    error = _validation_error(path)
    assert "is a directory" in str(error)


def test_a_broken_symlink_is_discovered_and_then_reported(tmp_path: Path) -> None:
    """Discovery keeps dangling links on purpose: a file that vanished must fail loudly, not be skipped."""
    link = tmp_path / "gone.json"
    link.symlink_to(tmp_path / "moved-away" / "gone.json")
    assert discover_exports(tmp_path) == [link]
    error = _validation_error(link)
    assert "broken symbolic link" in str(error)


_READ_IN_CHILD = """
import sys
from core.errors import DataValidationError
from discord_activity_tracker.export_reader import validate_export
try:
    validate_export(sys.argv[1])
except DataValidationError as exc:
    print(exc)
else:
    print("READ OK")
"""
_PR_CAPBSET_DROP = 24
_CAP_DAC_OVERRIDE = 1
_CAP_DAC_READ_SEARCH = 2


def _drop_file_override_capabilities() -> None:
    """Runs in the forked child before exec: without these two capabilities, root obeys file modes."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH):
        if libc.prctl(_PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def test_a_file_without_read_permission_is_reported(tmp_path: Path) -> None:
    """chmod 000 does not stop root, and these tests run as root. So when root, the reading
    happens in a child process whose capability bounding set lacks CAP_DAC_OVERRIDE and
    CAP_DAC_READ_SEARCH: the kernel then checks the file mode for root too, and refuses."""
    path = _write(tmp_path, _export(), "locked.json")
    path.chmod(0o000)
    if os.geteuid() != 0:
        error = _validation_error(path)
        assert "permission denied" in str(error)
        return
    result = subprocess.run(
        [sys.executable, "-c", _READ_IN_CHILD, str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=_drop_file_override_capabilities,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "plugins")},
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cannot read export file: permission denied")
    assert str(path) in result.stdout
    # The same file read with root's usual powers: proves the mode, not something else, is the cause.
    assert validate_export(path).message_count == 2


# --------------------------------------------------------------------------- discovery


def test_discovery_is_recursive_sorted_and_skips_media_folders(tmp_path: Path) -> None:
    (tmp_path / "2024" / "march").mkdir(parents=True)
    media = tmp_path / "Acme - general [1].json_Files"
    media.mkdir()
    (media / "config-1A2B3.json").write_text("{}")
    (tmp_path / "notes.txt").write_text("not an export")
    (tmp_path / "a.json").write_text("{}")
    (tmp_path / "2024" / "march" / "b.json").write_text("{}")
    (tmp_path / "2024" / "a-dir.json").mkdir()
    assert discover_exports(tmp_path) == [tmp_path / "2024" / "march" / "b.json", tmp_path / "a.json"]


def test_an_empty_folder_has_no_exports(tmp_path: Path) -> None:
    assert discover_exports(tmp_path) == []


def test_a_missing_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        discover_exports(tmp_path / "nope")


def test_a_file_instead_of_a_folder_is_a_config_error(tmp_path: Path) -> None:
    path = _write(tmp_path, _export())
    with pytest.raises(ConfigError, match="not a directory"):
        discover_exports(path)


# --------------------------------------------------------------------------- memory


@pytest.mark.slow
def test_validating_a_50k_message_file_takes_memory_far_below_its_size(tmp_path: Path) -> None:
    """About 4 s under tracemalloc; the batch pass is measured by benchmarks/bench_discord_reader.py."""
    channel = copy.deepcopy(_export()["channel"])
    path = write_channel_export(tmp_path / "big.json", channel=channel, message_count=50_000, seed=7)
    size = path.stat().st_size
    assert size > 40_000_000
    tracemalloc.start()
    try:
        summary = validate_export(path)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert summary.message_count == 50_000
    assert peak < size / 20, f"validate peak {peak} bytes for a {size} byte file"
