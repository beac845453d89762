"""What the store and the vector sink must hold for a set of Discord exports, computed
independently of the collector (plain ``json``), for the overlap tests and the stress script."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import inspect, select

from core.store import Store
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


def sink_problems(store: Store, vectors: Mapping[str, Any] | None, *, source: str = "discord") -> list[str]:
    """The local sink holds exactly the chunks of the documents the store makes now."""
    settings = parse_vector_settings(dict(vectors or {}))
    namespace = settings.namespace or source
    chunker = Chunker(ChunkingConfig(settings.chunk_size, settings.chunk_overlap, settings.min_chunk_chars))
    expected: dict[str, str] = {}
    for document in thread_documents(store.engine, None, []):
        for number, chunk in enumerate(chunker.split(document.text).chunks):
            expected[record_id(source, document.doc_id, number)] = chunk
    if not inspect(store.engine).has_table("vector_local_records"):
        return [f"no local sink records; {len(expected)} expected"]
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(vector_local_records.c.record_id, vector_local_records.c.text).where(
                vector_local_records.c.namespace == namespace
            )
        ).all()
    held = dict(rows)
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
