"""The Discord vector step end to end (store -> documents -> chunks -> Pinecone sink) against the
sink's own throughput on the same records (issue 17, item 2).

    PYTHONPATH=plugins:. python benchmarks/bench_discord_sync.py [--messages 20000] [--channels 4]
        [--repeat 3] [--before 182debd] [--skip-before] [--engine-before COMMIT]
        [--phases] [--sink-latency-ms 0] [--server-process] [--pg postgresql+psycopg2://postgres@127.0.0.1:5432/postgres]

Ingests generated exports (benchmarks/generate_discord_export.py) into a fresh PostgreSQL
database once, then, ``--repeat`` times, alternating which goes first:

- "before": a full re-sync (``full_refresh``) whose documents are built by the document builder
  of commit ``--before`` (read from git history: one statement or more per thread), sent 200
  documents per batch (that commit's default);
- "after": the same with the current builder (set-based, in batches);
- "sink": the records the last sync sent, upserted again by ``PineconeSink`` alone.

Both syncs run through the current sync engine (``core.vectors.sync``: the pipelined worker
thread, the ledger); only the document builder differs. ``--skip-before`` leaves out the
(slow) "before" side when only "after" against "sink" is wanted. ``--engine-before COMMIT``
adds the side "engine-before": the current builder through the sync engine of that commit
(its ``core/vectors`` sync, ledger and chunking modules, read from git history), run in turn
with "after" in every rep. ``--phases`` prints, for every "after" sync, the wall time spent in
each phase of the step's own thread (sink upserts, ledger reads and writes, waiting for the
worker thread, preparing) next to the sink alone's time for the same records.
``--sink-latency-ms N`` makes the local server wait N ms before answering each upsert request,
on every side alike (the sink alone included): a stand-in for a real index's network round
trip and server-side embedding, which the in-process fake does not have.

Each sync goes to a fresh local Pinecone server (tests/fakes/pinecone_server.py), the sink alone
too. By default the server runs in the benchmark's own process, where its request handling
competes for the GIL with the sync (its worker thread, the ledger, the sink client);
``--server-process`` runs it as a child process instead (a fresh one per sync and per sink
alone, started before the clock starts; every side alike), closer to a real index on another
machine. The batch fill is then read from the server's ``GET /_fake/requests`` and the latency
is the server's ``--upsert-delay-ms``. Prints the
machine load, every rep, then per side the median and range of records/s, the statements and
pool checkouts of the sync, the batch fill (records per upsert request / 96), and the ratios.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
import types
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.pool import Pool
from tests.fakes.pinecone_server import FakePinecone
from tests.fakes.standalone import standalone_fake
from tests.fakes.wire import Fault

import core.collectors.abstract as collectors_abstract
from benchmarks.bench_discord_ingest import _create_db, _drop_db
from benchmarks.generate_discord_export import generate_exports
from core.collectors import RunContext
from core.store import Store
from core.vectors.documents import Document, VectorRecord
from core.vectors.pinecone_sink import MAX_BATCH_RECORDS, PineconeSink, PineconeSinkConfig
from discord_activity_tracker.collector import DiscordCollector

ROOT = Path(__file__).resolve().parents[1]
INDEX, NAMESPACE = "bench", "discord"
VECTORS_EXTRA: dict[str, Any] = {}
SINK_LATENCY_SECONDS = 0.0  # --sink-latency-ms: each upsert request waits this long for its answer
SERVER_PROCESS = False  # --server-process: the fake runs as a child process
# "before" also sends documents 200 per batch, the default of that commit.
BEFORE_BATCH_DOCUMENTS = 200


def _from_history(commit: str, path: str, name: str) -> types.ModuleType:
    source = subprocess.run(
        ["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType(name)
    sys.modules[name] = module  # dataclasses look their module up
    exec(compile(source, f"{commit}:{path}", "exec"), module.__dict__)  # noqa: S102 - our own history
    return module


def _old_builder(commit: str) -> types.ModuleType:
    return _from_history(commit, "plugins/discord_activity_tracker/preprocess.py", "discord_preprocess_before")


def _old_engine(commit: str) -> types.ModuleType:
    """``core.vectors.sync`` of ``commit``, wired to that commit's ledger and chunking modules."""
    ledger = _from_history(commit, "plugins/core/vectors/ledger.py", "vectors_ledger_before")
    chunking = _from_history(commit, "plugins/core/vectors/chunking.py", "vectors_chunking_before")
    engine = _from_history(commit, "plugins/core/vectors/sync.py", "vectors_sync_before")
    engine.ledger = ledger  # type: ignore[attr-defined]
    engine.Chunker, engine.ChunkingConfig = chunking.Chunker, chunking.ChunkingConfig  # type: ignore[attr-defined]
    return engine


@contextlib.contextmanager
def _phases(times: dict[str, float]) -> Iterator[None]:
    """Wall time of the current engine's phases, added up in ``times`` (the step's own thread)."""
    from core.vectors import ledger, prefetch
    from core.vectors import sync as vector_sync

    def timed(owner: Any, name: str, label: str) -> tuple[Any, str, Any]:
        original = getattr(owner, name)

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return original(*args, **kwargs)
            finally:
                times[label] = times.get(label, 0.0) + time.perf_counter() - started

        setattr(owner, name, wrapper)
        return owner, name, original

    def waited(self: Any) -> Iterator[Any]:
        items = original_iter(self)
        while True:
            started = time.perf_counter()
            try:
                item = next(items)
            except StopIteration:
                return
            finally:
                times["waiting for the worker"] = times.get("waiting for the worker", 0.0) + time.perf_counter() - started
            yield item

    original_iter = prefetch.Prefetch.__iter__
    patched = [
        timed(PineconeSink, "upsert", "sink upserts"),
        timed(PineconeSink, "ensure_ready", "sink ensure_ready"),
        timed(ledger, "write_entries", "ledger writes"),
        timed(ledger, "load_entries", "ledger reads"),
        timed(vector_sync.VectorSyncer, "prepare", "prepare (migrate, ensure_ready, ledger reset)"),
    ]
    prefetch.Prefetch.__iter__ = waited  # type: ignore[method-assign]
    try:
        yield
    finally:
        prefetch.Prefetch.__iter__ = original_iter  # type: ignore[method-assign]
        for owner, name, original in reversed(patched):
            setattr(owner, name, original)


@contextlib.contextmanager
def _engine(module: types.ModuleType | None) -> Iterator[None]:
    """Collectors sync through ``module.run_vector_sync`` (the current one when ``None``)."""
    if module is None:
        yield
        return
    current = collectors_abstract.run_vector_sync
    collectors_abstract.run_vector_sync = module.run_vector_sync
    try:
        yield
    finally:
        collectors_abstract.run_vector_sync = current


class _Counter:
    def __init__(self) -> None:
        self.statements = self.checkouts = 0

    def statement(self, *_args: Any) -> None:
        self.statements += 1

    def checkout(self, *_args: Any) -> None:
        self.checkouts += 1


class _NullSink:
    """Accepts every record and sends nothing: a sync through it is the sync's own work (store,
    documents, chunks, ledger) without the sink's. Same destination as the Pinecone sink, so
    the ledger does the same work."""

    name = "pinecone"

    def __init__(self, sent: list[VectorRecord]) -> None:
        self._sent = sent

    @property
    def destination(self) -> str:
        return f"pinecone:{INDEX}"

    @property
    def last_errors(self) -> Sequence[BaseException]:
        return ()

    def ensure_ready(self, namespaces: Sequence[str]) -> None:
        return None

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> list[str]:
        self._sent.extend(records)
        return []

    def delete(self, namespace: str, ids: Sequence[str]) -> list[str]:
        return []

    def close(self) -> None:
        return None


class _RecordingSink(PineconeSink):
    def __init__(self, config: PineconeSinkConfig, sent: list[VectorRecord]) -> None:
        super().__init__(config)
        self._sent = sent

    def upsert(self, namespace: str, records: Sequence[VectorRecord]) -> list[str]:
        self._sent.extend(records)
        return super().upsert(namespace, records)


def _collector(
    url: str, exports: Path, sink_factory: Any, builder: types.ModuleType | None
) -> DiscordCollector:
    config = {
        "export_dir": str(exports),
        "vectors": {"sink": "pinecone", "index": INDEX, "namespace": NAMESPACE, **VECTORS_EXTRA},
    }
    context = RunContext(store_url=url, full_refresh=True, vector_sink_factory=sink_factory)
    if builder is None:
        return DiscordCollector(config, context=context)
    config["vectors"] = {**config["vectors"], "batch_documents": BEFORE_BATCH_DOCUMENTS}

    class Before(DiscordCollector):
        def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
            return builder.thread_documents(self.store.engine, changed_since, list(doc_ids))

        def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
            engine = self.store.engine
            return [
                *builder.merged_thread_roots(engine, changed_since),
                *builder.deleted_thread_roots(engine, changed_since),
            ]

    return Before(config, context=context)


def sync(
    url: str,
    exports: Path,
    builder: types.ModuleType | None,
    engine: types.ModuleType | None = None,
    phases: dict[str, float] | None = None,
    *,
    null_sink: bool = False,
) -> dict[str, Any]:
    sent: list[VectorRecord] = []
    counter = _Counter()
    with _sinks(sent, null_sink=null_sink) as (factory, upsert_sizes):
        collector = _collector(url, exports, factory, builder)
        event.listen(Engine, "before_cursor_execute", counter.statement)
        event.listen(Pool, "checkout", counter.checkout)
        try:
            with _engine(engine), _phases(phases) if phases is not None else contextlib.nullcontext():
                started, cpu = time.perf_counter(), time.process_time()
                result = collector.sync_pinecone()
                elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        finally:
            event.remove(Engine, "before_cursor_execute", counter.statement)
            event.remove(Pool, "checkout", counter.checkout)
        assert result is not None and result.counts["records_failed"] == 0, result
        sizes = upsert_sizes()
        fill = statistics.fmean(sizes) / MAX_BATCH_RECORDS if sizes else float("nan")
    return {
        "seconds": elapsed,
        "cpu": cpu,
        "records": len(sent),
        "documents": result.counts["documents"],
        "statements": counter.statements,
        "checkouts": counter.checkouts,
        "fill": fill,
        "sent": sent,
    }


@contextlib.contextmanager
def _sinks(
    sent: list[VectorRecord], *, null_sink: bool
) -> Iterator[tuple[Callable[[Any], Any], Callable[[], list[int]]]]:
    """The sync's sink factory (its sinks record what they are sent in ``sent``) and a function
    returning the record count of every upsert request: a fresh local Pinecone, or (``null_sink``)
    none at all."""
    if null_sink:
        yield (lambda _store: _NullSink(sent)), list
        return
    with _server() as (api_key, url_root, upsert_sizes):
        config = PineconeSinkConfig(api_key=api_key, host=url_root, index=INDEX)
        yield (lambda _store: _RecordingSink(config, sent)), upsert_sizes


@contextlib.contextmanager
def _server() -> Iterator[tuple[str, str, Any]]:
    """A fresh local Pinecone: yields its API key, its URL and a function returning the record
    count of every upsert request it has served, in this process or (``--server-process``) in a
    child process."""
    if not SERVER_PROCESS:
        with FakePinecone(ready_after=0) as fake:
            if SINK_LATENCY_SECONDS > 0:
                fake.inject(Fault(delay=SINK_LATENCY_SECONDS, method="POST", contains="/upsert", times=10**9))
            yield fake.api_key, fake.url, lambda: [c.record_count for c in fake.requests_to("/upsert")]
        return
    api_key = f"bench-{secrets.token_hex(12)}"
    headers = {"Api-Key": api_key}
    args = ["--api-key", api_key, "--upsert-delay-ms", str(SINK_LATENCY_SECONDS * 1000)]
    with (
        tempfile.TemporaryDirectory(prefix="bench-pinecone-") as tmp,
        standalone_fake(
            "pinecone_server.py", *args, probe="/indexes", headers=headers, log=Path(tmp) / "server.log"
        ) as url,
    ):

        def upsert_sizes() -> list[int]:
            request = urllib.request.Request(f"{url}/_fake/requests?contains=/upsert", headers=headers)  # noqa: S310
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - the local fake
                return [call["record_count"] for call in json.load(response)]

        yield api_key, url, upsert_sizes


def sink_alone(records: list[VectorRecord]) -> dict[str, Any]:
    with _server() as (api_key, url_root, upsert_sizes):
        config = PineconeSinkConfig(api_key=api_key, host=url_root, index=INDEX)
        with PineconeSink(config) as sink:
            sink.ensure_ready([NAMESPACE])
            # The data-plane client is the sink's set-up, not its throughput: ensure_ready opened
            # it until b0ad93b, which moved it to the first write; open it before the clock still.
            sink._index(INDEX)
            started = time.perf_counter()
            failed = sink.upsert(NAMESPACE, records)
            elapsed = time.perf_counter() - started
        assert not failed, failed[:3]
        fill = statistics.fmean(upsert_sizes()) / MAX_BATCH_RECORDS
    return {"seconds": elapsed, "records": len(records), "fill": fill, "statements": 0, "checkouts": 0}


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n", 1)[0])
    parser.add_argument("--messages", type=int, default=20_000)
    parser.add_argument("--channels", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--before", default="182debd", help="commit whose document builder is 'before'")
    parser.add_argument("--skip-before", action="store_true", help="only 'after' and 'sink'")
    parser.add_argument("--engine-before", help="also run the current builder through this commit's sync engine")
    parser.add_argument("--phases", action="store_true", help="time the phases of every 'after' sync")
    parser.add_argument("--sink-latency-ms", type=float, default=0.0, help="delay of each upsert answer")
    parser.add_argument(
        "--server-process", action="store_true", help="run the local Pinecone as a child process"
    )
    parser.add_argument(
        "--rest",
        action="store_true",
        help="also sync through a sink that sends nothing: the sync's own work, the bound on after / sink",
    )
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432/postgres")
    args = parser.parse_args()
    global SINK_LATENCY_SECONDS, SERVER_PROCESS
    SINK_LATENCY_SECONDS = args.sink_latency_ms / 1000
    SERVER_PROCESS = args.server_process
    admin_dsn = args.pg.replace("postgresql+psycopg2://", "postgresql://")
    old = _old_builder(args.before)
    old_engine = _old_engine(args.engine_before) if args.engine_before else None
    name = _create_db(admin_dsn)
    url = args.pg.rsplit("/", 1)[0] + f"/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="bench-discord-sync-") as tmp:
            exports = Path(tmp) / "exports"
            generate_exports(exports, messages=args.messages, channels=args.channels)
            DiscordCollector({"export_dir": str(exports)}, context=RunContext(store_url=url)).run()
            print(f"load average {os.getloadavg()} on {os.cpu_count()} cores")
            print(
                f"{args.messages} messages in {args.channels} channels; full re-sync each rep; "
                f"each upsert answered after {args.sink_latency_ms:g} ms more; the local Pinecone "
                + ("in a child process" if args.server_process else "in this process")
            )
            results: dict[str, list[dict[str, Any]]] = {"before": [], "after": [], "sink": []}
            if args.skip_before:
                del results["before"]
            if old_engine is not None:
                results["engine-before"] = []
            if args.rest:
                results["rest"] = []
            for rep in range(args.repeat):
                order: list[tuple[str, types.ModuleType | None, types.ModuleType | None]] = [("after", None, None)]
                if args.rest:
                    order.append(("rest", None, None))
                if not args.skip_before:
                    order.insert(0, ("before", old, None))
                if old_engine is not None:
                    order.insert(0, ("engine-before", None, old_engine))
                phases: dict[str, float] = {}
                for label, builder, engine in order if rep % 2 == 0 else order[::-1]:
                    timing = phases if args.phases and label == "after" else None
                    outcome = sync(url, exports, builder, engine, timing, null_sink=label == "rest")
                    results[label].append(outcome)
                    print(
                        f"rep {rep + 1} {label}: {outcome['records'] / outcome['seconds']:,.0f} records/s "
                        f"({outcome['documents']} documents, {outcome['records']} records, {outcome['seconds']:.2f} s, "
                        f"{outcome['cpu']:.2f} s CPU in this process), "
                        f"{outcome['statements']} statements, {outcome['checkouts']} checkouts, fill {outcome['fill']:.2f}"
                    )
                alone = sink_alone(results["after"][-1].pop("sent"))
                for label in ("before", "engine-before", "rest"):
                    if label in results:
                        results[label][-1].pop("sent")
                results["sink"].append(alone)
                print(
                    f"rep {rep + 1} sink alone: {alone['records'] / alone['seconds']:,.0f} records/s, fill {alone['fill']:.2f}"
                )
                if phases:
                    split = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in phases.items())
                    print(
                        f"rep {rep + 1} after, {results['after'][-1]['seconds']:.2f} s: {split}; "
                        f"sink alone {alone['seconds']:.2f} s"
                    )
            print(f"load average {os.getloadavg()}")
            medians = {}
            for label, reps in results.items():
                rates = [r["records"] / r["seconds"] for r in reps]
                medians[label] = statistics.median(rates)
                print(
                    f"{label}: median {medians[label]:,.0f} records/s (range {min(rates):,.0f}-{max(rates):,.0f}), "
                    f"statements {statistics.median(r['statements'] for r in reps):.0f}, "
                    f"checkouts {statistics.median(r['checkouts'] for r in reps):.0f}, "
                    f"fill {statistics.median(r['fill'] for r in reps):.2f}"
                )
            per_rep = [
                (a["records"] / a["seconds"]) / (s["records"] / s["seconds"])
                for a, s in zip(results["after"], results["sink"], strict=True)
            ]
            print(
                f"after / sink: {medians['after'] / medians['sink']:.0%} of the medians; per rep median "
                f"{statistics.median(per_rep):.0%} (range {min(per_rep):.0%}-{max(per_rep):.0%})"
            )
            if args.rest:
                # after takes at least as long as the longer of its two parts: rest and sink.
                bound = [
                    s["seconds"] / max(r["seconds"], s["seconds"])
                    for r, s in zip(results["rest"], results["sink"], strict=True)
                ]
                print(
                    f"bound on after / sink with the sink perfectly overlapped (sink / max(rest, sink)): per rep "
                    f"median {statistics.median(bound):.0%} (range {min(bound):.0%}-{max(bound):.0%}); "
                    f"CPU in this process: after {statistics.median(r['cpu'] for r in results['after']):.2f} s, "
                    f"rest {statistics.median(r['cpu'] for r in results['rest']):.2f} s (medians)"
                )
            if old_engine is not None:
                engine_rep = [
                    (a["records"] / a["seconds"]) / (s["records"] / s["seconds"])
                    for a, s in zip(results["engine-before"], results["sink"], strict=True)
                ]
                speedup = [
                    b["seconds"] / a["seconds"] for a, b in zip(results["after"], results["engine-before"], strict=True)
                ]
                print(
                    f"engine-before / sink: per rep median {statistics.median(engine_rep):.0%} "
                    f"(range {min(engine_rep):.0%}-{max(engine_rep):.0%}); after / engine-before: per rep median "
                    f"{statistics.median(speedup):.2f}x (range {min(speedup):.2f}-{max(speedup):.2f})"
                )
            if not args.skip_before:
                print(f"before / sink: {medians['before'] / medians['sink']:.0%}")
                print(f"after / before: {medians['after'] / medians['before']:.1f}x")
    finally:
        Store.from_url(url).dispose()
        _drop_db(admin_dsn, name)


if __name__ == "__main__":
    main()
