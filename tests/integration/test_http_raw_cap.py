"""``HttpClient.get_raw(max_bytes=)`` and ``get_if_changed(raw=True, max_bytes=)`` against a real
local server: a body over the cap is refused whether or not its size is announced, after
reading at most the cap (the server sees the client hang up), an exact fit passes, a body cut
short is retried, and conditional raw requests answer 304."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler

import pytest

from core.errors import CollectorFailureCategory, classify_failure
from core.operations.http import (
    BodyTooLargeError,
    HttpClient,
    HttpClientConfig,
    InMemoryEtagCache,
    NotModified,
)
from tests.fakes.local_server import LocalHTTPServer

CHUNK = b"x" * 65_536
TOTAL_CHUNKS = 160  # 10 MiB, far more than any cap below


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # the body ends when the connection closes: no Content-Length
    sent: list[int] = []
    cut_once = threading.Event()

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.startswith("/exact"):
            body = b"y" * 1000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("ETag", '"v1"')
            self.end_headers()
            self.wfile.write(body)
            return
        if self.path.startswith("/cut") and not self.cut_once.is_set():
            self.cut_once.set()
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"z" * 100)  # then the connection drops
            return
        if self.path.startswith("/cut"):
            self.send_response(200)
            self.send_header("Content-Length", "1000")
            self.end_headers()
            self.wfile.write(b"z" * 1000)
            return
        self.send_response(200)
        if self.path.startswith("/announced"):  # announces 10 MiB, sends 64 KiB, then stalls
            self.send_header("Content-Length", str(len(CHUNK) * TOTAL_CHUNKS))
            self.end_headers()
            self.wfile.write(CHUNK)
            self.wfile.flush()
            time.sleep(2)
            return
        self.end_headers()
        written = 0
        try:
            for _ in range(TOTAL_CHUNKS):
                self.wfile.write(CHUNK)
                written += len(CHUNK)
        except OSError:
            pass  # the client hung up
        finally:
            self.sent.append(written)


class _ConditionalExact(_Handler):
    def do_GET(self) -> None:
        if self.path.startswith("/exact") and self.headers.get("If-None-Match") == '"v1"':
            self.send_response(304)
            self.send_header("ETag", '"v1"')
            self.end_headers()
            return
        super().do_GET()


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    _Handler.sent = []
    _Handler.cut_once = threading.Event()
    with LocalHTTPServer(_ConditionalExact, name="raw-cap") as srv:
        yield srv


def client(server: LocalHTTPServer, **settings: float) -> HttpClient:
    config = HttpClientConfig(
        base_url=server.root, api_name="files", backoff_base=0.0, jitter=0.0, **settings
    )
    return HttpClient(config, etag_cache=InMemoryEtagCache(), sleep=lambda _s: None)


def test_an_unannounced_body_over_the_cap_is_refused_after_reading_about_the_cap(
    server: LocalHTTPServer,
) -> None:
    with client(server) as http, pytest.raises(BodyTooLargeError, match="max_bytes=100000") as refused:
        http.get_raw("/stream", max_bytes=100_000)
    assert classify_failure(refused.value) is CollectorFailureCategory.VALIDATION
    server.stop()  # joins the handler thread, so its count is final
    assert _Handler.sent and _Handler.sent[0] < len(CHUNK) * TOTAL_CHUNKS


def test_an_announced_body_over_the_cap_is_refused_before_reading_it(server: LocalHTTPServer) -> None:
    """The server stalls after its first chunk: reading the body would time out, refusing it does not."""
    with client(server, read_timeout=0.5) as http, pytest.raises(BodyTooLargeError):
        http.get_raw("/announced", max_bytes=100_000)
    assert http.stats.requests == 1  # not retried


def test_a_body_that_fits_passes_and_a_conditional_raw_get_answers_304(server: LocalHTTPServer) -> None:
    with client(server) as http:
        first = http.get_if_changed("/exact", scope="files", raw=True, max_bytes=1000)
        assert not isinstance(first, NotModified) and first.data == b"y" * 1000
        http.remember(first)
        assert isinstance(http.get_if_changed("/exact", scope="files", raw=True, max_bytes=1000), NotModified)
        with pytest.raises(BodyTooLargeError):
            http.get_raw("/exact", max_bytes=999)


def test_a_capped_body_cut_short_is_retried(server: LocalHTTPServer) -> None:
    with client(server) as http:
        response = http.get_raw("/cut", max_bytes=5000)
    assert response.data == b"z" * 1000 and http.stats.retries == 1
