"""The HTTP source kit (``core.operations.http``) against small local HTTP servers.

Real HTTP on 127.0.0.1 through the real client (session, auth, token pool, policies,
tenacity retries, paginators); only time is fake: the client's ``sleep`` advances a clock,
so waits of minutes take no time. Each test scripts the answers it needs.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import email.utils
import json
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from core.errors import (
    AuthenticationError,
    CollectorFailureCategory,
    DataValidationError,
    NetworkError,
    RateLimitError,
    classify_failure,
)
from core.operations.http import (
    DISCORD,
    REDDIT,
    SLACK,
    CursorField,
    HeaderAuth,
    HttpClient,
    HttpClientConfig,
    InMemoryEtagCache,
    NextUrlField,
    NotFoundError,
    NotModified,
    OAuth2ClientCredentials,
    Offset,
    PageNumber,
    QueryAuth,
    TimeWindow,
    fingerprint,
)
from tests.fakes.github_server import FakeClock
from tests.fakes.local_server import LocalHTTPServer

SECRET = "kit-secret-" + "9f8e7d6c5b4a3210" * 2
SECRET2 = "kit-other-" + "0123456789abcdef" * 2


# --------------------------------------------------------------------------- a scripted server


@dataclasses.dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    disconnect: bool = False  # close the connection without answering
    cut: bool = False  # send half of the JSON body with a matching Content-Length


@dataclasses.dataclass(frozen=True)
class Seen:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Handler = Callable[[Seen], Reply]


class Scripted(LocalHTTPServer):
    """Routes by path: a list of replies (served in order, the last one repeats) or a function."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply] | Handler] = {}
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    parts.path, parse_qs(parts.query), dict(self.headers.items()), self.rfile.read(length)
                )
                reply = server._reply(seen)
                if reply.disconnect:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.close()
                    return
                payload = b"" if reply.body is None else json.dumps(reply.body).encode()
                if reply.cut:
                    payload = payload[: len(payload) // 2]
                self.send_response(reply.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            do_GET = _serve
            do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        super().__init__(_Handler, name="scripted")

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _reply(self, seen: Seen) -> Reply:
        with self._lock:
            self.seen.append(seen)
            route = self.routes.get(seen.path)
            if route is None:
                return Reply(404, {"message": "Not Found"})
            if callable(route):
                return route(seen)
            return route.pop(0) if len(route) > 1 else route[0]

    def hits(self, path: str | None = None) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if path is None or s.path == path]


@pytest.fixture
def server() -> Iterator[Scripted]:
    with Scripted() as srv:
        yield srv


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_client(server: Scripted, clock: FakeClock, **kwargs: Any) -> HttpClient:
    settings = {"jitter": 0.0, **kwargs.pop("config", {})}
    config = HttpClientConfig(base_url=server.base_url, api_name="Kit", **settings)
    return HttpClient(config, clock=clock.time, sleep=clock.sleep, rng=lambda: 0.5, **kwargs)


# --------------------------------------------------------------------------- auth


def test_bearer_header_is_attached_at_send_time_and_redacted_from_errors(
    server: Scripted, clock: FakeClock
) -> None:
    server.routes["/ok"] = [Reply(200, {"ok": True})]
    server.routes["/denied"] = [Reply(401, {"message": f"token {SECRET} is revoked"})]
    with make_client(server, clock, tokens=(SECRET,)) as client:
        assert client.get("/ok").data == {"ok": True}
        with pytest.raises(AuthenticationError) as info:
            client.get("/denied")
    assert server.hits("/ok")[0].headers["Authorization"] == f"Bearer {SECRET}"
    assert SECRET not in str(info.value) and "REDACTED" in str(info.value)
    assert SECRET not in repr(client.tokens.current)
    assert classify_failure(info.value) is CollectorFailureCategory.AUTH


def test_custom_header_and_query_credentials(server: Scripted, clock: FakeClock) -> None:
    server.routes["/ok"] = [Reply(200, [])]
    bot = lambda secret: HeaderAuth(secret, prefix="Bot ")  # noqa: E731 - Discord's scheme
    with make_client(server, clock, tokens=(SECRET,), credential=bot) as client:
        client.get("/ok")
    key = lambda secret: QueryAuth(secret, param="key")  # noqa: E731 - YouTube's scheme
    with make_client(server, clock, tokens=(SECRET2,), credential=key) as client:
        client.get("/ok", {"part": "snippet"})
    first, second = server.hits("/ok")
    assert first.headers["Authorization"] == f"Bot {SECRET}"
    assert second.query == {"part": ["snippet"], "key": [SECRET2]}
    assert "Authorization" not in second.headers


def _token_endpoint(server: Scripted, lifetime: int = 3600) -> list[str]:
    minted: list[str] = []

    def mint(seen: Seen) -> Reply:
        import base64

        expected = "Basic " + base64.b64encode(f"client-1:{SECRET}".encode()).decode()
        if seen.headers.get("Authorization") != expected:
            return Reply(401, {"error": "invalid_client"})
        if parse_qs(seen.body.decode()).get("grant_type") != ["client_credentials"]:
            return Reply(400, {"error": "unsupported_grant_type"})
        minted.append(f"access-{len(minted) + 1}-" + "x" * 24)
        return Reply(200, {"access_token": minted[-1], "token_type": "bearer", "expires_in": lifetime})

    server.routes["/api/v1/access_token"] = mint
    return minted


def test_oauth2_client_credentials_mint_once_then_again_on_expiry(server: Scripted, clock: FakeClock) -> None:
    minted = _token_endpoint(server, lifetime=3600)
    server.routes["/r/cpp/new"] = [Reply(200, {"data": {"children": []}})]
    oauth = OAuth2ClientCredentials(
        f"{server.base_url}/api/v1/access_token", "client-1", SECRET, clock=clock.time, margin=60
    )
    with make_client(server, clock, tokens=(oauth,)) as client:
        client.get("/r/cpp/new")
        client.get("/r/cpp/new")
        clock.sleep(3600 - 60)  # the token's lifetime minus the margin
        client.get("/r/cpp/new")
    assert len(minted) == 2 and oauth.mints == 2
    used = [s.headers["Authorization"] for s in server.hits("/r/cpp/new")]
    assert used == [f"Bearer {minted[0]}"] * 2 + [f"Bearer {minted[1]}"]


def test_oauth2_refreshes_once_on_401_then_gives_up(server: Scripted, clock: FakeClock) -> None:
    minted = _token_endpoint(server)
    server.routes["/me"] = lambda seen: (
        Reply(200, {"name": "bot"})
        if seen.headers.get("Authorization") == f"Bearer {minted[-1]}" and len(minted) > 1
        else Reply(401, {"message": "expired"})
    )
    server.routes["/never"] = [Reply(401, {"message": "no"})]
    oauth = OAuth2ClientCredentials(
        f"{server.base_url}/api/v1/access_token", "client-1", SECRET, clock=clock.time
    )
    with make_client(server, clock, tokens=(oauth,)) as client:
        assert client.get("/me").data == {"name": "bot"}  # 401, mint again, 200
        with pytest.raises(AuthenticationError) as info:
            client.get("/never")
    assert len(minted) == 3  # first, after the 401 on /me, once more for /never
    assert len(server.hits("/never")) == 2
    text = str(info.value)
    assert all(token not in text for token in minted) and SECRET not in text


def test_oauth2_refused_client_is_auth_and_secret_free(server: Scripted, clock: FakeClock) -> None:
    _token_endpoint(server)
    oauth = OAuth2ClientCredentials(f"{server.base_url}/api/v1/access_token", "client-1", "wrong-" + SECRET)
    with make_client(server, clock, tokens=(oauth,)) as client, pytest.raises(AuthenticationError) as info:
        client.get("/r/cpp/new")
    assert "invalid_client" in str(info.value) and SECRET not in str(info.value)
    assert server.hits("/r/cpp/new") == []


# --------------------------------------------------------------------------- rate limits


def test_retry_after_seconds_is_slept_then_long_waits_raise(server: Scripted, clock: FakeClock) -> None:
    server.routes["/conversations.history"] = [
        Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "7"}),
        Reply(200, {"ok": True, "messages": []}),
    ]
    server.routes["/users.list"] = [Reply(429, {"ok": False}, {"Retry-After": "600"})]
    with make_client(server, clock, policy=SLACK, config={"max_rate_limit_wait": 300}) as client:
        assert client.get("/conversations.history").data["ok"] is True
        start = clock.time()
        with pytest.raises(RateLimitError) as info:
            client.get("/users.list")
    assert clock.sleeps == [7.0]
    assert info.value.retry_at == dt.datetime.fromtimestamp(start + 600, dt.UTC)
    assert client.stats.rate_limit_waits == 1 and client.stats.retries == 1


def test_retry_after_as_http_date(server: Scripted, clock: FakeClock) -> None:
    when = email.utils.formatdate(clock.time() + 30, usegmt=True)
    server.routes["/x"] = [Reply(429, {}, {"Retry-After": when}), Reply(200, {"v": 1})]
    with make_client(server, clock) as client:
        assert client.get("/x").data == {"v": 1}
    assert len(clock.sleeps) == 1 and 29 <= clock.sleeps[0] <= 30


def test_reddit_quota_headers_wait_for_the_reset_before_the_next_request(
    server: Scripted, clock: FakeClock
) -> None:
    headers = {"X-Ratelimit-Remaining": "0.0", "X-Ratelimit-Reset": "12", "X-Ratelimit-Used": "100"}
    server.routes["/r/cpp/new"] = [Reply(200, {"data": {}}, headers), Reply(200, {"data": {}})]
    with make_client(server, clock, tokens=(SECRET,), policy=REDDIT) as client:
        client.get("/r/cpp/new")
        client.get("/r/cpp/new")  # the quota said 0 left for 12 s: wait, then go
    assert clock.sleeps == [13.0]  # the reset plus the pool's one-second margin
    assert len(server.hits("/r/cpp/new")) == 2


def test_token_pool_rotates_when_a_token_is_exhausted(server: Scripted, clock: FakeClock) -> None:
    def answer(seen: Seen) -> Reply:
        if seen.headers.get("Authorization") == f"Bearer {SECRET}":
            return Reply(
                429, {"message": "quota"}, {"X-Ratelimit-Remaining": "0", "X-Ratelimit-Reset": "500"}
            )
        return Reply(200, {"who": "second"}, {"X-Ratelimit-Remaining": "99", "X-Ratelimit-Reset": "500"})

    server.routes["/r/cpp/new"] = answer
    with make_client(server, clock, tokens=(SECRET, SECRET2), policy=REDDIT) as client:
        response = client.get("/r/cpp/new")
        client.get("/r/cpp/new")
    assert response.token == fingerprint(SECRET2) and response.data == {"who": "second"}
    assert clock.sleeps == []
    assert [s.headers["Authorization"].split()[1] for s in server.hits()] == [SECRET, SECRET2, SECRET2]
    assert client.stats.by_token == {fingerprint(SECRET): 1, fingerprint(SECRET2): 2}


def test_discord_buckets_are_per_route_and_the_body_retry_after_is_honoured(
    server: Scripted, clock: FakeClock
) -> None:
    spent = {"X-RateLimit-Limit": "5", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5"}
    server.routes["/channels/1/messages"] = [Reply(200, [], spent), Reply(200, [])]
    server.routes["/channels/2/messages"] = [
        Reply(429, {"message": "You are being rate limited.", "retry_after": 0.75, "global": False}),
        Reply(200, []),
    ]
    with make_client(server, clock, tokens=(SECRET,), policy=DISCORD) as client:
        client.get("/channels/1/messages")
        client.get("/channels/2/messages")  # another bucket: not held back by channel 1
        client.get("/channels/1/messages")  # its bucket is empty for 2.5 s
    # channel 1's bucket resets 2.5 s after its answer (+1 s margin); 0.75 s have passed since
    assert clock.sleeps == [0.75, 2.75]


# --------------------------------------------------------------------------- transient failures


def test_5xx_reset_and_cut_body_are_retried_with_backoff(server: Scripted, clock: FakeClock) -> None:
    server.routes["/x"] = [
        Reply(502, {"message": "bad gateway"}),
        Reply(disconnect=True),
        Reply(200, {"items": [1, 2, 3, 4, 5, 6]}, cut=True),
        Reply(200, {"items": [1, 2, 3, 4, 5, 6]}),
    ]
    with make_client(server, clock, config={"backoff_base": 0.5}) as client:
        assert client.get("/x").data == {"items": [1, 2, 3, 4, 5, 6]}
    assert clock.sleeps == [0.5, 1.0, 2.0]
    assert client.stats.retries == 3 and client.stats.transport_errors == 2
    assert len(server.hits("/x")) == 4


def test_persistent_5xx_gives_up_after_the_bound_and_404_is_not_retried(
    server: Scripted, clock: FakeClock
) -> None:
    server.routes["/down"] = [Reply(503, {"message": "down"})]
    with make_client(server, clock, config={"transient_max_retries": 2}) as client:
        with pytest.raises(NetworkError, match="Kit answered 503 to GET /down"):
            client.get("/down")
        with pytest.raises(NotFoundError):
            client.get("/missing")
    assert len(server.hits("/down")) == 3
    assert len(server.hits("/missing")) == 1


# --------------------------------------------------------------------------- pagination


def test_next_url_field_pages_like_django_rest_framework(server: Scripted, clock: FakeClock) -> None:
    base = server.base_url
    server.routes["/api/list/boost/emails/"] = lambda seen: Reply(
        200,
        {
            "count": 5,
            "next": None
            if seen.query.get("offset") == ["4"]
            else f"{base}/api/list/boost/emails/?limit=2&offset={int(seen.query.get('offset', ['0'])[0]) + 2}",
            "results": [{"n": int(seen.query.get("offset", ["0"])[0]) + i} for i in range(2)],
        },
    )
    with make_client(server, clock) as client:
        items = list(
            client.iter_items(
                "/api/list/boost/emails/", {"limit": 2}, paginator=NextUrlField("next"), items_path="results"
            )
        )
    assert [i["n"] for i in items] == [0, 1, 2, 3, 4, 5]


def test_cursor_field_pages_like_slack(server: Scripted, clock: FakeClock) -> None:
    pages = {"": ("c2", [1, 2]), "c2": ("c3", [3, 4]), "c3": ("", [5])}

    def history(seen: Seen) -> Reply:
        cursor = seen.query.get("cursor", [""])[0]
        following, messages = pages[cursor]
        body = {"ok": True, "messages": messages, "has_more": bool(following)}
        return Reply(200, {**body, "response_metadata": {"next_cursor": following}})

    server.routes["/conversations.history"] = history
    paginator = CursorField("response_metadata.next_cursor", param="cursor", has_more="has_more")
    with make_client(server, clock) as client:
        items = list(
            client.iter_items(
                "/conversations.history", {"channel": "C1"}, paginator=paginator, items_path="messages"
            )
        )
    assert items == [1, 2, 3, 4, 5]
    assert [s.query.get("cursor") for s in server.hits()] == [None, ["c2"], ["c3"]]
    assert all(s.query["channel"] == ["C1"] for s in server.hits())


def test_page_number_and_offset(server: Scripted, clock: FakeClock) -> None:
    rows = list(range(7))
    server.routes["/pages"] = lambda seen: Reply(
        200, rows[(int(seen.query["page"][0]) - 1) * 3 : int(seen.query["page"][0]) * 3]
    )
    server.routes["/offset"] = lambda seen: Reply(
        200,
        {
            "total": 7,
            "items": rows[
                int(seen.query["offset"][0]) : int(seen.query["offset"][0]) + int(seen.query["limit"][0])
            ],
        },
    )
    with make_client(server, clock) as client:
        by_page = list(client.iter_items("/pages", paginator=PageNumber(size=3, size_param="per_page")))
        by_offset = list(
            client.iter_items(
                "/offset",
                paginator=Offset(limit=3, total_path="total", items_path="items"),
                items_path="items",
            )
        )
    assert by_page == rows and by_offset == rows
    assert [s.query["page"] for s in server.hits("/pages")] == [["1"], ["2"], ["3"]]
    assert [s.query["offset"] for s in server.hits("/offset")] == [["0"], ["3"], ["6"]]


def test_time_window_reads_each_window_with_its_inner_pages(server: Scripted, clock: FakeClock) -> None:
    base = server.base_url

    def search(seen: Seen) -> Reply:
        since = seen.query["since"][0]
        if since.startswith("2024-01-01") and "page" not in seen.query:
            return Reply(200, [since], {"Link": f'<{base}/search?since={since}&page=2>; rel="next"'})
        return Reply(200, [since + (" p2" if "page" in seen.query else "")])

    server.routes["/search"] = search
    start = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    window = TimeWindow(start, start + dt.timedelta(days=3), dt.timedelta(days=1))
    with make_client(server, clock) as client:
        items = list(client.iter_items("/search", paginator=window))
    assert items == [
        "2024-01-01T00:00:00Z",
        "2024-01-01T00:00:00Z p2",
        "2024-01-02T00:00:00Z",
        "2024-01-03T00:00:00Z",
    ]
    assert [s.query.get("until") for s in server.hits()][-1] == ["2024-01-04T00:00:00Z"]


@pytest.mark.parametrize("strategy", ["link", "next_url", "cursor_loop"])
def test_every_strategy_stays_on_the_origin_and_refuses_loops(
    server: Scripted, clock: FakeClock, strategy: str
) -> None:
    with Scripted() as evil:
        evil.routes["/steal"] = [Reply(200, [])]
        if strategy == "link":
            server.routes["/list"] = [Reply(200, [1], {"Link": f'<{evil.base_url}/steal>; rel="next"'})]
            kwargs: dict[str, Any] = {}
        elif strategy == "next_url":
            server.routes["/list"] = [Reply(200, {"next": f"{evil.base_url}/steal", "results": [1]})]
            kwargs = {"paginator": NextUrlField(), "items_path": "results"}
        else:
            server.routes["/list"] = [Reply(200, {"cursor": "same", "items": [1]})]
            kwargs = {"paginator": CursorField("cursor"), "items_path": "items"}
        with make_client(server, clock, tokens=(SECRET,)) as client:
            got: list[Any] = []
            with pytest.raises(DataValidationError) as info:
                got.extend(client.iter_items("/list", **kwargs))
        assert evil.hits() == []
    message = str(info.value)
    if strategy == "cursor_loop":
        assert "loops back" in message and len(server.hits("/list")) == 2
    else:
        assert "another origin" in message and got == []
    assert classify_failure(info.value) is CollectorFailureCategory.VALIDATION


def test_redirects_are_followed_on_the_origin_only(server: Scripted, clock: FakeClock) -> None:
    server.routes["/old"] = [Reply(301, None, {"Location": "/new"})]
    server.routes["/new"] = [Reply(200, {"moved": True})]
    server.routes["/away"] = [Reply(302, None, {"Location": "https://elsewhere.invalid/x"})]
    with make_client(server, clock, tokens=(SECRET,)) as client:
        assert client.get("/old").data == {"moved": True}
        with pytest.raises(DataValidationError, match="another origin"):
            client.get("/away")
    assert client.stats.redirects == 2


# --------------------------------------------------------------------------- validators and stats


def test_conditional_request_with_remembered_validators(server: Scripted, clock: FakeClock) -> None:
    def answer(seen: Seen) -> Reply:
        if seen.headers.get("If-None-Match") == '"v1"':
            return Reply(304)
        return Reply(200, {"v": 1}, {"ETag": '"v1"', "Last-Modified": "Mon, 01 Jan 2024 00:00:00 GMT"})

    server.routes["/doc"] = answer
    cache = InMemoryEtagCache()
    with make_client(server, clock, etag_cache=cache) as client:
        first = client.get_if_changed("/doc", {"a": 1}, scope="s")
        assert not isinstance(first, NotModified)
        again = client.get_if_changed("/doc", {"a": 1}, scope="s")  # not remembered yet: full answer
        assert not isinstance(again, NotModified)
        client.remember(first)
        third = client.get_if_changed("/doc", {"a": 1}, scope="s")
    assert isinstance(third, NotModified) and third.cache_key == "/doc?a=1"
    assert cache.get("s", "/doc?a=1") == ('"v1"', "Mon, 01 Jan 2024 00:00:00 GMT")
    assert server.hits()[-1].headers["If-Modified-Since"] == "Mon, 01 Jan 2024 00:00:00 GMT"
    assert client.stats.as_dict()["not_modified"] == 1
    assert client.stats.counts() == {
        "http_requests": 3,
        "http_not_modified": 1,
        "http_quota_consuming": 2,
        "http_retries": 0,
        "http_rate_limit_waits": 0,
        "http_bad_headers": 0,
        "http_redirects": 0,
    }
