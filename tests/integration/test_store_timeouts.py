"""The store never waits for ever (docs/configuration.md, "Store timeouts").

A database host that accepts connections and never answers, and a statement that runs too
long, fail as ``timeout``; the timeouts are configurable by the store URL (the
``collector_db`` connection's extras) and by environment variables.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import text

from core.errors import CollectorFailureCategory as Cat
from core.errors import ConfigError, classify_failure
from core.store.engine import CONNECT_TIMEOUT_ENV, STATEMENT_TIMEOUT_ENV, create_store_engine
from tests.fakes.pg_wire import BlackHoleServer


def _outcome(action: Callable[[], object], bound_seconds: float = 60) -> BaseException | None:
    """Run ``action`` in a thread; the error it raised. Fails the test if it never returns."""
    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            action()
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(bound_seconds)
    assert not thread.is_alive(), "the store call hung instead of timing out"
    return outcome[0]


def _connect(url: str) -> None:
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    finally:
        engine.dispose()


def test_host_that_never_answers_times_out_by_the_url_setting():
    with BlackHoleServer() as server:
        error = _outcome(
            lambda: _connect(f"postgresql://collector@127.0.0.1:{server.port}/db?connect_timeout=1")
        )
    assert isinstance(error, sqlalchemy.exc.OperationalError)
    assert classify_failure(error) is Cat.TIMEOUT


def test_host_that_never_answers_times_out_by_the_environment(monkeypatch):
    monkeypatch.setenv(CONNECT_TIMEOUT_ENV, "0.5")
    with BlackHoleServer() as server:
        error = _outcome(lambda: _connect(f"postgresql://collector@127.0.0.1:{server.port}/db"))
    assert isinstance(error, sqlalchemy.exc.OperationalError)
    assert classify_failure(error) is Cat.TIMEOUT


def _sleep(url: str) -> None:
    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            conn.execute(text("SELECT pg_sleep(30)"))
    finally:
        engine.dispose()


def test_statement_timeout_from_the_environment_is_timeout(pg_url, monkeypatch):
    monkeypatch.setenv(STATEMENT_TIMEOUT_ENV, "0.2")
    error = _outcome(lambda: _sleep(pg_url))
    assert isinstance(error, sqlalchemy.exc.OperationalError)
    assert error.orig.pgcode == "57014"  # type: ignore[union-attr]
    assert classify_failure(error) is Cat.TIMEOUT


def test_statement_timeout_in_the_url_wins_over_the_environment(pg_url, monkeypatch):
    monkeypatch.setenv(STATEMENT_TIMEOUT_ENV, "0")  # 0: off
    error = _outcome(lambda: _sleep(f"{pg_url}?statement_timeout=0.2"))
    assert classify_failure(error) is Cat.TIMEOUT
    engine = create_store_engine(f"{pg_url}?statement_timeout=0.2&options=-c%20statement_timeout%3D7s")
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "7s"
    finally:
        engine.dispose()


def test_postgresql_defaults_bound_every_wait(pg_url, monkeypatch):
    monkeypatch.delenv(CONNECT_TIMEOUT_ENV, raising=False)
    monkeypatch.delenv(STATEMENT_TIMEOUT_ENV, raising=False)
    engine = create_store_engine(pg_url)
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "15min"
            dsn = conn.connection.dbapi_connection.get_dsn_parameters()  # type: ignore[union-attr]
    finally:
        engine.dispose()
    assert dsn["connect_timeout"] == "10"
    assert dsn["keepalives"] == "1"
    assert dsn["keepalives_idle"] == "30"
    assert dsn["keepalives_count"] == "3"
    assert dsn["tcp_user_timeout"] == "60000"


@pytest.mark.parametrize(
    ("url_suffix", "env", "named"),
    [
        ("?statement_timeout=soon", {}, "statement_timeout"),
        ("?connect_timeout=-1", {}, "connect_timeout"),
        ("", {STATEMENT_TIMEOUT_ENV: "15min"}, STATEMENT_TIMEOUT_ENV),
        ("", {CONNECT_TIMEOUT_ENV: "inf"}, CONNECT_TIMEOUT_ENV),
    ],
)
def test_bad_timeout_settings_name_the_setting(monkeypatch, url_suffix, env, named):
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    with pytest.raises(ConfigError, match=named):
        create_store_engine(f"postgresql://collector@127.0.0.1:1/db{url_suffix}")


def test_sqlite_busy_timeout_default_and_url_setting(tmp_path: Path):
    for suffix, expected in (("", 30000), ("?timeout=0.25", 250)):
        engine = create_store_engine(f"sqlite:///{tmp_path / 'store.db'}{suffix}")
        try:
            with engine.connect() as conn:
                assert conn.execute(text("PRAGMA busy_timeout")).scalar() == expected
        finally:
            engine.dispose()


def test_collector_db_extras_set_the_timeouts_even_as_numbers(pg_url, monkeypatch):
    from airflow_collectors.connections import store_url

    with BlackHoleServer() as server:
        monkeypatch.setenv(
            "AIRFLOW_CONN_TIMEOUT_STORE",
            json.dumps(
                {
                    "conn_type": "postgres",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "login": "collector",
                    "password": "p@ss word",
                    "schema": "db",
                    "extra": {"connect_timeout": 1, "sslmode": "disable"},
                }
            ),
        )
        error = _outcome(lambda: _connect(str(store_url("timeout_store"))))
    assert classify_failure(error) is Cat.TIMEOUT
    target = sqlalchemy.engine.make_url(pg_url)
    monkeypatch.setenv(
        "AIRFLOW_CONN_TIMEOUT_STORE",
        json.dumps(
            {
                "conn_type": "postgres",
                "host": target.host,
                "port": target.port,
                "login": target.username,
                "schema": target.database,
                "extra": {"statement_timeout": 0.25},
            }
        ),
    )
    engine = create_store_engine(store_url("timeout_store"))
    try:
        with engine.connect() as conn:
            assert conn.execute(text("SHOW statement_timeout")).scalar() == "250ms"
    finally:
        engine.dispose()
