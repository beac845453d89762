"""The local Pinecone run as its own process (tests/fakes/pinecone_server.py as a script): the
requests a client in another process can read back (``GET /_fake/requests``) and
``--upsert-delay-ms``, the two things ``benchmarks/bench_discord_sync.py --server-process`` uses."""

from __future__ import annotations

import contextlib
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.vectors.documents import VectorRecord
from core.vectors.pinecone_sink import PineconeSink, PineconeSinkConfig
from tests.fakes.standalone import standalone_fake

NS = "discord"
KEY = "process-key-123"


def records(n: int) -> list[VectorRecord]:
    return [VectorRecord(f"discord:thread-{i}:0", f"message text {i}", {"source": "discord"}) for i in range(n)]


@contextlib.contextmanager
def server(tmp_path: Path, *args: str) -> Iterator[str]:
    with standalone_fake(
        "pinecone_server.py",
        "--api-key",
        KEY,
        *args,
        probe="/indexes",
        headers={"Api-Key": KEY},
        log=tmp_path / "pinecone.log",
    ) as url:
        yield url


def get(url: str, key: str = KEY) -> Any:
    request = urllib.request.Request(url, headers={"Api-Key": key})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def sink(url: str) -> PineconeSink:
    return PineconeSink(PineconeSinkConfig(api_key=KEY, host=url, index="bench", ready_poll_interval=0.01))


def test_requests_endpoint_lists_each_upsert_with_its_record_count(tmp_path: Path) -> None:
    with server(tmp_path) as url, sink(url) as client:
        client.ensure_ready([NS])
        assert client.upsert(NS, records(100)) == []  # 96 + 4 records: two requests
        assert client.upsert(NS, records(3)) == []
        served = get(f"{url}/_fake/requests?contains=/upsert")
        assert [r["record_count"] for r in served] == [96, 4, 3]
        assert {(r["method"], r["status"], r["index"], r["namespace"]) for r in served} == {
            ("POST", 201, "bench", NS)
        }
        assert all("headers" not in r for r in served)  # the API key is not echoed back
        everything = get(f"{url}/_fake/requests")
        assert len(everything) > len(served)  # describes, index creation...
        assert not [r for r in everything if r["path"].startswith("/_fake/")]  # nor its own reads
        with pytest.raises(urllib.error.HTTPError) as denied:
            get(f"{url}/_fake/requests", key="wrong-key")
        assert denied.value.code == 401


def test_upsert_delay_flag_holds_each_upsert_answer(tmp_path: Path) -> None:
    # A lower bound only: each of the 3 upserts waits at least the 200 ms asked, whatever the load.
    with server(tmp_path, "--upsert-delay-ms", "200") as url, sink(url) as client:
        client.ensure_ready([NS])
        started = time.perf_counter()
        assert client.upsert(NS, records(96 * 3)) == []
        assert time.perf_counter() - started >= 3 * 0.2
        assert [r["record_count"] for r in get(f"{url}/_fake/requests?contains=/upsert")] == [96, 96, 96]
        assert len(get(f"{url}/_fake/records?index=bench&namespace={NS}")) == 96 * 3
