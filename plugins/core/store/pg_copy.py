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
    ARRAY,
    JSON,
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    LargeBinary,
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
from sqlalchemy.types import TypeDecorator

from core.errors import DataValidationError

__all__ = [
    "NULL",
    "CopyRows",
    "copy_json",
    "copy_supported",
    "copy_text",
    "copy_upsert",
    "encode_rows",
    "on_conflict",
    "staged_insert",
]

NULL = "\\N"
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_COPY_BUFFER = 1 << 20
_DIALECT = postgresql.dialect()
_UNIQUE_VIOLATION = "23505"


@dataclasses.dataclass(frozen=True)
class CopyRows:
    """Rows in COPY text format, one line each, unique on the key they are upserted on."""

    columns: tuple[str, ...]
    data: bytes
    count: int

    def __len__(self) -> int:
        return self.count


COPY_DRIVERS = frozenset({"psycopg2", "psycopg"})


def copy_supported(bind: Connection | Engine) -> bool:
    """Whether ``bind`` takes :class:`CopyRows` (PostgreSQL through psycopg2 or psycopg 3)."""
    return bind.dialect.name == "postgresql" and bind.dialect.driver in COPY_DRIVERS


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


def _json_null(value: Any) -> str:
    return NULL if value is None else copy_json(value)


def _json_none_as_json(value: Any) -> str:
    return copy_json(value)  # ``None`` is the JSON ``null``, as SQLAlchemy binds it (none_as_null=False)


def _boolean(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, str):  # SQLAlchemy's Boolean refuses "true" as well: no silent truthiness
        raise TypeError("not a boolean")
    return "t" if value else "f"


def _instant(value: Any) -> str:
    if value is None:
        return NULL
    return copy_text(value) if isinstance(value, str) else value.isoformat()


def _bytea(value: Any) -> str:
    # bytea's hex input form ``\x0a1b``; COPY text doubles the backslash.
    return NULL if value is None else "\\\\x" + bytes(value).hex()


def _array_element(value: Any, element: Callable[[Any], str | None]) -> str:
    if isinstance(value, list | tuple):
        return "{" + ",".join(_array_element(item, element) for item in value) + "}"
    raw = element(value)
    if raw is None:
        return "NULL"
    return '"' + raw.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _raw_element(column_type: Any) -> Callable[[Any], str | None]:
    """An array element's own text (no COPY escaping: the whole literal is escaped once)."""
    if isinstance(column_type, LargeBinary):
        return lambda v: None if v is None else "\\x" + bytes(v).hex()
    if isinstance(column_type, Boolean):
        return lambda v: None if v is None else ("t" if v else "f")
    if isinstance(column_type, DateTime | Date):
        return lambda v: None if v is None else (v if isinstance(v, str) else v.isoformat())
    if isinstance(column_type, JSON):
        return lambda v: None if v is None else orjson.dumps(v).decode()
    return lambda v: None if v is None else (v if isinstance(v, str) else str(v))


def _array(column_type: ARRAY) -> Callable[[Any], str]:
    element = _raw_element(column_type.item_type.dialect_impl(_DIALECT))

    def convert(value: Any) -> str:
        return NULL if value is None else copy_text(_array_element(list(value), element))

    return convert


def _decorated(column_type: TypeDecorator[Any]) -> Callable[[Any], str]:
    inner = _converter(column_type.impl_instance)

    def convert(value: Any) -> str:
        return inner(column_type.process_bind_param(value, _DIALECT))

    return convert


def _converter(column_type: Any) -> Callable[[Any], str]:
    """How a value of ``column_type`` is written as a COPY field, matching what the driver binds."""
    if isinstance(column_type, TypeDecorator):
        return _decorated(column_type)
    column_type = column_type.dialect_impl(_DIALECT)  # a ``with_variant`` type: its PostgreSQL side
    if isinstance(column_type, ARRAY):
        return _array(column_type)
    if isinstance(column_type, JSON):
        return _json_null if column_type.none_as_null else _json_none_as_json
    if isinstance(column_type, LargeBinary):
        return _bytea
    if isinstance(column_type, Boolean):
        return _boolean
    if isinstance(column_type, DateTime | Date):
        return _instant
    return _text


def encode_rows(table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> CopyRows:
    """``rows`` (already unique on their key) as COPY text.

    A value its column cannot take (a NUL character in text, a ``str`` for a binary column...)
    raises :class:`~core.errors.DataValidationError` naming the table, the column and the row.
    """
    converters = [(name, _converter(table.c[name].type)) for name in columns]
    try:
        lines = ["\t".join([convert(row[name]) for name, convert in converters]) for row in rows]
    except Exception:  # find the culprit, then say which one it is
        _raise_bad_value(table, converters, rows)
        raise
    lines.append("")
    data = "\n".join(lines).encode()
    if b"\x00" in data:  # PostgreSQL text cannot hold NUL; JSON escapes it, so only text fields carry one
        _raise_bad_value(table, converters, rows)
    return CopyRows(tuple(columns), data, len(rows))


def _raise_bad_value(
    table: Table, converters: Sequence[tuple[str, Callable[[Any], str]]], rows: Sequence[Mapping[str, Any]]
) -> None:
    key_names = [column.name for column in table.primary_key.columns]
    for index, row in enumerate(rows):
        for name, convert in converters:
            try:
                problem = (
                    "a NUL character (PostgreSQL text cannot hold one)"
                    if "\x00" in convert(row[name])
                    else None
                )
            except Exception as exc:  # noqa: BLE001
                problem = f"{type(row[name]).__name__} cannot be written to a {table.c[name].type} column ({type(exc).__name__})"
            if problem:
                key = {k: row[k] for k in key_names if k in row}
                raise DataValidationError(
                    f"row {index} {key or ''} has {problem}".replace("  ", " "),
                    source=table.name,
                    location=name,
                )


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


def staged_insert(
    conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]], key_columns: Sequence[str]
) -> Any:
    """COPY ``rows`` (mappings with one shape, unique on the key) into a staging table; returns
    ``INSERT INTO table SELECT ... FROM staging ORDER BY key`` for the caller to finish with its
    own ``on_conflict_do_update`` (``.excluded`` works as for a VALUES insert) and execute.

    For upserts whose merge rules ``upsert_rows`` cannot express (CASE expressions per column):
    a multi-row VALUES statement is built and compiled afresh by SQLAlchemy for every batch,
    which costs more than the COPY and the INSERT ... SELECT together.
    """
    columns = tuple(rows[0].keys())
    copy_rows = encode_rows(table, columns, rows)
    stage, ready = _staging(table, copy_rows.columns)
    conn.exec_driver_sql(ready)
    _copy(conn, stage.name, copy_rows.columns, copy_rows.data)
    source = select(*(stage.c[name] for name in copy_rows.columns)).order_by(
        *(stage.c[name] for name in key_columns)
    )
    return postgresql.insert(table).from_select(list(copy_rows.columns), source)


def _inserted_directly(conn: Connection, table: Table, rows: CopyRows, constants: Mapping[str, Any]) -> bool:
    """COPY ``rows`` into ``table`` itself; False, with nothing written, when a key exists already."""
    data = rows.data
    if constants:
        shared = "\t".join(_converter(table.c[name].type)(value) for name, value in constants.items())
        data = data.replace(b"\n", f"\t{shared}\n".encode())
    savepoint = conn.begin_nested()
    try:
        _copy(conn, conn.dialect.identifier_preparer.format_table(table), (*rows.columns, *constants), data)
    except Exception as exc:
        # Both drivers carry the SQLSTATE: psycopg2 as ``pgcode``, psycopg 3 as ``sqlstate``.
        if _UNIQUE_VIOLATION not in {getattr(exc, "pgcode", None), getattr(exc, "sqlstate", None)}:
            raise
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def _copy(conn: Connection, table_name: str, columns: Sequence[str], data: bytes) -> None:
    names = ", ".join(conn.dialect.identifier_preparer.quote(name) for name in columns)
    sql = f"COPY {table_name} ({names}) FROM STDIN"
    cursor: Any = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        if conn.dialect.driver == "psycopg2":
            cursor.copy_expert(sql, io.BytesIO(data), _COPY_BUFFER)
            return
        with cursor.copy(sql) as copy:  # psycopg 3
            view = memoryview(data)
            for start in range(0, len(view), _COPY_BUFFER):
                copy.write(view[start : start + _COPY_BUFFER])
    finally:
        cursor.close()
