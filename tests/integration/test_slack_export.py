"""Slack's workspace export imported without API quota: the same rows as the API path (both dialects)."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from core.errors import DataValidationError
from core.store import Store, collector_checkpoints
from slack_activity_tracker.tables import slack_files, slack_message_files, slack_messages, slack_users
from tests.integration.slack_helpers import DAY, NOW, SlackWorld, world

STATE_COLUMNS = {"updated_at", "change_seq", "replies_synced_latest_reply"}


@pytest.fixture
def w(store_url: str) -> Iterator[SlackWorld]:
    yield from world(store_url)


def _history(w: SlackWorld) -> None:
    d = w.data
    for day in range(3):
        at = NOW - (10 - day) * DAY
        root = d.post("T1", "C1", "U1", f"question {day} for <@U2>", at=at)
        d.reply("T1", "C1", root, "U2", f"answer {day}", at=at + 60)
        d.broadcast_reply("T1", "C1", root, "U1", f"thanks {day}", at=at + 120)
        d.react("T1", "C1", root, "tada", "U2")
        d.post("T1", "C1", "B1", f"bot {day}", at=at + 200, bot_id="BB1", subtype="bot_message")
    edited = d.post("T1", "C1", "U2", "first version", at=NOW - 5 * DAY)
    d.edit("T1", "C1", edited, "second version")
    d.file_share("T1", "C1", "U1", "a snippet", preview="print(1)", at=NOW - 4 * DAY)
    d.join_event("T1", "C1", "U2", at=NOW - 3 * DAY)


def _snapshot(store_url: str) -> dict[str, list[dict[str, Any]]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            out = {}
            for table in (slack_messages, slack_users, slack_files, slack_message_files):
                rows = [{k: v for k, v in r.items() if k not in STATE_COLUMNS}
                        for r in conn.execute(select(table)).mappings()]
                out[table.name] = sorted(rows, key=lambda r: json.dumps(r, sort_keys=True, default=str))
            return out
    finally:
        store.dispose()


def _wipe(store_url: str) -> None:
    store = Store.from_url(store_url)
    try:
        with store.transaction() as conn:
            for table in (slack_messages, slack_users, slack_files, slack_message_files, collector_checkpoints):
                conn.execute(delete(table))
    finally:
        store.dispose()


def _export_config(w: SlackWorld, path: Path, **overrides: Any) -> dict[str, Any]:
    # initial_start after every message: the API reads nothing, the rows come from the export alone
    return w.config(teams=[{"team_id": "T1", "connection_id": "slack_api_t1", "export_path": str(path)}],
                    initial_start=dt.datetime.fromtimestamp(NOW, dt.UTC).isoformat(), **overrides)


def test_export_import_gives_the_same_rows_as_the_api(w: SlackWorld, tmp_path: Path) -> None:
    _history(w)
    export = w.data.write_export("T1", tmp_path / "export.zip")

    result = w.collect(_export_config(w, export))
    assert result.counts["export_messages"] == 15 and result.counts["export_files"] == 6
    from_export = _snapshot(w.store_url)
    assert w.server.calls("conversations.replies") == 0

    _wipe(w.store_url)
    w.collect()
    from_api = _snapshot(w.store_url)

    assert len(from_api["slack_messages"]) == 15
    assert from_export == from_api


def test_an_export_is_imported_once(w: SlackWorld, tmp_path: Path) -> None:
    _history(w)
    export = w.data.write_export("T1", tmp_path / "export.zip")
    w.collect(_export_config(w, export))
    again = w.collect(_export_config(w, export))
    assert again.counts.get("export_files", 0) == 0 and again.counts.get("export_users", 0) == 0


def test_a_broken_day_file_is_validation_naming_the_file_and_writes_nothing_of_it(
    w: SlackWorld, tmp_path: Path
) -> None:
    w.data.post("T1", "C1", "U1", "fine", at=NOW - 5 * DAY)
    good = w.data.write_export("T1", tmp_path / "good.zip")
    broken = tmp_path / "broken.zip"
    with zipfile.ZipFile(good) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            dst.writestr(name, src.read(name))
        dst.writestr("general/2030-01-01.json", json.dumps([{"ts": "bad", "text": "x"}]))

    with pytest.raises(DataValidationError) as raised:
        w.collect(_export_config(w, broken))

    assert "broken.zip:general/2030-01-01.json" in str(raised.value) and "$[0].ts" in str(raised.value)
    texts = [m["text"] for m in w.messages().values()]
    assert texts == ["fine"]  # the good day before it stays; nothing of the broken file
