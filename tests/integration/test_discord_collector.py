"""The Discord collector on SQLite and real PostgreSQL: idempotency, edits, bad input, windows, partitions."""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from core.collectors import RunContext
from core.errors import ConfigError, DataValidationError
from core.store import Store, collector_checkpoints, load_checkpoint
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.export_errors import FilesRejectedError
from discord_activity_tracker.tables import discord_authors, discord_channels, discord_messages
from tests.conftest import PROJECT_ROOT

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
GENERAL = "837979912278245376"


def _collector(folder: Path, store_url: str, **context: Any) -> DiscordCollector:
    return DiscordCollector(
        {"export_dir": str(folder), "batch_size": 7}, context=RunContext(store_url=store_url, **context)
    )


def _count(store_url: str, table) -> int:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def _content(store_url: str, message_id: str) -> str | None:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        return conn.execute(
            select(discord_messages.c.content).where(discord_messages.c.message_id == message_id)
        ).scalar_one_or_none()


def _load(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


def _sample_ids() -> set[str]:
    return {m["id"] for path in SAMPLES.glob("*.json") for m in _load(path)["messages"]}


def _edited_in_later_export() -> tuple[str, str, str]:
    """(message id, old content, new content) of the message edited between the two #general exports."""
    full = next(p for p in SAMPLES.glob("*general*].json"))
    later = next(p for p in SAMPLES.glob("*general*(after*.json"))
    old = {m["id"]: m for m in _load(full)["messages"]}
    for message in _load(later)["messages"]:
        if message["id"] in old and old[message["id"]]["content"] != message["content"]:
            return message["id"], old[message["id"]]["content"], message["content"]
    raise AssertionError("the samples should contain an edited message")


def test_samples_are_stored_once_with_edits_in_place(store_url: str):
    result = _collector(SAMPLES, store_url).run()
    assert result.counts["files"] == 4
    assert _count(store_url, discord_messages) == len(_sample_ids())
    assert _count(store_url, discord_channels) == 3
    message_id, old, new = _edited_in_later_export()
    assert _content(store_url, message_id) == new != old
    again = _collector(SAMPLES, store_url).run()
    assert again.counts["files_unchanged"] == 4 and again.counts["messages_read"] == 0
    refresh = _collector(SAMPLES, store_url, full_refresh=True).run()
    assert refresh.counts["messages_new"] == 0 and refresh.counts["files"] == 4
    assert _count(store_url, discord_messages) == len(_sample_ids())
    assert _content(store_url, message_id) == new


def test_an_older_export_never_overwrites_a_newer_edit(store_url: str, tmp_path: Path):
    message_id, _old, new = _edited_in_later_export()
    newer, older = tmp_path / "newer", tmp_path / "older"
    newer.mkdir()
    older.mkdir()
    shutil.copy(next(SAMPLES.glob("*general*(after*.json")), newer)
    shutil.copy(next(SAMPLES.glob("*general*].json")), older)
    _collector(newer, store_url).run()
    _collector(older, store_url).run()
    assert _content(store_url, message_id) == new


def test_checkpoint_is_per_channel_newest_message(store_url: str):
    _collector(SAMPLES, store_url).run()
    store = Store.from_url(store_url)
    general_ids = [int(m["id"]) for p in SAMPLES.glob("*general*.json") for m in _load(p)["messages"]]
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "discord", GENERAL)
    assert state is not None and state.checkpoint_token == str(max(general_ids))
    assert state.extras == {}


def test_duplicate_ids_inside_one_export_are_stored_once(store_url: str, tmp_path: Path):
    data = _load(next(SAMPLES.glob("*help*.json")))
    copy = dict(data["messages"][3])
    copy["content"] = "repeated"
    data["messages"].insert(5, copy)
    (tmp_path / "help.json").write_text(json.dumps(data), encoding="utf-8")
    _collector(tmp_path, store_url).run()
    assert _count(store_url, discord_messages) == len({m["id"] for m in data["messages"]})


def test_malformed_export_writes_nothing_from_that_file_and_names_it(store_url: str, tmp_path: Path):
    good = next(SAMPLES.glob("*help*.json"))
    shutil.copy(good, tmp_path)
    bad = _load(next(SAMPLES.glob("*announcements*.json")))
    bad["messages"][4]["author"]["id"] = {"not": "a snowflake"}
    (tmp_path / "announcements.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(DataValidationError) as caught:
        _collector(tmp_path, store_url).run()
    assert "announcements.json" in str(caught.value) and "messages[4].author.id" in str(caught.value)
    assert caught.value.source is not None and caught.value.source.endswith("announcements.json")
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        channels = set(conn.execute(select(discord_messages.c.channel_id).distinct()).scalars())
        assert load_checkpoint(conn, "discord", bad["channel"]["id"]) is None
    assert channels == {_load(good)["channel"]["id"]}


@pytest.mark.parametrize("damage", ["truncated", "wrong_type_timestamp", "not_json"])
def test_broken_files_leave_store_and_checkpoint_untouched(store_url: str, tmp_path: Path, damage: str):
    source = next(SAMPLES.glob("*help*.json"))
    text = source.read_text(encoding="utf-8")
    if damage == "truncated":
        text = text[: len(text) // 2]
    elif damage == "wrong_type_timestamp":
        data = json.loads(text)
        data["messages"][-1]["timestamp"] = 1700000000
        text = json.dumps(data)
    else:
        text = "this is not json"
    (tmp_path / "help.json").write_text(text, encoding="utf-8")
    with pytest.raises(DataValidationError, match=r"help\.json"):
        _collector(tmp_path, store_url).run()
    assert _count(store_url, discord_messages) == 0
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "discord", _load(source)["channel"]["id"]) is None
        assert _count(store_url, collector_checkpoints) == 0


def test_empty_folder_collects_nothing_and_says_so(store_url: str, tmp_path: Path, caplog):
    with caplog.at_level(logging.WARNING):
        result = _collector(tmp_path, store_url).run()
    assert result.counts["files"] == 0 and "nothing to collect" in caplog.text


def test_missing_folder_is_a_config_error(store_url: str, tmp_path: Path):
    with pytest.raises(ConfigError, match="missing"):
        _collector(tmp_path / "missing", store_url).validate()


def test_partition_collects_only_its_channel(store_url: str):
    collector = _collector(SAMPLES, store_url, partition=GENERAL)
    collector.validate()
    assert (
        collector.partitions is not None
        and GENERAL in collector.partitions
        and len(collector.partitions) == 3
    )
    result = collector.run()
    assert result.counts["files"] == 2 and result.counts["files_other_partition"] == 2
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        assert set(conn.execute(select(discord_messages.c.channel_id).distinct()).scalars()) == {GENERAL}


def test_bounded_window_stores_only_its_messages_and_keeps_the_checkpoint(store_url: str):
    _collector(SAMPLES, store_url).run()
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        before = load_checkpoint(conn, "discord", GENERAL)
        conn.execute(discord_messages.delete().where(discord_messages.c.channel_id == GENERAL))
        conn.commit()
    since = dt.datetime(2024, 2, 1, tzinfo=dt.UTC)
    until = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)
    result = _collector(SAMPLES, store_url, since=since, until=until, partition=GENERAL).run()
    assert result.counts["messages_outside_window"] > 0
    with store.engine.connect() as conn:
        created = (
            conn.execute(
                select(discord_messages.c.created_at).where(discord_messages.c.channel_id == GENERAL)
            )
            .scalars()
            .all()
        )
        after = load_checkpoint(conn, "discord", GENERAL)
    assert created and all(since <= (c if c.tzinfo else c.replace(tzinfo=dt.UTC)) < until for c in created)
    assert after is not None and before is not None and after.checkpoint_token == before.checkpoint_token


def test_authors_include_mentioned_users(store_url: str):
    _collector(SAMPLES, store_url).run()
    mentioned = {
        user["id"]
        for p in SAMPLES.glob("*.json")
        for m in _load(p)["messages"]
        for user in m.get("mentions", [])
    }
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        authors = set(conn.execute(select(discord_authors.c.author_id)).scalars())
    assert mentioned <= authors


def test_sync_builds_thread_documents_and_is_idempotent(store_url: str):
    collector = _collector(SAMPLES, store_url)
    collector.run()
    first = collector.sync_pinecone()
    assert first is not None and first.counts["documents"] > 0 and first.counts["records_upserted"] > 0
    replies = sum(
        1
        for p in SAMPLES.glob("*.json")
        for m in _load(p)["messages"]
        if (m.get("reference") or {}).get("messageId")
    )
    assert first.counts["documents"] < len(_sample_ids()) - replies + 5
    second = _collector(SAMPLES, store_url).sync_pinecone()
    assert second is not None and second.counts["records_upserted"] == 0 and second.counts["documents"] == 0


def _open_files() -> set[str]:
    found = set()
    for fd in Path("/proc/self/fd").iterdir():
        try:
            found.add(os.readlink(fd))
        except OSError:
            continue
    return found


def _spool_files() -> set[str]:
    return {name for name in _open_files() if "discord-spool-" in name or "(deleted)" in name}


def _validation_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("discord-validate")]


def test_an_overlapping_later_export_counts_new_and_known_messages(store_url: str, tmp_path: Path):
    full, later = next(SAMPLES.glob("*general*].json")), next(SAMPLES.glob("*general*(after*.json"))
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    shutil.copy(full, first)
    shutil.copy(later, second)
    _collector(first, store_url).run()
    result = _collector(second, store_url).run()
    known = {m["id"] for m in _load(full)["messages"]}
    incoming = {m["id"] for m in _load(later)["messages"]}
    assert result.counts["messages_new"] == len(incoming - known) > 0
    assert result.counts["messages_updated_or_same"] == len(incoming & known) > 0


def test_spools_and_the_validation_thread_are_gone_after_success_and_failure(store_url: str, tmp_path: Path):
    before = _spool_files()
    _collector(SAMPLES, store_url).run()
    assert _spool_files() == before and not _validation_threads()
    for path in SAMPLES.glob("*.json"):
        shutil.copy(path, tmp_path)
    bad = _load(next(SAMPLES.glob("*help*.json")))
    bad["messages"][-1]["timestamp"] = "yesterday"
    (tmp_path / "zz-broken.json").write_text(json.dumps(bad), encoding="utf-8")
    with pytest.raises(DataValidationError, match="zz-broken"):
        _collector(tmp_path, store_url, full_refresh=True).run()
    assert _spool_files() == before and not _validation_threads()


def test_a_batch_the_database_refuses_fails_that_file_and_the_others_still_land(
    store_url: str, tmp_path: Path
):
    """A database constraint refuses the second batch of the first file while the next file is
    being validated in the background: that file fails (its first batch stays committed), the
    other files are still written, and the run then fails naming the file, with the
    database's error as the cause; no spool or validation thread is left behind."""
    data = _load(next(SAMPLES.glob("*help*.json")))
    data["messages"][9]["content"] = "refused by the database"
    data["exportedAt"] = "2020-01-01T00:00:00+00:00"  # written first; the samples are validated meanwhile
    (tmp_path / "help-refused.json").write_text(json.dumps(data), encoding="utf-8")
    for path in SAMPLES.glob("*.json"):
        shutil.copy(path, tmp_path)
    store = Store.from_url(store_url)
    store.migrate(DiscordCollector.name, DiscordCollector.migrations)
    with store.engine.begin() as conn:
        if (
            store.dialect == "sqlite"
        ):  # SQLite cannot add a CHECK constraint to a table; a trigger refuses alike
            conn.exec_driver_sql(
                "CREATE TRIGGER refuse BEFORE INSERT ON discord_messages "
                "WHEN NEW.content = 'refused by the database' BEGIN SELECT RAISE(ABORT, 'refused'); END"
            )
        else:
            conn.exec_driver_sql(
                "ALTER TABLE discord_messages ADD CONSTRAINT refuse CHECK (content <> 'refused by the database')"
            )
    before = _spool_files()
    with pytest.raises(FilesRejectedError) as caught:
        _collector(tmp_path, store_url).run()
    assert "1 export file(s) rejected, 4 ingested" in str(caught.value)
    assert "help-refused.json" in str(caught.value) and "refuse" in str(caught.value)
    assert isinstance(caught.value.__cause__, (DBAPIError, psycopg2.Error))
    assert _spool_files() == before and not _validation_threads()
    assert _count(store_url, discord_messages) == len(_sample_ids())


def test_timestamps_in_any_iso_form_store_the_instant_python_reads(store_url: str, tmp_path: Path):
    data = _load(next(SAMPLES.glob("*help*.json")))
    written = {
        0: ("2024-03-01T10:00:00.123+01:00", None),
        1: ("2024-03-01 10:00:00.1234567+05:30:15", "2024-W09-5T23:00:00Z"),
        2: ("2024-03-01T10:00:00Z", "20240301T120000-0330"),
    }
    for index, (created, edited) in written.items():
        data["messages"][index]["timestamp"] = created
        data["messages"][index]["timestampEdited"] = edited
    (tmp_path / "help.json").write_text(json.dumps(data), encoding="utf-8")
    _collector(tmp_path, store_url).run()
    store = Store.from_url(store_url)

    def utc(value: dt.datetime | None) -> dt.datetime | None:
        return None if value is None else (value if value.tzinfo else value.replace(tzinfo=dt.UTC))

    for index, (created, edited) in written.items():
        with store.engine.connect() as conn:
            row = conn.execute(
                select(discord_messages.c.created_at, discord_messages.c.edited_at).where(
                    discord_messages.c.message_id == data["messages"][index]["id"]
                )
            ).one()
        assert utc(row.created_at) == dt.datetime.fromisoformat(created)
        assert utc(row.edited_at) == (dt.datetime.fromisoformat(edited) if edited else None)


def test_an_identical_reread_leaves_every_row_untouched(store_url: str, tmp_path: Path):
    # Not the later #general export: its copies of shared messages carry other UTC offsets, so
    # they hash differently and a full refresh rewrites them (same instant, newer export wins).
    for path in SAMPLES.glob("*.json"):
        if "(after" not in path.name:
            shutil.copy(path, tmp_path)

    def stamps() -> dict[str, Any]:
        store = Store.from_url(store_url)
        with store.engine.connect() as conn:
            return dict(
                conn.execute(select(discord_messages.c.message_id, discord_messages.c.updated_at)).all()
            )

    _collector(tmp_path, store_url).run()
    before = stamps()
    again = _collector(tmp_path, store_url, full_refresh=True).run()
    assert again.counts["messages_new"] == 0 and again.counts["messages_updated_or_same"] == len(before)
    assert stamps() == before


@pytest.mark.parametrize(
    ("field", "value", "location"),
    [("content", "nul \u0000 inside", "messages[2].content"), ("type", "T" * 41, "messages[2].type")],
)
def test_values_postgresql_cannot_store_are_rejected_before_writing(
    store_url: str, tmp_path: Path, field: str, value: str, location: str
):
    data = _load(next(SAMPLES.glob("*help*.json")))
    data["messages"][2][field] = value
    (tmp_path / "help.json").write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(DataValidationError) as caught:
        _collector(tmp_path, store_url).run()
    assert location in str(caught.value)
    assert _count(store_url, discord_messages) == 0
