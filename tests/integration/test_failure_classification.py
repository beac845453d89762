"""Database and resource failures, provoked for real, land in the category the retry policy
and the alerts need (docs/operations.md, "Failure categories").

Real PostgreSQL for everything it can be made to do (missing database or role, connection
limit, deadlock, NOWAIT, lock_timeout, temp_file_limit); a real libpq talking to a local
wire-protocol fake for what the shared server cannot do (refused password, disk full, out of
memory); real SQLite, a real /dev/full and a real MemoryError for the rest.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import sqlalchemy
from sqlalchemy import text

from airflow_collectors.retry import CollectorRetryPolicy
from core.errors import CollectorFailureCategory as Cat
from core.errors import classify_failure
from core.store.engine import create_store_engine
from tests.conftest import PG_HOST, PG_PORT, PG_USER, _admin_connection
from tests.fakes.pg_wire import PgWireServer


def _connect_error(url: str) -> BaseException:
    engine = create_store_engine(url)
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError) as caught, engine.connect():
            pass
    finally:
        engine.dispose()
    return caught.value


# --------------------------------------------------------------------------- connecting


@pytest.mark.usefixtures("_postgres_server")
def test_missing_database_is_validation_and_never_retried():
    error = _connect_error(f"postgresql://{PG_USER}@{PG_HOST}:{PG_PORT}/absent_{uuid.uuid4().hex[:10]}")
    assert "does not exist" in str(error)
    assert classify_failure(error) is Cat.VALIDATION
    assert CollectorRetryPolicy().evaluate(error, 1, 4).action.value == "fail"


@pytest.mark.usefixtures("_postgres_server")
def test_missing_role_is_validation():
    error = _connect_error(f"postgresql://nobody_{uuid.uuid4().hex[:10]}@{PG_HOST}:{PG_PORT}/postgres")
    assert "role" in str(error) and "does not exist" in str(error)
    assert classify_failure(error) is Cat.VALIDATION


@pytest.fixture
def role_without_connection_slots(_postgres_server: None) -> Iterator[str]:
    name = f"ct_role_{uuid.uuid4().hex[:10]}"
    admin = _admin_connection()
    with admin.cursor() as cursor:
        cursor.execute(f'CREATE ROLE "{name}" LOGIN CONNECTION LIMIT 0')
    yield name
    with admin.cursor() as cursor:
        cursor.execute(f'DROP ROLE IF EXISTS "{name}"')
    admin.close()


def test_too_many_connections_is_resource(role_without_connection_slots):
    error = _connect_error(f"postgresql://{role_without_connection_slots}@{PG_HOST}:{PG_PORT}/postgres")
    assert "too many connections" in str(error)
    assert classify_failure(error) is Cat.RESOURCE


def test_refused_password_is_auth():
    with PgWireServer(
        startup_error=("28P01", 'password authentication failed for user "collector"')
    ) as server:
        error = _connect_error(server.url())
    assert "password authentication failed" in str(error)
    assert classify_failure(error) is Cat.AUTH


@pytest.mark.parametrize(
    ("sqlstate", "message"),
    [
        ("53100", 'could not extend file "base/16384/16385": No space left on device'),
        ("53200", "out of memory"),
    ],
)
def test_disk_full_and_out_of_memory_on_postgresql_are_resource(sqlstate, message):
    with PgWireServer(query_error=(sqlstate, message)) as server:
        conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="c", dbname="db", sslmode="disable")
        try:
            with pytest.raises(psycopg2.Error) as caught:
                conn.cursor().execute("INSERT INTO t VALUES (1)")
        finally:
            conn.close()
    assert caught.value.pgcode == sqlstate
    assert classify_failure(caught.value) is Cat.RESOURCE


# --------------------------------------------------------------------------- concurrent writers


@pytest.fixture
def pg_engine(pg_url: str) -> Iterator[sqlalchemy.Engine]:
    engine = create_store_engine(pg_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE rows (id int PRIMARY KEY, v int)"))
        conn.execute(text("INSERT INTO rows VALUES (1, 0), (2, 0)"))
    yield engine
    engine.dispose()


def test_deadlock_is_conflict_and_retried_with_a_short_backoff(pg_engine):
    barrier = threading.Barrier(2, timeout=20)
    errors: list[BaseException] = []

    def writer(first: int, second: int) -> None:
        try:
            with pg_engine.begin() as conn:
                conn.execute(text("SET LOCAL deadlock_timeout = '50ms'"))
                conn.execute(text("UPDATE rows SET v = v + 1 WHERE id = :id"), {"id": first})
                barrier.wait()
                conn.execute(text("UPDATE rows SET v = v + 1 WHERE id = :id"), {"id": second})
        except sqlalchemy.exc.DBAPIError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=pair) for pair in ((1, 2), (2, 1))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(errors) == 1, errors
    error = errors[0]
    assert isinstance(error.orig, psycopg2.errors.DeadlockDetected)
    assert classify_failure(error) is Cat.CONFLICT
    policy = CollectorRetryPolicy(conflict_base_delay_seconds=5, conflict_jitter_fraction=0)
    decision = policy.evaluate(error, 1, 4)
    assert decision.action.value == "retry"
    assert decision.retry_delay is not None and decision.retry_delay.total_seconds() == 5


@pytest.mark.parametrize(
    "statement",
    [
        "SELECT v FROM rows WHERE id = 1 FOR UPDATE NOWAIT",
        "SET LOCAL lock_timeout = '100ms'; UPDATE rows SET v = 2 WHERE id = 1",
    ],
    ids=["nowait", "lock_timeout"],
)
def test_lock_not_available_is_conflict(pg_engine, statement):
    with pg_engine.connect() as holder:
        holder.execute(text("SELECT v FROM rows WHERE id = 1 FOR UPDATE"))
        with pytest.raises(sqlalchemy.exc.OperationalError) as caught, pg_engine.begin() as conn:
            conn.execute(text(statement))
        holder.rollback()
    assert caught.value.orig.pgcode == "55P03"
    assert classify_failure(caught.value) is Cat.CONFLICT


def test_configured_resource_limit_on_postgresql_is_resource(pg_engine):
    with pytest.raises(sqlalchemy.exc.OperationalError) as caught, pg_engine.begin() as conn:
        conn.execute(text("SET LOCAL work_mem = '64kB'"))
        conn.execute(text("SET LOCAL temp_file_limit = '64kB'"))
        conn.execute(text("SELECT g FROM generate_series(1, 200000) g ORDER BY md5(g::text)")).all()
    assert caught.value.orig.pgcode == "53400"
    assert classify_failure(caught.value) is Cat.RESOURCE


# --------------------------------------------------------------------------- SQLite and the OS


def test_sqlite_database_full_is_resource(tmp_path: Path):
    engine = create_store_engine(f"sqlite:///{tmp_path / 'small.db'}")
    try:
        with pytest.raises(sqlalchemy.exc.OperationalError) as caught, engine.begin() as conn:
            conn.execute(text("PRAGMA max_page_count = 8"))
            conn.execute(text("CREATE TABLE blobs (b TEXT)"))
            for _ in range(100):
                conn.execute(text("INSERT INTO blobs VALUES (:b)"), {"b": "x" * 4000})
    finally:
        engine.dispose()
    assert "database or disk is full" in str(caught.value)
    assert classify_failure(caught.value) is Cat.RESOURCE


def test_sqlite_database_locked_past_the_busy_timeout_is_conflict(tmp_path: Path):
    url = f"sqlite:///{tmp_path / 'busy.db'}?timeout=0.2"
    engine = create_store_engine(url)
    other = create_store_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x int)"))
        with other.connect() as holder:
            holder.exec_driver_sql("BEGIN IMMEDIATE")
            holder.exec_driver_sql("INSERT INTO t VALUES (1)")
            with pytest.raises(sqlalchemy.exc.OperationalError) as caught, engine.begin() as conn:
                conn.execute(text("INSERT INTO t VALUES (2)"))
            holder.rollback()
    finally:
        engine.dispose()
        other.dispose()
    assert "database is locked" in str(caught.value)
    assert classify_failure(caught.value) is Cat.CONFLICT


def test_no_space_left_on_device_is_resource():
    with pytest.raises(OSError) as caught, open("/dev/full", "w") as full:
        full.write("x" * 65536)
        full.flush()
    assert classify_failure(caught.value) is Cat.RESOURCE


def test_memory_error_is_resource_and_backs_off():
    with pytest.raises(MemoryError) as caught:
        bytearray(1 << 62)
    assert classify_failure(caught.value) is Cat.RESOURCE
    decision = CollectorRetryPolicy(base_delay_seconds=60, jitter_fraction=0).evaluate(caught.value, 2, 4)
    assert decision.action.value == "retry"
    assert decision.retry_delay is not None and decision.retry_delay.total_seconds() == 120


@pytest.mark.parametrize(
    ("sqlstate", "message", "category"),
    [
        ("40001", "could not serialize access due to concurrent update", Cat.CONFLICT),
        ("25P03", "terminating connection due to idle-in-transaction timeout", Cat.TIMEOUT),
        ("57P05", "terminating connection due to idle-session timeout", Cat.TIMEOUT),
        ("57P01", "terminating connection due to administrator command", Cat.NETWORK),
        ("42501", "permission denied for table rows", Cat.PERMISSION),
        ("3D000", 'database "gone" does not exist', Cat.VALIDATION),
    ],
)
def test_in_session_errors_are_classified_by_sqlstate(sqlstate, message, category):
    with PgWireServer(query_error=(sqlstate, message)) as server:
        conn = psycopg2.connect(host="127.0.0.1", port=server.port, user="c", dbname="db", sslmode="disable")
        try:
            with pytest.raises(psycopg2.Error) as caught:
                conn.cursor().execute("SELECT 1")
        finally:
            conn.close()
    assert caught.value.pgcode == sqlstate
    assert classify_failure(caught.value) is category


def test_sqlite_store_that_cannot_be_opened_or_is_not_a_database_is_validation(tmp_path: Path):
    not_a_db = tmp_path / "notes.db"
    not_a_db.write_text("these are notes, not a database " * 100)
    for url in (f"sqlite:///{tmp_path}", f"sqlite:///{not_a_db}"):
        engine = create_store_engine(url)
        try:
            with pytest.raises(sqlalchemy.exc.DBAPIError) as caught, engine.connect() as conn:
                conn.execute(text("SELECT count(*) FROM sqlite_master")).all()
        finally:
            engine.dispose()
        assert classify_failure(caught.value) is Cat.VALIDATION, caught.value
