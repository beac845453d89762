"""PostgreSQL bulk upsert: COPY the batch into a temporary table, then one INSERT ... SELECT ... ON CONFLICT.

Row-by-row ``executemany`` of an upsert costs a round trip per row; this costs three
statements per batch, whatever its size, and a batch of new keys can skip the staging table
(``expect_new``). Rows arrive as :class:`CopyRows`, COPY text that :func:`encode_rows` makes
from mappings, or that a hot path writes itself with :func:`copy_text` and :func:`copy_json`
(no dict per row at all).
"""

from __future__ import annotations

import dataclasses
import functools
import io
import zlib
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    MetaData,
    Table,
    func,
    literal,
    literal_column,
    select,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.schema import CreateTable

__all__ = [
    "NULL",
    "CopyRows",
    "copy_json",
    "copy_supported",
    "copy_text",
    "copy_upsert",
    "encode_rows",
    "on_conflict",
]

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_BUFFER = 1 << 20


@dataclasses.dataclass(frozen=True)
class CopyRows:
    """Rows in COPY text format, one line each, unique on the key they are upserted on."""

    columns: tuple[str, ...]
    data: bytes
    count: int

    def __len__(self) -> int:
        return self.count


def copy_supported(bind: Connection | Engine) -> bool:
    """Whether ``bind`` takes :class:`CopyRows` (PostgreSQL through psycopg2)."""
    return bind.dialect.name == "postgresql" and bind.dialect.driver == "psycopg2"


def copy_text(value: str) -> str:
    """A text field: backslash, tab, newline and carriage return escaped."""
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_ESCAPES)
    return value


def copy_json(value: Any) -> str:
    """A JSON field (orjson escapes control characters itself, so only backslashes remain)."""
    encoded = orjson.dumps(value).decode()
    return encoded.replace("\\", "\\\\") if "\\" in encoded else encoded


def _text(value: Any) -> str:
    return NULL if value is None else copy_text(value if isinstance(value, str) else str(value))


def _json(value: Any) -> str:
    return NULL if value is None else copy_json(value)


def _boolean(value: Any) -> str:
    return NULL if value is None else ("t" if value else "f")


def _instant(value: Any) -> str:
    return NULL if value is None else value.isoformat()


def _converter(column_type: Any) -> Callable[[Any], str]:
    if isinstance(column_type, JSON):
        return _json
    if isinstance(column_type, Boolean):
        return _boolean
    if isinstance(column_type, DateTime | Date):
        return _instant
    return _text


def encode_rows(table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> CopyRows:
    """``rows`` (already unique on their key) as COPY text."""
    converters = [(name, _converter(table.c[name].type)) for name in columns]
    lines = ["\t".join([convert(row[name]) for name, convert in converters]) for row in rows]
    lines.append("")
    return CopyRows(tuple(columns), "\n".join(lines).encode(), len(rows))


@functools.lru_cache(maxsize=64)
def _staging(table: Table, columns: tuple[str, ...]) -> tuple[Table, str]:
    """The staging table for ``columns`` of ``table`` and the SQL that readies it for a batch.

    A temporary table lives as long as the connection; its name includes the column list, so
    batches of other shapes never meet it, and emptying it first keeps a second upsert in
    the same transaction clean.
    """
    digest = zlib.crc32(",".join(columns).encode())
    stage = Table(
        f"_stage_{table.name[:40]}_{digest:08x}",
        MetaData(),
        *(Column(name, table.c[name].type) for name in columns),
        prefixes=["TEMPORARY"],
        postgresql_on_commit="DELETE ROWS",
    )
    create = str(CreateTable(stage, if_not_exists=True).compile(dialect=postgresql.dialect()))
    return stage, f"{create.strip()}; DELETE FROM {stage.name}"


def on_conflict(
    insert: Any,
    table: Table,
    key_columns: Sequence[str],
    updates: Sequence[str],
    where: ColumnElement[bool] | None,
) -> Any:
    """``insert`` (a PostgreSQL or SQLite dialect insert) made an upsert on ``key_columns``:
    update ``updates`` from the incoming row where ``where`` holds, or do nothing."""
    keys = [table.c[k] for k in key_columns]
    if not updates:
        return insert.on_conflict_do_nothing(index_elements=keys)
    return insert.on_conflict_do_update(
        index_elements=keys, set_={c: insert.excluded[c] for c in updates}, where=where
    )


def copy_upsert(
    conn: Connection,
    table: Table,
    rows: CopyRows,
    key_columns: Sequence[str],
    updates: Sequence[str],
    where: ColumnElement[bool] | None,
    *,
    constants: Mapping[str, Any] | None = None,
    count_inserted: bool = False,
    expect_new: bool = False,
) -> int:
    """Upsert ``rows`` through COPY into a staging table; ``constants`` are columns every row shares.

    With ``expect_new`` the rows are first COPYed straight into ``table``, inside a savepoint:
    if a key exists already, that attempt is undone and the batch is upserted as usual.
    Returns the rows submitted, or with ``count_inserted`` the rows that were new.
    """
    shared = dict(constants or {})
    if expect_new and _inserted_directly(conn, table, rows, shared):
        return rows.count
    stage, ready = _staging(table, rows.columns)
    conn.exec_driver_sql(ready)
    _copy(conn, stage.name, rows.columns, rows.data)
    source = select(
        *(stage.c[name] for name in rows.columns),
        *(literal(value, table.c[name].type).label(name) for name, value in shared.items()),
    ).order_by(*(stage.c[name] for name in key_columns))  # one lock order for concurrent upserts
    statement = on_conflict(
        postgresql.insert(table).from_select([*rows.columns, *shared], source),
        table,
        key_columns,
        updates,
        where,
    )
    if not count_inserted:
        conn.execute(statement)
        return rows.count
    # A row this statement inserted has no xmax; one it updated carries the lock taken on the conflict.
    upserted = statement.returning(literal_column("xmax = 0").label("inserted")).cte("upserted")
    return conn.execute(select(func.count()).select_from(upserted).where(upserted.c.inserted)).scalar_one()


def _inserted_directly(conn: Connection, table: Table, rows: CopyRows, constants: Mapping[str, Any]) -> bool:
    """COPY ``rows`` into ``table`` itself; False, with nothing written, when a key exists already."""
    from psycopg2.errors import UniqueViolation  # here, not at the top: parsing a DAG loads no driver

    data = rows.data
    if constants:
        shared = "\t".join(_converter(table.c[name].type)(value) for name, value in constants.items())
        data = data.replace(b"\n", f"\t{shared}\n".encode())
    savepoint = conn.begin_nested()
    try:
        _copy(conn, conn.dialect.identifier_preparer.format_table(table), (*rows.columns, *constants), data)
    except UniqueViolation:
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _copy(conn: Connection, table_name: str, columns: Sequence[str], data: bytes) -> None:
    names = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in columns)
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.copy_expert(f"COPY {table_name} ({names}) FROM STDIN", io.BytesIO(data), _COPY_BUFFER)
    finally:
        cursor.close()
