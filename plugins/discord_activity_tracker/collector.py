"""``DiscordCollector``: DiscordChatExporter JSON exports -> guilds, channels, authors, messages."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, func, select

from core.collectors import AbstractCollector
from core.errors import DataValidationError
from core.store import load_checkpoint, save_checkpoint, upsert_rows
from core.vectors.documents import Document
from discord_activity_tracker.api_schemas import ExportHeader
from discord_activity_tracker.config import DiscordConfig, parse_config
from discord_activity_tracker.export_reader import (
    ExportReader,
    ExportSummary,
    discover_exports,
    validate_export,
)
from discord_activity_tracker.preprocess import thread_documents
from discord_activity_tracker.protocol_impl import DiscordChannelState, DiscordCollectResult
from discord_activity_tracker.rows import author_row, channel_row, guild_row, message_row
from discord_activity_tracker.tables import (
    DISCORD_MIGRATIONS,
    discord_authors,
    discord_channels,
    discord_export_files,
    discord_guilds,
    discord_messages,
)

__all__ = ["DiscordCollector"]

log = logging.getLogger(__name__)

_COUNTS = (
    "files",
    "files_unchanged",
    "files_other_partition",
    "messages_read",
    "messages_new",
    "messages_updated_or_same",
    "messages_outside_window",
    "messages_resumed_past",
    "batches",
)


class DiscordCollector(AbstractCollector):
    """Ingests every export under ``export_dir``; partitions are channels.

    Each file is validated in full (streaming, bounded memory) before anything from it is
    written, so a malformed export writes nothing. Then messages are upserted in batches;
    each batch commits together with the channel's checkpoint (newest message id and the
    position in the file), so a crash re-reads at most one batch. Edits update rows in place
    (newest ``timestampEdited`` wins); files whose bytes did not change are skipped.
    """

    name = "discord"
    vector_source = "discord"
    migrations = DISCORD_MIGRATIONS

    settings: DiscordConfig

    def validate_config(self) -> None:
        self.settings = parse_config(self.raw_config)
        discover_exports(self.settings.export_path)

    def list_partitions(self) -> list[str]:
        channels: list[str] = []
        for path in discover_exports(self.settings.export_path):
            with ExportReader(path) as reader:
                channel_id = reader.open().channel.id
            if channel_id not in channels:
                channels.append(channel_id)
        return channels

    def collect(self) -> DiscordCollectResult:
        counts: dict[str, int] = dict.fromkeys(_COUNTS, 0)
        paths = discover_exports(self.settings.export_path)
        if not paths:
            log.warning(
                "No DiscordChatExporter exports (*.json) under %s: nothing to collect",
                self.settings.export_path,
            )
        summaries: list[ExportSummary] = []
        rejected: list[DataValidationError] = []
        for path in paths:
            try:
                summaries.append(validate_export(path))
            except DataValidationError as exc:
                log.error("Rejected %s (nothing from it is written): %s", path.name, exc)
                rejected.append(exc)
        # Oldest export first, so the newest copy of an edited message is the one that stays.
        summaries.sort(
            key=lambda s: (s.header.exported_at or dt.datetime.min.replace(tzinfo=dt.UTC), str(s.path))
        )
        done: list[str] = []
        for number, summary in enumerate(summaries, start=1):
            channel = summary.header.channel
            if self.context.partition and channel.id != self.context.partition:
                counts["files_other_partition"] += 1
                continue
            if self._unchanged(summary):
                counts["files_unchanged"] += 1
                log.info(
                    "[%d/%d] %s: unchanged since last ingest, skipped",
                    number,
                    len(summaries),
                    summary.path.name,
                )
                continue
            log.info(
                "[%d/%d] %s: #%s, %d messages",
                number,
                len(summaries),
                summary.path.name,
                channel.name,
                summary.message_count,
            )
            self._ingest_file(summary, counts)
            counts["files"] += 1
            done.append(summary.path.name)
        counts["files_rejected"] = len(rejected)
        if rejected:
            # The valid exports are stored; the step still fails so the bad file gets attention.
            first = rejected[0]
            failure = DataValidationError(
                f"{len(rejected)} export file(s) rejected, {counts['files']} ingested; first problem: {first}"
            )
            failure.source, failure.location = first.source, first.location
            raise failure
        return DiscordCollectResult(success=True, counts=counts, files=done)

    # ------------------------------------------------------------------ one file

    def _unchanged(self, summary: ExportSummary) -> bool:
        if not self.settings.skip_unchanged_files or self.context.full_refresh or self.context.bounded:
            return False
        with self.store.engine.connect() as conn:
            stored = conn.execute(
                select(discord_export_files.c.sha256).where(discord_export_files.c.path == str(summary.path))
            ).scalar_one_or_none()
        return stored == summary.sha256

    def _ingest_file(self, summary: ExportSummary, counts: dict[str, int]) -> None:
        header = summary.header
        channel_id = header.channel.id
        with self.store.engine.connect() as conn:
            previous = load_checkpoint(conn, self.name, channel_id)
        state = DiscordChannelState.from_dict(previous.asdict()) if previous else DiscordChannelState(None)
        resume_after = 0
        if state.extras.get("file") == str(summary.path) and state.extras.get("sha256") == summary.sha256:
            resume_after = int(state.extras.get("messages_done", 0))
            if resume_after:
                log.info("Resuming %s after %d committed messages", summary.path.name, resume_after)
        position = 0
        newest = state.last_message_id
        with ExportReader(summary.path) as reader:
            reader.open()
            first = True
            for batch in reader.iter_raw_batches(self.settings.batch_size):
                position += len(batch)
                counts["messages_read"] += len(batch)
                if position <= resume_after:
                    counts["messages_resumed_past"] += len(batch)
                    continue
                now = dt.datetime.now(dt.UTC)
                rows = [message_row(m, header, now) for m in batch]
                wanted = [row for row in rows if self._in_window(row["created_at"])]
                counts["messages_outside_window"] += len(rows) - len(wanted)
                newest = max([newest, *(int(row["message_id"]) for row in wanted)])
                authors = _authors(batch, {row["message_id"] for row in wanted}, now)
                last_batch = position >= summary.message_count
                with self.store.transaction() as conn:
                    if first:
                        self._upsert_guild_and_channel(conn, header)
                        first = False
                    self._upsert_batch(conn, wanted, authors, counts)
                    self._advance(conn, channel_id, newest, summary, position, finished=last_batch)
                    if last_batch:
                        self._remember_file(conn, summary)
                counts["batches"] += 1
            if first:  # an export without messages still records its channel and file
                with self.store.transaction() as conn:
                    self._upsert_guild_and_channel(conn, header)
                    self._advance(conn, channel_id, newest, summary, 0, finished=True)
                    self._remember_file(conn, summary)
            if reader.sha256 != summary.sha256:
                raise DataValidationError(
                    "export changed while it was being ingested; rerun to pick up the new content",
                    source=str(summary.path),
                )

    def _in_window(self, moment: dt.datetime) -> bool:
        since, until = self.context.since, self.context.until
        if since is None and until is None:
            return True
        return (since is None or moment >= since) and (until is None or moment < until)

    def _upsert_guild_and_channel(self, conn: Connection, header: ExportHeader) -> None:
        now = dt.datetime.now(dt.UTC)
        upsert_rows(conn, discord_guilds, [guild_row(header, now)], ["guild_id"])
        upsert_rows(conn, discord_channels, [channel_row(header, now)], ["channel_id"])

    def _upsert_batch(
        self,
        conn: Connection,
        rows: list[dict[str, Any]],
        authors: list[dict[str, Any]],
        counts: dict[str, int],
    ) -> None:
        if not rows:
            return
        upsert_rows(
            conn,
            discord_authors,
            authors,
            ["author_id"],
            only_if_changed=["name", "nickname", "avatar_url", "discriminator", "color"],
        )
        ids = list({row["message_id"] for row in rows})
        existing = set(
            conn.execute(
                select(discord_messages.c.message_id).where(discord_messages.c.message_id.in_(ids))
            ).scalars()
        )
        counts["messages_new"] += len(ids) - len(existing)
        counts["messages_updated_or_same"] += len(existing)
        upsert_rows(
            conn,
            discord_messages,
            rows,
            ["message_id"],
            only_if_changed=["content_hash"],
            update_where=_incoming_is_not_older,
        )

    def _advance(
        self,
        conn: Connection,
        channel_id: str,
        newest: int,
        summary: ExportSummary,
        position: int,
        *,
        finished: bool,
    ) -> None:
        extras = (
            {}
            if finished
            else {"file": str(summary.path), "sha256": summary.sha256, "messages_done": position}
        )
        if self.context.bounded:
            # A bounded (backfill) run never moves the forward checkpoint; it only records progress.
            with_progress = load_checkpoint(conn, self.name, channel_id)
            token = with_progress.checkpoint_token if with_progress else None
            marker = with_progress.human_readable_marker if with_progress else None
            save_checkpoint(conn, self.name, DiscordChannelState(token, marker, extras), channel_id)
            return
        marker = f"message {newest} in #{summary.header.channel.name}" if newest else None
        save_checkpoint(
            conn, self.name, DiscordChannelState(str(newest) if newest else None, marker, extras), channel_id
        )

    def _remember_file(self, conn: Connection, summary: ExportSummary) -> None:
        upsert_rows(
            conn,
            discord_export_files,
            [
                {
                    "path": str(summary.path),
                    "sha256": summary.sha256,
                    "size_bytes": summary.size_bytes,
                    "channel_id": summary.header.channel.id,
                    "exported_at": summary.header.exported_at,
                    "message_count": summary.message_count,
                    "max_message_id": summary.max_message_id,
                    "ingested_at": dt.datetime.now(dt.UTC),
                }
            ],
            ["path"],
        )

    # ------------------------------------------------------------------ vector step

    def preprocess(self, changed_since: dt.datetime | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return thread_documents(self.store.engine, changed_since, list(doc_ids))


def _authors(batch: list[dict[str, Any]], kept: set[str], now: dt.datetime) -> list[dict[str, Any]]:
    """Authors of the kept messages and every user they mention, once each."""
    users: dict[str, dict[str, Any]] = {}
    for message in batch:
        if message["id"] not in kept:
            continue
        users.setdefault(message["author"]["id"], message["author"])
        for user in message.get("mentions") or ():
            users.setdefault(user["id"], user)
    return [author_row(user, now) for user in users.values()]


def _incoming_is_not_older(table, excluded):  # type: ignore[no-untyped-def]
    """An older copy of a message (from an older export) never overwrites a newer edit."""
    stored = func.coalesce(table.c.edited_at, table.c.created_at)
    incoming = func.coalesce(excluded.edited_at, excluded.created_at)
    return incoming >= stored
