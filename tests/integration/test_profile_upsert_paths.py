"""``upsert_profiles`` on PostgreSQL takes two paths: a batch of ``COPY_THRESHOLD`` accounts or more
is COPYed into a staging table and merged by ``INSERT ... SELECT ... ON CONFLICT``, a smaller one
goes as one ``INSERT ... SELECT FROM json_to_recordset`` whose merge rules are SQL text. Both
must apply the same merge rules (earliest first sighting, the newest sighting's names,
verified once verified, plain e-mail kept)."""

from __future__ import annotations

import datetime as dt
import random

from sqlalchemy import event, select

from core.identity import (
    Profile,
    ProfileEmail,
    ensure_identity,
    person_profiles,
    profile_emails,
    upsert_profiles,
)
from core.store import Store
from core.store.upsert import COPY_THRESHOLD

T0 = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
ACCOUNTS = 3 * COPY_THRESHOLD


def _rounds(seed: int) -> list[list[Profile]]:
    """Three rounds of sightings of the same accounts, out of time order, names changing."""
    rng = random.Random(seed)
    rounds = []
    for round_no in range(3):
        batch = []
        for n in range(ACCOUNTS):
            for _ in range(rng.randint(1, 2)):  # some accounts seen twice in one batch
                seen = T0 + dt.timedelta(hours=rng.randint(-500, 500))
                emails = (
                    (
                        ProfileEmail(
                            f"user{n}@example.org", verified=rng.random() < 0.3, evidence=f"r{round_no}"
                        ),
                    )
                    if n % 3 == 0
                    else ()
                )
                batch.append(
                    Profile(
                        external_id=str(n),
                        seen_at=seen,
                        username=f"user{n}-{rng.randint(0, 9)}",
                        display_name=None if rng.random() < 0.2 else f"User {n} {round_no}",
                        is_bot=n % 17 == 0,
                        attrs={"round": round_no, "tags": ["a", "b"][: rng.randint(0, 2)]},
                        emails=emails,
                    )
                )
        rounds.append(batch)
    return rounds


def _table(store: Store, table, source: str) -> dict[tuple, dict]:
    key_columns = [c for c in ("external_id", "email_sha256") if c in table.c]
    ignored = {"source", "updated_at", "id", "change_seq"}
    with store.engine.connect() as conn:
        rows = conn.execute(select(table).where(table.c.source == source)).mappings().all()
    return {tuple(r[c] for c in key_columns): {k: v for k, v in r.items() if k not in ignored} for r in rows}


def test_the_copy_path_and_the_values_path_merge_alike(pg_url: str) -> None:
    store = Store.from_url(pg_url)
    ensure_identity(store)
    statements: list[str] = []
    event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(str(args[2])))
    for batch in _rounds(seed=7):
        with store.transaction() as conn:  # the whole batch: COPY path
            upsert_profiles(conn, "copy", batch, store_plain_emails=True)
        for start in range(0, len(batch), COPY_THRESHOLD // 3):  # small batches: VALUES path
            with store.transaction() as conn:
                upsert_profiles(
                    conn, "values", batch[start : start + COPY_THRESHOLD // 3], store_plain_emails=True
                )
    staged = [
        s for s in statements if "_stage_person_profiles" in s and s.lstrip().upper().startswith("INSERT")
    ]
    assert len(staged) == 3, "each large batch is merged from the staging table"
    copied, valued = _table(store, person_profiles, "copy"), _table(store, person_profiles, "values")
    assert len(copied) == ACCOUNTS and copied == valued
    assert _table(store, profile_emails, "copy") == _table(store, profile_emails, "values")
    assert len(_table(store, profile_emails, "copy")) == len(range(0, ACCOUNTS, 3))
    store.dispose()
