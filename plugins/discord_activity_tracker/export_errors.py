"""Turn the ways an export file can be broken into :class:`DataValidationError` with a JSON path.

Four kinds of problem: the file cannot be opened or read (:func:`unreadable_error`), its
JSON is malformed (:func:`malformed_json_error`, which re-reads the file to find the exact
byte, line, column and JSON path), it is nested deeper than the reader accepts
(:func:`too_deep_error`), or a value breaks the schema (:func:`schema_error`). The re-reads
use ijson's prefix-free event parser, whose cost is linear in the depth.
"""

from __future__ import annotations

import dataclasses
import errno
from collections.abc import Sequence
from pathlib import Path
from typing import BinaryIO

import ijson
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from core.errors import (
    CollectorError,
    CollectorFailureCategory,
    DataValidationError,
    classify_failure,
    sanitize_exception_message,
    sanitize_text,
)
from core.errors import worst_category as worst_of

__all__ = [
    "FilesRejectedError",
    "json_path",
    "malformed_json_error",
    "rejected_files_error",
    "schema_error",
    "too_deep_error",
    "unreadable_error",
    "worst_category",
]

_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}


def json_path(parts: Sequence[str | int]) -> str:
    """``("messages", 3, "author", "id")`` -> ``messages[3].author.id``; the root is ``$``."""
    rendered = ""
    for part in parts:
        if isinstance(part, int):
            rendered += f"[{part}]"
        else:
            rendered += f".{part}" if rendered else part
    return rendered or "$"


def _json_type(value: object) -> str:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return "number"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def schema_error(
    exc: ValidationError,
    *,
    source: str,
    prefix: Sequence[str | int] = (),
    what: str = "value",
    missing_hint: str = "",
) -> DataValidationError:
    """The first schema violation of ``exc``, located under ``prefix`` (e.g. ``messages[12]``)."""
    errors = exc.errors(include_url=False)
    first: ErrorDetails = errors[0]
    reason = first["msg"].removeprefix("Value error, ")
    if first["type"] == "string_pattern_mismatch" and "\\x00" in str(first.get("ctx", {}).get("pattern", "")):
        reason = "text contains a NUL character (\\u0000), which the store cannot keep"
    elif first["type"] == "missing":
        reason = (
            f"required field is missing ({missing_hint})" if missing_hint else "required field is missing"
        )
    elif not first["type"].startswith("value_error"):
        reason = f"{reason} (got {_json_type(first['input'])})"
    if len(errors) > 1:
        reason += f"; {len(errors) - 1} more problem(s) in the same {what}"
    location = json_path([*prefix, *first["loc"]])
    return DataValidationError(f"invalid {what}: {reason}", source=source, location=location)


def unreadable_error(exc: OSError, path: Path) -> DataValidationError:
    """A clear message for a file that cannot be opened or read."""
    if isinstance(exc, IsADirectoryError):
        reason = "is a directory, not an export file"
    elif isinstance(exc, FileNotFoundError) and path.is_symlink():
        reason = f"broken symbolic link (points to {path.readlink()}, which does not exist)"
    elif isinstance(exc, FileNotFoundError):
        reason = "file not found"
    elif isinstance(exc, PermissionError):
        reason = "permission denied"
    else:
        reason = exc.strerror or errno.errorcode.get(exc.errno or 0, type(exc).__name__)
    return DataValidationError(f"cannot read export file: {reason}", source=str(path))


class _PositionReader:
    """File wrapper for the diagnostic pass: counts bytes and lines, and from ``precise_from``
    on hands the parser one byte at a time so the error surfaces at the offending byte."""

    def __init__(self, raw: BinaryIO, precise_from: int) -> None:
        self._raw = raw
        self._precise_from = precise_from
        self.position = 0
        self.line = 1
        self.line_start = 0
        self.non_blank_seen = False

    def read(self, size: int = -1) -> bytes:
        if size == 0:
            return b""
        if self.position >= self._precise_from:
            size = 1
        elif size < 0 or self.position + size > self._precise_from:
            size = self._precise_from - self.position
        chunk = self._raw.read(size)
        newlines = chunk.count(b"\n")
        if newlines:
            self.line += newlines
            self.line_start = self.position + chunk.rindex(b"\n") + 1
        if not self.non_blank_seen and chunk.strip():
            self.non_blank_seen = True
        self.position += len(chunk)
        return chunk


@dataclasses.dataclass
class _Frame:
    is_array: bool
    key: str | None = None
    index: int = -1


class _PathTracker:
    """Follows parse events to know the JSON path the parser is at."""

    def __init__(self) -> None:
        self._stack: list[_Frame] = []

    def _enter_value(self) -> None:
        if self._stack and self._stack[-1].is_array:
            self._stack[-1].index += 1

    def feed(self, event: str, value: object) -> None:
        if event == "map_key":
            self._stack[-1].key = str(value)
        elif event in ("start_map", "start_array"):
            self._enter_value()
            self._stack.append(_Frame(is_array=event == "start_array"))
        elif event in ("end_map", "end_array"):
            self._stack.pop()
        else:
            self._enter_value()

    def path(self) -> str:
        parts: list[str | int] = []
        for frame in self._stack:
            if frame.is_array and frame.index >= 0:
                parts.append(frame.index)
            elif not frame.is_array and frame.key is not None:
                parts.append(frame.key)
        return json_path(parts)


def _yajl_reason(exc: ijson.JSONError) -> str:
    """First line of a yajl message (which may come as bytes), without its error-kind prefix."""
    message = exc.args[0] if exc.args else ""
    if isinstance(message, bytes):
        message = message.decode("utf-8", errors="replace")
    lines = str(message).strip().splitlines()
    if not lines:
        return type(exc).__name__
    return lines[0].removeprefix("parse error: ").removeprefix("lexical error: ").rstrip(".")


def malformed_json_error(path: Path, exc: ijson.JSONError, *, near_offset: int = 0) -> DataValidationError:
    """Re-read ``path`` to pinpoint the JSON syntax error the main pass hit.

    The message gives the byte offset, line and column (counted in bytes) where the parser
    noticed the problem, which is the last byte of the offending token, and the location is
    the JSON path the parser had reached.

    ``near_offset`` is a position the main pass read without error; bytes from there on are
    parsed one at a time, so pass the start of the buffer that failed to keep this quick.
    """
    reason = _yajl_reason(exc)
    tracker = _PathTracker()
    try:
        with path.open("rb") as raw:
            reader = _PositionReader(raw, precise_from=near_offset)
            try:
                for event, value in ijson.basic_parse(reader, buf_size=64 * 1024, use_float=True):
                    tracker.feed(event, value)
            except ijson.JSONError as again:
                reason = _yajl_reason(again)
            else:
                # The file changed between the passes; report what the main pass saw.
                return DataValidationError(f"malformed JSON: {reason}", source=str(path))
    except OSError as os_error:
        return unreadable_error(os_error, path)
    if not reader.non_blank_seen:
        return DataValidationError("file is empty", source=str(path), location="$")
    truncated = "premature EOF" in reason
    offset = reader.position if truncated else max(reader.position - 1, 0)
    column = offset - reader.line_start + 1
    what = "file is truncated" if truncated else "malformed JSON"
    return DataValidationError(
        f"{what}: {reason} at byte {offset} (line {reader.line}, column {column})",
        source=str(path),
        location=tracker.path(),
    )


class _PrefixReader:
    """The first ``limit`` bytes of a file, then end of file."""

    def __init__(self, raw: BinaryIO, limit: int) -> None:
        self._raw = raw
        self._left = limit

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        size = self._left if size < 0 else min(size, self._left)
        chunk = self._raw.read(size)
        self._left -= len(chunk)
        return chunk


def _abbreviated(path: str, keep: int = 120) -> str:
    return path if len(path) <= 2 * keep else f"{path[:keep]}...{path[-keep:]}"


def too_deep_error(path: Path, offset: int, limit: int) -> DataValidationError:
    """``path`` opens level ``limit + 1`` of nesting at byte ``offset``: name the JSON path there.

    The path comes from re-reading the bytes before ``offset`` (nested at most ``limit``
    deep, so this is cheap); it is abbreviated in the middle when very long.
    """
    tracker = _PathTracker()
    try:
        with path.open("rb") as raw:
            try:
                for event, value in ijson.basic_parse(_PrefixReader(raw, offset), use_float=True):
                    tracker.feed(event, value)
            except ijson.JSONError:
                pass  # the prefix ends inside a value: the path so far is what we want
    except OSError as os_error:
        return unreadable_error(os_error, path)
    return DataValidationError(
        f"JSON nested deeper than {limit} levels (DiscordChatExporter writes fewer than 10) at byte {offset}",
        source=str(path),
        location=_abbreviated(tracker.path()),
    )


# --------------------------------------------------------------------------- several files

_DETAILED_FILES = 20
_DETAIL_CHARS = 300


def worst_category(errors: Sequence[BaseException]) -> CollectorFailureCategory:
    """The most serious category among ``errors`` (:func:`core.errors.worst_category`)."""
    return worst_of(classify_failure(error) for error in errors)


class FilesRejectedError(CollectorError):
    """Some export files failed for reasons other than their content alone (a bug, the
    database, the disk); ``category`` is the worst of them, ``sources`` every file's path."""

    def __init__(self, message: str, *, category: CollectorFailureCategory, sources: Sequence[str]) -> None:
        super().__init__(message)
        self.category = category
        self.sources = list(sources)


def _describe(error: BaseException) -> str:
    text = (
        sanitize_text(str(error))
        if isinstance(error, DataValidationError)
        else sanitize_exception_message(error)
    )
    text = text.replace("\n", " ")
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 3] + "..."


def rejected_files_error(rejected: Sequence[tuple[Path, BaseException]], ingested: int) -> CollectorError:
    """One error for a run in which ``rejected`` files failed and ``ingested`` files were stored.

    The message names every rejected file with its category and (for the first 20) its
    problem. When every failure is a :class:`DataValidationError` the result is one too
    (``source``/``location`` of the first); otherwise a :class:`FilesRejectedError` of the
    worst category. Its ``__cause__`` is the first failure of that category.
    """
    errors = [error for _path, error in rejected]
    category = worst_category(errors)
    parts = []
    for number, (path, error) in enumerate(rejected):
        kind = classify_failure(error).value
        parts.append(
            f"{path.name} [{kind}]: {_describe(error)}"
            if number < _DETAILED_FILES
            else f"{path.name} [{kind}]"
        )
    message = f"{len(rejected)} export file(s) rejected, {ingested} ingested: " + " | ".join(parts)
    if all(isinstance(error, DataValidationError) for error in errors):
        first = errors[0]
        assert isinstance(first, DataValidationError)
        failure: CollectorError = DataValidationError(message)
        failure.source, failure.location = first.source, first.location
    else:
        failure = FilesRejectedError(message, category=category, sources=[str(path) for path, _e in rejected])
    failure.__cause__ = next(error for error in errors if classify_failure(error) is category)
    return failure
