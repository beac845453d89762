"""Throughput and batch fill of PineconeSink against the local Pinecone server.

    PYTHONPATH=plugins:. python benchmarks/bench_pinecone_sink.py [--records 5000]

Drives the real SDK over HTTP on 127.0.0.1, so the numbers are the client-side cost
(payload checks, batching, NDJSON encoding, HTTP) plus a minimal server: an upper bound
on what the sink can push, not a prediction of Pinecone's own latency. Fill ratios say
how close requests come to the service limits (96 records, 2 MB).
"""

from __future__ import annotations

import argparse
import statistics
import time

from tests.fakes.pinecone_server import FakePinecone

from core.vectors.documents import VectorRecord
from core.vectors.pinecone_sink import MAX_BATCH_RECORDS, MAX_REQUEST_BYTES, PineconeSink, PineconeSinkConfig

SCENARIOS = {
    # name: (characters of text per record, sparse index too)
    "chunks of 1200 chars (default chunk_size)": (1_200, False),
    "chunks of 1200 chars, hybrid (dense + sparse)": (1_200, True),
    "chunks of 30000 chars (size-bound batches)": (30_000, False),
}


def make_records(count: int, text_chars: int) -> list[VectorRecord]:
    sentence = "The strand serialises completion handlers so the socket is never touched concurrently. "
    text = (sentence * (text_chars // len(sentence) + 1))[:text_chars]
    return [
        VectorRecord(
            id=f"github:boostorg/beast#{i // 4}:{i % 4}",
            text=text,
            metadata={
                "source": "github",
                "repo": "boostorg/beast",
                "url": f"https://github.com/boostorg/beast/issues/{i // 4}",
                "author": f"user{i % 97}",
                "created_at": "2026-11-20T10:00:00+00:00",
                "labels": ["bug", "asio"],
                "title": f"Issue {i // 4}: handler invoked after close",
            },
        )
        for i in range(count)
    ]


def run(records: list[VectorRecord], hybrid: bool) -> dict[str, float]:
    with FakePinecone(ready_after=0) as fake:
        config = PineconeSinkConfig(
            api_key=fake.api_key,
            host=fake.url,
            index="bench",
            sparse_index="bench-sparse" if hybrid else None,
        )
        with PineconeSink(config) as sink:
            sink.ensure_ready(["bench"])
            started = time.perf_counter()
            failed = sink.upsert("bench", records)
            elapsed = time.perf_counter() - started
        assert not failed, failed[:3]
        # Every upsert request the server received, to the dense index and (hybrid) the sparse one.
        calls = fake.requests_to("/upsert")
        indexes = {"bench", "bench-sparse"} if hybrid else {"bench"}
        assert {c.index for c in calls} == indexes, {c.path for c in calls}
        for index in indexes:
            assert len(fake.records(index, "bench")) == len(records), index
    return {
        "records_s": len(records) / elapsed,
        "mb_s": sum(c.body_bytes for c in calls) / elapsed / 1e6,
        "requests": len(calls),
        "count_fill": statistics.fmean(c.record_count for c in calls) / MAX_BATCH_RECORDS,
        "bytes_fill": statistics.fmean(c.body_bytes for c in calls) / MAX_REQUEST_BYTES,
        "max_bytes": max(c.body_bytes for c in calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=5_000)
    args = parser.parse_args()
    print(f"{args.records} records per scenario; best of 3 runs\n")
    print("| scenario | records/s | MB/s sent | requests | records/request ÷ 96 | bytes/request ÷ 2 MB |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, (chars, hybrid) in SCENARIOS.items():
        count = args.records if chars < 10_000 else max(200, args.records // 10)
        records = make_records(count, chars)
        best = max((run(records, hybrid) for _ in range(3)), key=lambda m: m["records_s"])
        print(
            f"| {name} ({count} records) | {best['records_s']:,.0f} | {best['mb_s']:.1f} | "
            f"{best['requests']:.0f} | {best['count_fill']:.2f} | {best['bytes_fill']:.2f} |"
        )


if __name__ == "__main__":
    main()
