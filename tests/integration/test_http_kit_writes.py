"""``HttpClient.send``: the HTTP kit's write path, against a real local server (the Git Data fake)."""

from __future__ import annotations

import pytest

from core.errors import CollectorFailureCategory, DataValidationError, RateLimitError, classify_failure
from core.operations.http import HttpClient, HttpClientConfig
from tests.fakes.gitdata_server import FakeGitDataServer
from tests.fakes.wire import FakeClock, Fault

TOKEN = "kit-write-token-0123456789"
BLOBS = "/repos/octo/context/git/blobs"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def server(clock: FakeClock):
    with FakeGitDataServer(token=TOKEN, clock=clock.time) as fake:
        yield fake


def client(server: FakeGitDataServer, clock: FakeClock) -> HttpClient:
    settings = HttpClientConfig(
        base_url=server.root, api_name="Git", jitter=0, backoff_base=0, max_rate_limit_wait=120
    )
    return HttpClient(settings, tokens=[TOKEN], clock=clock.time, sleep=clock.sleep)


def test_json_body_and_answer(server, clock) -> None:
    answer = client(server, clock).send(
        "post", BLOBS, {"content": "hi", "encoding": "utf-8"}, idempotent=True
    )
    assert answer.status == 201 and len(answer.data["sha"]) == 40
    sent = server.log.select("POST", BLOBS)[0]
    assert sent.json() == {"content": "hi", "encoding": "utf-8"}
    assert sent.header("Content-Type") == "application/json"


def test_transient_failure_retried_only_when_idempotent(server, clock) -> None:
    server.inject(Fault(status=502, method="POST", path=BLOBS))
    client(server, clock).send("POST", BLOBS, {"content": "a"}, idempotent=True)
    assert server.log.count("POST", BLOBS) == 2
    server.log.clear()
    server.inject(Fault(status=502, method="POST", path=BLOBS))
    with pytest.raises(Exception) as caught:
        client(server, clock).send("POST", BLOBS, {"content": "a"}, idempotent=False)
    assert classify_failure(caught.value) is CollectorFailureCategory.NETWORK
    assert "answered 502 to POST" in str(caught.value)
    assert server.log.count("POST", BLOBS) == 1


def test_rate_limit_refusal_is_waited_out_even_for_a_non_idempotent_write(server, clock) -> None:
    server.inject(Fault(status=429, method="POST", path=BLOBS, headers={"Retry-After": "20"}))
    start = clock.time()
    client(server, clock).send("POST", BLOBS, {"content": "a"}, idempotent=False)
    assert server.log.count("POST", BLOBS, status=201) == 1 and clock.time() - start >= 20
    server.inject(Fault(status=429, method="POST", path=BLOBS, headers={"Retry-After": "600"}))
    with pytest.raises(RateLimitError) as caught:
        client(server, clock).send("POST", BLOBS, {"content": "a"}, idempotent=True)
    assert caught.value.retry_at is not None


def test_writes_do_not_follow_redirects_and_get_is_refused(server, clock) -> None:
    server.inject(
        Fault(status=307, method="POST", path=BLOBS, headers={"Location": server.url("/elsewhere")})
    )
    with pytest.raises(DataValidationError, match="writes do not follow redirects"):
        client(server, clock).send("POST", BLOBS, {"content": "a"}, idempotent=True)
    assert server.log.count("POST") == 1
    with pytest.raises(ValueError, match="use get"):
        client(server, clock).send("GET", BLOBS, idempotent=True)
