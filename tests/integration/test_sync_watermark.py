"""A record edited while a sync runs is picked up by the next sync: the horizon is read when
the sync STARTS, before it reads any row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from core.collectors import RunContext
from core.vectors.documents import Document
from tests.fakes.toy_collector import ToyCollector, toy_notes


class EditDuringSync(ToyCollector):
    """While the sync reads its documents, someone edits a note that was already read."""

    edit = False

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        documents = list(super().preprocess(changed_since, doc_ids))
        if self.edit:
            with self.store.transaction() as conn:
                conn.execute(
                    toy_notes.update()
                    .where(toy_notes.c.note_id == "all-0")
                    .values(body="note 0 EDITED during the sync", updated_at=dt.datetime.now(dt.UTC))
                )
        return documents


def test_edit_during_a_sync_reaches_the_next_sync(store_url: str):
    config = {"notes": 3, "vectors": {"min_chunk_chars": 5}}
    EditDuringSync(config, context=RunContext(store_url=store_url)).run()
    racing = EditDuringSync(config, context=RunContext(store_url=store_url))
    racing.edit = True
    first = racing.sync_pinecone()
    assert first is not None and first.counts["documents"] == 3
    following = EditDuringSync(config, context=RunContext(store_url=store_url)).sync_pinecone()
    assert following is not None
    # Documents changed since the first sync's horizon are re-read (on PostgreSQL the horizon is
    # the oldest transaction running anywhere on the cluster, so more may be); unchanged ones
    # cost nothing: the edited note is the one record written.
    assert 1 <= following.counts["documents"] <= 3
    assert following.counts["records_upserted"] == 1
    assert following.counts["documents_unchanged"] == following.counts["documents"] - 1
