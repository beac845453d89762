"""What the store and the vector sink must hold for a set of Discord exports, computed
independently of the collector (plain ``json``), for the overlap tests and the stress script."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select

from core.store import Store
from core.store.schema import collector_checkpoints
from core.vectors.chunking import Chunker, ChunkingConfig
from core.vectors.documents import record_id
from core.vectors.ledger import vector_local_records
from core.vectors.settings import parse_vector_settings
from discord_activity_tracker.preprocess import thread_documents
from discord_activity_tracker.tables import discord_messages

__all__ = ["assert_sink_exact", "assert_store_exact", "sink_problems", "source_messages", "store_problems"]


def source_messages(export_dir: Path) -> dict[str, str]:
    """Message id -> content of its newest edit, over every export under ``export_dir``."""
    newest: dict[str, tuple[str, str]] = {}
    for path in sorted(export_dir.rglob("*.json")):
        for message in json.loads(path.read_bytes())["messages"]:
            stamp = message.get("timestampEdited") or message["timestamp"]
            known = newest.get(message["id"])
            if known is None or stamp >= known[0]:
                newest[message["id"]] = (stamp, message.get("content") or "")
    return {message_id: content for message_id, (_stamp, content) in newest.items()}


def store_problems(store: Store, expected: Mapping[str, str]) -> list[str]:
    if not inspect(store.engine).has_table("discord_messages"):
        return [f"no discord_messages table; {len(expected)} messages expected"]
    with store.engine.connect() as conn:
        rows = conn.execute(select(discord_messages.c.message_id, discord_messages.c.content)).all()
    stored = {message_id: content for message_id, content in rows}
    problems = []
    if len(rows) != len(stored):
        problems.append(f"{len(rows) - len(stored)} duplicate ids")
    missing = expected.keys() - stored.keys()
    if missing:
        problems.append(f"{len(missing)} messages missing, e.g. {sorted(missing)[:3]}")
    extra = stored.keys() - expected.keys()
    if extra:
        problems.append(f"{len(extra)} messages not in any export, e.g. {sorted(extra)[:3]}")
    stale = [i for i in expected.keys() & stored.keys() if stored[i] != expected[i]]
    if stale:
        problems.append(f"{len(stale)} messages not at their newest edit, e.g. {stale[:3]}")
    return problems


def assert_store_exact(store: Store, export_dir: Path) -> None:
    problems = store_problems(store, source_messages(export_dir))
    assert not problems, "; ".join(problems)


def sink_records(
    store: Store, vectors: Mapping[str, Any] | None, *, source: str = "discord"
) -> tuple[dict[str, str], dict[str, str] | None]:
    """(record id -> text the sink must hold, record id -> text it holds; None: no sink table)."""
    settings = parse_vector_settings(dict(vectors or {}))
    namespace = settings.namespace or source
    chunker = Chunker(ChunkingConfig(settings.chunk_size, settings.chunk_overlap, settings.min_chunk_chars))
    expected: dict[str, str] = {}
    for document in thread_documents(store.engine, None, []):
        for number, chunk in enumerate(chunker.split(document.text).chunks):
            expected[record_id(source, document.doc_id, number)] = chunk
    if not inspect(store.engine).has_table("vector_local_records"):
        return expected, None
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(vector_local_records.c.record_id, vector_local_records.c.text).where(
                vector_local_records.c.namespace == namespace
            )
        ).all()
    return expected, {record: text for record, text in rows}


def sink_problems(store: Store, vectors: Mapping[str, Any] | None, *, source: str = "discord") -> list[str]:
    """The local sink holds exactly the chunks of the documents the store makes now."""
    return sink_diff(*sink_records(store, vectors, source=source))


def sink_diff(expected: Mapping[str, str], held: Mapping[str, str] | None) -> list[str]:
    if held is None:
        return [f"no local sink records; {len(expected)} expected"]
    problems = []
    missing = expected.keys() - held.keys()
    if missing:
        problems.append(f"{len(missing)} records missing from the sink, e.g. {sorted(missing)[:3]}")
    orphans = held.keys() - expected.keys()
    if orphans:
        problems.append(f"{len(orphans)} stale records in the sink, e.g. {sorted(orphans)[:3]}")
    outdated = [i for i in expected.keys() & held.keys() if held[i] != expected[i]]
    if outdated:
        problems.append(f"{len(outdated)} records with outdated text, e.g. {outdated[:3]}")
    return problems


def assert_sink_exact(store: Store, vectors: Mapping[str, Any] | None = None) -> None:
    problems = sink_problems(store, vectors)
    assert not problems, "; ".join(problems)


def checkpoint_problems(store: Store, export_dir: Path) -> list[str]:
    """After a clean unbounded run: each channel's forward checkpoint is the newest message id
    of that channel over every export, with no file position left in it (a checkpoint left
    behind, or moved backwards by a bounded run, makes later runs re-read or skip data)."""
    newest: dict[str, int] = {}
    for path in sorted(export_dir.rglob("*.json")):
        export = json.loads(path.read_bytes())
        channel = export["channel"]["id"]
        for message in export["messages"]:
            newest[channel] = max(newest.get(channel, 0), int(message["id"]))
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(
                collector_checkpoints.c.partition,
                collector_checkpoints.c.checkpoint_token,
                collector_checkpoints.c.extras,
            ).where(collector_checkpoints.c.collector == "discord")
        ).all()
    held = {partition: (token, extras) for partition, token, extras in rows}
    problems = []
    for channel, want in sorted(newest.items()):
        token, extras = held.get(channel, (None, None))
        if token != str(want):
            problems.append(f"checkpoint of channel {channel} is {token}, its newest message is {want}")
        if extras:
            problems.append(f"checkpoint of channel {channel} still holds a file position {extras}")
    return problems


def former_thread_roots(store: Store, record_ids: Iterable[str]) -> set[str]:
    """Those of ``record_ids`` (stale sink records) whose document's root message now has a
    stored parent: a thread document made while the parent was missing (a bounded run stored
    the reply alone), which no sync removes once the parent arrives (the orphan-thread bug,
    docs/operations.md)."""
    records = set(record_ids)
    roots = {record.split(":")[1] for record in records}
    with store.engine.connect() as conn:
        parents = dict(
            conn.execute(
                select(discord_messages.c.message_id, discord_messages.c.reply_to_message_id).where(
                    discord_messages.c.message_id.in_(sorted(roots))
                )
            ).all()
        )
        stored = set(
            conn.execute(
                select(discord_messages.c.message_id).where(
                    discord_messages.c.message_id.in_(sorted({p for p in parents.values() if p}))
                )
            ).scalars()
        )
    return {record for record in records if parents.get(record.split(":")[1]) in stored}
