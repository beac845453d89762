"""The Discord document builder loads changed threads set-based: the statements it sends grow with
the number of batches of changed messages, not with the number of threads (issue 17, item 2)."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path
from typing import Any

import pytest
from benchmarks.generate_discord_export import write_channel_export
from sqlalchemy import event, func, select

from core.collectors import RunContext
from core.store import Store
from discord_activity_tracker import preprocess
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.preprocess import deleted_thread_roots, former_chain_roots, thread_documents
from discord_activity_tracker.tables import discord_messages
from tests.fakes import dce_exports
from tests.fakes.pinecone_server import FakePinecone

CHANNEL = {"id": "838565520998400000", "type": "GuildTextChat", "name": "busy", "topic": None}


def _statements(store: Store, build) -> tuple[int, object]:  # type: ignore[no-untyped-def]
    sent: list[str] = []

    def count(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        sent.append(statement)

    event.listen(store.engine, "before_cursor_execute", count)
    try:
        result = build()
    finally:
        event.remove(store.engine, "before_cursor_execute", count)
    return len(sent), result


def test_thread_documents_send_a_bounded_number_of_statements(store_url: str, tmp_path: Path) -> None:
    write_channel_export(tmp_path / "busy.json", channel=CHANNEL, message_count=2_000, seed=7)
    DiscordCollector({"export_dir": str(tmp_path)}, context=RunContext(store_url=store_url)).run()
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        messages = conn.execute(select(func.count()).select_from(discord_messages)).scalar_one()
        replies = conn.execute(
            select(func.count()).where(discord_messages.c.reply_to_message_id.is_not(None))
        ).scalar_one()

    statements, documents = _statements(store, lambda: list(thread_documents(store.engine, None, [])))

    assert isinstance(documents, list)
    # Every message is in exactly one document (a reply joins its parent's thread).
    assert len(documents) == messages - replies
    assert sum(d.metadata["message_count"] for d in documents) == messages
    # The changed ids, then per batch of 500: the walk up to the roots, the threads' rows (and on
    # PostgreSQL the transaction's SET LOCAL), whatever the reply depth and the number of threads
    # (the per-thread builder sent at least 2 x 1,700 here, the per-level one about 40).
    batches = math.ceil(messages / 500)
    assert statements == 1 + batches * (3 if store.engine.dialect.name == "postgresql" else 2)
    assert len(documents) > 1_000


def test_deleted_thread_roots_send_a_bounded_number_of_statements(store_url: str, tmp_path: Path) -> None:
    write_channel_export(tmp_path / "busy.json", channel=CHANNEL, message_count=1_200, seed=11)
    DiscordCollector({"export_dir": str(tmp_path)}, context=RunContext(store_url=store_url)).run()
    store = Store.from_url(store_url)
    with store.engine.begin() as conn:
        roots = list(
            conn.execute(
                select(discord_messages.c.message_id)
                .where(discord_messages.c.reply_to_message_id.is_(None))
                .order_by(discord_messages.c.message_id)
            ).scalars()
        )
        conn.execute(discord_messages.update().values(deleted_at=func.now()))
        # One thread keeps a message: it is not gone.
        conn.execute(
            discord_messages.update().where(discord_messages.c.message_id == roots[0]).values(deleted_at=None)
        )

    statements, gone = _statements(store, lambda: deleted_thread_roots(store.engine, None))

    assert isinstance(gone, list)
    assert sorted(gone) == sorted(roots[1:])
    # The deleted ids, then 2 statements per batch of 500 of them (and one SET LOCAL on PostgreSQL).
    batches = math.ceil(1_200 / 500)
    assert statements == 1 + batches * 2 + (store.engine.dialect.name == "postgresql")
    assert len(gone) > 500


def test_reply_chain_roots_of_a_changed_thread_are_removed_and_never_document_ids(
    store_url: str, tmp_path: Path
) -> None:
    """Earlier versions gave each reply chain inside a thread export its own document; a thread is
    now one document, and the vector step removes those chains' ids when the thread changes."""
    export = dce_exports.forum_post()
    starter = export["messages"][0]
    thread_id = export["channel"]["id"]
    chain_a = {**starter, "id": "1300000000000000011", "timestamp": "2024-10-01T10:05:00+00:00"}
    chain_b = {**starter, "id": "1300000000000000012", "timestamp": "2024-10-01T10:06:00+00:00"}
    reply = {
        **starter,
        "id": "1300000000000000013",
        "type": "Reply",
        "timestamp": "2024-10-01T10:07:00+00:00",
        "reference": {"messageId": chain_b["id"], "channelId": thread_id, "guildId": export["guild"]["id"]},
    }
    export["messages"] = [starter, chain_a, chain_b, reply]
    export["messageCount"] = 4
    (tmp_path / "thread.json").write_text(json.dumps(export), encoding="utf-8")
    collector = DiscordCollector({"export_dir": str(tmp_path)}, context=RunContext(store_url=store_url))
    collector.run()

    removed = set(collector.removed_document_ids(0))
    documents = list(collector.preprocess(0, []))

    assert {chain_a["id"], chain_b["id"]} <= removed
    # Exactly the chains' roots: not the thread's own id, not a reply (never a root of its own).
    assert sorted(former_chain_roots(collector.store.engine, 0)) == [chain_a["id"], chain_b["id"]]
    assert [d.doc_id for d in documents] == [thread_id] and thread_id not in removed
    assert documents[0].metadata["message_count"] == 4
    # Nothing changed since: nothing to look at.
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        newest = conn.execute(select(func.max(discord_messages.c.change_seq))).scalar_one()
    assert not set(collector.removed_document_ids(newest + 1)) & {chain_a["id"], chain_b["id"]}


def test_a_full_sync_to_pinecone_fills_the_upsert_requests(store_url: str, tmp_path: Path) -> None:
    write_channel_export(tmp_path / "busy.json", channel=CHANNEL, message_count=2_000, seed=5)
    with FakePinecone(ready_after=0) as fake:
        vectors = {"sink": "pinecone", "index": "community-activity", "namespace": "discord"}
        connection = {"password": fake.api_key, "host": fake.url, "extra": {"region": "us-east-1"}}
        context = RunContext(store_url=store_url, connections={"pinecone_default": connection})
        collector = DiscordCollector({"export_dir": str(tmp_path), "vectors": vectors}, context=context)
        collector.run()
        result = collector.sync_pinecone()
        requests = fake.requests_to("/upsert")
    assert result is not None and result.counts["records_upserted"] > 1_000
    assert sum(r.record_count for r in requests) == result.counts["records_upserted"]
    # Requests hold up to 96 records; batches of 200 documents left them 70% full on average.
    assert sum(r.record_count for r in requests) / len(requests) >= 0.9 * 96
    assert DiscordCollector({"vectors": {"batch_documents": 50}}).vector_settings.batch_documents == 50


_START = dt.datetime(2024, 10, 1, 10, 0, tzinfo=dt.UTC)


def _store_messages(store_url: str, tmp_path: Path, replies_to: list[str | None]) -> tuple[Store, list[str]]:
    """A text channel whose message ``i`` (a minute after ``i - 1``) replies to message number
    ``replies_to[i]`` (an index into the list, as text), or to nothing."""
    export = dce_exports.forum_post()
    export["channel"] = {**export["channel"], "id": "1300000000000000900", "type": "GuildTextChat"}
    template = export["messages"][0]
    ids = [str(1300000000000001000 + i) for i in range(len(replies_to))]
    messages: list[dict[str, Any]] = []
    for i, parent in enumerate(replies_to):
        message = {**template, "id": ids[i], "content": f"message {i}"}
        message["timestamp"] = (_START + dt.timedelta(minutes=i)).isoformat()
        if parent is not None:
            reference = {"messageId": ids[int(parent)], "channelId": export["channel"]["id"]}
            message.update(type="Reply", reference={**reference, "guildId": export["guild"]["id"]})
        messages.append(message)
    export["messages"], export["messageCount"] = messages, len(messages)
    (tmp_path / "channel.json").write_text(json.dumps(export), encoding="utf-8")
    DiscordCollector({"export_dir": str(tmp_path)}, context=RunContext(store_url=store_url)).run()
    return Store.from_url(store_url), ids


def test_a_reply_chain_deeper_than_the_depth_limit_is_cut_at_it(store_url: str, tmp_path: Path) -> None:
    depth = preprocess._MAX_DEPTH
    chain = [None, *(str(i) for i in range(depth + 19))]  # message i replies to message i - 1
    store, ids = _store_messages(store_url, tmp_path, chain)

    documents = {d.doc_id: d for d in thread_documents(store.engine, None, [])}

    # The first message's thread holds it and _MAX_DEPTH levels of replies, no more.
    assert documents[ids[0]].metadata["message_count"] == depth + 1
    assert "message 100" in documents[ids[0]].text and "message 101" not in documents[ids[0]].text
    # A deeper message walks up _MAX_DEPTH replies (all of them are in its batch) and roots there.
    assert sorted(documents) == sorted(ids[: len(ids) - depth])
    # Alone in its batch, the deepest message reads its ancestors up to _MAX_DEPTH - 1 replies
    # above it, and roots at the topmost of those.
    with store.engine.connect() as conn:
        newest = conn.execute(select(func.max(discord_messages.c.change_seq))).scalar_one()
    alone = list(thread_documents(store.engine, newest + 1, [ids[-1]]))
    assert [d.doc_id for d in alone] == [ids[-depth]]
    assert alone[0].metadata["message_count"] == depth


@pytest.mark.parametrize("deleted", [False, True])
def test_a_thread_stops_growing_at_the_first_level_that_reaches_the_message_cap(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, deleted: bool
) -> None:
    # 0 <- 1, 2, 3 (level 1) <- 4, 5, 6 (level 2, one reply each) <- 7 (level 3)
    store, ids = _store_messages(store_url, tmp_path, [None, "0", "0", "0", "1", "2", "3", "4"])
    if deleted:  # a deleted message still counts towards the cap
        with store.engine.begin() as conn:
            conn.execute(
                discord_messages.update()
                .where(discord_messages.c.message_id == ids[1])
                .values(deleted_at=_START)
            )
    monkeypatch.setattr(preprocess, "_MAX_THREAD_MESSAGES", 4)
    preprocess._statements.cache_clear()  # the cap is part of the SQL text
    try:
        documents = list(thread_documents(store.engine, None, []))
    finally:
        monkeypatch.undo()
        preprocess._statements.cache_clear()

    # Levels 0 and 1 hold 4 messages: level 2 (and 3) are left out.
    assert [d.doc_id for d in documents] == [ids[0]]
    assert documents[0].metadata["message_count"] == (3 if deleted else 4)
    assert "message 3" in documents[0].text and "message 4" not in documents[0].text


def test_a_thread_whose_messages_span_batches_is_built_once_with_all_of_them(
    store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Batches of 2 in time order: [0, 1], [2, 3], [4]; 3 replies to 0, 4 to 3.
    store, ids = _store_messages(store_url, tmp_path, [None, None, None, "0", "3"])
    monkeypatch.setattr(preprocess, "_BATCH", 2)

    documents = list(thread_documents(store.engine, None, []))

    # Each batch's roots in id order, a root already built in an earlier batch not again.
    assert [d.doc_id for d in documents] == [ids[0], ids[1], ids[2]]
    assert documents[0].metadata["message_count"] == 3
    assert [line.rsplit(": ", 1)[1] for line in documents[0].text.split("\n\n")] == [
        "message 0",
        "message 3",
        "message 4",
    ]
    # Asked for by id, the thread of a reply is its root's.
    assert [d.doc_id for d in thread_documents(store.engine, 10**12, [ids[4]])] == [ids[0]]


def test_a_document_names_the_files_attached_to_its_messages(store_url: str, tmp_path: Path) -> None:
    export = dce_exports.forum_post()
    channel = {**export["channel"], "id": "1300000000000000900", "type": "GuildTextChat"}
    template = export["messages"][0]
    files = [
        {"id": f"130000000000000099{n}", "url": f"https://cdn.example/{name}", "fileName": name, "fileSizeBytes": 1}
        for n, name in enumerate(("a.log", "b.png"))
    ]
    root = {**template, "id": "1300000000000001000", "content": "root", "attachments": files}
    reply = {
        **template,
        "id": "1300000000000001001",
        "content": "reply",
        "attachments": [],
        "type": "Reply",
        "timestamp": (_START + dt.timedelta(minutes=1)).isoformat(),
        "reference": {"messageId": root["id"], "channelId": channel["id"], "guildId": export["guild"]["id"]},
    }
    root["timestamp"] = _START.isoformat()
    export.update(channel=channel, messages=[root, reply], messageCount=2)
    (tmp_path / "channel.json").write_text(json.dumps(export), encoding="utf-8")
    DiscordCollector({"export_dir": str(tmp_path)}, context=RunContext(store_url=store_url)).run()

    [document] = list(thread_documents(Store.from_url(store_url).engine, None, []))

    assert "root\n[attachments: a.log, b.png]" in document.text
    assert document.text.count("[attachments:") == 1  # the reply has none
