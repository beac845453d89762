"""Declared streams: a tracker says what a stream is, the framework reads it.

A :class:`Stream` names its endpoint, pydantic item model, primary key, cursor field,
pagination and how it is partitioned (``{placeholders}`` in the path, filled per
partition). :func:`read_stream` reads its pages, validates each page before anything is
written, upserts the page and advances the checkpoint in one transaction
(:class:`~core.streams.checkpoint.Checkpointer`), with the overlap window and the
never-move-back rule:

``oldest_first``
    The API filters by the cursor (``since_param``) and answers oldest first. Each page
    advances the cursor to its newest item, so a crash re-reads at most one page.
``newest_first``
    The API answers newest first (and may not filter). Pages are read down to the cursor
    minus the overlap; the cursor moves only with the last page (a crash re-reads from the
    top, by upsert: no gap, no duplicate).

A bounded run (``window``) reads ``since <= cursor <= until`` and writes rows only.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Connection, Table

from core.errors import DataValidationError, json_location
from core.operations.http import HttpClient, HttpResponse, NotModified, Paginator, dig
from core.store import upsert_rows
from core.streams.checkpoint import Checkpointer, CursorState

__all__ = ["Stream", "Window", "iso_utc", "parse_items", "read_stream"]

M = TypeVar("M", bound=BaseModel)


def iso_utc(value: dt.datetime) -> str:
    """``2024-01-02T03:04:05Z``: the usual ``since``/``until`` parameter format."""
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclasses.dataclass(frozen=True)
class Window:
    """A bounded run's range of cursor values (either end open)."""

    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def holds(self, value: dt.datetime) -> bool:
        return (self.since is None or value >= self.since) and (self.until is None or value <= self.until)


def parse_items(model: type[M], items: Any, *, endpoint: str, api_name: str = "API") -> list[M]:
    """A JSON array of ``model`` items, or ``DataValidationError`` naming the endpoint and the
    first bad item's field (``$[3].user.login``); nothing of the page is kept then."""
    if not isinstance(items, list):
        raise DataValidationError(
            f"expected a JSON array of {model.__name__}, got {type(items).__name__}",
            source=endpoint,
            location="$",
        )
    try:
        return TypeAdapter(list[model]).validate_python(items)  # type: ignore[valid-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        extra = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise DataValidationError(
            f"{api_name} payload breaks the {model.__name__} schema: {first['msg']}{extra}",
            source=endpoint,
            location=json_location(first["loc"]),
        ) from None


@dataclasses.dataclass(frozen=True)
class Stream(Generic[M]):
    """One stream of a source, declared.

    ``path`` may hold ``{placeholders}`` (the partition: ``/repos/{repo}/pulls``,
    ``/channels/{channel}/messages``) filled by :func:`read_stream`'s ``parts``.
    ``cursor_field`` is the model attribute (a timezone-aware datetime) the checkpoint
    follows. Rows are written by ``write(conn, items)``, or, with ``table`` and ``to_row``,
    upserted on ``primary_key``, or by the ``write`` given to :func:`read_stream` (for a
    writer that needs run-time values such as a parent row's id). ``page_size_param`` names the parameter whose value is a
    full page, so a shorter page ends the read. ``parse`` replaces the model validation
    when a page needs more than it (it must raise ``DataValidationError`` the same way).
    """

    name: str
    path: str
    model: type[M]
    primary_key: tuple[str, ...]
    cursor_field: str
    order: Literal["oldest_first", "newest_first"] = "oldest_first"
    params: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    paginator: Paginator | None = None
    items_path: str = ""
    since_param: str | None = None
    until_param: str | None = None
    page_size_param: str | None = None
    format_time: Callable[[dt.datetime], str] = iso_utc
    write: Callable[[Connection, Sequence[M]], object] | None = None
    table: Table | None = None
    to_row: Callable[[M], Mapping[str, Any]] | None = None
    parse: Callable[[Any, str], list[M]] | None = None

    def __post_init__(self) -> None:
        if (self.table is None) != (self.to_row is None):
            raise ValueError(f"stream {self.name}: declare table and to_row together")
        if self.cursor_field not in self.model.model_fields:
            raise ValueError(f"stream {self.name}: {self.model.__name__} has no field {self.cursor_field!r}")

    def cursor_of(self, item: M) -> dt.datetime:
        return getattr(item, self.cursor_field)

    def items(self, data: Any, endpoint: str) -> list[M]:
        raw = dig(data, self.items_path, endpoint=endpoint)
        if self.parse is not None:
            return self.parse(raw, endpoint)
        return parse_items(self.model, raw, endpoint=endpoint)

    def store(self, conn: Connection, items: Sequence[M]) -> None:
        if self.write is not None:
            self.write(conn, items)
            return
        if self.table is None or self.to_row is None:
            raise ValueError(f"stream {self.name} declares no writer: pass write= to read_stream")
        upsert_rows(conn, self.table, [dict(self.to_row(i)) for i in items], list(self.primary_key))


C = TypeVar("C", bound=CursorState)


def read_stream(
    client: HttpClient,
    stream: Stream[M],
    checkpoint: Checkpointer[C],
    *,
    parts: Mapping[str, str] | None = None,
    overlap: dt.timedelta = dt.timedelta(0),
    window: Window | None = None,
    write: Callable[[Connection, Sequence[M]], object] | None = None,
    counts: collections.Counter[str] | None = None,
    conditional: str | None = None,
) -> collections.Counter[str]:
    """Read ``stream`` into the store; see the module doc. Returns (and adds to) ``counts``:
    ``<stream>`` items written, ``<stream>_pages`` pages read.

    ``window`` makes the run bounded (pass it exactly when the checkpointer is bounded);
    ``write`` overrides the stream's writer for this call (e.g. a closure over a row id).

    ``conditional`` (a validator scope; unbounded runs only, and not on a full refresh: the
    caller's choice) sends the first page as a conditional request: a 304 ends the read
    (``<stream>_not_modified``). The first page's validators are stored with its rows only
    when it was the whole listing (no next page, and shorter than ``page_size_param`` when
    declared), so a 304 to the same request (cursor unmoved) can only mean "nothing new".
    """
    tally = counts if counts is not None else collections.Counter()
    store_items = write or stream.store
    if window is not None:
        since, until = window.since, window.until
    else:
        cursor = checkpoint.state.cursor(stream.name)
        since, until = (cursor - overlap if cursor else None), None
    bounds = Window(since, until)
    params: dict[str, Any] = dict(stream.params)
    if stream.since_param and since is not None:
        params[stream.since_param] = stream.format_time(since)
    if stream.until_param and until is not None:
        params[stream.until_param] = stream.format_time(until)
    page_size = params.get(stream.page_size_param) if stream.page_size_param else None
    path = stream.path.format(**(parts or {}))
    newest: dt.datetime | None = None
    listing: Iterable[HttpResponse]
    first: HttpResponse | None = None
    if conditional is not None and window is None:
        probed = client.pages_if_changed(path, params, scope=conditional, paginator=stream.paginator)
        if isinstance(probed, NotModified):
            tally[f"{stream.name}_not_modified"] += 1
            return tally
        listing, first = probed, probed.first
    else:
        listing = client.pages(path, params, paginator=stream.paginator)
    for page in listing:
        items = stream.items(page.data, page.endpoint)
        wanted = [i for i in items if bounds.holds(stream.cursor_of(i))]
        stamps = [stream.cursor_of(i) for i in (wanted if stream.order == "oldest_first" else items)]
        if newest is not None:
            stamps.append(newest)
        newest = max(stamps) if stamps else None
        last = page.next_page is None or not items or (page_size is not None and len(items) < int(page_size))
        if stream.order == "newest_first":
            last = last or (since is not None and any(stream.cursor_of(i) < since for i in items))
            state = checkpoint.state.with_cursor(stream.name, newest) if last else None
        else:
            state = checkpoint.state.with_cursor(stream.name, newest)
        # Validators of a first page that was the whole listing (see ``conditional``).
        whole = first is not None and page.next_page is None
        whole = whole and (page_size is None or len(items) < int(page_size))
        # Tallied first so the page's progress line counts it; a failed commit fails the run.
        tally[stream.name] += len(wanted)
        tally[f"{stream.name}_pages"] += 1
        checkpoint.commit(lambda conn, rows=wanted: store_items(conn, rows), state, [page] if whole else [])
        first = None
        if last:
            break
    return tally
