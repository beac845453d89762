"""``DiscordCollector``: DiscordChatExporter JSON exports (``source: files``) or the bot REST API
(``source: api``, :mod:`~discord_activity_tracker.api_collect`) -> guilds, channels, authors, messages."""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import functools
import hashlib
import logging
import threading
import time
from collections.abc import Callable, Generator, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from sqlalchemy import Connection, func, select

from core.collectors import AbstractCollector, RunContext
from core.errors import DataValidationError, classify_failure, sanitize_exception_message
from core.identity import Profile, ensure_identity, upsert_profiles
from core.store import load_checkpoint, save_checkpoint, upsert_rows
from core.store.pg_copy import copy_supported
from core.store.timestamps import as_utc
from core.vectors.documents import Document
from core.vectors.settings import VectorSettings, parse_vector_settings
from discord_activity_tracker.api_schemas import ExportHeader
from discord_activity_tracker.config import DiscordConfig, parse_config
from discord_activity_tracker.export_errors import rejected_files_error
from discord_activity_tracker.export_reader import ExportReader, ExportSummary, discover_exports
from discord_activity_tracker.preprocess import (
    deleted_thread_roots,
    former_chain_roots,
    merged_thread_roots,
    thread_documents,
)
from discord_activity_tracker.protocol_impl import DiscordChannelState, DiscordCollectResult
from discord_activity_tracker.rows import channel_row, guild_row
from discord_activity_tracker.spool import SpooledBatch, SpooledExport, Window, spool_export
from discord_activity_tracker.tables import (
    DISCORD_MIGRATIONS,
    discord_authors,
    discord_channels,
    discord_export_contents,
    discord_export_files,
    discord_guilds,
    discord_messages,
)

if TYPE_CHECKING:
    from discord_activity_tracker.api_collect import ApiSource

__all__ = ["DiscordCollector"]

log = logging.getLogger(__name__)

_COUNTS = (
    "files",
    "files_unchanged",
    "files_other_partition",
    "files_outside_window",
    "files_skipped",
    "bytes_validated",
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
    written, so a malformed export writes nothing; the same pass spools its rows to a
    temporary file (:mod:`~discord_activity_tracker.spool`), and a background thread
    validates the next file while this one is written. Messages are upserted in batches;
    each batch commits together with the channel's checkpoint (newest message id and the
    position in the file), so a crash re-reads at most one batch. Edits update rows in place
    (newest ``timestampEdited`` wins); files whose bytes did not change are skipped.
    """

    name = "discord"
    vector_source = "discord"
    migrations = DISCORD_MIGRATIONS

    settings: DiscordConfig

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        context: RunContext | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(config, context=context)
        self._clock = clock or time.time
        self._sleep = sleep or time.sleep
        self.api_source: ApiSource | None = None

    def validate_config(self) -> None:
        self.settings = parse_config(self.raw_config)
        if self.settings.source == "api":
            if self.api_source is None:
                # The bot API's client (requests, tenacity, the HTTP kit) is imported only when used.
                from discord_activity_tracker.api_collect import ApiSource

                self.api_source = ApiSource(self, clock=self._clock, sleep=self._sleep)
            return
        discover_exports(self.settings.export_path)

    def secrets(self) -> list[str]:
        return self.api_source.secrets() if self.api_source is not None else []

    def on_error(self, exc: BaseException) -> None:
        if self.api_source is not None:
            self.api_source.close()

    def migrate(self) -> list[int]:
        ensure_identity(self.store)  # person_profiles, written with every batch
        return super().migrate()

    def preflight(self) -> None:
        if self.api_source is not None:
            self.api_source.preflight()

    def list_partitions(self) -> list[str]:
        if self.api_source is not None:
            return self.api_source.list_partitions()
        channels: list[str] = []
        for path in discover_exports(self.settings.export_path):
            with ExportReader(path) as reader:
                channel_id = reader.open().channel.id
            if channel_id not in channels:
                channels.append(channel_id)
        return channels

    def collect(self) -> DiscordCollectResult:
        if self.api_source is not None:
            try:
                return self.api_source.collect()
            finally:
                self.api_source.close()
        counts: dict[str, int] = dict.fromkeys(_COUNTS, 0)
        skipped: list[tuple[Path, str]] = []
        paths = discover_exports(self.settings.export_path, skipped=skipped)
        counts["files_skipped"] = len(skipped)
        if not paths:
            log.warning(
                "No DiscordChatExporter exports (*.json) under %s: nothing to collect",
                self.settings.export_path,
            )
        rejected: list[tuple[Path, Exception]] = []
        plan = self._plan(paths, rejected)
        done: list[str] = []
        with contextlib.closing(self._validated(plan)) as outcomes:
            for number, (step, outcome) in enumerate(outcomes, start=1):
                path = step.path
                if isinstance(outcome, Exception):
                    _reject(path, outcome, rejected)
                    continue
                if step.action == "unchanged":
                    counts["files_unchanged"] += 1
                    log.info("[%d/%d] %s: unchanged since last ingest, skipped", number, len(plan), path.name)
                    continue
                if step.action == "other_partition_known":
                    counts["files_other_partition"] += 1
                    continue
                if step.action == "outside_window":
                    counts["files_outside_window"] += 1
                    log.info(
                        "[%d/%d] %s: no message in the run's window, skipped", number, len(plan), path.name
                    )
                    continue
                assert outcome is not None
                self._remember_content(outcome.summary)
                counts["bytes_validated"] += outcome.summary.size_bytes
                if step.action == "other_partition":
                    counts["files_other_partition"] += 1
                    continue
                assert outcome is not None
                with outcome:
                    summary = outcome.summary
                    log.info(
                        "[%d/%d] %s: #%s, %d messages",
                        number,
                        len(plan),
                        path.name,
                        summary.header.channel.name,
                        summary.message_count,
                    )
                    try:
                        self._write_file(outcome, counts)
                    except Exception as exc:  # noqa: BLE001 - one file's failure never stops the others
                        _reject(path, exc, rejected)
                        continue
                counts["files"] += 1
                done.append(path.name)
        counts["files_rejected"] = len(rejected)
        if rejected:
            # The other exports are stored; the step still fails (worst category, every file
            # named) so the bad files get attention.
            raise rejected_files_error(rejected, counts["files"])
        return DiscordCollectResult(success=True, counts=counts, files=done)

    # ------------------------------------------------------------------ the validation pass

    def _plan(self, paths: list[Path], rejected: list[tuple[Path, Exception]]) -> list[_Step]:
        """What to do with each export, oldest export first (so the newest copy of an edited
        message is the one that stays); a file whose header is broken is rejected here."""
        steps: list[tuple[tuple[dt.datetime, str], _Step]] = []
        for path in paths:
            try:
                with ExportReader(path) as reader:
                    header = reader.open()
                if self.context.partition and header.channel.id != self.context.partition:
                    # Another partition's file is validated (a malformed export fails every
                    # partition's run), unless these very bytes were validated before.
                    action = "other_partition_known" if self._known_content(path) else "other_partition"
                elif self._unchanged(path):
                    action = "unchanged"
                elif self._outside_window(path):
                    action = "outside_window"
                else:
                    action = "ingest"
            except Exception as exc:  # noqa: BLE001 - reported with the other rejected files
                _reject(path, exc, rejected)
                continue
            order = (header.exported_at or dt.datetime.min.replace(tzinfo=dt.UTC), str(path))
            steps.append((order, _Step(path, action)))
        return [step for _order, step in sorted(steps, key=lambda item: item[0])]

    def _validated(
        self, plan: list[_Step]
    ) -> Generator[tuple[_Step, SpooledExport | Exception | None], None, None]:
        """Each step with its validated (and spooled) export, in plan order.

        A background thread validates the next file while the caller writes the current one:
        the write is mostly PostgreSQL's work, in its own process, so the two overlap on two
        cores. Files of other partitions are validated too (a malformed export fails every
        partition's run, as before) unless their bytes were validated before; unchanged files
        and files outside a bounded run's window are not.
        """
        cancel = threading.Event()
        options = {
            "batch_size": self.settings.batch_size,
            "window": Window(self.context.since, self.context.until),
            "copy_format": copy_supported(self.store.engine),
            "cancel": cancel,
        }
        steps = iter(plan)
        pending: collections.deque[tuple[_Step, Future[SpooledExport] | None]] = collections.deque()
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="discord-validate")

        def submit_next() -> None:
            for step in steps:
                if step.action in ("unchanged", "outside_window", "other_partition_known"):
                    pending.append((step, None))
                    continue
                pending.append(
                    (step, pool.submit(spool_export, step.path, spool=step.action == "ingest", **options))
                )
                return

        try:
            submit_next()
            while pending:
                step, future = pending.popleft()
                if future is not None:
                    submit_next()
                yield _outcome(step, future)
        finally:
            cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for _step, future in pending:
                if future is not None and not future.cancelled() and future.exception() is None:
                    future.result().close()

    def _unchanged(self, path: Path) -> bool:
        """The file was fully ingested by an unbounded run and its bytes did not change since
        (bounded runs never record fingerprints, and never skip)."""
        if not self.settings.skip_unchanged_files or self.context.full_refresh or self.context.bounded:
            return False
        with self.store.engine.connect() as conn:
            stored = conn.execute(
                select(discord_export_files.c.sha256).where(discord_export_files.c.path == str(path))
            ).scalar_one_or_none()
        if stored is None:
            return False
        with path.open("rb") as file:
            return hashlib.file_digest(file, "sha256").hexdigest() == stored

    def _outside_window(self, path: Path) -> bool:
        """A bounded run's file whose bytes were validated before (by any run) and hold no
        message created in the run's window: reading it would write nothing. Files not known
        yet, or known to meet the window, are read (so a backfill still repairs its rows)."""
        since, until = self.context.since, self.context.until
        if not self.settings.skip_unchanged_files or self.context.full_refresh or not self.context.bounded:
            return False
        if since is None and until is None:
            return False
        known = self._known_content(path)
        if known is None:
            return False
        count, first, last = known
        if not count or first is None or last is None:
            return True
        starts_before_until = until is None or as_utc(first) < until
        ends_after_since = since is None or as_utc(last) >= since
        return not (starts_before_until and ends_after_since)

    def _known_content(self, path: Path) -> tuple[int, dt.datetime | None, dt.datetime | None] | None:
        """(message count, first and last message time) of these bytes if a run validated them
        before; ``None`` when not, or when the run must read everything anyway."""
        if not self.settings.skip_unchanged_files or self.context.full_refresh:
            return None
        with path.open("rb") as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
        with self.store.engine.connect() as conn:
            known = conn.execute(
                select(
                    discord_export_contents.c.message_count,
                    discord_export_contents.c.first_message_at,
                    discord_export_contents.c.last_message_at,
                ).where(discord_export_contents.c.sha256 == digest)
            ).one_or_none()
        return None if known is None else (known[0], known[1], known[2])

    def _remember_content(self, summary: ExportSummary) -> None:
        """Record what the validated bytes hold (the same for every run that reads them)."""
        with self.store.transaction() as conn:
            upsert_rows(
                conn,
                discord_export_contents,
                [
                    {
                        "sha256": summary.sha256,
                        "channel_id": summary.header.channel.id,
                        "message_count": summary.message_count,
                        "first_message_at": _utc(summary.first_timestamp),
                        "last_message_at": _utc(summary.last_timestamp),
                    }
                ],
                ["sha256"],
            )

    # ------------------------------------------------------------------ the write pass

    def _write_file(self, spooled: SpooledExport, counts: dict[str, int]) -> None:
        """Write one validated export in batches. An unbounded run commits each batch with the
        channel's checkpoint (compare-and-set on the token it started from) and, at the end,
        the file's fingerprint. A bounded run (backfill) writes rows only: it never moves the
        checkpoint, the file position or the fingerprint that unbounded runs rely on, and it
        ignores a position left by an interrupted unbounded run (it re-reads its window)."""
        summary = spooled.summary
        header = summary.header
        channel_id = header.channel.id
        forward = not self.context.bounded
        state = DiscordChannelState(None)
        if forward:
            with self.store.engine.connect() as conn:
                previous = load_checkpoint(conn, self.name, channel_id)
            if previous is not None:
                state = DiscordChannelState.from_dict(previous.asdict())
        expected = state.checkpoint_token
        resume_after = 0
        if (
            forward
            and state.extras.get("file") == str(summary.path)
            and state.extras.get("sha256") == summary.sha256
        ):
            resume_after = int(state.extras.get("messages_done", 0))
            if resume_after:
                log.info("Resuming %s after %d committed messages", summary.path.name, resume_after)
        newest = state.last_message_id
        first = True
        all_new = True
        for batch in spooled.batches():
            counts["messages_read"] += batch.size
            if batch.end <= resume_after:
                counts["messages_resumed_past"] += batch.size
                continue
            counts["messages_outside_window"] += batch.outside_window
            newest = max(newest, batch.newest_id)
            last_batch = batch.end >= summary.message_count
            with self.store.transaction() as conn:
                if first:
                    self._upsert_guild_and_channel(conn, header)
                    first = False
                all_new = self._upsert_batch(conn, batch, counts, expect_new=all_new)
                if forward:
                    expected = self._advance(conn, expected, newest, summary, batch.end, finished=last_batch)
                    if last_batch:
                        self._remember_file(conn, summary)
            counts["batches"] += 1
        if first:  # an export without messages still records its channel (and, unbounded, its file)
            with self.store.transaction() as conn:
                self._upsert_guild_and_channel(conn, header)
                if forward:
                    self._advance(conn, expected, newest, summary, 0, finished=True)
                    self._remember_file(conn, summary)

    def _upsert_guild_and_channel(self, conn: Connection, header: ExportHeader) -> None:
        now = dt.datetime.now(dt.UTC)
        upsert_rows(conn, discord_guilds, [guild_row(header, now)], ["guild_id"])
        upsert_rows(conn, discord_channels, [channel_row(header, now)], ["channel_id"])

    def _upsert_batch(
        self, conn: Connection, batch: SpooledBatch, counts: dict[str, int], *, expect_new: bool
    ) -> bool:
        """Store the batch's authors and messages; True when every message was new."""
        if not batch.messages:
            return expect_new
        stamp = {"updated_at": dt.datetime.now(dt.UTC)}
        upsert_rows(
            conn,
            discord_authors,
            batch.authors,
            ["author_id"],
            only_if_changed=["name", "nickname", "avatar_url", "discriminator", "color", "is_bot", "seen_at"],
            update_where=_newer_author,
            constants=stamp,
        )
        upsert_profiles(conn, "discord", [_profile(author) for author in batch.authors])
        new = upsert_rows(
            conn,
            discord_messages,
            batch.messages,
            ["message_id"],
            only_if_changed=["content_hash"],
            update_where=_incoming_is_not_older,
            constants=stamp,
            count_inserted=True,
            expect_new=expect_new,
        )
        counts["messages_new"] += new
        counts["messages_updated_or_same"] += len(batch.messages) - new
        return new == len(batch.messages)

    def _advance(
        self,
        conn: Connection,
        expected: str | None,
        newest: int,
        summary: ExportSummary,
        position: int,
        *,
        finished: bool,
    ) -> str | None:
        """Save the channel's checkpoint (the newest message id and, until the file is done, the
        position in it) if it still holds ``expected``, the token this run read or last wrote;
        return the token written. ``newest`` never goes below the token the run started from."""
        extras = (
            {}
            if finished
            else {"file": str(summary.path), "sha256": summary.sha256, "messages_done": position}
        )
        token = str(newest) if newest else None
        marker = f"message {newest} in #{summary.header.channel.name}" if newest else None
        save_checkpoint(
            conn,
            self.name,
            DiscordChannelState(token, marker, extras),
            summary.header.channel.id,
            expected=expected,
        )
        return token

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

    @functools.cached_property
    def vector_settings(self) -> VectorSettings:
        """Thread documents are small: 1,000 a batch by default (not 200), so the sink's
        96-record upsert requests come out full (about 0.94 instead of 0.69) with fewer ledger
        round trips; an entry's ``vectors.batch_documents`` still wins."""
        return parse_vector_settings({"batch_documents": 1000, **(self.raw_config.get("vectors") or {})})

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return thread_documents(self.store.engine, changed_since, list(doc_ids))

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return [
            *merged_thread_roots(self.store.engine, changed_since),
            *former_chain_roots(self.store.engine, changed_since),
            *deleted_thread_roots(self.store.engine, changed_since),
        ]


def _utc(moment: dt.datetime | None) -> dt.datetime | None:
    """UTC, so a store without time zones (SQLite) compares it right."""
    return None if moment is None else moment.astimezone(dt.UTC)


def _incoming_is_not_older(table, excluded):  # type: ignore[no-untyped-def]
    """An older copy of a message (from an older export) never overwrites a newer edit."""
    stored = func.coalesce(table.c.edited_at, table.c.created_at)
    incoming = func.coalesce(excluded.edited_at, excluded.created_at)
    return incoming >= stored


def _newer_author(table, excluded):  # type: ignore[no-untyped-def]
    """A user's details seen on an older message never overwrite newer ones (whatever the batching)."""
    return table.c.seen_at.is_(None) | (excluded.seen_at >= table.c.seen_at)


def _profile(author: dict[str, Any]) -> Profile:
    """A ``discord_authors`` row as a person profile (seen at the time of its newest message in
    the batch; the guild nickname, when set, is the display name)."""
    return Profile(
        external_id=author["author_id"],
        seen_at=author["seen_at"] or dt.datetime.now(dt.UTC),
        username=author["name"],
        display_name=author["nickname"] or author["name"],
        profile_url=f"https://discord.com/users/{author['author_id']}",
        is_bot=author["is_bot"],
        attrs={key: author[key] for key in ("discriminator", "nickname", "color", "avatar_url", "roles")},
    )


def _reject(path: Path, error: Exception, rejected: list[tuple[Path, Exception]]) -> None:
    if isinstance(error, DataValidationError):
        log.error("Rejected %s (nothing from it is written): %s", path.name, error)
    else:
        log.error(
            "Failed on %s [%s] (batches committed before stay): %s",
            path.name,
            classify_failure(error).value,
            sanitize_exception_message(error),
            exc_info=error,
        )
    rejected.append((path, error))


@dataclasses.dataclass(frozen=True)
class _Step:
    path: Path
    action: Literal["ingest", "unchanged", "other_partition", "other_partition_known", "outside_window"]


def _outcome(
    step: _Step, future: Future[SpooledExport] | None
) -> tuple[_Step, SpooledExport | Exception | None]:
    if future is None:
        return step, None
    try:
        return step, future.result()
    except Exception as exc:  # noqa: BLE001 - whatever broke in this file is its failure
        return step, exc
