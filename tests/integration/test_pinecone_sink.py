"""PineconeSink through the real pinecone SDK against the local Pinecone server."""

from __future__ import annotations

import dataclasses
import json
import logging
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from core.errors import (
    AuthenticationError,
    CollectorFailureCategory,
    ConfigError,
    DataValidationError,
    RateLimitError,
    classify_failure,
)
from core.vectors.documents import VectorRecord
from core.vectors.pinecone_sink import PineconeSink, PineconeSinkConfig, pinecone_config_from_connection
from core.vectors.sink import VectorSink
from tests.fakes.pinecone_server import MAX_METADATA_BYTES, MAX_REQUEST_BYTES, FakePinecone

NS = "github"


@pytest.fixture
def fake() -> Iterator[FakePinecone]:
    with FakePinecone(ready_after=1) as server:
        yield server


def make_config(fake: FakePinecone, **overrides: Any) -> PineconeSinkConfig:
    settings: dict[str, Any] = {
        "api_key": fake.api_key,
        "host": fake.url,
        "index": "community",
        "max_attempts": 3,
        "backoff_initial": 0.001,
        "backoff_max": 0.01,
        "ready_poll_interval": 0.01,
        "ready_timeout": 5,
    }
    settings.update(overrides)
    return PineconeSinkConfig(**settings)


@pytest.fixture
def sink(fake: FakePinecone) -> Iterator[PineconeSink]:
    with PineconeSink(make_config(fake)) as s:
        s.ensure_ready([NS])
        yield s


def records(
    n: int, *, text: str = "A message about building the project", **metadata: Any
) -> list[VectorRecord]:
    return [
        VectorRecord(id=f"github:issue-{i}:0", text=f"{text} #{i}", metadata={"source": "github", **metadata})
        for i in range(n)
    ]


def upserts(fake: FakePinecone, index: str = "community") -> list[Any]:
    return [r for r in fake.requests_to("/upsert") if r.path.startswith(f"/_data/{index}/")]


# ---------------------------------------------------------------------- ensure_ready


def test_sink_satisfies_the_protocol(sink: PineconeSink, fake: FakePinecone) -> None:
    """The VectorSink contract beyond method names: a batch that fails comes back as its ids
    (never raised), and ``last_errors`` describes the most recent call only, so a success
    after a failure reports no stale error."""
    assert isinstance(sink, VectorSink)
    sent = records(2)
    fake.fail_next(500, count=3, match="/upsert")  # every attempt of the one batch
    assert sink.upsert(NS, sent) == [r.id for r in sent]
    assert len(sink.last_errors) == 1
    assert sink.upsert(NS, sent) == [] and sink.last_errors == ()
    fake.fail_next(502, count=3, match="/vectors/delete")
    assert sink.delete(NS, [sent[0].id]) == [sent[0].id] and len(sink.last_errors) == 1
    assert sink.delete(NS, [sent[0].id]) == [] and sink.last_errors == ()
    assert set(fake.records("community", NS)) == {sent[1].id}


def test_the_data_plane_client_is_opened_by_the_first_write_once(
    fake: FakePinecone, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ensure_ready describes the index only: a data-plane client (two CA bundle loads) is
    built when a write needs one, once per index, with the SDK's own retries off."""
    from core.vectors import pinecone_sink

    opened: list[Any] = []
    real = pinecone_sink.HTTPClient

    def counted(config: Any, version: str) -> Any:
        opened.append(config)
        return real(config, version)

    monkeypatch.setattr(pinecone_sink, "HTTPClient", counted)
    with PineconeSink(make_config(fake)) as sink:
        sink.ensure_ready([NS])
        assert opened == []
        assert sink.upsert(NS, records(2)) == [] and sink.delete(NS, ["github:issue-0:0"]) == []
        assert sink.upsert(NS, records(1)) == []
    assert len(opened) == 1 and opened[0].retry_config.max_retries == 0
    assert set(fake.records("community", NS)) == {"github:issue-0:0", "github:issue-1:0"}


def test_missing_index_is_created_for_the_model_and_awaited(fake: FakePinecone) -> None:
    with PineconeSink(make_config(fake, cloud="gcp", region="us-central1", text_field="chunk_text")) as sink:
        sink.ensure_ready([NS])
        assert sink.upsert(NS, records(1)) == []

    assert fake.index_names() == ["community"]
    assert fake.index_config("community") == {
        "model": "llama-text-embed-v2",
        "text_field": "chunk_text",
        "cloud": "gcp",
        "region": "us-central1",
    }
    assert len(fake.requests_to("POST /indexes/create-for-model")) == 1
    # The first describe after creation says Initializing; the sink polled until Ready.
    assert len(fake.requests_to("GET /indexes/community")) >= 2
    assert "chunk_text" in fake.records("community", NS)["github:issue-0:0"]


def test_existing_matching_index_is_used_as_is(fake: FakePinecone) -> None:
    fake.add_index("community")
    with PineconeSink(make_config(fake)) as sink:
        sink.ensure_ready([NS])
    assert fake.requests_to("create-for-model") == []


def test_index_not_ready_in_time_is_a_timeout(fake: FakePinecone) -> None:
    fake.ready_after = 10_000
    with PineconeSink(make_config(fake, ready_timeout=0.1)) as sink, pytest.raises(Exception) as raised:
        sink.ensure_ready([NS])
    assert classify_failure(raised.value) is CollectorFailureCategory.TIMEOUT
    assert "community" in str(raised.value)


def test_model_mismatch_is_a_config_error_naming_index_and_field(fake: FakePinecone) -> None:
    fake.add_index("community", model="multilingual-e5-large")
    with PineconeSink(make_config(fake)) as sink, pytest.raises(ConfigError) as raised:
        sink.ensure_ready([NS])
    message = str(raised.value)
    assert "community" in message
    assert "model" in message
    assert "multilingual-e5-large" in message
    assert "llama-text-embed-v2" in message


def test_field_map_mismatch_is_a_config_error(fake: FakePinecone) -> None:
    fake.add_index("community", text_field="chunk_text")
    with PineconeSink(make_config(fake, text_field="text")) as sink, pytest.raises(ConfigError) as raised:
        sink.ensure_ready([NS])
    assert "community" in str(raised.value)
    assert "field_map" in str(raised.value)


def test_bad_api_key_on_ensure_ready_is_an_auth_error_without_the_key(fake: FakePinecone) -> None:
    wrong = "not-the-right-key-8c1f"
    with PineconeSink(make_config(fake, api_key=wrong)) as sink, pytest.raises(AuthenticationError) as raised:
        sink.ensure_ready([NS])
    assert classify_failure(raised.value) is CollectorFailureCategory.AUTH
    assert wrong not in str(raised.value)
    assert raised.value.__cause__ is None


def test_malformed_describe_response_is_a_validation_error(fake: FakePinecone) -> None:
    fake.add_index("community")
    fake.fail_next(200, body="{this is not json", match="GET /indexes/community")
    with PineconeSink(make_config(fake)) as sink, pytest.raises(DataValidationError):
        sink.ensure_ready([NS])


# ---------------------------------------------------------------------- upsert and batching


def test_250_records_go_out_in_3_requests_within_limits(sink: PineconeSink, fake: FakePinecone) -> None:
    sent = records(250, kind="issue")
    assert sink.upsert(NS, sent) == []

    calls = upserts(fake)
    assert [c.record_count for c in calls] == [96, 96, 58]
    assert all(c.body_bytes <= MAX_REQUEST_BYTES for c in calls)
    assert all(c.headers["content-type"] == "application/x-ndjson" for c in calls)
    stored = fake.records("community", NS)
    assert len(stored) == 250
    assert stored["github:issue-7:0"] == {
        "_id": "github:issue-7:0",
        "text": "A message about building the project #7",
        "source": "github",
        "kind": "issue",
    }


def test_big_records_are_split_by_request_size(sink: PineconeSink, fake: FakePinecone) -> None:
    sent = records(100, text="x" * 30_000)
    assert sink.upsert(NS, sent) == []

    calls = upserts(fake)
    assert len(calls) == 2
    assert all(c.body_bytes <= MAX_REQUEST_BYTES for c in calls)
    assert sum(c.record_count for c in calls) == 100
    assert len(fake.records("community", NS)) == 100


def test_oversized_metadata_is_trimmed_with_a_warning(
    sink: PineconeSink, fake: FakePinecone, caplog: pytest.LogCaptureFixture
) -> None:
    record = VectorRecord(
        id="github:issue-1:0",
        text="short text that must stay whole",
        metadata={"title": "Keep me", "body": "é" * 30_000, "labels": ["bug"] * 2_000},
    )
    with caplog.at_level(logging.WARNING, logger="core.vectors.pinecone_sink"):
        assert sink.upsert(NS, [record]) == []

    stored = fake.records("community", NS)["github:issue-1:0"]
    assert stored["text"] == record.text
    assert stored["title"] == "Keep me"
    assert len(orjson.dumps({k: v for k, v in stored.items() if k != "_id"})) <= MAX_METADATA_BYTES
    assert len(stored["body"]) < 30_000
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert any("github:issue-1:0" in r.getMessage() and "body" in r.getMessage() for r in warnings)


def test_invalid_record_fails_alone(sink: PineconeSink, fake: FakePinecone) -> None:
    good = records(3)
    bad = VectorRecord(id="github:issue-x:0", text="fine text", metadata={"nested": {"a": 1}})
    assert sink.upsert(NS, [*good, bad]) == ["github:issue-x:0"]
    assert set(fake.records("community", NS)) == {r.id for r in good}
    [error] = sink.last_errors
    assert classify_failure(error) is CollectorFailureCategory.VALIDATION
    assert "github:issue-x:0.nested" in str(error)


def test_upsert_replaces_records_with_the_same_id(sink: PineconeSink, fake: FakePinecone) -> None:
    sink.upsert(NS, records(2))
    sink.upsert(NS, records(2, text="edited"))
    stored = fake.records("community", NS)
    assert len(stored) == 2
    assert stored["github:issue-1:0"]["text"] == "edited #1"


# ---------------------------------------------------------------------- retries and failures


def test_429_waits_for_retry_after_then_succeeds(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(429, headers={"Retry-After": "0.3"}, match="/upsert")
    started = time.monotonic()
    assert sink.upsert(NS, records(5)) == []
    waited = time.monotonic() - started

    assert [c.status for c in upserts(fake)] == [429, 201]
    # Backoff alone would be ~1 ms here; only the server's hint explains the wait.
    assert waited >= 0.3
    assert len(fake.records("community", NS)) == 5


def test_429_asking_too_long_fails_now_with_retry_at(fake: FakePinecone) -> None:
    with PineconeSink(make_config(fake, max_retry_after=1)) as sink:
        sink.ensure_ready([NS])
        fake.fail_next(429, headers={"Retry-After": "120"}, match="/upsert")
        sent = records(3)
        assert sink.upsert(NS, sent) == [r.id for r in sent]

    assert len(upserts(fake)) == 1
    [error] = sink.last_errors
    assert isinstance(error, RateLimitError)
    assert error.retry_at is not None
    assert classify_failure(error) is CollectorFailureCategory.RATE_LIMIT


def test_5xx_is_retried_then_succeeds(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(503, count=2, match="/upsert")
    assert sink.upsert(NS, records(4)) == []
    assert [c.status for c in upserts(fake)] == [503, 503, 201]
    assert sink.last_errors == ()


def test_dropped_connection_is_retried(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(0, disconnect=True, match="/upsert")
    assert sink.upsert(NS, records(2)) == []
    assert len(fake.records("community", NS)) == 2


def test_persistent_5xx_returns_failed_ids_as_network(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(500, count=1_000, match="/upsert")
    sent = records(100)
    assert sink.upsert(NS, sent) == [r.id for r in sent]

    # 2 batches x max_attempts (3): the SDK's own retries are off, ours are bounded.
    assert len(upserts(fake)) == 6
    assert len(sink.last_errors) == 2
    assert all(classify_failure(e) is CollectorFailureCategory.NETWORK for e in sink.last_errors)


def test_only_the_failing_batch_is_reported(sink: PineconeSink, fake: FakePinecone) -> None:
    sent = records(150)
    sink.upsert(NS, sent[:96])
    fake.fail_next(500, count=3, match="/upsert")
    failed = sink.upsert(NS, sent)
    assert failed == [r.id for r in sent[:96]]
    assert len(fake.records("community", NS)) == 150


def test_413_is_validation_and_not_retried(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(413, match="/upsert")
    sent = records(3)
    assert sink.upsert(NS, sent) == [r.id for r in sent]
    assert len(upserts(fake)) == 1
    [error] = sink.last_errors
    assert classify_failure(error) is CollectorFailureCategory.VALIDATION


def test_401_during_upsert_raises_auth(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(401, match="/upsert")
    with pytest.raises(AuthenticationError):
        sink.upsert(NS, records(2))


def test_api_key_never_reaches_logs_or_errors(fake: FakePinecone, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = json.dumps(
        {"error": {"code": "INTERNAL", "message": f"bad key {fake.api_key} seen"}, "status": 500}
    )
    seen: list[BaseException] = []
    with PineconeSink(make_config(fake)) as sink:
        sink.ensure_ready([NS])
        fake.fail_next(500, body=echo, count=3, match="/upsert")
        sink.upsert(NS, records(2))
        seen.extend(sink.last_errors)
        fake.fail_next(429, headers={"Retry-After": "0"}, body=echo, count=3, match="/vectors/delete")
        sink.delete(NS, ["github:issue-0:0"])
        seen.extend(sink.last_errors)
        text = repr(sink.config) + repr(sink.__dict__)
    with PineconeSink(make_config(fake, api_key=fake.api_key + "-wrong")) as bad:
        with pytest.raises(AuthenticationError) as raised:
            bad.ensure_ready([NS])
        seen.append(raised.value)

    assert len(seen) == 3
    rendered = caplog.text + text + "".join(f"{e!s}{e!r}" for e in seen)
    assert "seen" in caplog.text  # the echoed message was logged, redacted
    assert fake.api_key not in rendered


# ---------------------------------------------------------------------- delete and hybrid


def test_delete_removes_records_in_batches_of_1000(sink: PineconeSink, fake: FakePinecone) -> None:
    sent = records(20)
    sink.upsert(NS, sent)
    unknown = [f"github:gone-{i}:0" for i in range(2_400)]
    assert sink.delete(NS, [r.id for r in sent[:5]] + unknown) == []
    assert set(fake.records("community", NS)) == {r.id for r in sent[5:]}
    assert len(fake.requests_to("/vectors/delete")) == 3


def test_delete_failure_returns_ids(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(502, count=3, match="/vectors/delete")
    assert sink.delete(NS, ["a:b:0", "a:b:1"]) == ["a:b:0", "a:b:1"]
    assert classify_failure(sink.last_errors[0]) is CollectorFailureCategory.NETWORK


def test_delete_in_a_namespace_that_is_gone_is_done(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(404, match="/vectors/delete")
    assert sink.delete("never-written", ["a:b:0"]) == []
    assert sink.last_errors == ()


def test_index_gone_during_upsert_is_a_config_error(sink: PineconeSink, fake: FakePinecone) -> None:
    fake.fail_next(404, match="/upsert")
    with pytest.raises(ConfigError, match="community"):
        sink.upsert(NS, records(1))


def test_clear_empties_the_namespace_in_every_index(fake: FakePinecone) -> None:
    with PineconeSink(make_config(fake, sparse_index="community-sparse")) as sink:
        sink.ensure_ready([NS, "other"])
        sink.upsert(NS, records(10))
        sink.upsert("other", records(2))
        sink.clear(NS)
        fake.fail_next(503, count=3, match="/vectors/delete")
        with pytest.raises(Exception) as raised:
            sink.clear("other")
    for index in ("community", "community-sparse"):
        assert fake.records(index, NS) == {}
    assert len(fake.records("community", "other")) == 2
    assert classify_failure(raised.value) is CollectorFailureCategory.NETWORK


def test_hybrid_writes_and_deletes_in_both_indexes(fake: FakePinecone) -> None:
    with PineconeSink(make_config(fake, sparse_index="community-sparse")) as sink:
        sink.ensure_ready([NS])
        sent = records(120)
        assert sink.upsert(NS, sent) == []
        assert sink.delete(NS, [sent[0].id]) == []

    assert fake.index_config("community-sparse")["model"] == "pinecone-sparse-english-v0"
    assert fake.index_config("community")["model"] == "llama-text-embed-v2"
    for index in ("community", "community-sparse"):
        assert len(fake.records(index, NS)) == 119
        assert [c.record_count for c in upserts(fake, index)] == [96, 24]


def test_hybrid_failure_in_sparse_index_fails_the_ids(fake: FakePinecone) -> None:
    with PineconeSink(make_config(fake, sparse_index="community-sparse")) as sink:
        sink.ensure_ready([NS])
        fake.fail_next(503, count=3, match="/_data/community-sparse/records")
        sent = records(3)
        assert sink.upsert(NS, sent) == [r.id for r in sent]
    assert len(fake.records("community", NS)) == 3


# ---------------------------------------------------------------------- configuration


def test_config_from_connection_mirrors_the_provider_fields(fake: FakePinecone) -> None:
    config = pinecone_config_from_connection(
        login="us-east-1-aws",
        password=fake.api_key,
        host=fake.url,
        extra={"region": "eu-west-1", "cloud": "aws", "index": "from-conn", "debug_curl": False},
        overrides={"index": "from-yaml", "sparse_index": None, "namespace": "github"},
    )
    assert config.api_key == fake.api_key
    assert config.host == fake.url
    assert config.region == "eu-west-1"
    assert config.index == "from-yaml"
    assert config.sparse_index is None
    assert config.namespace == "github"
    assert fake.api_key not in repr(config)

    with PineconeSink(dataclasses.replace(config, ready_poll_interval=0.01)) as sink:
        sink.ensure_ready(["github"])
    assert fake.index_config("from-yaml")["region"] == "eu-west-1"


def test_config_from_connection_rejects_missing_key_and_unknown_settings() -> None:
    with pytest.raises(ConfigError, match="password"):
        pinecone_config_from_connection(None, "", None, {"index": "x"})
    with pytest.raises(ConfigError, match="chunk_sise"):
        pinecone_config_from_connection(None, "k", None, {"index": "x"}, {"chunk_sise": 1})
    with pytest.raises(ConfigError, match="index"):
        pinecone_config_from_connection(None, "k", None, {})


# ---------------------------------------------------------------------- the server as a process


def test_standalone_server_serves_the_sink(tmp_path: Path) -> None:
    script = Path(__file__).resolve().parents[1] / "fakes" / "pinecone_server.py"
    proc = subprocess.Popen(
        [sys.executable, str(script), "--port", "0", "--api-key", "e2e-key-123"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("READY http://127.0.0.1:")
        url = line.split()[1]
        config = PineconeSinkConfig(api_key="e2e-key-123", host=url, index="e2e", ready_poll_interval=0.01)
        with PineconeSink(config) as sink:
            sink.ensure_ready([NS])
            assert sink.upsert(NS, records(3)) == []
        request = urllib.request.Request(
            f"{url}/_fake/records?index=e2e&namespace={NS}", headers={"Api-Key": "e2e-key-123"}
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert sorted(json.load(response)) == [f"github:issue-{i}:0" for i in range(3)]
    finally:
        proc.terminate()
        proc.wait(timeout=5)
