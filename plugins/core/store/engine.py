"""Where the store lives: an engine for PostgreSQL (production) or the embedded SQLite default."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

from core.errors import ConfigError

__all__ = ["create_store_engine", "default_sqlite_url", "local_state_dir", "normalize_url"]

STATE_DIR_ENV = "COLLECTOR_STATE_DIR"


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
        engine = create_engine(parsed, echo=echo, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if parsed.get_backend_name() != "postgresql":
        raise ConfigError(
            f"collector_db: unsupported database {parsed.get_backend_name()!r} (use postgresql)"
        )
    return create_engine(parsed, echo=echo, pool_pre_ping=True, pool_size=2, max_overflow=2)


def _sqlite_pragmas(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()
