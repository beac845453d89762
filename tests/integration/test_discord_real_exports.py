"""Exports as real DiscordChatExporter generations write them, and bad files among good ones,
on SQLite and real PostgreSQL (issue 9, items 1 and 4-7)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from core.collectors import RunContext
from core.errors import CollectorFailureCategory, DataValidationError, classify_failure
from core.store import Store, load_checkpoint
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.export_errors import FilesRejectedError
from discord_activity_tracker.tables import (
    discord_authors,
    discord_channels,
    discord_guilds,
    discord_messages,
)
from tests.conftest import PROJECT_ROOT
from tests.fakes import dce_exports

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"


def _write(folder: Path, name: str, data: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def _run(folder: Path, store_url: str, batch_size: int = 7) -> Any:
    collector = DiscordCollector(
        {"export_dir": str(folder), "batch_size": batch_size}, context=RunContext(store_url=store_url)
    )
    return collector.run()


def _rows(store_url: str, table: Any, key: str) -> dict[str, dict[str, Any]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            return {row[key]: dict(row) for row in conn.execute(select(table)).mappings()}
    finally:
        store.dispose()


def _stored_ids(store_url: str) -> set[str]:
    return set(_rows(store_url, discord_messages, "message_id"))


# --------------------------------------------------------------------------- item 1


def test_every_exporter_generation_is_stored_exactly(store_url: str, tmp_path: Path) -> None:
    exports = {name: build() for name, build in dce_exports.GENERATIONS.items()}
    for name, data in exports.items():
        _write(tmp_path / "exports", f"{name}.json", data)
    result = _run(tmp_path / "exports", store_url)
    assert result.counts["files"] == len(exports) and result.counts.get("files_rejected", 0) == 0
    messages = _rows(store_url, discord_messages, "message_id")
    expected = {m["id"]: (data, m) for data in exports.values() for m in data["messages"]}
    assert set(messages) == set(expected)
    for message_id, (data, raw) in expected.items():
        row = messages[message_id]
        assert row["content"] == raw["content"]
        assert row["channel_id"] == data["channel"]["id"] and row["guild_id"] == data["guild"]["id"]
        assert row["author_id"] == raw["author"]["id"] and row["author_name"] == raw["author"]["name"]
        assert row["type"] == raw["type"] and row["is_pinned"] == raw["isPinned"]
        # Free-form parts are kept exactly as the exporter wrote them, whatever their shape.
        assert row["reactions"] == raw.get("reactions", []) and row["embeds"] == raw.get("embeds", [])
        assert row["stickers"] == raw.get("stickers", []) and row["attachments"] == raw.get("attachments", [])
        assert row["interaction"] == raw.get("interaction")
        assert row["mentions"] == [user["id"] for user in raw.get("mentions", [])]
        reply_to = (raw.get("reference") or {}).get("messageId") or None
        assert row["reply_to_message_id"] == reply_to
    # null and "" emoji ids both came through untouched
    old = messages[exports["gen_2020"]["messages"][0]["id"]]
    assert old["reactions"][0]["emoji"]["id"] is None
    # group DMs: guild "0"; an empty categoryId is no category; threads keep their parent
    guilds = _rows(store_url, discord_guilds, "guild_id")
    assert guilds["0"]["name"] == "Direct Messages"
    channels = _rows(store_url, discord_channels, "channel_id")
    assert channels[exports["group_dm"]["channel"]["id"]]["category_id"] is None
    thread = channels[exports["gen_2024"]["channel"]["id"]]
    assert (
        thread["type"] == "GuildPublicThread"
        and thread["category_id"] == exports["gen_2022"]["channel"]["id"]
    )
    assert channels[exports["forum_post"]["channel"]["id"]]["category"] == "help-forum"
    assert channels[exports["gen_2020"]["channel"]["id"]]["category_id"] is None


# --------------------------------------------------------------------------- item 7


@pytest.mark.parametrize("batch_size", [1, 2, 1000])
def test_the_newest_author_details_win_whatever_the_batching_and_file_order(
    store_url: str, tmp_path: Path, batch_size: int
) -> None:
    """An export made later but holding older messages (``--before``) is ingested after the
    newer one: the details seen on the newest message still win."""
    newest = dce_exports.gen_2024(nickname="Alice (2024)", exported_at="2024-09-01T00:00:00+00:00")
    older = dce_exports.gen_2022()
    older["exportedAt"] = "2025-01-01T00:00:00+00:00"  # exported last, so written last
    _write(tmp_path / "exports", "a-new.json", newest)
    _write(tmp_path / "exports", "b-old.json", older)
    # Inside one file too: the newest message's copy wins, not the first one in the batch.
    webhook = dce_exports.webhook_channel()
    _write(tmp_path / "exports", "c-hook.json", webhook)
    _run(tmp_path / "exports", store_url, batch_size=batch_size)
    authors = _rows(store_url, discord_authors, "author_id")
    assert authors[dce_exports.ALICE]["nickname"] == "Alice (2024)"
    assert authors[dce_exports.ALICE]["discriminator"] == "0000"
    assert authors[dce_exports.BOB]["name"] == "bob_"
    # the webhook's newest message (2024-10-03) was posted as "Release notes"; each message keeps its own name
    assert authors[dce_exports.HOOK]["name"] == dce_exports.WEBHOOK_NAMES[-1]
    messages = _rows(store_url, discord_messages, "message_id")
    names = [messages[m["id"]]["author_name"] for m in sorted(webhook["messages"], key=lambda m: m["id"])]
    assert names == list(dce_exports.WEBHOOK_NAMES)


def test_a_user_mentioned_and_posting_in_the_same_message_keeps_the_authors_details(
    store_url: str, tmp_path: Path
) -> None:
    data = dce_exports.gen_2024()
    message = data["messages"][1]
    message["mentions"] = [{"id": message["author"]["id"], "name": "bob_", "nickname": "mention copy"}]
    _write(tmp_path / "exports", "x.json", data)
    _run(tmp_path / "exports", store_url)
    assert _rows(store_url, discord_authors, "author_id")[dce_exports.BOB]["nickname"] is None


# --------------------------------------------------------------------------- items 4, 5


@pytest.mark.parametrize(
    ("where", "location"),
    [
        (lambda d: d["guild"].__setitem__("name", "North\x00wind"), "guild.name"),
        (lambda d: d["channel"].__setitem__("name", "gen\x00eral"), "channel.name"),
        (lambda d: d["channel"].__setitem__("topic", "\x00"), "channel.topic"),
        (lambda d: d["messages"][1]["author"].__setitem__("name", "b\x00b"), "messages[1].author.name"),
        (lambda d: d["messages"][1]["author"].__setitem__("nickname", "\x00"), "messages[1].author.nickname"),
        (lambda d: d["messages"][0].__setitem__("type", "De\x00fault"), "messages[0].type"),
        (
            lambda d: d["messages"][1].__setitem__(
                "mentions", [{"id": "1", "name": "m", "avatarUrl": "x\x00"}]
            ),
            "messages[1].mentions[0].avatarUrl",
        ),
    ],
)
def test_a_nul_in_any_stored_text_rejects_that_file_on_both_dialects(
    store_url: str, tmp_path: Path, where: Any, location: str
) -> None:
    bad = dce_exports.gen_2024()
    where(bad)
    _write(tmp_path / "exports", "bad.json", bad)
    _write(tmp_path / "exports", "good.json", dce_exports.gen_2022())
    with pytest.raises(DataValidationError) as caught:
        _run(tmp_path / "exports", store_url)
    assert caught.value.location == location and "bad.json" in str(caught.value)
    assert _stored_ids(store_url) == {m["id"] for m in dce_exports.gen_2022()["messages"]}
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "discord", bad["channel"]["id"]) is None
    store.dispose()


def _deep(levels: int) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("damage", "location_start"),
    [
        # free-form fields deeper than orjson's and pydantic's recursion limits (~255)
        (lambda m: m.__setitem__("embeds", [{"fields": _deep(300)}]), "messages[0].embeds[0].fields"),
        (lambda m: m.__setitem__("interaction", {"x": _deep(300)}), "messages[0].interaction.x"),
        (lambda m: m.__setitem__("futureField", _deep(400)), "messages[0].futureField"),
    ],
)
def test_deep_free_form_fields_reject_their_file_as_validation_and_the_others_land(
    store_url: str, tmp_path: Path, damage: Any, location_start: str
) -> None:
    bad = dce_exports.gen_2024()
    damage(bad["messages"][0])
    _write(tmp_path / "exports", "a-deep.json", bad)
    _write(tmp_path / "exports", "b-good.json", dce_exports.gen_2022())
    _write(tmp_path / "exports", "c-good.json", dce_exports.forum_post())
    with pytest.raises(DataValidationError) as caught:
        _run(tmp_path / "exports", store_url)
    assert classify_failure(caught.value) is CollectorFailureCategory.VALIDATION
    assert "nested deeper than 64 levels" in str(caught.value) and "a-deep.json" in str(caught.value)
    assert caught.value.location is not None and caught.value.location.startswith(location_start)
    assert _stored_ids(store_url) == {
        m["id"] for m in [*dce_exports.gen_2022()["messages"], *dce_exports.forum_post()["messages"]]
    }


def test_every_rejected_file_is_named_and_the_worst_category_wins(store_url: str, tmp_path: Path) -> None:
    """A schema violation and a value the store cannot encode (an integer beyond 64 bits in an
    embed, which used to escape as ``unknown``): the good file lands, both bad files are named
    with their JSON paths, and the category is ``validation``."""
    folder = tmp_path / "exports"
    bad_schema = dce_exports.gen_2024()
    bad_schema["messages"][1]["timestamp"] = "yesterday"
    _write(folder, "a-schema.json", bad_schema)
    huge = dce_exports.gen_2020()
    huge["messages"][0]["embeds"] = [{"n": 2**70}]
    _write(folder, "b-huge-int.json", huge)
    _write(folder, "c-good.json", dce_exports.gen_2022())
    with pytest.raises(DataValidationError) as caught:
        _run(folder, store_url)
    text = str(caught.value)
    assert "2 export file(s) rejected, 1 ingested" in text
    assert "a-schema.json [validation]" in text and "b-huge-int.json [validation]" in text
    assert "messages[0]" in text
    assert _stored_ids(store_url) == {m["id"] for m in dce_exports.gen_2022()["messages"]}


def test_an_unexpected_error_in_one_file_is_unknown_and_the_other_files_still_land(
    store_url: str, tmp_path: Path
) -> None:
    """A failure no rule foresaw (here: a trigger raises an error of its own on one file's rows)
    is that file's failure; the run's category is the worst among the files (on PostgreSQL the
    error is unclassified, ``unknown``, which beats validation; SQLite reports any trigger
    abort as a constraint violation, ``validation``) and every file is named."""
    folder = tmp_path / "exports"
    _write(folder, "a-schema.json", {**dce_exports.gen_2024(), "channel": {"id": "x"}})
    refused = dce_exports.forum_post()
    refused["messages"][0]["content"] = "boom"
    _write(folder, "b-refused.json", refused)
    _write(folder, "c-good.json", dce_exports.gen_2022())
    store = Store.from_url(store_url)
    store.migrate(DiscordCollector.name, DiscordCollector.migrations)
    with store.engine.begin() as conn:
        if store.dialect == "sqlite":
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON discord_messages WHEN NEW.content = 'boom' "
                "BEGIN SELECT RAISE(ABORT, 'boom'); END"
            )
        else:
            conn.exec_driver_sql(
                "CREATE FUNCTION boom() RETURNS trigger AS $$ BEGIN IF NEW.content = 'boom' THEN "
                "RAISE EXCEPTION 'boom' USING ERRCODE = 'XX000'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER boom BEFORE INSERT ON discord_messages FOR EACH ROW EXECUTE FUNCTION boom()"
            )
    store.dispose()
    with pytest.raises(FilesRejectedError) as caught:
        _run(folder, store_url)
    worst = (
        CollectorFailureCategory.UNKNOWN if "postgresql" in store_url else CollectorFailureCategory.VALIDATION
    )
    assert caught.value.category is worst and classify_failure(caught.value) is worst
    text = str(caught.value)
    assert "a-schema.json [validation]" in text and f"b-refused.json [{worst.value}]" in text
    assert "1 ingested" in text
    assert {Path(s).name for s in caught.value.sources} == {"a-schema.json", "b-refused.json"}
    assert _stored_ids(store_url) == {m["id"] for m in dce_exports.gen_2022()["messages"]}


# --------------------------------------------------------------------------- item 6


def test_a_fifo_named_like_an_export_is_skipped_not_waited_on(store_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "exports"
    _write(folder, "good.json", dce_exports.gen_2022())
    os.mkfifo(folder / "pipe.json")
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = _run(folder, store_url)
        except BaseException as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=run, daemon=True)
    worker.start()
    worker.join(120)
    if worker.is_alive():  # unblock the reader so the thread can end, then fail
        with open(folder / "pipe.json", "wb"):
            pass
        pytest.fail("the run waited on the FIFO")
    assert "error" not in outcome, outcome.get("error")
    assert outcome["result"].counts["files_skipped"] == 1 and outcome["result"].counts["files"] == 1
    assert _stored_ids(store_url) == {m["id"] for m in dce_exports.gen_2022()["messages"]}


def test_a_symlink_out_of_the_folder_is_skipped_and_one_inside_is_read(
    store_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "exports"
    outside = _write(tmp_path / "elsewhere", "secret.json", dce_exports.gen_2020())
    _write(folder / "real", "thread.json", dce_exports.gen_2024())
    (folder / "outside.json").symlink_to(outside)
    (folder / "inside.json").symlink_to(folder / "real" / "thread.json")
    result = _run(folder, store_url)
    assert result.counts["files_skipped"] == 1
    assert _stored_ids(store_url) == {m["id"] for m in dce_exports.gen_2024()["messages"]}


# --------------------------------------------------------------------------- item 2

_DEPTH_PROBE = """
import json, sys
sys.path[:0] = [sys.argv[2], sys.argv[3]]
from core.errors import DataValidationError
from discord_activity_tracker.export_reader import validate_export


def status_mb(field):
    for line in open("/proc/self/status"):
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise KeyError(field)


# The high-water mark starts here: a forked child inherits its parent's (pytest's), and the imports
# are not what is measured. Writing 5 to clear_refs resets VmHWM to the current RSS (Linux).
with open("/proc/self/clear_refs", "w") as refs:
    refs.write("5")
baseline_mb = status_mb("VmRSS")
try:
    validate_export(sys.argv[1])
    outcome = {"error": None}
except DataValidationError as exc:
    outcome = {"error": str(exc), "location": exc.location, "category": exc.category.value}
outcome["peak_mb"] = status_mb("VmHWM")
outcome["grew_mb"] = outcome["peak_mb"] - baseline_mb
print(json.dumps(outcome))
"""


def test_a_65kb_export_nested_40000_deep_is_rejected_in_bounded_memory(tmp_path: Path) -> None:
    levels = 40_000
    message = dce_exports.gen_2024()["messages"][0]
    text = json.dumps({**dce_exports.gen_2024(), "messages": [{**message, "embeds": ["@"]}]})
    text = text.replace('"@"', "[" * levels + "]" * levels)
    path = tmp_path / "deep.json"
    path.write_text(text, encoding="utf-8")
    assert 60_000 < path.stat().st_size < 100_000
    probe = subprocess.run(
        [sys.executable, "-c", _DEPTH_PROBE, str(path), str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    )
    outcome = json.loads(probe.stdout)
    assert outcome["category"] == "validation"
    assert "nested deeper than 64 levels" in outcome["error"] and str(path) in outcome["error"]
    assert outcome["location"].startswith("messages[0].embeds[0][0]")
    # What reading the hostile file costs, imports and the parent's memory left out.
    assert outcome["grew_mb"] < 100, outcome
