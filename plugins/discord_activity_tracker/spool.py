"""The validation pass of one export, spooling the rows to write into a temporary file.

:func:`spool_export` reads the file once: every message is checked against ``api_schemas``
(:func:`~discord_activity_tracker.export_reader.validate_export`), and those inside the
run's window become rows, written to an anonymous temporary file a batch at a time. Memory
stays bounded at any file size, and the kernel reclaims the file however the process ends.
The write pass then reads the batches back: it never parses JSON again, and it writes
exactly what was validated. A file that fails validation leaves nothing behind.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import pickle
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self

import orjson

from core.errors import DataValidationError
from core.store.pg_copy import CopyRows
from discord_activity_tracker.api_schemas import ExportHeader, Message
from discord_activity_tracker.export_reader import ExportSummary, validate_export
from discord_activity_tracker.rows import MESSAGE_COLUMNS, author_row, message_copy_line, message_row

__all__ = ["SpoolCancelledError", "SpooledBatch", "SpooledExport", "Window", "spool_export"]


class SpoolCancelledError(Exception):
    """The caller gave up on the file (the run is failing); the partial spool is gone."""


@dataclasses.dataclass(frozen=True)
class Window:
    """Messages created in ``[since, until)``; no bound means no limit on that side."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def __contains__(self, moment: dt.datetime) -> bool:
        return (self.since is None or moment >= self.since) and (self.until is None or moment < self.until)


@dataclasses.dataclass(frozen=True)
class SpooledBatch:
    """``size`` consecutive messages of the file, ending ``end`` messages into it."""

    end: int
    size: int
    outside_window: int
    newest_id: int
    """Largest id among the messages kept (0 when none is)."""
    messages: CopyRows | list[dict[str, Any]]
    """Rows of the messages kept, unique on ``message_id`` (COPY text on PostgreSQL)."""
    authors: list[dict[str, Any]]
    """Authors of the messages kept and the users they mention, once each, with the newest
    details the batch holds (``seen_at``: the time of the message they came with)."""


class SpooledExport:
    """A validated export and its spooled batches (none when only validated); close to drop them."""

    def __init__(self, summary: ExportSummary, spool: BinaryIO | None = None, batches: int = 0) -> None:
        self.summary = summary
        self._spool = spool
        self._batches = batches

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def batches(self) -> Iterator[SpooledBatch]:
        """The batches in file order, one in memory at a time."""
        if self._spool is None:
            raise RuntimeError(f"{self.summary.path} was validated without spooling its rows")
        self._spool.seek(0)
        for _ in range(self._batches):
            yield pickle.load(self._spool)  # noqa: S301 - our own private, anonymous temporary file

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


class _Spooler:
    """Collects validated messages into batches and appends each full batch to the spool."""

    def __init__(
        self,
        path: Path,
        spool: BinaryIO,
        batch_size: int,
        window: Window,
        copy_format: bool,
        cancel: threading.Event | None,
    ) -> None:
        self._path = path
        self._spool = spool
        self._batch_size = batch_size
        self._window = window if window.since or window.until else None
        self._copy_format = copy_format
        self._cancel = cancel
        self._prefix = ""
        self._header: ExportHeader | None = None
        self.batches = 0
        self._end = 0
        self._start_batch()

    def _start_batch(self) -> None:
        self._size = 0
        self._outside = 0
        self._newest = 0
        self._rows: dict[str, Any] = {}
        self._users: dict[str, tuple[dt.datetime, Any]] = {}

    def start(self, header: ExportHeader) -> None:
        self._header = header
        self._prefix = f"{header.channel.id}\t{header.guild.id}"

    def add(self, raw: dict[str, Any], message: Message) -> None:
        self._size += 1
        if self._window is not None and message.timestamp not in self._window:
            self._outside += 1
        else:
            message_id = raw["id"]
            try:
                if self._copy_format:
                    self._rows[message_id] = message_copy_line(raw, message, self._prefix)
                else:
                    assert self._header is not None
                    self._rows[message_id] = message_row(raw, message, self._header)
            except orjson.JSONEncodeError as exc:  # e.g. an integer beyond 64 bits in an embed
                raise DataValidationError(
                    f"message cannot be stored as JSON: {exc}",
                    source=str(self._path),
                    location=f"messages[{self._end + self._size - 1}]",
                ) from None
            snowflake = int(message_id)
            if snowflake > self._newest:
                self._newest = snowflake
            # Each user's newest details win (latest message time; on a tie the later message,
            # and a message's author over its mentions), so batching never changes the outcome.
            users = self._users
            moment = message.timestamp
            mentions = raw.get("mentions")
            if mentions:
                for user in mentions:
                    _keep_newest(users, user, moment)
            _keep_newest(users, raw["author"], moment)
        if self._size == self._batch_size:
            self.flush()

    def flush(self) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise SpoolCancelledError
        if not self._size:
            return
        self._end += self._size
        rows = list(self._rows.values())
        messages: CopyRows | list[dict[str, Any]] = rows
        if self._copy_format:
            data = b"\n".join([line.encode() for line in rows]) + b"\n" if rows else b""
            messages = CopyRows(MESSAGE_COLUMNS, data, len(rows))
        batch = SpooledBatch(
            end=self._end,
            size=self._size,
            outside_window=self._outside,
            newest_id=self._newest,
            messages=messages,
            authors=[author_row(user, moment) for moment, user in self._users.values()],
        )
        pickle.dump(batch, self._spool, protocol=pickle.HIGHEST_PROTOCOL)
        self.batches += 1
        self._start_batch()


def _keep_newest(
    users: dict[str, tuple[dt.datetime, Any]], user: dict[str, Any], moment: dt.datetime
) -> None:
    seen = users.get(user["id"])
    if seen is None or moment >= seen[0]:
        users[user["id"]] = (moment, user)


def spool_export(
    path: Path,
    *,
    batch_size: int,
    window: Window = Window(),
    copy_format: bool = False,
    spool: bool = True,
    cancel: threading.Event | None = None,
) -> SpooledExport:
    """Validate ``path`` in full and, with ``spool``, keep its rows in batches of ``batch_size``
    messages: :class:`CopyRows` with ``copy_format`` (PostgreSQL), dicts otherwise.

    Raises :class:`~core.errors.DataValidationError` for a malformed file, and
    :class:`SpoolCancelledError` soon after ``cancel`` is set.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    if not spool:
        return SpooledExport(validate_export(path))
    file = tempfile.TemporaryFile(prefix="discord-spool-")  # noqa: SIM115 - SpooledExport closes it
    try:
        spooler = _Spooler(path, file, batch_size, window, copy_format, cancel)
        summary = validate_export(path, on_header=spooler.start, on_message=spooler.add)
        spooler.flush()
    except BaseException:
        file.close()
        raise
    return SpooledExport(summary, file, spooler.batches)
