"""The COPY path stores every column type exactly as the small-batch (parameter binding) path does.

Each test writes the same rows twice into two identical tables on real PostgreSQL: once
below ``COPY_THRESHOLD`` (one multi-row ``INSERT ... ON CONFLICT``, the driver binds the
values) and once as a COPY batch, then compares the tables row by row, for both drivers
(psycopg2 and psycopg 3).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

import pytest
from sqlalchemy import (
    ARRAY,
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    Float,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection

from core.errors import CollectorFailureCategory, DataValidationError, classify_failure
from core.store import Migration, Store, create_tables, upsert_rows
from core.store.pg_copy import encode_rows
from core.store.upsert import COPY_THRESHOLD

FILLER = COPY_THRESHOLD  # rows added to the COPY batch so it crosses the threshold


def _tables(name: str, value_type: Any) -> tuple[Table, Table]:
    meta = MetaData()
    return tuple(  # type: ignore[return-value]
        Table(f"t_{name}_{path}", meta, Column("k", Integer, primary_key=True), Column("v", value_type))
        for path in ("bound", "copy")
    )


@pytest.fixture(params=["psycopg2", "psycopg"])
def driver_url(request: pytest.FixtureRequest, pg_url: str) -> str:
    return pg_url.replace("postgresql+psycopg2://", f"postgresql+{request.param}://")


@pytest.fixture
def store(driver_url: str) -> Iterator[Store]:
    created = Store.from_url(driver_url)
    yield created
    created.dispose()


def _both_paths(
    store: Store, name: str, value_type: Any, values: Sequence[Any]
) -> tuple[list[Any], list[Any]]:
    """(values as stored by bound parameters, values as stored by COPY), in key order."""
    assert len(values) < COPY_THRESHOLD
    bound, copied = _tables(name, value_type)
    store.migrate(f"copy_types_{name}", (Migration(1, name, create_tables(bound, copied)),))
    rows = [{"k": k, "v": v} for k, v in enumerate(values)]
    filler = [{"k": 10_000 + n, "v": values[0]} for n in range(FILLER)]
    with store.transaction() as conn:
        upsert_rows(conn, bound, rows, ["k"])
        upsert_rows(conn, copied, rows + filler, ["k"])
    with store.engine.connect() as conn:
        return _read(conn, bound), _read(conn, copied)[: len(values)]


def _read(conn: Connection, table: Table) -> list[Any]:
    # Whether it is SQL NULL too: JSON null and SQL NULL both read back as None.
    return [
        tuple(row)
        for row in conn.execute(
            select(table.c.k, table.c.v, table.c.v.is_(None).label("is_null")).order_by(table.c.k)
        )
    ]


TEXT_VALUES = ["plain", "", None, "back\\slash", "tab\there", "new\nline\r\n", "\\N", "ünïcödé ✓", "a\\tb"]
CASES: dict[str, tuple[Any, list[Any]]] = {
    "text": (Text, TEXT_VALUES),
    "string": (String(40), TEXT_VALUES),
    "bytea": (
        LargeBinary,
        [b"\x00\x01\xff", b"", None, b"\\x41", b"\t\n\r\\", bytearray(b"ab"), memoryview(b"cd")],
    ),
    "json": (
        JSON,
        [{"a": [1, 2.5, None]}, None, "str", ["\\", "\t\n", "\u0000"], {"nested": {"q": '"'}}, 0, True],
    ),
    "json_none_as_null": (JSON(none_as_null=True), [{"a": 1}, None, []]),
    "jsonb_variant": (
        JSON().with_variant(JSONB(), "postgresql"),
        [{"b": 1, "a": "x\\y"}, None, ["tab\t"], {"emoji": "✓"}, 1.5],
    ),
    "text_jsonb_variant": (Text().with_variant(JSONB(), "postgresql"), [{"a": 1}, None, ["x"]]),
    "boolean": (Boolean, [True, False, None, 1, 0]),
    "timestamptz": (
        DateTime(timezone=True),
        [
            dt.datetime(2026, 11, 29, 12, 30, 1, 123456, tzinfo=dt.UTC),
            dt.datetime(2026, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=-5, minutes=-30))),
            None,
            dt.datetime(1, 1, 1, tzinfo=dt.UTC),
        ],
    ),
    "timestamp": (
        DateTime,
        [dt.datetime(2026, 11, 29, 12, 30), None, dt.datetime(2000, 2, 29, 23, 59, 59, 1)],
    ),
    "date": (Date, [dt.date(2026, 11, 29), None, dt.date(1970, 1, 1)]),
    "integer": (BigInteger, [0, -1, 2**62, None]),
    "float": (Float, [0.1, -1e300, 5e-324, None, float("inf"), float("-inf")]),
    "text_array": (
        ARRAY(Text),
        [["a", "b"], [], None, ['q"uote', "back\\slash", "tab\t", None, "NULL", "{}", ","]],
    ),
    "int_array": (ARRAY(Integer), [[1, 2, 3], [], None, [None, -4]]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_copy_stores_each_type_as_bound_parameters_do(store: Store, case: str) -> None:
    value_type, values = CASES[case]
    bound, copied = _both_paths(store, case, value_type, values)
    assert copied == bound
    assert len(bound) == len(values)


def test_bytea_round_trips_through_copy(store: Store) -> None:
    payload = bytes(range(256)) * 4
    _bound, copied = _both_paths(store, "bytea_all", LargeBinary, [payload, b"\\\\"])
    assert [bytes(value) for _k, value, _t in copied] == [payload, b"\\\\"]


def test_json_none_is_json_null_and_none_as_null_is_sql_null(store: Store) -> None:
    _b, copied = _both_paths(store, "json_null", JSON, [None])
    assert copied[0][1:] == (None, False)  # JSON null
    _b, copied = _both_paths(store, "json_sql_null", JSON(none_as_null=True), [None])
    assert copied[0][1:] == (None, True)  # SQL NULL


def test_a_nul_in_text_names_table_column_and_row_and_writes_nothing(store: Store) -> None:
    _bound, copied = _tables("nul", Text)
    store.migrate("copy_types_nul", (Migration(1, "nul", create_tables(copied)),))
    rows = [{"k": n, "v": "fine"} for n in range(FILLER)] + [{"k": 999, "v": "bad\x00value"}]
    with pytest.raises(DataValidationError) as raised, store.transaction() as conn:
        upsert_rows(conn, copied, rows, ["k"])
    message = str(raised.value)
    assert "t_nul_copy" in message and "at=v" in message and "999" in message
    assert "NUL" in message
    assert classify_failure(raised.value) is CollectorFailureCategory.VALIDATION
    with store.engine.connect() as conn:
        assert conn.execute(select(copied.c.k)).all() == []


@pytest.mark.parametrize(
    ("value_type", "good", "bad"), [(LargeBinary, b"ok", "text"), (Boolean, True, "false")]
)
def test_a_value_its_column_cannot_take_is_named(value_type: Any, good: Any, bad: Any) -> None:
    _bound, copied = _tables("wrong", value_type)
    with pytest.raises(DataValidationError, match=r"row 1 .*'k': 7.*str cannot be written.*at=v"):
        encode_rows(copied, ["k", "v"], [{"k": 6, "v": good}, {"k": 7, "v": bad}])


def test_expect_new_falls_back_to_the_upsert_on_an_existing_key(store: Store) -> None:
    _bound, copied = _tables("fallback", LargeBinary)
    store.migrate("copy_types_fallback", (Migration(1, "fallback", create_tables(copied)),))
    first = [{"k": n, "v": b"old"} for n in range(FILLER)]
    second = [{"k": n, "v": b"new"} for n in range(FILLER // 2, FILLER * 2)]
    with store.transaction() as conn:
        assert upsert_rows(conn, copied, first, ["k"], expect_new=True, count_inserted=True) == FILLER
    with store.transaction() as conn:
        inserted = upsert_rows(conn, copied, second, ["k"], expect_new=True, count_inserted=True)
    assert inserted == FILLER * 2 - FILLER
    with store.engine.connect() as conn:
        stored = {row.k: bytes(row.v) for row in conn.execute(select(copied))}
    assert len(stored) == FILLER * 2
    assert stored[0] == b"old" and stored[FILLER // 2] == b"new" and stored[FILLER * 2 - 1] == b"new"
