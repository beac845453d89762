"""The wire-fakes toolkit (tests/fakes/wire.py), driven by a real HTTP client over loopback."""

from __future__ import annotations

import datetime as dt
import email.message
import email.utils
import http.client
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.fakes.wire import (
    BASE_TIME,
    Dataset,
    FakeClock,
    Fault,
    Reply,
    Request,
    WireServer,
    etag,
    link_header,
    not_modified,
    number_page,
)


class Echo(WireServer):
    """Answers every request with what it received; ``/boom`` raises."""

    server_name = "echo/1.0"
    default_headers = {"X-Echo": "yes"}

    def handle(self, request: Request) -> Reply:
        if request.path == "/boom":
            raise RuntimeError("handler bug")
        if request.path == "/early":
            raise Reply.json(418, {"early": True})
        request.notes["seen_by"] = "echo"
        return Reply.json(
            200,
            {
                "method": request.method,
                "path": request.path,
                "query": request.query,
                "body": request.body.decode(),
                "padding": "x" * 200,
            },
        )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def echo(clock: FakeClock) -> Iterator[Echo]:
    with Echo(clock=clock.time, sleep=clock.sleep) as server:
        yield server


# ---------------------------------------------------------------------- the fault queue


def test_without_faults_the_real_answer_is_served(echo: Echo) -> None:
    response = requests.get(echo.url("/a?x=1"), timeout=5)
    assert response.status_code == 200
    assert response.json()["query"] == {"x": "1"}
    assert response.headers["Server"].startswith("echo/1.0")
    assert response.headers["X-Echo"] == "yes"


def test_fault_matches_by_method_and_path_prefix_and_counts_down(echo: Echo) -> None:
    echo.inject(Fault(503, method="POST", path="/items", times=2))
    assert requests.get(echo.url("/items"), timeout=5).status_code == 200  # wrong method
    assert requests.post(echo.url("/other"), timeout=5).status_code == 200  # wrong path
    assert requests.post(echo.url("/items/7"), timeout=5).status_code == 503  # prefix
    assert len(echo.faults) == 1 and echo.faults.pending()[0].times == 1
    assert requests.post(echo.url("/items"), timeout=5).status_code == 503
    assert len(echo.faults) == 0
    assert requests.post(echo.url("/items"), timeout=5).status_code == 200


def test_fault_matches_a_substring_of_method_and_path(echo: Echo) -> None:
    echo.inject(Fault(500, contains="POST /ns/"))
    assert requests.get(echo.url("/ns/a/upsert"), timeout=5).status_code == 200
    assert requests.post(echo.url("/ns/a/upsert"), timeout=5).status_code == 500


def test_faults_are_taken_in_order(echo: Echo) -> None:
    echo.inject(Fault(502), Fault(503))
    assert [requests.get(echo.url("/"), timeout=5).status_code for _ in range(3)] == [502, 503, 200]


def test_status_fault_answers_with_its_headers_and_body(echo: Echo) -> None:
    echo.inject(Fault(429, headers={"Retry-After": "7"}, body="slow down"), Fault(500))
    first = requests.get(echo.url("/"), timeout=5)
    assert (first.status_code, first.headers["Retry-After"], first.text) == (429, "7", "slow down")
    second = requests.get(echo.url("/"), timeout=5)
    assert second.status_code == 500 and second.json() == {"message": "Internal Server Error"}


def test_status_none_changes_the_real_answer(echo: Echo) -> None:
    echo.inject(Fault(headers={"X-Extra": "1"}, body=lambda body: body[:10]))
    response = requests.get(echo.url("/real"), timeout=5)
    assert response.status_code == 200 and response.headers["X-Extra"] == "1"
    assert response.content == b'{"method":'[:10]
    assert response.headers["Content-Length"] == "10"  # the cut body is all the server promised


def test_disconnect_close_answers_nothing(echo: Echo) -> None:
    echo.inject(Fault(disconnect="close"))
    with pytest.raises(requests.ConnectionError):
        requests.get(echo.url("/"), timeout=5)
    assert [e.status for e in echo.log] == [0]


def test_disconnect_reset_sends_a_tcp_reset(echo: Echo) -> None:
    echo.inject(Fault(disconnect="reset"), Fault(disconnect="close"))
    for expected in (ConnectionResetError, None):  # an RST, then an orderly close (FIN) to compare
        with socket.create_connection(("127.0.0.1", echo.port), timeout=5) as sock:
            sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            if expected is None:
                assert sock.recv(100) == b""
            else:
                with pytest.raises(expected):
                    sock.recv(100)


def test_disconnect_mid_body_sends_headers_then_half_the_body(echo: Echo) -> None:
    echo.inject(Fault(disconnect="mid_body"))
    conn = http.client.HTTPConnection("127.0.0.1", echo.port, timeout=5)
    conn.request("GET", "/")
    response = conn.getresponse()
    assert response.status == 200
    with pytest.raises(http.client.IncompleteRead) as caught:
        response.read()
    assert 0 < len(caught.value.partial) < int(response.headers["Content-Length"])
    conn.close()


def test_delay_waits_on_the_servers_sleep_before_answering(echo: Echo, clock: FakeClock) -> None:
    echo.inject(Fault(503, delay=2.5), Fault(delay=1.0))
    assert requests.get(echo.url("/"), timeout=5).status_code == 503
    assert requests.get(echo.url("/"), timeout=5).status_code == 200
    assert clock.sleeps == [2.5, 1.0]


def test_clearing_the_queue_drops_pending_faults(echo: Echo) -> None:
    echo.inject(Fault(500, times=100))
    echo.faults.clear()
    assert requests.get(echo.url("/"), timeout=5).status_code == 200


# ---------------------------------------------------------------------- the request log


def test_log_records_what_the_client_sent_and_what_it_got(echo: Echo, clock: FakeClock) -> None:
    clock.advance(5)
    response = requests.post(
        echo.url("/things?a=1&b=two"),
        json={"k": "v"},
        headers={"Authorization": "Bearer t0k", "X-Custom": "c"},
        timeout=5,
    )
    assert response.status_code == 200
    [exchange] = echo.log
    assert (exchange.method, exchange.path, exchange.query) == ("POST", "/things", "a=1&b=two")
    assert exchange.json() == {"k": "v"}
    assert exchange.header("authorization") == "Bearer t0k"
    assert exchange.headers["X-Custom"] == "c"  # spelled as sent
    assert exchange.status == 200 and exchange.fault is None
    assert exchange.at == 1_750_000_005.0  # the server's clock
    assert exchange.notes == {"seen_by": "echo"}


def test_log_names_the_fault_and_filters(echo: Echo) -> None:
    echo.inject(Fault(500, path="/b", kind="boom"))
    requests.get(echo.url("/a"), timeout=5)
    requests.post(echo.url("/b/1"), timeout=5)
    requests.delete(echo.url("/b/2"), timeout=5)
    assert [(e.method, e.status, e.fault) for e in echo.log] == [
        ("GET", 200, None),
        ("POST", 500, "boom"),
        ("DELETE", 200, None),
    ]
    assert [e.path for e in echo.log.select(path="/b")] == ["/b/1", "/b/2"]
    assert echo.log.count(method="delete") == 1
    assert echo.log.count(contains="POST /b") == 1
    assert echo.log.count(status=500) == 1
    assert echo.log.count(where=lambda e: e.path.endswith("2")) == 1
    echo.log.clear()
    assert len(echo.log) == 0


def test_handler_errors_answer_500_and_are_kept(echo: Echo) -> None:
    assert requests.get(echo.url("/boom"), timeout=5).status_code == 500
    assert echo.internal_errors == ["/boom: RuntimeError: handler bug"]
    assert requests.get(echo.url("/early"), timeout=5).json() == {"early": True}


def test_unsupported_method_is_405(echo: Echo) -> None:
    echo.methods = ("GET",)
    assert requests.post(echo.url("/"), timeout=5).status_code == 405


def test_keep_alive_reuses_one_connection(echo: Echo) -> None:
    with requests.Session() as session:
        for _ in range(3):
            session.get(echo.url("/"), timeout=5)
    assert echo.connections == 1


# ---------------------------------------------------------------------- clock and dataset


def test_fake_clock_sleeps_instantly_and_records() -> None:
    clock = FakeClock(100.0)
    clock.sleep(30)
    clock.sleep(-1)  # a negative wait never moves time back
    assert clock.time() == 130.0
    assert clock.sleeps == [30, -1]
    assert clock.advance(5) == 135.0
    assert clock.sleeps == [30, -1]


def test_fake_clock_is_safe_across_threads() -> None:
    clock = FakeClock(0.0)
    threads = [threading.Thread(target=lambda: [clock.sleep(1) for _ in range(500)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.time() == 2000.0 and len(clock.sleeps) == 2000


def test_dataset_ticks_and_numbers() -> None:
    ds = Dataset(first_id=10)
    assert (ds.next_id(), ds.next_id()) == (11, 12)
    assert ds.tick() == BASE_TIME + dt.timedelta(minutes=1)
    assert ds.tick(5) == BASE_TIME + dt.timedelta(minutes=6) == ds.clock


# ---------------------------------------------------------------------- HTTP helpers


def _headers(**values: str) -> email.message.Message:
    message = email.message.Message()
    for name, value in values.items():
        message[name.replace("_", "-")] = value
    return message


def test_conditional_requests() -> None:
    tag = etag(b"body")
    assert tag != etag(b"other") and tag.startswith('W/"')
    assert not_modified(_headers(If_None_Match=tag), tag)
    assert not_modified(_headers(If_None_Match=f'"x", {tag.removeprefix("W/")}'), tag)
    assert not_modified(_headers(If_None_Match="*"), tag)
    assert not not_modified(_headers(If_None_Match='"x"'), tag)
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    stamp = email.utils.format_datetime(when, usegmt=True)
    assert not_modified(_headers(If_Modified_Since=stamp), tag, when)
    assert not not_modified(_headers(If_Modified_Since=stamp), tag, when + dt.timedelta(seconds=1))
    assert not not_modified(_headers(If_Modified_Since="garbage"), tag, when)
    assert not not_modified(_headers(), tag, when)


def test_number_page_links() -> None:
    items = list(range(25))
    chunk, links = number_page(items, {"per_page": "10", "state": "all"}, "http://h/x")
    assert chunk == list(range(10))
    assert links == {
        "next": "http://h/x?per_page=10&state=all&page=2",
        "last": "http://h/x?per_page=10&state=all&page=3",
    }
    chunk, links = number_page(items, {"per_page": "10", "page": "3"}, "http://h/x")
    assert chunk == [20, 21, 22, 23, 24] and set(links) == {"prev", "first"}
    chunk, _ = number_page(items, {"per_page": "500"}, "http://h/x", maximum=20, cap=15)
    assert chunk == list(range(15))
    assert link_header({"next": "u1", "last": "u2"}) == '<u1>; rel="next", <u2>; rel="last"'


# ---------------------------------------------------------------------- the documented example


def test_docs_example_runs() -> None:
    """docs/testing-fakes.md's complete fake is real code: its asserts hold."""
    text = (Path(__file__).parents[2] / "docs" / "testing-fakes.md").read_text()
    block = text.split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(block, "docs/testing-fakes.md", "exec"), {"__name__": "docs_example"})  # noqa: S102
