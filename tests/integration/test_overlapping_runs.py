"""Runs that overlap (backfills next to scheduled runs, two collects, a sync during a collect,
kills at the worst moment) leave the store and the sink exactly equal to the source.

Each test reproduces a way the collectors lost data before runs were serialised, checkpoints
were compare-and-set, bounded runs stopped writing forward state and the vector sync moved to
a commit-ordered change sequence (docs/operations.md, "Overlapping runs and backfills").
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
from benchmarks.generate_discord_export import write_channel_export
from sqlalchemy import Column, MetaData, String, Table, func, inspect, select, text

from core.collectors import RunContext
from core.errors import CollectorFailureCategory, ConflictError, classify_failure
from core.protocols import Checkpoint
from core.store import Store, load_checkpoint, save_checkpoint, upsert_rows
from core.store.locks import LockRequest, collect_lock_requests, hold_locks
from core.store.pg_copy import encode_rows
from core.vectors.documents import Document
from core.vectors.ledger import vector_local_records
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.tables import discord_export_files, discord_messages
from tests.conftest import PROJECT_ROOT
from tests.fakes.console import console, console_env
from tests.fakes.overlap_truth import assert_sink_exact, assert_store_exact, source_messages
from tests.fakes.pinecone_server import FakePinecone
from tests.fakes.toy_collector import ToyCollector, toy_notes

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
VECTORS = {"min_chunk_chars": 5}
CHANNEL = {"id": "838565520998400200", "type": "GuildTextChat", "name": "overlap", "category": "Community"}


def _samples(tmp_path: Path) -> Path:
    exports = tmp_path / "exports"
    shutil.copytree(SAMPLES, exports)
    return exports


def _discord(exports: Path, url: str, **context: Any) -> DiscordCollector:
    config = {"export_dir": str(exports), "batch_size": 7, "vectors": VECTORS}
    return DiscordCollector(config, context=RunContext(store_url=url, **context))


def _stored(store: Store) -> int:
    if not inspect(store.engine).has_table("discord_messages"):
        return 0
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(discord_messages)).scalar_one()


def _cli(config: Path, db: str, *extra: str) -> subprocess.Popen[str]:
    return console("run", "discord", "--config-file", str(config), "--db", db, *extra)


def _config_file(tmp_path: Path, exports: Path, batch_size: int = 500) -> Path:
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config: {{export_dir: "{exports}", batch_size: {batch_size}, vectors: {{min_chunk_chars: 5}}}}
        """)
    )
    return config


def _finish(process: subprocess.Popen[str], timeout: float = 300) -> dict[str, Any]:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, err[-3000:]
    return json.loads(out)


# --------------------------------------------------------------------------- bounded runs


def test_a_backfill_then_scheduled_runs_store_every_message(store_url: str, tmp_path: Path):
    """The issue's reproduction: a one-day bounded run, then unbounded runs, must end with all 50."""
    exports = _samples(tmp_path)
    backfill = _discord(exports, store_url, since=_instant("2024-01-15"), until=_instant("2024-01-16"))
    result = backfill.run()
    store = backfill.store
    assert 0 < _stored(store) < len(source_messages(exports))
    assert result.counts["messages_outside_window"] > 0
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(discord_export_files)).scalar_one() == 0
        assert load_checkpoint(conn, "discord", "837979912278245376") is None

    scheduled = _discord(exports, store_url)
    scheduled.run()
    assert_store_exact(store, exports)
    again = _discord(exports, store_url).run()
    assert again.counts["files_unchanged"] == 4 and again.counts["messages_new"] == 0


def test_a_backfill_leaves_the_forward_checkpoint_and_fingerprints_alone(store_url: str, tmp_path: Path):
    exports = _samples(tmp_path)
    first = _discord(exports, store_url)
    first.run()
    with first.store.engine.connect() as conn:
        before = load_checkpoint(conn, "discord", "837979912278245376")
        files_before = conn.execute(select(discord_export_files).order_by(discord_export_files.c.path)).all()
    _discord(exports, store_url, since=_instant("2024-01-01"), until=_instant("2024-02-01")).run()
    with first.store.engine.connect() as conn:
        assert load_checkpoint(conn, "discord", "837979912278245376") == before
        assert conn.execute(select(discord_export_files).order_by(discord_export_files.c.path)).all() == files_before


@pytest.mark.slow
def test_a_backfill_killed_mid_file_then_a_scheduled_run_stores_everything(pg_url: str, tmp_path: Path):
    exports = tmp_path / "exports"
    exports.mkdir()
    write_channel_export(exports / "big.json", channel=CHANNEL, message_count=30_000, seed=11)
    config = _config_file(tmp_path, exports)
    store = Store.from_url(pg_url)
    backfill = _cli(config, pg_url, "--skip-sync", "--since", "2000-01-01T00:00:00Z", "--until", "2100-01-01T00:00:00Z")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and backfill.poll() is None and _stored(store) < 5_000:
        time.sleep(0.01)
    assert backfill.poll() is None, "the backfill finished before it could be killed"
    backfill.send_signal(signal.SIGKILL)
    backfill.wait(30)
    assert 0 < _stored(store) < 30_000

    _finish(_cli(config, pg_url, "--skip-sync"))
    assert_store_exact(store, exports)
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "discord", CHANNEL["id"])
    assert state is not None and state.extras == {}
    assert state.checkpoint_token == max(source_messages(exports), key=int)


@pytest.mark.slow
def test_a_backfill_concurrent_with_a_scheduled_run_loses_nothing(pg_url: str, tmp_path: Path):
    exports = tmp_path / "exports"
    exports.mkdir()
    for number in range(3):
        channel = {**CHANNEL, "id": str(int(CHANNEL["id"]) + number), "name": f"overlap-{number}"}
        write_channel_export(exports / f"c{number}.json", channel=channel, message_count=4_000, seed=number)
    config = _config_file(tmp_path, exports)
    backfill = _cli(config, pg_url, "--skip-sync", "--since", "2000-01-01T00:00:00Z", "--until", "2100-01-01T00:00:00Z")
    scheduled = _cli(config, pg_url, "--skip-sync")
    _finish(backfill)
    _finish(scheduled)
    store = Store.from_url(pg_url)
    assert_store_exact(store, exports)
    follow_up = _finish(_cli(config, pg_url, "--skip-sync"))["collect"]["counts"]
    assert follow_up["files_unchanged"] == 3, "the scheduled run must have recorded every file as done"


@pytest.mark.slow
def test_two_collects_at_once_serialise_and_agree(pg_url: str, tmp_path: Path):
    """Before: deadlocks on discord_authors, a checkpoint moving backwards, an old one left behind."""
    exports = tmp_path / "exports"
    exports.mkdir()
    for number in range(3):
        channel = {**CHANNEL, "id": str(int(CHANNEL["id"]) + number), "name": f"twice-{number}"}
        write_channel_export(exports / f"c{number}.json", channel=channel, message_count=3_000, seed=20 + number)
    config = _config_file(tmp_path, exports, batch_size=300)
    runs = [_cli(config, pg_url, "--skip-sync") for _ in range(2)]
    outcomes = [_finish(run) for run in runs]
    new = sorted(outcome["collect"]["counts"]["messages_new"] for outcome in outcomes)
    assert new == [0, 9_000], "one run stores everything, the other (after waiting) finds it all stored"
    store = Store.from_url(pg_url)
    assert_store_exact(store, exports)
    with store.engine.connect() as conn:
        for number in range(3):
            channel_id = str(int(CHANNEL["id"]) + number)
            state = load_checkpoint(conn, "discord", channel_id)
            newest = max(
                (m["id"] for m in json.loads((exports / f"c{number}.json").read_bytes())["messages"]), key=int
            )
            assert state is not None and state.checkpoint_token == newest and state.extras == {}


# --------------------------------------------------------------------------- locks


def test_a_collect_waits_for_the_lock_then_fails_as_conflict(store_url: str, tmp_path: Path):
    exports = _samples(tmp_path)
    store = Store.from_url(store_url)
    store.ensure_core()
    with hold_locks(store.engine, collect_lock_requests("discord", None), run_id="scheduled__1"):
        blocked = _discord(exports, store_url, lock_wait_seconds=1.0, run_id="backfill__2")
        with pytest.raises(ConflictError) as raised:
            blocked.run()
    assert classify_failure(raised.value) is CollectorFailureCategory.CONFLICT
    assert "collect:discord" in str(raised.value) and "scheduled__1" in str(raised.value)
    assert _stored(store) == 0, "nothing is collected without the lock"
    _discord(exports, store_url, lock_wait_seconds=1.0).run()  # released: the next run goes ahead
    assert_store_exact(store, exports)


def test_partitions_run_side_by_side_but_never_next_to_a_whole_run(store_url: str):
    store = Store.from_url(store_url)
    store.ensure_core()
    with hold_locks(store.engine, collect_lock_requests("discord", "a"), wait_seconds=0):
        with hold_locks(store.engine, collect_lock_requests("discord", "b"), wait_seconds=0):
            pass  # another partition: fine
        with pytest.raises(ConflictError), hold_locks(store.engine, collect_lock_requests("discord", "a"), wait_seconds=0.6):
            pass  # the same partition: no
        with pytest.raises(ConflictError), hold_locks(store.engine, collect_lock_requests("discord", None), wait_seconds=0.6):
            pass  # every partition at once: no
        with hold_locks(store.engine, collect_lock_requests("github", None), wait_seconds=0):
            pass  # another collector: fine


def test_a_killed_holder_releases_its_lock(store_url: str, tmp_path: Path):
    """The lock is the server's (PostgreSQL session) or the kernel's (flock): a SIGKILLed run
    cannot leave it behind."""
    script = textwrap.dedent(f"""
        import sys, time
        from core.store import Store
        from core.store.locks import collect_lock_requests, hold_locks
        store = Store.from_url({store_url!r})
        store.ensure_core()
        with hold_locks(store.engine, collect_lock_requests("discord", None), run_id="doomed"):
            print("held", flush=True)
            time.sleep(600)
    """)
    holder = subprocess.Popen([sys.executable, "-c", script], env=console_env(), stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        store = Store.from_url(store_url)
        with pytest.raises(ConflictError, match="doomed"), hold_locks(store.engine, [LockRequest("collect:discord")], wait_seconds=0.6):
            pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(30)
    with hold_locks(store.engine, [LockRequest("collect:discord")], wait_seconds=30):
        pass


# --------------------------------------------------------------------------- checkpoints


def test_checkpoint_writes_are_compare_and_set(store_url: str):
    store = Store.from_url(store_url)
    store.ensure_core()
    with store.transaction() as conn:
        _marker.create(conn)
        save_checkpoint(conn, "discord", Checkpoint("100", "m100"), "c1", expected=None)
    with pytest.raises(ConflictError, match="expected '90', found '100'"), store.transaction() as conn:
        upsert_rows(conn, _marker, [{"id": "written with the stale checkpoint"}], ["id"])
        save_checkpoint(conn, "discord", Checkpoint("95", "m95"), "c1", expected="90")
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "discord", "c1") == Checkpoint("100", "m100")
        assert conn.execute(select(func.count()).select_from(_marker)).scalar_one() == 0, "the batch rolled back"
    with pytest.raises(ConflictError), store.transaction() as conn:
        save_checkpoint(conn, "discord", Checkpoint("1", "m1"), "c1", expected=None)  # someone created it
    with store.transaction() as conn:
        save_checkpoint(conn, "discord", Checkpoint("120", "m120", {"etag": ["W/1"]}), "c1", expected="100")
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "discord", "c1") == Checkpoint("120", "m120", {"etag": ["W/1"]})
    with pytest.raises(ConflictError, match="expected '7', found None"), store.transaction() as conn:
        save_checkpoint(conn, "discord", Checkpoint("8", "m8"), "c2", expected="7")  # someone deleted it
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "discord", "c2") is None


_marker = Table("overlap_marker", MetaData(), Column("id", String(100), primary_key=True))


# --------------------------------------------------------------------------- deadlocks


def _blocked_on_a_lock(store: Store, pid: int) -> bool:
    with store.engine.connect() as conn:
        return bool(
            conn.execute(
                text("SELECT wait_event_type = 'Lock' FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}
            ).scalar()
        )


@pytest.mark.parametrize("as_copy_rows", [False, True], ids=["rows", "copy-rows"])
def test_upserts_lock_rows_in_key_order_so_overlapping_batches_cannot_deadlock(pg_url: str, as_copy_rows: bool):
    """T1 holds the first key; T2 upserts every key, listed in reverse; T1 then touches the last
    key. Written in key order, T2 waits on the first key before locking any other, so T1 goes
    on; in list order T2 would hold the last key and wait on the first: a deadlock."""
    store = Store.from_url(pg_url)
    table = Table("overlap_rows", MetaData(), Column("k", String(10), primary_key=True), Column("v", String(20)))
    keys = [f"k{n:03d}" for n in range(60)]
    with store.transaction() as conn:
        table.create(conn)
        upsert_rows(conn, table, [{"k": k, "v": "0"} for k in keys], ["k"])

    reversed_rows = [{"k": k, "v": "t2"} for k in reversed(keys)]
    errors: list[BaseException] = []
    t2_pid: list[int] = []

    def second() -> None:
        try:
            with store.transaction() as conn:
                t2_pid.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
                rows: Any = encode_rows(table, ("k", "v"), reversed_rows) if as_copy_rows else reversed_rows
                upsert_rows(conn, table, rows, ["k"])
        except BaseException as exc:
            errors.append(exc)

    with store.transaction() as first:
        upsert_rows(first, table, [{"k": keys[0], "v": "t1"}], ["k"])
        worker = threading.Thread(target=second)
        worker.start()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (t2_pid and _blocked_on_a_lock(store, t2_pid[0])):
            time.sleep(0.02)
        assert t2_pid and _blocked_on_a_lock(store, t2_pid[0]), "T2 never waited for T1"
        upsert_rows(first, table, [{"k": keys[-1], "v": "t1"}], ["k"])
    worker.join(60)
    assert not errors, f"T2 failed: {errors[0]!r}"
    with store.engine.connect() as conn:
        assert set(conn.execute(select(table.c.v)).scalars()) == {"t2"}


# --------------------------------------------------------------------------- vector sync


class _HeldEdit:
    """An edit whose transaction began (and stamped its rows) before a sync, and commits after."""

    def __init__(self, store: Store, note_id: str, body: str) -> None:
        self.store = store
        self.conn = store.engine.connect()
        self.transaction = self.conn.begin()
        self.conn.execute(toy_notes.update().where(toy_notes.c.note_id == note_id).values(body=body))

    def commit(self) -> None:
        self.transaction.commit()
        self.conn.close()


def test_a_row_committed_during_a_sync_reaches_the_next_sync(store_url: str):
    """Before: rows were stamped when their batch began and the sync's watermark was its own
    start time, so a batch that began before a sync and committed after it was lost for good."""
    config = {"notes": 3, "vectors": VECTORS}
    ToyCollector(config, context=RunContext(store_url=store_url)).run()
    ToyCollector(config, context=RunContext(store_url=store_url)).sync_pinecone()
    store = Store.from_url(store_url)
    edit = _HeldEdit(store, "all-1", "note 1 edited by a batch that commits after the sync read")
    outcome: list[Any] = []
    racing = threading.Thread(
        target=lambda: outcome.append(ToyCollector(config, context=RunContext(store_url=store_url)).sync_pinecone())
    )
    racing.start()
    racing.join(3)  # PostgreSQL: the sync completes; SQLite: it waits for the writer's lock
    edit.commit()
    racing.join(60)
    assert outcome and outcome[0].success
    ToyCollector(config, context=RunContext(store_url=store_url)).sync_pinecone()
    with store.engine.connect() as conn:
        texts = list(
            conn.execute(
                select(vector_local_records.c.text).where(vector_local_records.c.record_id.like("toy:all-1:%"))
            ).scalars()
        )
    assert texts and all("edited by a batch" in t for t in texts), texts


class _Essay(ToyCollector):
    """One long document per note (several chunks), whose length the test controls."""

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        for document in super().preprocess(changed_since, doc_ids):
            words = int(document.text.split("words=")[1].split()[0]) if "words=" in document.text else 40
            body = " ".join(f"paragraph {n} of {document.doc_id} discusses community activity." for n in range(words))
            yield Document(document.source, document.doc_id, body, document.updated_at)


_ESSAY_VECTORS = {"min_chunk_chars": 5, "chunk_size": 200, "chunk_overlap": 0}


def _essay_records(store: Store) -> set[str]:
    with store.engine.connect() as conn:
        return set(conn.execute(select(vector_local_records.c.record_id)).scalars())


def test_a_kill_between_the_sink_write_and_the_ledger_write_leaves_no_stale_chunk(store_url: str, tmp_path: Path):
    """The sink has the records, the ledger never heard of them, the document then shrinks: the
    next sync must still delete the chunks it no longer has."""
    store = Store.from_url(store_url)
    config = {"notes": 1, "vectors": _ESSAY_VECTORS}
    _Essay(config, context=RunContext(store_url=store_url)).run()
    with store.transaction() as conn:
        conn.execute(toy_notes.update().values(body="words=30"))
    _Essay(config, context=RunContext(store_url=store_url)).sync_pinecone()
    small = _essay_records(store)

    with store.transaction() as conn:
        conn.execute(toy_notes.update().values(body="words=120"))
    script = textwrap.dedent(f"""
        import os, signal
        from core.collectors import RunContext
        from core.vectors.local_sink import LocalSink
        from tests.integration.test_overlapping_runs import _Essay

        class KilledAfterWriting(LocalSink):
            def upsert(self, namespace, records):
                failed = super().upsert(namespace, records)
                os.kill(os.getpid(), signal.SIGKILL)
                return failed

        context = RunContext(store_url={store_url!r}, vector_sink_factory=KilledAfterWriting)
        _Essay({config!r}, context=context).sync_pinecone()
    """)
    killed = subprocess.run(
        [sys.executable, "-c", script], env=console_env(), capture_output=True, text=True, timeout=120
    )
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    big = _essay_records(store)
    assert len(big) > len(small), "the killed sync wrote the long document's chunks"

    with store.transaction() as conn:
        conn.execute(toy_notes.update().values(body="words=30"))
    _Essay(config, context=RunContext(store_url=store_url)).sync_pinecone()
    assert _essay_records(store) == small


def test_the_ledger_is_per_destination(store_url: str):
    """A sync to the local sink must not count as a sync to Pinecone."""
    config = {"notes": 4, "vectors": VECTORS}
    ToyCollector(config, context=RunContext(store_url=store_url)).run()
    local = ToyCollector(config, context=RunContext(store_url=store_url)).sync_pinecone()
    assert local is not None and local.counts["records_upserted"] == 4
    with FakePinecone() as fake:
        pinecone = {"sink": "pinecone", "index": "community-activity", "namespace": "toy", "min_chunk_chars": 5}
        connection = {"password": fake.api_key, "host": fake.url, "extra": {"region": "us-east-1"}}
        context = RunContext(store_url=store_url, connections={"pinecone_default": connection})
        remote = ToyCollector({"notes": 4, "vectors": pinecone}, context=context).sync_pinecone()
        assert remote is not None and remote.counts["records_upserted"] == 4
        assert len(fake.records("community-activity", "toy")) == 4


def test_a_console_run_configured_for_pinecone_syncs_to_pinecone(tmp_path: Path, sqlite_url: str):
    exports = _samples(tmp_path)
    config = tmp_path / "collectors.yaml"
    config.write_text(
        textwrap.dedent(f"""
        collectors:
          discord:
            collector: discord_activity_tracker.collector:DiscordCollector
            config:
              export_dir: "{exports}"
              vectors: {{sink: pinecone, index: community-activity, namespace: discord}}
        """)
    )
    env = console_env(drop=("AIRFLOW_CONN_PINECONE_DEFAULT",))
    argv = [sys.executable, "-m", "core.cli", "run", "discord", "--config-file", str(config), "--db", sqlite_url]
    missing = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
    assert missing.returncode == 1
    failure = json.loads(missing.stderr.strip().splitlines()[-1])
    assert failure["failure_category"] == "validation" and "pinecone_default" in failure["error"]
    store = Store.from_url(sqlite_url)
    assert not inspect(store.engine).has_table("vector_local_records") or _count(store, vector_local_records) == 0

    with FakePinecone() as fake:
        env["AIRFLOW_CONN_PINECONE_DEFAULT"] = json.dumps(
            {"conn_type": "pinecone", "password": fake.api_key, "host": fake.url, "extra": {"region": "us-east-1"}}
        )
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr[-3000:]
        synced = json.loads(done.stdout)["sync_pinecone"]["counts"]
        assert synced["records_upserted"] > 0
        assert len(fake.records("community-activity", "discord")) == synced["records_upserted"]
        assert fake.api_key not in done.stdout + done.stderr
    assert _count(store, vector_local_records) == 0, "nothing went to the local sink"


def _count(store: Store, table: Table) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar_one()


def test_store_and_sink_exact_after_a_backfill_a_scheduled_run_and_syncs(store_url: str, tmp_path: Path):
    exports = _samples(tmp_path)
    _discord(exports, store_url, since=_instant("2024-01-15"), until=_instant("2024-01-16")).run()
    _discord(exports, store_url).sync_pinecone()
    scheduled = _discord(exports, store_url)
    scheduled.run()
    scheduled.sync_pinecone()
    assert_store_exact(scheduled.store, exports)
    assert_sink_exact(scheduled.store, VECTORS)


def _instant(day: str) -> Any:
    from core.collectors.context import parse_instant

    return parse_instant("since", f"{day}T00:00:00+00:00")


def test_a_full_refresh_deletes_the_records_of_documents_that_no_longer_exist(store_url: str):
    config = {"notes": 3, "vectors": VECTORS}
    ToyCollector(config, context=RunContext(store_url=store_url)).run()
    ToyCollector(config, context=RunContext(store_url=store_url)).sync_pinecone()
    store = Store.from_url(store_url)
    with store.transaction() as conn:
        conn.execute(toy_notes.delete().where(toy_notes.c.note_id == "all-2"))
    refreshed = ToyCollector(config, context=RunContext(store_url=store_url, full_refresh=True)).sync_pinecone()
    assert refreshed is not None and refreshed.counts["documents_removed"] == 1
    with store.engine.connect() as conn:
        held = set(conn.execute(select(vector_local_records.c.record_id)).scalars())
    assert held == {"toy:all-0:0", "toy:all-1:0"}


def test_a_reply_stored_before_its_parent_loses_its_own_document_when_the_parent_arrives(
    store_url: str, tmp_path: Path
):
    """A backfill window that starts between a message and its reply stores the reply alone; a
    sync makes it a thread of its own. When a later run stores the parent, the reply joins the
    parent's thread and its own document (and records) must go."""
    exports = tmp_path / "exports"
    exports.mkdir()
    export = write_channel_export(exports / "c.json", channel=CHANNEL, message_count=200, seed=7)
    messages = json.loads(export.read_bytes())["messages"]
    by_id = {m["id"]: m for m in messages}
    reply = next(m for m in messages if (m.get("reference") or {}).get("messageId") in by_id)
    since = _instant_at(reply["timestamp"])
    _discord(exports, store_url, since=since).run()
    _discord(exports, store_url).sync_pinecone()
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        alone = conn.execute(
            select(func.count()).select_from(vector_local_records).where(
                vector_local_records.c.record_id.like(f"discord:{reply['id']}:%")
            )
        ).scalar_one()
    assert alone > 0, "the reply was synced as a thread of its own"

    scheduled = _discord(exports, store_url)
    scheduled.run()
    synced = scheduled.sync_pinecone()
    assert synced is not None and synced.counts["documents_removed"] >= 1
    assert_store_exact(store, exports)
    assert_sink_exact(store, VECTORS)


def _instant_at(timestamp: str) -> Any:
    from core.collectors.context import parse_instant

    return parse_instant("since", timestamp)
