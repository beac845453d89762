"""The vector-sync ledger's own functions on both dialects: what a write stores (on PostgreSQL
through the JSON-parameter statement and through COPY), what a read returns, what a full
refresh resets, and how many statements a batch costs."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import event, select, text

from core.errors import DataValidationError
from core.store import Store
from core.vectors import ledger
from core.vectors.ledger import LedgerEntry, LedgerScope, vector_ledger_documents

SCOPE = LedgerScope("demo", "pinecone:docs", "demo")
OTHER = LedgerScope("demo", "pinecone:other", "demo")


@pytest.fixture
def migrated(store: Store) -> Store:
    store.migrate("vectors", ledger.VECTOR_MIGRATIONS)
    return store


@pytest.fixture(params=["json", "copy"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """On PostgreSQL a batch is one JSON-parameter statement up to ``JSON_MAX_ENTRIES``, COPY above."""
    if request.param == "copy":
        monkeypatch.setattr(ledger, "JSON_MAX_ENTRIES", 0)
    return request.param


def stored(store: Store, scope: LedgerScope = SCOPE) -> dict[str, tuple[object, ...]]:
    t = vector_ledger_documents
    with store.engine.connect() as conn:
        rows = conn.execute(
            select(t.c.doc_id, t.c.content_hash, t.c.chunk_ids, t.c.status, t.c.error).where(
                *scope.where_documents()
            )
        )
        return {doc_id: (digest, list(chunks), status, error) for doc_id, digest, chunks, status, error in rows}


def test_a_batch_reads_back_as_written_with_the_last_entry_of_a_document_winning(
    migrated: Store, write_path: str
) -> None:
    entries = [
        LedgerEntry(f"d\\{n}\t'\"é", None if n % 2 else f"h{n}", (f"demo:d{n}:0", f"demo:d{n}:1"), "failed")
        for n in range(60)
    ]
    errors = {entries[0].doc_id: "503\tfrom the index\nretry \\ later 'quoted' \"twice\""}
    newest = LedgerEntry(entries[5].doc_id, "newest", ("demo:d5:0",), "synced")
    with migrated.transaction() as conn:
        ledger.write_entries(conn, SCOPE, [*entries, newest], errors)
    with migrated.engine.connect() as conn:
        loaded = ledger.load_entries(conn, SCOPE, [e.doc_id for e in entries])
    assert loaded == {**{e.doc_id: e for e in entries}, newest.doc_id: newest}
    assert stored(migrated)[entries[0].doc_id][3] == errors[entries[0].doc_id]
    assert stored(migrated)[entries[1].doc_id][3] is None


def test_a_later_write_replaces_every_column_the_error_too(migrated: Store, write_path: str) -> None:
    failed = [LedgerEntry(f"d{n}", None, (f"demo:d{n}:0", f"demo:d{n}:1"), ledger.STATUS_FAILED) for n in range(60)]
    with migrated.transaction() as conn:
        ledger.write_entries(conn, SCOPE, failed, {"d3": "503 from the index"})
    synced = [LedgerEntry(f"d{n}", f"h{n}", (f"demo:d{n}:0",), ledger.STATUS_SYNCED) for n in range(60)]
    with migrated.transaction() as conn:
        ledger.write_entries(conn, SCOPE, synced, {})
    assert stored(migrated) == {f"d{n}": (f"h{n}", [f"demo:d{n}:0"], "synced", None) for n in range(60)}


def test_reads_return_the_scopes_own_entries_of_the_ids_asked(
    migrated: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ledger, "_PG_IDS_PER_STATEMENT", 7)  # several statements on PostgreSQL too
    mine = [LedgerEntry(f"d{n}", f"h{n}", (f"mine:{n}",), "synced") for n in range(600)]
    theirs = [LedgerEntry(f"d{n}", "other", (f"theirs:{n}",), "pending") for n in range(0, 1200, 2)]
    with migrated.transaction() as conn:
        ledger.write_entries(conn, SCOPE, mine, {})
        ledger.write_entries(conn, OTHER, theirs, {})
    asked = [f"d{n}" for n in range(0, 1200, 3)]  # half of them unknown to SCOPE
    with migrated.engine.connect() as conn:
        loaded = ledger.load_entries(conn, SCOPE, [*asked, *asked[:5]])
        assert ledger.load_entries(conn, SCOPE, []) == {}
    assert loaded == {e.doc_id: e for e in mine if e.doc_id in set(asked)}


def test_full_refresh_reset_keeps_chunk_ids_and_leaves_reset_entries_alone(migrated: Store) -> None:
    with migrated.transaction() as conn:
        ledger.write_entries(
            conn,
            SCOPE,
            [
                LedgerEntry("synced", "h1", ("demo:synced:0",), ledger.STATUS_SYNCED),
                LedgerEntry("failed", None, ("demo:failed:0",), ledger.STATUS_FAILED),
                LedgerEntry("reset", None, ("demo:reset:0",), ledger.STATUS_PENDING),
            ],
            {"failed": "503"},
        )
        ledger.write_entries(conn, OTHER, [LedgerEntry("synced", "h1", ("x",), ledger.STATUS_SYNCED)], {})
        ledger.save_horizon(conn, SCOPE, 42)
    before = _row_versions(migrated)
    with migrated.transaction() as conn:
        ledger.reset_scope(conn, SCOPE)
        assert ledger.load_horizon(conn, SCOPE) is None
    assert stored(migrated) == {
        "synced": (None, ["demo:synced:0"], "pending", None),
        "failed": (None, ["demo:failed:0"], "pending", "503"),
        "reset": (None, ["demo:reset:0"], "pending", None),
    }
    assert stored(migrated, OTHER) == {"synced": ("h1", ["x"], "synced", None)}
    after = _row_versions(migrated)
    if after:  # PostgreSQL: an entry already in the reset state is not written again
        assert after["reset"] == before["reset"]
        assert after["synced"] != before["synced"] and after["failed"] != before["failed"]


def _row_versions(store: Store) -> dict[str, str]:
    if store.engine.dialect.name != "postgresql":
        return {}
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT doc_id, xmin::text FROM vector_ledger_documents WHERE destination = :d"), {
            "d": SCOPE.destination
        })
        return {doc_id: version for doc_id, version in rows}


@pytest.fixture
def statements(migrated: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:  # type: ignore[no-untyped-def]
        seen.append(statement)

    event.listen(migrated.engine, "before_cursor_execute", count)
    yield seen
    event.remove(migrated.engine, "before_cursor_execute", count)


def test_on_postgresql_a_batch_of_a_thousand_is_one_statement_to_read_and_one_to_write(
    migrated: Store, statements: list[str]
) -> None:
    if migrated.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's array and JSON parameters")
    entries = [LedgerEntry(f"d{n}", f"h{n}", (f"demo:d{n}:0",), "synced") for n in range(1000)]
    with migrated.transaction() as conn:
        statements.clear()
        ledger.write_entries(conn, SCOPE, entries, {})
        ledger.write_entries(conn, SCOPE, entries[:10], {})
        writes, statements[:] = list(statements), []
    with migrated.engine.connect() as conn:
        statements.clear()
        assert len(ledger.load_entries(conn, SCOPE, [e.doc_id for e in entries])) == 1000
        reads = list(statements)
        ledger.load_entries(conn, SCOPE, ["d1", "d2"])
    assert len(writes) == 2 and not any("TEMPORARY" in s for s in writes)
    assert len(reads) == 1
    assert statements[-1] == reads[0]  # the same text whatever the number of ids


def test_on_postgresql_a_nul_in_a_text_column_is_refused_naming_it(migrated: Store, write_path: str) -> None:
    if migrated.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL text cannot hold NUL; SQLite's can")
    entries = [LedgerEntry(f"d{n}", f"h{n}", (f"demo:d{n}:0",), "failed") for n in range(60)]
    with pytest.raises(DataValidationError, match="error"), migrated.transaction() as conn:
        ledger.write_entries(conn, SCOPE, entries, {"d7": "bad\x00byte"})
    # Inside the JSON column a NUL is an escape that PostgreSQL keeps.
    odd = LedgerEntry("d1", "h1", ("demo:d1:\x00",), "synced")
    with migrated.transaction() as conn:
        ledger.write_entries(conn, SCOPE, [*entries, odd], {})
    with migrated.engine.connect() as conn:
        assert ledger.load_entries(conn, SCOPE, ["d1"]) == {"d1": odd}


def test_on_postgresql_a_reset_rewrites_entries_on_their_own_pages(migrated: Store) -> None:
    """Pages keep room (migration 3) so an update stays on its page: no new primary-key entry
    per update (a HOT update); on full pages nearly every new version moves to another page."""
    if migrated.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's fillfactor")
    entries = [LedgerEntry(f"doc-{n:05d}", "h" * 64, (f"demo:doc-{n:05d}:0",), "synced") for n in range(2000)]
    with migrated.transaction() as conn:
        ledger.write_entries(conn, SCOPE, entries, {})
    before = _pages(migrated)
    with migrated.transaction() as conn:
        ledger.reset_scope(conn, SCOPE)
    after = _pages(migrated)
    assert len(before) == 2000 and sum(after[doc] == page for doc, page in before.items()) >= 1900


def _pages(store: Store) -> dict[str, int]:
    with store.engine.connect() as conn:
        rows = conn.execute(text("SELECT doc_id, (ctid::text::point)[0]::int FROM vector_ledger_documents"))
        return {doc_id: page for doc_id, page in rows}


def test_on_postgresql_a_read_probes_the_index_per_id_even_on_a_ledger_never_analysed(
    migrated: Store, statements: list[str]
) -> None:
    """``doc_id = ANY(:ids)`` was planned, on a table without statistics (a first sync,
    autovacuum off), as a filter over every entry of the scope: seconds a batch on a large
    ledger. The read must look each id up in the primary key whatever the statistics say."""
    if migrated.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL's planner")
    with migrated.transaction() as conn:
        conn.execute(
            text(
                "INSERT INTO vector_ledger_documents (source, destination, namespace, doc_id, content_hash,"
                " chunk_ids, status, synced_at) SELECT :s, :d, :n, 'doc-' || g, 'h', '[]', 'synced', now()"
                " FROM generate_series(1, 20000) AS g"
            ),
            {"s": SCOPE.source, "d": SCOPE.destination, "n": SCOPE.namespace},
        )
    wanted = ["doc-7", "doc-19999", "missing"]
    with migrated.engine.connect() as conn:
        statements.clear()
        assert sorted(ledger.load_entries(conn, SCOPE, wanted)) == ["doc-19999", "doc-7"]
        [read] = statements
        cursor = conn.connection.cursor()
        cursor.execute(
            "EXPLAIN (ANALYZE, TIMING OFF) " + read,
            {"ids": wanted, "source": SCOPE.source, "destination": SCOPE.destination, "namespace": SCOPE.namespace},
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "Rows Removed by Filter" not in plan, plan
    assert "Index" in plan and "wanted.doc_id" in plan, plan
