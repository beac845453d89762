"""The Discord document builder loads changed threads set-based: the statements it sends grow with
the number of batches of changed messages, not with the number of threads (issue 17, item 2)."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks.generate_discord_export import write_channel_export
from sqlalchemy import event, func, select

from core.collectors import RunContext
from core.store import Store
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
    # 2,000 messages are 4 batches of 500; each costs a few statements per reply depth level, far
    # below one per thread (the per-thread builder sent at least 2 x 1,700 here).
    assert statements < 200 < len(documents)


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
    assert statements < 200 < len(gone)


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
