"""The Slack document builder loads documents set-based: the statements it sends grow with the
batches of changed messages and the channels in them, not with the number of documents, and it
builds exactly the documents the per-document builder (commit 7067886) built."""

from __future__ import annotations

import datetime as dt
import random
import subprocess
import types
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, update

from core.store import Store
from slack_activity_tracker.preprocess import documents, removed_documents
from slack_activity_tracker.tables import slack_messages
from tests.integration.slack_helpers import DAY, NOW, SlackWorld, world

ROOT = Path(__file__).resolve().parents[2]
PER_DOCUMENT_BUILDER = "7067886"


@pytest.fixture
def w(store_url: str) -> Iterator[SlackWorld]:
    yield from world(store_url)


def _per_document_builder() -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{PER_DOCUMENT_BUILDER}:plugins/slack_activity_tracker/preprocess.py"],
        cwd=ROOT, check=True, capture_output=True, text=True,
    ).stdout
    module = types.ModuleType("slack_preprocess_per_document")
    exec(compile(source, "per-document preprocess.py", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def _busy_workspace(w: SlackWorld, days: int = 6) -> None:
    """Two channels over several days: threads (some with broadcast replies), lone messages,
    files (one tombstoned), joins, deleted messages and a deleted root with replies."""
    w.data.add_channel("T1", "C2", "dev")
    rng = random.Random(5)
    users = ["U1", "U2", "B1"]
    for channel in ("C1", "C2"):
        for n in range(days * 12):
            at = NOW - days * DAY + n * DAY / 12
            root = w.data.post("T1", channel, rng.choice(users), f"<@U1> message {n} in <#{channel}> :tada:", at=at)
            if n % 3 == 0:
                for r in range(rng.randint(1, 4)):
                    w.data.reply("T1", channel, root, rng.choice(users), f"reply {r}", at=at + 10 + r,
                                 broadcast=r == 1)
            if n % 7 == 0:
                w.data.file_share("T1", channel, "U2", "a file", name=f"f{n}.cpp", filetype="cpp",
                                  preview="int main() {}", at=at + 30)
            if n % 11 == 0:
                w.data.join_event("T1", channel, "U2", at=at + 40)
            if n % 13 == 5:
                w.data.delete("T1", channel, root)
            if n % 12 == 0 and n % 3 == 0:
                w.data.delete("T1", channel, root)  # a root with replies: a tombstone
    w.collect()


def _statements(store: Store, build):  # type: ignore[no-untyped-def]
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        result = build()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    return len(sent), result


def test_same_documents_as_the_per_document_builder(w: SlackWorld) -> None:
    _busy_workspace(w)
    store = Store.from_url(w.store_url)
    try:
        old = _per_document_builder()
        built = list(documents(store.engine, None, []))
        assert len(built) > 50
        assert built == list(old.documents(store.engine, None, []))
        # Plus documents to retry, one of them gone, and a bogus id.
        retry = [built[3].doc_id, "T1/C1/2001-01-01", "T1/C2/1.000001", "not-a-doc"]
        assert list(documents(store.engine, None, retry)) == list(old.documents(store.engine, None, retry))
    finally:
        store.dispose()


def test_bounded_statements_and_removed_documents(w: SlackWorld) -> None:
    _busy_workspace(w, days=10)
    store = Store.from_url(w.store_url)
    try:
        statements, built = _statements(store, lambda: list(documents(store.engine, None, [])))
        assert statements < 40 < 80 < len(built)  # the per-document builder sent 2 or more per document
        # Every message of C2 deleted: all of its documents go, none of C1's.
        with store.transaction() as conn:
            conn.execute(update(slack_messages).where(slack_messages.c.channel_id == "C2").values(deleted_at=dt.datetime.now(dt.UTC)))
        old = _per_document_builder()
        statements, gone = _statements(store, lambda: list(removed_documents(store.engine, None)))
        assert statements < 40
        assert sorted(gone) == sorted(old.removed_documents(store.engine, None))
        assert {g.split("/")[1] for g in gone} == {"C2"}
        assert sorted(gone) == sorted(d.doc_id for d in built if d.doc_id.startswith("T1/C2/"))
    finally:
        store.dispose()
