"""A vector sink that keeps records in the store: the embedded default and dry runs."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence

from sqlalchemy import func, or_, select

from core.store import Store
from core.store.upsert import upsert_rows
from core.vectors.documents import VectorRecord
from core.vectors.ledger import VECTOR_MIGRATIONS, vector_local_records

__all__ = ["LocalSink", "search_local_records"]

log = logging.getLogger(__name__)


class LocalSink:
    """Same interface as the Pinecone sink; records land in ``vector_local_records``.

    With ``namespace_prefix`` (dry runs use ``"dry_run/"``) records never mix with a real sync.
    """

    name = "local"

    def __init__(self, store: Store, *, namespace_prefix: str = "") -> None:
        self.store = store
        self.namespace_prefix = namespace_prefix
        self._last_errors: list[BaseException] = []

    @property
    def destination(self) -> str:
        return f"local:{self.namespace_prefix}" if self.namespace_prefix else "local"

    @property
    def last_errors(self) -> Sequence[BaseException]:
        return self._last_errors

    def ensure_ready(self, namespaces: Sequence[str]) -> None:
        self.store.migrate("vectors", VECTOR_MIGRATIONS)

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> list[str]:
        if not records:
            return []
        now = dt.datetime.now(dt.UTC)
        with self.store.transaction() as conn:
            upsert_rows(
                conn,
                vector_local_records,
                [
                    {
                        "namespace": self.namespace_prefix + namespace,
                        "record_id": record.id,
                        "text": record.text,
                        "metadata": dict(record.metadata),
                        "updated_at": now,
                    }
                    for record in records
                ],
                ["namespace", "record_id"],
            )
        return []

    def close(self) -> None:
        """Nothing to release: the store belongs to the run."""

    def delete(self, namespace: str, ids: Sequence[str]) -> list[str]:
        with self.store.transaction() as conn:
            for start in range(0, len(ids), 500):
                conn.execute(
                    vector_local_records.delete().where(
                        vector_local_records.c.namespace == self.namespace_prefix + namespace,
                        vector_local_records.c.record_id.in_(list(ids[start : start + 500])),
                    )
                )
        return []


def search_local_records(
    store: Store, query: str = "", namespace: str | None = None, limit: int = 20
) -> list[dict[str, object]]:
    """Keyword search over the local sink (every word must appear, case-insensitive)."""
    statement = select(vector_local_records).order_by(vector_local_records.c.record_id).limit(limit)
    if namespace is not None:
        statement = statement.where(vector_local_records.c.namespace == namespace)
    for word in query.split():
        pattern = f"%{word.lower()}%"
        statement = statement.where(
            or_(
                func.lower(vector_local_records.c.text).like(pattern),
                vector_local_records.c.record_id.like(pattern),
            )
        )
    store.migrate("vectors", VECTOR_MIGRATIONS)
    with store.engine.connect() as conn:
        return [dict(row) for row in conn.execute(statement).mappings()]
