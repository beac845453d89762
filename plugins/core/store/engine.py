"""Where the store lives: an engine for PostgreSQL (production) or the embedded SQLite default.

Every PostgreSQL connection gets a connect timeout, a statement timeout and TCP keepalives,
so a database host that accepts connections and never answers fails the step as
``timeout`` instead of hanging it (docs/configuration.md, "Store timeouts"). Precedence:
the store URL's query parameters (the ``collector_db`` connection's extras), then the
environment variables below, then the defaults.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from core.errors import ConfigError

__all__ = [
    "CONNECT_TIMEOUT_ENV",
    "DEFAULT_CONNECT_TIMEOUT_SECONDS",
    "DEFAULT_SQLITE_BUSY_TIMEOUT_SECONDS",
    "DEFAULT_STATEMENT_TIMEOUT_SECONDS",
    "STATEMENT_TIMEOUT_ENV",
    "create_store_engine",
    "default_sqlite_url",
    "local_state_dir",
    "normalize_url",
]

STATE_DIR_ENV = "COLLECTOR_STATE_DIR"
CONNECT_TIMEOUT_ENV = "COLLECTOR_DB_CONNECT_TIMEOUT"
STATEMENT_TIMEOUT_ENV = "COLLECTOR_DB_STATEMENT_TIMEOUT"
# A healthy server answers the whole handshake (TCP, TLS, SCRAM) in well under a second;
# 10 s leaves room for a loaded server or a far region and still fails fast enough for the
# retry policy's backoff to take over.
DEFAULT_CONNECT_TIMEOUT_SECONDS = 10
# The longest legitimate statements are batch upserts/COPY (seconds) and migrations that
# build an index on a large table (minutes). 15 min is far above both and far below the
# step's execution_timeout (180 min by default), so a stuck statement fails with retries left.
DEFAULT_STATEMENT_TIMEOUT_SECONDS = 900
DEFAULT_SQLITE_BUSY_TIMEOUT_SECONDS = 30.0
# libpq parameters: a peer that dies mid-query is noticed after ~60 s of silence
# (idle 30 s + 3 probes 10 s apart), and unacknowledged writes give up after 60 s.
_KEEPALIVE_DEFAULTS: dict[str, str] = {
    "keepalives": "1",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
    "tcp_user_timeout": "60000",
}


def local_state_dir() -> Path:
    """Folder for the embedded default's files (SQLite store, local vector sink, exports).

    ``$COLLECTOR_STATE_DIR`` when set, else ``.local/`` at the project root.
    """
    configured = os.environ.get(STATE_DIR_ENV)
    if configured:
        return Path(configured).expanduser().resolve()
    return Path(__file__).resolve().parents[3] / ".local"


def default_sqlite_url() -> str:
    return f"sqlite:///{local_state_dir() / 'collector.db'}"


def normalize_url(url: str) -> str:
    """Turn connection-style URIs (``postgres://``, ``postgresql://``) into SQLAlchemy URLs."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://") :]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg2://" + url[len("postgresql://") :]
    return url


def create_store_engine(url: str | None = None, *, echo: bool = False) -> Engine:
    """Engine for ``url`` (PostgreSQL or SQLite); ``None`` means the embedded SQLite default."""
    target = normalize_url(url) if url else default_sqlite_url()
    try:
        parsed = make_url(target)
    except Exception as exc:  # noqa: BLE001 - any parse failure is a config problem
        raise ConfigError(f"collector_db: not a database URL ({type(exc).__name__})") from None
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        query = dict(parsed.query)
        busy = _seconds(query.pop("timeout", None), "timeout", "the store URL")
        busy = DEFAULT_SQLITE_BUSY_TIMEOUT_SECONDS if busy is None else busy
        engine = create_engine(parsed.set(query=query), echo=echo, connect_args={"timeout": busy})
        event.listen(engine, "connect", _sqlite_pragmas(busy))
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"collector_db: unsupported database {parsed.get_backend_name()!r} (use postgresql)"
        )
    query, connect_args = _postgres_timeouts(parsed.query, os.environ)
    return create_engine(
        parsed.set(query=query),
        echo=echo,
        connect_args=connect_args,
        pool_pre_ping=True,
        pool_size=2,
        max_overflow=2,
    )


def _postgres_timeouts(
    url_query: Mapping[str, str | tuple[str, ...]], environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(URL query without our own keys, libpq connect arguments) with the timeouts applied."""
    query: dict[str, Any] = dict(url_query)
    statement = _seconds(query.pop("statement_timeout", None), "statement_timeout", "the store URL")
    if statement is None:
        statement = _seconds(environ.get(STATEMENT_TIMEOUT_ENV), STATEMENT_TIMEOUT_ENV, "the environment")
    if statement is None:
        statement = DEFAULT_STATEMENT_TIMEOUT_SECONDS
    connect = _seconds(query.pop("connect_timeout", None), "connect_timeout", "the store URL")
    if connect is None:
        connect = _seconds(environ.get(CONNECT_TIMEOUT_ENV), CONNECT_TIMEOUT_ENV, "the environment")
    if connect is None:
        connect = DEFAULT_CONNECT_TIMEOUT_SECONDS
    # libpq takes whole seconds (0: wait for ever), so a fraction rounds up.
    connect_args: dict[str, Any] = {"connect_timeout": math.ceil(connect)}
    connect_args.update({key: value for key, value in _KEEPALIVE_DEFAULTS.items() if key not in query})
    if statement > 0:
        # Ours first: a statement_timeout in the URL's own ``options`` still wins.
        user_options = query.pop("options", "")
        if isinstance(user_options, tuple):
            user_options = " ".join(user_options)
        ours = f"-c statement_timeout={max(1, round(statement * 1000))}"
        connect_args["options"] = f"{ours} {user_options}".strip()
    return query, connect_args


def _seconds(raw: object, name: str, where: str) -> float | None:
    """A non-negative number of seconds from ``raw``; ``None`` when it is not set."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, tuple):
        raw = raw[-1]
    try:
        value = float(str(raw))
    except ValueError:
        raise ConfigError(
            f"collector_db: {name} in {where} must be a number of seconds, got {raw!r}"
        ) from None
    if not math.isfinite(value) or value < 0:
        raise ConfigError(f"collector_db: {name} in {where} must be >= 0 seconds, got {raw!r}")
    return value


def _sqlite_pragmas(busy_timeout_seconds: float):  # type: ignore[no-untyped-def]
    busy_ms = round(busy_timeout_seconds * 1000)

    def on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    return on_connect
