"""Turn the ways an export file can be broken into :class:`DataValidationError` with a JSON path.

Three kinds of problem: the file cannot be opened or read (:func:`unreadable_error`), its
JSON is malformed (:func:`malformed_json_error`, which re-reads the file to find the exact
byte, line, column and JSON path), or a value breaks the schema (:func:`schema_error`).
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

from core.errors import DataValidationError

__all__ = ["json_path", "malformed_json_error", "schema_error", "unreadable_error"]

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
    if first["type"] == "missing":
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
                for _prefix, event, value in ijson.parse(reader, buf_size=64 * 1024, use_float=True):
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
