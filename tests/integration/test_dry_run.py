"""``dry_run``: vectors go to the local dry-run namespace only; the ledger and the real sink stay untouched."""

from __future__ import annotations

from sqlalchemy import func, inspect, select

from core.collectors import RunContext
from core.store import Store
from core.vectors.ledger import vector_ledger_documents, vector_ledger_state, vector_local_records
from core.vectors.local_sink import LocalSink
from tests.fakes.toy_collector import ToyCollector


class ExplodingSink(LocalSink):
    """A sink a dry run must never touch."""

    name = "must-not-be-used"

    def upsert(self, namespace, records):  # type: ignore[no-untyped-def]
        raise AssertionError("dry run reached the real sink")


def test_dry_run_stages_locally_and_leaves_the_ledger_alone(store_url: str):
    context = RunContext(store_url=store_url, dry_run=True, vector_sink_factory=ExplodingSink)
    collector = ToyCollector({"notes": 3, "vectors": {"min_chunk_chars": 5}}, context=context)
    collector.run()
    result = collector.sync_pinecone()
    assert result is not None and result.counts["records_upserted"] == 3
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        namespaces = set(conn.execute(select(vector_local_records.c.namespace)).scalars())
        assert namespaces == {"dry_run/toy"}
        assert conn.execute(select(func.count()).select_from(vector_ledger_documents)).scalar_one() == 0
        assert conn.execute(select(func.count()).select_from(vector_ledger_state)).scalar_one() == 0
    real = ToyCollector({"notes": 3, "vectors": {"min_chunk_chars": 5}}, context=RunContext(store_url=store_url))
    synced = real.sync_pinecone()
    assert synced is not None and synced.counts["records_upserted"] == 3, "a dry run must not mark documents synced"
    assert inspect(store.engine).has_table("toy_notes")
