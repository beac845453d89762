"""The :class:`Store`: one engine, migrations, transactions."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence

from sqlalchemy import Connection, Engine

from core.store.engine import create_store_engine
from core.store.migrations import Migration, apply_migrations, check_versions, recorded_versions
from core.store.schema import CORE_MIGRATIONS

__all__ = ["Store"]


class Store:
    """Entry point to the collector database (PostgreSQL, or the embedded SQLite default)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._core_ready = False
        # Versions known to be recorded in schema_migrations (read once, then added to as
        # this store applies more); None until first needed.
        self._recorded: dict[str, set[int]] | None = None

    @classmethod
    def from_url(cls, url: str | None = None) -> Store:
        return cls(create_store_engine(url))

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def describe(self) -> str:
        """Location safe to print (no password)."""
        return self.engine.url.render_as_string(hide_password=True)

    def migrate(self, component: str, migrations: Sequence[Migration]) -> list[int]:
        """Apply the core schema once, then ``component``'s migrations; return versions applied.

        When every version is already recorded (the usual run: the schema is current) this
        costs one query of ``schema_migrations`` per store, no lock and no DDL inspection.
        """
        if not self._core_ready:
            self._apply("core", CORE_MIGRATIONS)
            self._core_ready = True
        if component == "core":
            return []
        return self._apply(component, migrations)

    def _apply(self, component: str, migrations: Sequence[Migration]) -> list[int]:
        check_versions(component, migrations)
        if self._recorded is None:
            self._recorded = recorded_versions(self.engine)
        recorded = self._recorded.setdefault(component, set())
        if all(m.version in recorded for m in migrations):
            return []
        applied = apply_migrations(self.engine, component, migrations)
        recorded.update(m.version for m in migrations)
        return applied

    def ensure_core(self) -> None:
        self.migrate("core", ())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One atomic unit: a batch of rows and the checkpoint that describes it."""
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
