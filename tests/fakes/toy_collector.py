"""A tiny real collector for adapter tests: stores N numbered notes, fails on demand."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import Column, DateTime, MetaData, String, Table, Text, select

from core.collectors import AbstractCollector
from core.errors import AuthenticationError, ConfigError, NetworkError, RateLimitError
from core.protocols import Checkpoint, RunResult
from core.store import Migration, create_tables, save_checkpoint, upsert_rows
from core.vectors.documents import Document

meta = MetaData()
toy_notes = Table(
    "toy_notes",
    meta,
    Column("note_id", String(50), primary_key=True),
    Column("body", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)


class ToyCollector(AbstractCollector):
    name = "toy"
    vector_source = "toy"
    migrations = (Migration(1, "toy notes", create_tables(toy_notes)),)

    def validate_config(self) -> None:
        if not isinstance(self.raw_config.get("notes"), int):
            raise ConfigError("toy: config.notes must be an integer")

    def list_partitions(self) -> list[str] | None:
        parts = self.raw_config.get("partitions")
        return list(parts) if parts else None

    def collect(self) -> RunResult:
        failure = self.raw_config.get("fail_with")
        secret = self.context.connection("toy_api").get("password") or "no-secret"
        if failure == "auth":
            raise AuthenticationError(f"401 Bad credentials for token {secret}")
        if failure == "network":
            raise NetworkError("502 from upstream")
        if failure == "rate_limit":
            raise RateLimitError(
                "quota exhausted", retry_at=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=30)
            )
        prefix = self.context.partition or "all"
        now = dt.datetime.now(dt.UTC)
        rows = [
            {
                "note_id": f"{prefix}-{n}",
                "body": f"note {n} of {prefix} about community activity",
                "updated_at": now,
            }
            for n in range(int(self.raw_config["notes"]))
        ]
        with self.store.transaction() as conn:
            upsert_rows(conn, toy_notes, rows, ["note_id"])
            save_checkpoint(conn, self.name, Checkpoint(str(len(rows)), now.isoformat()), prefix)
        return RunResult(success=True, counts={"notes": len(rows)})

    def preprocess(self, changed_since: dt.datetime | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        query = select(toy_notes)
        if changed_since is not None:
            query = query.where(toy_notes.c.updated_at > changed_since)
        with self.store.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                yield Document("toy", row["note_id"], row["body"] * 3, row["updated_at"])
