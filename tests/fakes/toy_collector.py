"""A tiny real collector for adapter tests: stores N numbered notes, fails on demand.

Config: ``notes`` (int), ``partitions``, ``fail_with: auth|network|rate_limit`` (raise at
once), ``source_url`` (GET it first, with the ``toy_api`` connection's password as bearer
token; 401 -> auth, 429 -> rate_limit at the announced reset, other errors -> network, the
server's error text included as a careless collector would), ``sleep_seconds`` (a slow
source), ``pid_file`` (write ``{"pid", "ppid"}`` of the collecting process there first, for
kill tests), ``fail_after_commit: true`` (commit the notes and the checkpoint, then raise a
``DataValidationError`` carrying ``committed_counts``), ``name`` (run as an independent
collector of that name: own checkpoints and collect lock). Every collect records the window it
was given in ``toy_windows``. ``news`` (a mapping): every successful collect reports it as
news (``RunResult.news``), for asset tests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
from collections.abc import Iterable, Mapping
from typing import Any

from sqlalchemy import Boolean, Column, DateTime, MetaData, String, Table, Text, select

from core.collectors import AbstractCollector, RunContext
from core.errors import AuthenticationError, ConfigError, DataValidationError, NetworkError, RateLimitError
from core.protocols import Checkpoint, RunResult
from core.store import Migration, create_tables, save_checkpoint, upsert_rows
from core.store.changes import change_column, track_changes
from core.vectors.documents import Document

meta = MetaData()
toy_notes = Table(
    "toy_notes",
    meta,
    Column("note_id", String(50), primary_key=True),
    Column("body", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    change_column(),
)

toy_windows = Table(
    "toy_windows",
    meta,
    Column("run_id", String(250), primary_key=True),
    Column("partition", String(200), primary_key=True),
    Column("since", DateTime(timezone=True), nullable=True),
    Column("until", DateTime(timezone=True), nullable=True),
    Column("is_backfill", Boolean, nullable=False),
    Column("collected_at", DateTime(timezone=True), nullable=False),
)


def _fetch_source(url: str, token: str | None) -> None:
    import requests

    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        response = requests.get(url, headers=headers, timeout=10)
    except requests.RequestException as exc:
        raise NetworkError(f"source unreachable: {type(exc).__name__}") from exc
    if response.status_code == 401:
        raise AuthenticationError(f"source answered 401: {response.text}")
    if response.status_code == 429:
        reset = response.headers.get("X-RateLimit-Reset")
        after = response.headers.get("Retry-After")
        if reset:
            retry_at = dt.datetime.fromtimestamp(int(reset), tz=dt.UTC)
        else:
            retry_at = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=int(after or 60))
        raise RateLimitError(f"source answered 429: {response.text}", retry_at=retry_at)
    if response.status_code >= 400:
        raise NetworkError(f"source answered {response.status_code}")


class ToyCollector(AbstractCollector):
    name = "toy"
    vector_source = "toy"
    migrations = (
        Migration(1, "toy notes", create_tables(toy_notes)),
        Migration(2, "toy collect windows", create_tables(toy_windows)),
        Migration(3, "toy notes change sequence", track_changes(toy_notes)),
    )

    def __init__(self, config: Mapping[str, Any] | None = None, *, context: RunContext | None = None) -> None:
        super().__init__(config, context=context)
        if self.raw_config.get("name"):  # an independent collector: own checkpoints and collect lock
            self.name = str(self.raw_config["name"])

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
        if self.raw_config.get("source_url"):
            _fetch_source(
                str(self.raw_config["source_url"]), self.context.connection("toy_api").get("password")
            )
        if self.raw_config.get("pid_file"):
            with open(str(self.raw_config["pid_file"]), "w") as out:
                json.dump({"pid": os.getpid(), "ppid": os.getppid()}, out)
        if self.raw_config.get("sleep_seconds"):
            time.sleep(float(self.raw_config["sleep_seconds"]))
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
            window = {
                "run_id": self.context.run_id or "",
                "partition": prefix,
                "since": self.context.since,
                "until": self.context.until,
                "is_backfill": self.context.is_backfill,
                "collected_at": now,
            }
            upsert_rows(conn, toy_windows, [window], ["run_id", "partition"])
        if self.raw_config.get("fail_after_commit"):
            failure = DataValidationError(f"page 2 of {prefix} breaks the schema at $.notes[0].body")
            failure.committed_counts = {"notes": len(rows)}  # type: ignore[attr-defined]
            raise failure
        news = self.raw_config.get("news")  # reported as the collect step's news (assets)
        return RunResult(
            success=True, counts={"notes": len(rows)}, news=news if isinstance(news, dict) else None
        )

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        query = select(toy_notes)
        if changed_since is not None:
            query = query.where(toy_notes.c.change_seq >= changed_since)
        with self.store.engine.connect() as conn:
            for row in conn.execute(query).mappings():
                yield Document("toy", row["note_id"], row["body"] * 3, row["updated_at"])
