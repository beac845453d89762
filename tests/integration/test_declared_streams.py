"""Declared streams (``core.streams``): a stream declared in a few lines, read by the framework
from a real local HTTP server into a real store (SQLite and PostgreSQL): pages validated
before anything is written, rows and checkpoint in one transaction, overlap window,
never-move-back, compare-and-set, bounded runs write rows only.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, select

from core.errors import ConflictError, DataValidationError
from core.operations.http import HttpClient, HttpClientConfig, NextUrlField
from core.protocols import Checkpoint
from core.store import Migration, Store, create_tables, load_checkpoint, save_checkpoint
from core.streams import Checkpointer, Stream, StreamCursors, Window, read_stream
from tests.fakes.github_server import FakeClock
from tests.integration.test_http_kit import Reply, Scripted, Seen

T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)

metadata = MetaData()
notes = Table(
    "stream_test_notes",
    metadata,
    Column("board", String(20), primary_key=True),
    Column("note_id", Integer, primary_key=True),
    Column("text", String(200), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
MIGRATIONS = (Migration(1, "notes", create_tables(notes)),)


class Note(BaseModel):
    id: int
    text: str
    updated_at: dt.datetime


def note_row(board: str) -> Any:
    return lambda n: {"board": board, "note_id": n.id, "text": n.text, "updated_at": n.updated_at}


# The whole declaration of a stream: endpoint, model, key, cursor, paging, partition.
NOTES = Stream(
    name="notes",
    path="/boards/{board}/notes",
    model=Note,
    primary_key=("board", "note_id"),
    cursor_field="updated_at",
    params={"limit": 2},
    paginator=NextUrlField("next"),
    items_path="results",
    since_param="since",
    table=notes,
    to_row=note_row("b1"),
)
NEWEST_FIRST = Stream(
    name="notes_desc",
    path="/boards/{board}/desc",
    model=Note,
    primary_key=("board", "note_id"),
    cursor_field="updated_at",
    order="newest_first",
    params={"limit": 2},
    paginator=NextUrlField("next"),
    items_path="results",
    page_size_param="limit",
    table=notes,
    to_row=note_row("b1"),
)


class Board:
    """A notes API: oldest first with ``since`` (``/notes``) or newest first (``/desc``)."""

    def __init__(self, server: Scripted) -> None:
        self.server = server
        self.items: dict[int, dict[str, Any]] = {}
        self.broken: int | None = None  # an id served with a schema-breaking body
        server.routes["/boards/b1/notes"] = lambda seen: self.page(seen, newest_first=False)
        server.routes["/boards/b1/desc"] = lambda seen: self.page(seen, newest_first=True)

    def put(self, note_id: int, minutes: int, text: str | None = None) -> None:
        stamp = (T0 + dt.timedelta(minutes=minutes)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.items[note_id] = {"id": note_id, "text": text or f"note {note_id}", "updated_at": stamp}

    def page(self, seen: Seen, *, newest_first: bool) -> Reply:
        rows = sorted(self.items.values(), key=lambda r: (r["updated_at"], r["id"]), reverse=newest_first)
        if "since" in seen.query:
            rows = [r for r in rows if r["updated_at"] >= seen.query["since"][0]]
        offset = int(seen.query.get("offset", ["0"])[0])
        limit = int(seen.query["limit"][0])
        chunk = [dict(r) for r in rows[offset : offset + limit]]
        for row in chunk:
            if row["id"] == self.broken:
                row["updated_at"] = "not a date"
        following = None
        if offset + limit < len(rows):
            query = "&".join(f"{k}={v[0]}" for k, v in seen.query.items() if k != "offset")
            following = f"{self.server.base_url}{seen.path}?{query}&offset={offset + limit}"
        return Reply(200, {"results": chunk, "next": following})


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    store = Store.from_url(store_url)
    store.migrate("stream_test", MIGRATIONS)
    yield store
    store.engine.dispose()


@pytest.fixture
def board() -> Iterator[Board]:
    with Scripted() as server:
        yield Board(server)


def client_for(board: Board) -> HttpClient:
    clock = FakeClock()
    config = HttpClientConfig(base_url=board.server.base_url, jitter=0, transient_max_retries=0)
    return HttpClient(config, clock=clock.time, sleep=clock.sleep)


def run(
    store: Store,
    board: Board,
    stream: Stream[Note] = NOTES,
    *,
    window: Window | None = None,
    overlap: dt.timedelta = dt.timedelta(minutes=5),
) -> tuple[collections.Counter[str], Checkpointer[StreamCursors]]:
    checkpoint = Checkpointer.load(
        store, "boards", "b1", StreamCursors.from_state, bounded=window is not None
    )
    with client_for(board) as client:
        counts = read_stream(
            client, stream, checkpoint, parts={"board": "b1"}, overlap=overlap, window=window
        )
    return counts, checkpoint


def stored(store: Store) -> dict[int, tuple[str, dt.datetime]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(notes.c.note_id, notes.c.text, notes.c.updated_at)).all()
    return {r[0]: (r[1], r[2] if r[2].tzinfo else r[2].replace(tzinfo=dt.UTC)) for r in rows}


def cursor(store: Store, stream: str = "notes") -> dt.datetime | None:
    with store.engine.connect() as conn:
        return StreamCursors.from_state(load_checkpoint(conn, "boards", "b1")).cursor(stream)


def test_reads_every_page_then_only_the_overlap_window(store: Store, board: Board) -> None:
    for i in range(1, 6):
        board.put(i, minutes=i * 10)
    counts, checkpoint = run(store, board)
    assert counts == {"notes": 5, "notes_pages": 3}
    assert set(stored(store)) == {1, 2, 3, 4, 5}
    assert cursor(store) == T0 + dt.timedelta(minutes=50)
    assert checkpoint.counts["transactions"] == 3  # one per page

    board.put(6, minutes=60)
    board.put(2, minutes=70, text="edited")
    counts, _ = run(store, board)
    since = [s.query.get("since") for s in board.server.hits()][-2]
    assert since == ["2024-03-01T00:45:00Z"]  # the cursor minus the 5-minute overlap
    assert counts["notes"] == 3  # 5 (inside the overlap), 6 and the edited 2
    assert stored(store)[2][0] == "edited" and len(stored(store)) == 6
    assert cursor(store) == T0 + dt.timedelta(minutes=70)


def test_a_bad_page_writes_nothing_of_itself_and_the_rerun_resumes(store: Store, board: Board) -> None:
    for i in range(1, 6):
        board.put(i, minutes=i * 10)
    board.broken = 3  # on the second page
    with pytest.raises(DataValidationError) as info:
        run(store, board)
    assert info.value.location == "$[0].updated_at" and "/boards/b1/notes" in (info.value.source or "")
    assert set(stored(store)) == {1, 2}  # page 1 and its checkpoint committed together
    assert cursor(store) == T0 + dt.timedelta(minutes=20)

    board.broken = None
    counts, _ = run(store, board, overlap=dt.timedelta(0))
    assert set(stored(store)) == {1, 2, 3, 4, 5}
    assert counts["notes"] == 4  # resumed at the committed cursor (2 re-read by upsert)
    assert board.server.hits()[-2].query["since"] == ["2024-03-01T00:20:00Z"]


def test_newest_first_moves_the_cursor_only_with_the_last_page(store: Store, board: Board) -> None:
    for i in range(1, 6):
        board.put(i, minutes=i * 10)
    board.broken = 1  # the oldest item: on the last page
    with pytest.raises(DataValidationError):
        run(store, board, NEWEST_FIRST)
    assert set(stored(store)) == {5, 4, 3, 2}  # pages before the bad one are kept ...
    assert cursor(store, "notes_desc") is None  # ... but the cursor waits for the end
    board.broken = None
    run(store, board, NEWEST_FIRST)
    assert cursor(store, "notes_desc") == T0 + dt.timedelta(minutes=50)

    board.put(6, minutes=60)
    board.server.seen.clear()
    counts, _ = run(store, board, NEWEST_FIRST, overlap=dt.timedelta(minutes=5))
    assert counts == {"notes_desc": 2, "notes_desc_pages": 2}  # 6 and 5; 4 is older than the window
    assert len(board.server.hits()) == 2  # stopped at the first page reaching below the window (of 3)


def test_bounded_run_writes_rows_never_the_checkpoint(store: Store, board: Board) -> None:
    for i in range(1, 6):
        board.put(i, minutes=i * 10)
    run(store, board)
    board.put(2, minutes=15, text="rewritten in the past")  # only a backfill would see it
    window = Window(T0 + dt.timedelta(minutes=10), T0 + dt.timedelta(minutes=20))
    with store.engine.connect() as conn:
        before = load_checkpoint(conn, "boards", "b1")
    counts, _ = run(store, board, window=window)
    assert stored(store)[2][0] == "rewritten in the past" and counts["notes"] == 2
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "boards", "b1") == before


def test_the_cursor_never_moves_back(store: Store, board: Board) -> None:
    ahead = StreamCursors({"notes": "2024-03-02T00:00:00Z"})
    with store.transaction() as conn:
        save_checkpoint(conn, "boards", ahead, "b1")
    board.put(1, minutes=10)
    counts, _ = run(store, board, overlap=dt.timedelta(days=2))  # the window reaches back to note 1
    assert counts["notes"] == 1 and set(stored(store)) == {1}
    assert cursor(store) == dt.datetime(2024, 3, 2, tzinfo=dt.UTC)


def test_a_checkpoint_moved_by_another_run_rolls_the_page_back(store: Store, board: Board) -> None:
    for i in range(1, 4):
        board.put(i, minutes=i * 10)
    checkpoint = Checkpointer.load(store, "boards", "b1", StreamCursors.from_state)
    with store.transaction() as conn:  # another run commits first
        save_checkpoint(conn, "boards", Checkpoint("other", None, {}), "b1")
    with client_for(board) as client, pytest.raises(ConflictError):
        read_stream(client, NOTES, checkpoint, parts={"board": "b1"})
    assert stored(store) == {}
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "boards", "b1") == Checkpoint("other", None, {})


def test_declarations_are_checked() -> None:
    with pytest.raises(ValueError, match="no field"):
        Stream(name="x", path="/x", model=Note, primary_key=("id",), cursor_field="created_at")
    with pytest.raises(ValueError, match="together"):
        Stream(name="x", path="/x", model=Note, primary_key=("id",), cursor_field="updated_at", table=notes)
