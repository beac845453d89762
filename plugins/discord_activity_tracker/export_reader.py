"""Streaming reader of DiscordChatExporter JSON exports, in bounded memory at any file size.

:func:`validate_export` checks the whole file (JSON syntax and schema) without writing
anything, handing each validated message to a callback (the collector spools rows there);
:class:`ExportReader` streams the messages themselves. Either raises
:class:`~core.errors.DataValidationError` naming the file and the JSON path of the problem.

    summary = validate_export(path)
    with ExportReader(path) as export:
        for batch in export.iter_batches(1000):
            ...
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import os
import re
import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, BinaryIO, Self, TypeVar, cast

import ijson
import orjson
from pydantic import ValidationError

from core.errors import ConfigError, DataValidationError
from discord_activity_tracker.api_schemas import ExportHeader, Message
from discord_activity_tracker.export_errors import (
    malformed_json_error,
    schema_error,
    too_deep_error,
    unreadable_error,
)

__all__ = ["MAX_DEPTH", "ExportReader", "ExportSummary", "discover_exports", "validate_export"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_BUFFER_SIZE = 64 * 1024
_END = object()
_HEADER_KEYS = frozenset({"guild", "channel", "dateRange", "exportedAt"})
# DCE's --media option downloads assets into "<export file>_Files/"; they are not exports.
_MEDIA_DIR_SUFFIX = ".json_Files"


MAX_DEPTH = 64
"""Deepest nesting of JSON arrays and objects an export may have (the root object is level 1,
``messages`` level 2, a message level 3). DCE's exports need fewer than 10 levels; ijson's cost
grows with the square of the depth, so deeper files are rejected before the parser sees them."""

_STRUCTURE = bytes(b for b in range(256) if b not in b'[]{}"')  # bytes.translate: delete the rest
_STRINGS = re.compile(rb'"[^"]*"')


class _DepthGuard:
    """Tracks how deep the JSON read so far is nested, a chunk at a time, at C speed.

    Strings are skipped (escaped backslashes and quotes removed, then every quoted run), so
    brackets inside text do not count. Within a chunk, adjacent bracket pairs are removed
    replace by replace (each removes at most one level); the depth the chunk reaches is at
    most the remaining brackets' deepest point plus the number of replaces that removed any. Only when that bound passes the limit is the chunk walked
    byte by byte, to find the exact offset (or to learn that the bound was loose).
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.depth = 0
        self._in_string = False
        self._held = b""  # a trailing backslash whose escaped byte is in the next chunk

    def feed(self, chunk: bytes) -> int | None:
        """Account for ``chunk``; return the offset in it where the limit is passed, if it is."""
        held, data = self._held, self._held + chunk if self._held else chunk
        self._held = b""
        if data.endswith(b"\\"):
            run = len(data) - len(data.rstrip(b"\\"))
            if run % 2:
                self._held, data = data[-1:], data[:-1]
        start_depth, start_in_string = self.depth, self._in_string
        cleaned = data.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in data else data
        marks = cleaned.translate(None, _STRUCTURE).replace(b'""', b"")
        if start_in_string:
            marks = b'"' + marks
        marks = _STRINGS.sub(b"", marks)
        quote = marks.find(b'"')
        self._in_string = quote >= 0
        if quote >= 0:
            marks = marks[:quote]
        rounds = 0  # each replace removes at most one level of nesting
        while marks and rounds <= self.limit:
            reduced = marks.replace(b"{}", b"").replace(b"[]", b"")
            if len(reduced) == len(marks):
                break
            marks, rounds = reduced, rounds + 2
        depth = peak = start_depth
        for mark in marks:
            depth += 1 if mark in b"[{" else -1
            peak = max(peak, depth)
        self.depth = depth
        if peak + rounds <= self.limit:
            return None
        offset = _first_too_deep(data, start_depth, start_in_string, self.limit)
        return None if offset is None else max(offset - len(held), 0)


def _first_too_deep(data: bytes, depth: int, in_string: bool, limit: int) -> int | None:
    """Offset of the bracket in ``data`` that opens level ``limit + 1``, walking byte by byte."""
    escaped = False
    for offset, byte in enumerate(data):
        if in_string:
            if escaped:
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # quote
                in_string = False
        elif byte == 0x22:
            in_string = True
        elif byte in (0x5B, 0x7B):  # [ {
            depth += 1
            if depth > limit:
                return offset
        elif byte in (0x5D, 0x7D):  # ] }
            depth -= 1
    return None


class _HashingReader:
    """File wrapper that hashes what the parser reads, remembers where each read began, and
    stops the parser (raising :class:`DataValidationError`) before it sees JSON nested deeper
    than ``max_depth``."""

    def __init__(self, raw: BinaryIO, path: Path, max_depth: int = MAX_DEPTH) -> None:
        self._raw = raw
        self._path = path
        self._digest = hashlib.sha256()
        self._guard = _DepthGuard(max_depth)
        self.position = 0
        self.last_read_start = 0

    def read(self, size: int = -1) -> bytes:
        chunk = self._raw.read(size)
        too_deep = self._guard.feed(chunk)
        if too_deep is not None:
            raise too_deep_error(self._path, self.position + too_deep, self._guard.limit)
        self._digest.update(chunk)
        self.last_read_start = self.position
        self.position += len(chunk)
        return chunk

    def hexdigest(self) -> str:
        return self._digest.hexdigest()


class _NotSplittableError(Exception):
    """The file cannot be split into messages by DCE's layout: ijson reads it."""


_MAX_PIECE = 32 * 1024 * 1024
"""Largest message (or header) the split path holds; past it ijson streams the file."""
_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_LONG_RUN = b"0" * 19
_BEFORE_NUMBER = frozenset(b":,[")
_WHITESPACE = b" \t\r\n"


def _big_integer(data: bytes, start: int) -> bool:
    """Whether ``data[start:]`` may hold a JSON number of 19 digits or more (ijson rejects integers
    beyond 64 bits, orjson reads them as floats). Runs of digits inside strings (snowflakes,
    in quotes or URLs) do not count; one after ``:``, ``,`` or ``[`` does (in a string too:
    the slow path is exact)."""
    digits = data.translate(_DIGITS)
    found = digits.find(_LONG_RUN, start)
    while found >= 0:
        before = data[max(found - 64, 0) : found]
        if before.endswith(b"-"):
            before = before[:-1]
        before = before.rstrip(_WHITESPACE)
        if not before or before[-1] in _BEFORE_NUMBER:  # (only blanks seen: assume the worst)
            return True
        found = digits.find(_LONG_RUN, found + 19)
    return False


_MESSAGES_KEY = re.compile(rb'"messages"\s*:\s*\[(\s*)')
_ESCAPED_LETTER = re.compile(rb"\\u00[67]")
"""A \\u escape of a lower-case letter: a key could spell "messages" that way."""


def _messages_array(head: bytes) -> tuple[int, bytes] | None:
    """Where the first message of the root object's ``messages`` array starts in ``head`` and
    the text DCE writes between two messages (``},`` newline, indentation, ``{``); ``None``
    while ``head`` does not reach that far. Raises :class:`_NotSplittableError` for a
    ``messages`` array in another layout (for an empty one, ``start`` is its ``]``)."""
    position = head.find(b'"messages"')
    while position >= 0:
        guard = _DepthGuard(MAX_DEPTH)
        if guard.feed(head[:position]) is not None:
            raise _NotSplittableError
        if guard.depth == 1 and not guard._in_string and not guard._held:
            if _ESCAPED_LETTER.search(head, 0, position):
                raise _NotSplittableError  # "mess\u0061ges" may have come first
            key = _MESSAGES_KEY.match(head, position)
            if key is None or key.end() >= len(head):
                if len(head) - position > 4096:
                    raise _NotSplittableError
                return None  # the array's start is in the next chunk (or the file is odd)
            space, first = key.group(1), head[key.end() : key.end() + 1]
            if first == b"]":  # no message: nothing to cut (a raw NUL is never valid JSON)
                return key.end(), b"}\x00{"
            if b"\n" not in space or first != b"{":
                raise _NotSplittableError
            return key.end(), b"}," + space + b"{"
        position = head.find(b'"messages"', position + 1)
    return None


class ExportReader:
    """One pass over one export file: the header first, then the messages, once.

    Entering the context opens the file and parses the header (``guild``, ``channel``,
    ``dateRange``, ``exportedAt``), which DCE writes before ``messages``, from the start of
    the file. Messages are then read from the top again: split at the lines between them in
    DCE's indented layout and parsed by orjson, or, for any other layout or any doubt, by
    ijson's C item builder (the same items and the same errors either way; ``split=False``
    always takes ijson).
    """

    def __init__(self, path: str | Path, *, buffer_size: int = _BUFFER_SIZE, split: bool = True) -> None:
        self.path = Path(path)
        self._buffer_size = buffer_size
        self._split = split
        self.parsed_by: str | None = None
        """``"orjson"`` when the messages were split at DCE's layout and parsed by orjson,
        ``"ijson"`` when ijson read them (another layout, a problem, or ``split=False``)."""
        self._raw: BinaryIO | None = None
        self._reader: _HashingReader | None = None
        self._header: ExportHeader | None = None
        self._messages_started = False
        self._finished = False
        self.messages_read = 0

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def source(self) -> str:
        return str(self.path)

    @property
    def header(self) -> ExportHeader:
        if self._header is None:
            raise RuntimeError("ExportReader.open() must be called (or the reader entered) first")
        return self._header

    @property
    def bytes_read(self) -> int:
        return self._reader.position if self._reader is not None else 0

    @property
    def sha256(self) -> str:
        """SHA-256 of the file's bytes; complete once the messages were read to the end."""
        if not self._finished or self._reader is None:
            raise RuntimeError("the file's hash is known only after all messages were read")
        return self._reader.hexdigest()

    def open(self) -> ExportHeader:
        if self._header is not None:
            return self._header
        self._raw = _open_regular(self.path)
        self._reader = _HashingReader(self._raw, self.path)
        try:
            self._header = self._guarded(self._read_header)
        except BaseException:
            self.close()
            raise
        return self._header

    def close(self) -> None:
        if self._raw is not None:
            self._raw.close()
            self._raw = None

    def iter_messages(self) -> Iterator[Message]:
        """Validated messages in file order. Single use: the file is read once."""
        for _raw, message in self.iter_checked():
            yield message

    def iter_checked(self) -> Iterator[tuple[dict[str, Any], Message]]:
        """Each message as parsed (the export's own object) with its validated model, in file order.

        Single use: the file is read once.
        """
        self.open()
        if self._messages_started:
            raise RuntimeError(f"messages of {self.source} were already read; open a new ExportReader")
        if self._raw is None:
            raise RuntimeError(f"the reader of {self.source} is closed")
        self._messages_started = True
        validate = Message.__pydantic_validator__.validate_python
        for raw in self._raw_messages():
            try:
                message = validate(raw)
            except ValidationError as exc:
                raise schema_error(
                    exc, source=self.source, prefix=("messages", self.messages_read), what="message"
                ) from None
            self.messages_read += 1
            yield cast(dict[str, Any], raw), message  # validated: an object
        self._finished = True

    def _raw_messages(self) -> Iterator[Any]:
        """The items of the ``messages`` array as parsed, in file order, the whole file read.

        DCE's indented layout is split at the lines between messages and each message parsed by
        orjson (:meth:`_split_messages`, several times faster than ijson's item builder). At the
        first thing that path cannot vouch for (another layout, a syntax error, a number orjson
        reads differently, JSON nested too deep...), ijson reads the file from the top and
        carries on after the items already handed out: the same items, and the same errors, as
        ijson alone.
        """
        assert self._raw is not None
        handed_out = 0
        if self._split:
            try:
                for raw in self._split_messages():
                    yield raw
                    handed_out += 1
                self.parsed_by = "orjson"
                return
            except _NotSplittableError:
                log.debug("%s: read by ijson after %d messages", self.path.name, handed_out)
        self.parsed_by = "ijson"
        self._raw.seek(0)
        self._reader = _HashingReader(self._raw, self.path)
        items = ijson.items(self._reader, "messages.item", buf_size=self._buffer_size, use_float=True)
        while True:
            try:
                raw = next(items, _END)
            except ijson.JSONError as exc:
                raise self._malformed(exc) from None
            except OSError as exc:
                raise unreadable_error(exc, self.path) from exc
            if raw is _END:
                return
            if handed_out:
                handed_out -= 1
                continue
            yield raw

    def _split_messages(self) -> Iterator[Any]:
        """The messages of an export in DCE's indented layout, split at the text between them.

        Between two messages DCE writes ``},`` + newline and indentation + ``{``: a newline
        lies outside any string in JSON, so each piece cut there that orjson parses alone as
        one JSON value is one item of the array (JSON's grammar parses ``[p1, p2, ...]`` one
        way only; a cut inside a message would leave a piece with an unclosed bracket). The
        last piece is parsed with the rest of the file as the root object's end. Raises
        :class:`_NotSplittableError` (possibly after some items) when the file is not in that
        layout, or a piece is not valid JSON, or holds an integer of 19 digits or more (ijson
        rejects those above 64 bits, orjson reads them as floats), or the file is nested too
        deep, or cannot be read, or one message is larger than ``_MAX_PIECE``: the caller
        lets ijson read the file and report what is wrong, if anything.
        """
        assert self._raw is not None
        self._raw.seek(0)
        reader = self._reader = _HashingReader(self._raw, self.path)
        loads, size = orjson.loads, self._buffer_size
        try:
            buffer = b""
            while (found := _messages_array(buffer)) is None:
                chunk = reader.read(size)
                if not chunk or len(buffer) > _MAX_PIECE:
                    raise _NotSplittableError
                buffer += chunk
            if _big_integer(buffer, 0):
                raise _NotSplittableError
            start, separator = found
            search, done = start, False
            while True:
                end = buffer.find(separator, search)
                if end >= 0:
                    yield loads(memoryview(buffer)[start : end + 1])
                    start = search = end + len(separator) - 1
                    continue
                if done:
                    break
                chunk = reader.read(size)
                if not chunk:
                    done = True
                    continue
                kept = len(buffer) - start
                if kept > _MAX_PIECE:
                    raise _NotSplittableError
                buffer = buffer[start:] + chunk
                if _big_integer(buffer, max(kept - 64, 0)):
                    raise _NotSplittableError
                search, start = max(kept - len(separator) + 1, 0), 0
            rest = buffer[start:]
            if b"\\u0000" in rest:
                raise _NotSplittableError
            ending = loads(b'{"\\u0000":[' + rest)
            if not isinstance(ending, dict) or "messages" in ending:  # a second 'messages' key
                raise _NotSplittableError
            last: list[Any] = ending["\x00"]
        except (orjson.JSONDecodeError, DataValidationError, OSError):
            raise _NotSplittableError from None
        yield from last

    def iter_batches(self, batch_size: int) -> Iterator[list[Message]]:
        """Lists of up to ``batch_size`` validated messages; only one batch is held at a time."""
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        batch: list[Message] = []
        for message in self.iter_messages():
            batch.append(message)
            if len(batch) >= batch_size:
                yield batch
                batch = []
        if batch:
            yield batch

    def _guarded(self, step: Callable[[], _T]) -> _T:
        """Run a parsing step, translating low-level failures into DataValidationError."""
        try:
            return step()
        except ijson.JSONError as exc:
            raise self._malformed(exc) from None
        except OSError as exc:
            raise unreadable_error(exc, self.path) from exc

    def _malformed(self, exc: ijson.JSONError) -> DataValidationError:
        near = self._reader.last_read_start if self._reader is not None else 0
        return malformed_json_error(self.path, exc, near_offset=near)

    def _read_header(self) -> ExportHeader:
        assert self._reader is not None
        events = ijson.parse(self._reader, buf_size=self._buffer_size, use_float=True)
        _prefix, event, _value = next(events, ("", "end of file", None))
        if event != "start_map":
            raise DataValidationError(
                f"not a DiscordChatExporter export: the top-level JSON value is {_event_type(event)}, "
                "expected an object",
                source=self.source,
                location="$",
            )
        raw: dict[str, Any] = {}
        for prefix, event, value in events:
            if prefix != "" or event != "map_key":
                # Only the end of the root object reaches here: no "messages" key at all.
                raise DataValidationError(
                    "not a DiscordChatExporter export: no 'messages' array",
                    source=self.source,
                    location="messages",
                )
            key = value
            if key == "messages":
                _prefix, event, _value = next(events, ("", "end of file", None))
                if event != "start_array":
                    raise DataValidationError(
                        f"'messages' must be an array, got {_event_type(event)}",
                        source=self.source,
                        location="messages",
                    )
                break
            value = _build_value(events)
            if key in _HEADER_KEYS:
                raw[key] = value
        try:
            return ExportHeader.model_validate(raw)
        except ValidationError as exc:
            raise schema_error(
                exc,
                source=self.source,
                what="export header",
                missing_hint="DCE writes guild and channel before 'messages'",
            ) from None


_SCALAR_TYPES = {"string": "a string", "number": "a number", "boolean": "a boolean", "null": "null"}


def _event_type(event: str) -> str:
    return {"start_map": "an object", "start_array": "an array"}.get(event, _SCALAR_TYPES.get(event, event))


def _build_value(events: Iterator[tuple[str, str, Any]]) -> Any:
    """Consume one complete JSON value from ``events`` and return it as Python data."""
    builder = ijson.ObjectBuilder()
    depth = 0
    for _prefix, event, value in events:
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
        if depth == 0:
            return builder.value
    raise ijson.IncompleteJSONError("premature EOF")


@dataclasses.dataclass(frozen=True)
class ExportSummary:
    """What a full validation pass learned about one export file."""

    path: Path
    header: ExportHeader
    message_count: int
    min_message_id: str | None
    max_message_id: str | None
    first_timestamp: dt.datetime | None
    last_timestamp: dt.datetime | None
    last_activity_at: dt.datetime | None
    """Latest creation or edit time of any message (edits make old messages change)."""
    size_bytes: int
    sha256: str


def validate_export(
    path: str | Path,
    *,
    on_header: Callable[[ExportHeader], None] | None = None,
    on_message: Callable[[dict[str, Any], Message], None] | None = None,
) -> ExportSummary:
    """Read the whole file once, checking syntax and schema of everything; keep only aggregates.

    ``on_header(header)``, then ``on_message(raw, message)`` for every message in file order,
    see the parts as they are validated; a file found malformed further on raises all the same.
    """
    count = 0
    min_id: int | None = None
    max_id: int | None = None
    first: dt.datetime | None = None
    last: dt.datetime | None = None
    activity: dt.datetime | None = None
    with ExportReader(path) as export:
        if on_header is not None:
            on_header(export.header)
        for raw, message in export.iter_checked():
            if on_message is not None:
                on_message(raw, message)
            count += 1
            snowflake = int(message.id)
            if min_id is None or snowflake < min_id:
                min_id = snowflake
            if max_id is None or snowflake > max_id:
                max_id = snowflake
            if first is None or message.timestamp < first:
                first = message.timestamp
            if last is None or message.timestamp > last:
                last = message.timestamp
            if activity is None or message.last_activity_at > activity:
                activity = message.last_activity_at
        header = export.header
        digest = export.sha256
        size = export.bytes_read
    return ExportSummary(
        path=Path(path),
        header=header,
        message_count=count,
        min_message_id=None if min_id is None else str(min_id),
        max_message_id=None if max_id is None else str(max_id),
        first_timestamp=first,
        last_timestamp=last,
        last_activity_at=activity,
        size_bytes=size,
        sha256=digest,
    )


def discover_exports(folder: str | Path, *, skipped: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Every ``*.json`` export under ``folder`` (recursively), sorted by path.

    Only regular files are exports, and symbolic links whose target lies inside ``folder``.
    Anything else named ``*.json`` (a FIFO, a socket, a device, a link leading out of the
    folder) is logged as a warning, appended to ``skipped`` as ``(path, reason)`` and left
    alone: reading a FIFO would wait for a writer forever. Broken symlinks are kept so that
    reading them reports the problem instead of the file silently going missing; DCE media
    folders (``*.json_Files``) and directories are skipped.
    """
    root = Path(folder)
    if not root.exists():
        raise ConfigError(f"Discord export folder does not exist: {root}")
    if not root.is_dir():
        raise ConfigError(f"Discord export folder is not a directory: {root}")
    real_root = root.resolve()
    found = []
    for candidate in root.rglob("*.json"):
        relative_dirs = candidate.relative_to(root).parts[:-1]
        if any(part.endswith(_MEDIA_DIR_SUFFIX) for part in relative_dirs):
            continue
        reason = _not_an_export(candidate, real_root)
        if reason == "directory":
            continue
        if reason is not None:
            log.warning("Skipped %s: %s", candidate, reason)
            if skipped is not None:
                skipped.append((candidate, reason))
            continue
        found.append(candidate)
    return sorted(found)


def _not_an_export(candidate: Path, real_root: Path) -> str | None:
    """Why ``candidate`` is not read (``"directory"`` for folders), or None when it is an export."""
    try:
        mode = candidate.lstat().st_mode
    except OSError:
        return None  # gone or unreadable: reading it reports why
    if stat.S_ISLNK(mode):
        target = candidate.resolve()
        if not target.is_relative_to(real_root):
            return f"symbolic link to {target}, outside the export folder"
        try:
            mode = target.stat().st_mode
        except OSError:
            return None  # broken link: reading it reports why
    if stat.S_ISDIR(mode):
        return "directory"
    if not stat.S_ISREG(mode):
        return f"not a regular file ({_file_kind(mode)})"
    return None


def _file_kind(mode: int) -> str:
    for check, name in (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
    ):
        if check(mode):
            return name
    return "not a file"


def _open_regular(path: Path) -> BinaryIO:
    """Open ``path`` for reading, refusing anything but a regular file without blocking
    (opening a FIFO for reading would wait for a writer)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise unreadable_error(exc, path) from exc
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            reason = (
                "is a directory, not an export file"
                if stat.S_ISDIR(mode)
                else f"{_file_kind(mode)}, not a regular file"
            )
            raise DataValidationError(f"cannot read export file: {reason}", source=str(path))
        if hasattr(os, "O_NONBLOCK"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
