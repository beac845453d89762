"""The toolkit every wire fake builds on: a loopback HTTP server, a fault queue, a request log,
a fast clock and a dataset base.

A fake subclasses :class:`WireServer` and implements :meth:`WireServer.handle`, which turns a
:class:`Request` into a :class:`Reply` (or raises one). The toolkit does the rest:

* **Faults** (:class:`Fault`, :class:`FaultQueue`): queued by tests, matched by method, path
  prefix or a substring of ``"METHOD path"``, counted down (``times``). A fault answers
  ``status`` (with ``headers`` and ``body``) instead of the real answer, or, with
  ``status=None``, changes the real answer (headers added, body replaced or transformed).
  ``disconnect`` drops the connection: ``"close"`` before answering, ``"reset"`` with a TCP RST,
  ``"mid_body"`` after the headers and half the body. ``delay`` waits before answering.
* **Request log** (:class:`RequestLog` of :class:`Exchange`): what the client sent (method,
  path, query, headers, body) and what it got (status, the fault's ``kind``), plus ``notes``
  the fake adds (the token it saw, whether quota was spent...).
* **Fast clock** (:class:`FakeClock`): epoch seconds whose ``sleep`` advances time at once;
  share it between a client's ``clock``/``sleep`` and the fake's rate-limit resets.
* **Dataset** (:class:`Dataset`): a lock, an id sequence and a logical clock that each mutation
  advances, so ``updated_at`` orders the way a real API's does.
* Small HTTP helpers real APIs share: content ``ETag`` and conditional requests, page-number
  pagination with a ``Link`` header.

Stdlib only.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import datetime as dt
import email.message
import email.utils
import hashlib
import json
import socket
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal, Self
from urllib.parse import parse_qsl, urlencode, urlsplit

__all__ = [
    "BASE_TIME",
    "Dataset",
    "Exchange",
    "FakeClock",
    "Fault",
    "FaultQueue",
    "Reply",
    "Request",
    "RequestLog",
    "WireServer",
    "etag",
    "link_header",
    "not_modified",
    "number_page",
]

BASE_TIME = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)

Disconnect = Literal["close", "reset", "mid_body"]


# =================================================================== clock and dataset


class FakeClock:
    """Epoch-seconds clock whose ``sleep`` advances time instantly and records what was asked."""

    def __init__(self, start: float = 1_750_000_000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self.now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self.sleeps.append(seconds)
            self.now += max(seconds, 0.0)

    def advance(self, seconds: float) -> float:
        """Move time forward without recording a sleep; returns the new time."""
        with self._lock:
            self.now += seconds
            return self.now


class Dataset:
    """Base of a fake's in-memory data: ``lock`` (re-entrant), ``next_id()`` and ``tick()``, a
    logical clock starting at ``start`` that mutations advance one step each."""

    def __init__(self, start: dt.datetime = BASE_TIME, *, first_id: int = 1000) -> None:
        self.clock = start
        self.lock = threading.RLock()
        self._ids = first_id

    def next_id(self) -> int:
        with self.lock:
            self._ids += 1
            return self._ids

    def tick(self, minutes: int = 1) -> dt.datetime:
        with self.lock:
            self.clock += dt.timedelta(minutes=minutes)
            return self.clock


# =================================================================== faults


@dataclasses.dataclass
class Fault:
    """One injected misbehaviour, consumed by the next ``times`` matching requests.

    ``status``: answer it instead of the real answer (``body`` None: the fake's own error body
    for it); ``None``: serve the real answer, then apply ``headers`` and ``body``. ``body`` may
    be bytes, text or a function of the real body (e.g. cut it in half). ``kind`` labels the
    fault in the request log; fakes also use it for faults of their own (``params`` holds their
    arguments).
    """

    status: int | None = None
    headers: Mapping[str, str] = dataclasses.field(default_factory=dict)
    body: bytes | str | Callable[[bytes], bytes] | None = None
    disconnect: Disconnect | None = None
    delay: float = 0.0
    method: str | None = None
    path: str | None = None
    contains: str | None = None
    times: int = 1
    kind: str | None = None
    params: dict[str, Any] = dataclasses.field(default_factory=dict)

    def matches(self, method: str, path: str) -> bool:
        return (
            (self.method is None or self.method.upper() == method.upper())
            and (self.path is None or path.startswith(self.path))
            and (self.contains is None or self.contains in f"{method} {path}")
        )

    def apply(self, reply: Reply) -> Reply:
        """``reply`` changed the way this fault says (headers, body, wire behaviour, delay)."""
        body = reply.body
        if callable(self.body):
            body = self.body(body or b"")
        elif self.body is not None:
            body = self.body.encode() if isinstance(self.body, str) else self.body
        return dataclasses.replace(
            reply,
            headers={**reply.headers, **self.headers},
            body=body,
            disconnect=self.disconnect or reply.disconnect,
            delay=reply.delay + self.delay,
        )


class FaultQueue:
    """Thread-safe queue of :class:`Fault`; the first one matching a request is taken."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._faults: collections.deque[Fault] = collections.deque()

    def add(self, *faults: Fault) -> None:
        with self._lock:
            self._faults.extend(faults)

    def take(self, method: str, path: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(method, path):
                    fault.times -= 1
                    if fault.times <= 0:
                        self._faults.remove(fault)
                    return fault
        return None

    def pending(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._faults)


# =================================================================== requests, replies, the log


@dataclasses.dataclass
class Request:
    """What the client sent, as the fake's :meth:`WireServer.handle` sees it. A fake may rewrite
    ``path`` (e.g. strip a mount prefix) and add ``notes``; both reach the log."""

    method: str
    path: str
    raw_query: str
    headers: email.message.Message
    body: bytes
    at: float
    fault: Fault | None = None
    notes: dict[str, Any] = dataclasses.field(default_factory=dict)
    logged: bool = True  # False: leave this one out of the log

    @property
    def query(self) -> dict[str, str]:
        """Query parameters, the last value of each name winning."""
        return dict(parse_qsl(self.raw_query, keep_blank_values=True))

    def json(self) -> Any:
        return json.loads(self.body or b"null")


@dataclasses.dataclass(eq=False)
class Reply(Exception):
    """An answer. ``body=None`` sends no body and no ``Content-Length`` (a 304)."""

    status: int = 200
    body: bytes | None = b""
    headers: dict[str, str] = dataclasses.field(default_factory=dict)
    disconnect: Disconnect | None = None
    delay: float = 0.0

    @classmethod
    def json(
        cls,
        status: int,
        payload: Any,
        headers: Mapping[str, str] | None = None,
        *,
        content_type: str = "application/json",
        separators: tuple[str, str] | None = None,
    ) -> Reply:
        body = b"" if payload is None else json.dumps(payload, separators=separators).encode()
        return cls(status, body, {"Content-Type": content_type, **(headers or {})})

    @classmethod
    def text(cls, status: int, text: str, *, content_type: str = "text/plain") -> Reply:
        return cls(status, text.encode(), {"Content-Type": content_type})


@dataclasses.dataclass(frozen=True)
class Exchange:
    """One request in the log: what the client sent and what it got (``status`` 0: no answer)."""

    method: str
    path: str
    query: str
    headers: dict[str, str]  # as the client spelled them; use header() for a lookup
    body: bytes
    at: float
    status: int
    fault: str | None = None
    notes: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)

    def json(self) -> Any:
        return json.loads(self.body or b"null")


class RequestLog:
    """Thread-safe list of :class:`Exchange`, with the filters tests ask for."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._items: list[Exchange] = []

    def append(self, exchange: Exchange) -> None:
        with self._lock:
            self._items.append(exchange)

    def select(
        self,
        method: str | None = None,
        path: str | None = None,
        *,
        contains: str | None = None,
        status: int | None = None,
        where: Callable[[Exchange], bool] | None = None,
    ) -> list[Exchange]:
        """Exchanges by method, path prefix, substring of ``"METHOD path"``, status, predicate."""
        with self._lock:
            items = list(self._items)
        return [
            e
            for e in items
            if (method is None or e.method == method.upper())
            and (path is None or e.path.startswith(path))
            and (contains is None or contains in f"{e.method} {e.path}")
            and (status is None or e.status == status)
            and (where is None or where(e))
        ]

    def count(self, *args: Any, **kwargs: Any) -> int:
        return len(self.select(*args, **kwargs))

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __iter__(self) -> Iterator[Exchange]:
        with self._lock:
            return iter(list(self._items))

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)


# =================================================================== the server


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: WireServer

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.fake._counter_lock:
            self.fake.connections += 1
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in separate writes: without TCP_NODELAY, Nagle + the client's
    # delayed ACK add ~40 ms to every keep-alive response.
    disable_nagle_algorithm = True

    @property
    def fake(self) -> WireServer:
        server = self.server
        assert isinstance(server, _HTTPServer)
        return server.fake

    def version_string(self) -> str:
        return self.fake.server_name or super().version_string()

    def log_message(self, format: str, *args: Any) -> None:  # keep test output quiet
        return

    def finish(self) -> None:
        with contextlib.suppress(OSError):  # the client went away
            super().finish()

    def _serve(self) -> None:
        fake = self.fake
        length = int(self.headers.get("Content-Length") or 0)
        parts = urlsplit(self.path)
        body = self.rfile.read(length) if length else b""
        request = Request(self.command, parts.path, parts.query, self.headers, body, fake.clock())
        try:
            reply = fake.respond(request) if self.command in fake.methods else fake.error(405, request)
        except Reply as raised:
            reply = raised
        except Exception as exc:
            fake.internal_errors.append(f"{self.path}: {type(exc).__name__}: {exc}")
            reply = fake.error(500, request)
        if request.logged:
            fake.log.append(
                Exchange(
                    request.method,
                    request.path,
                    request.raw_query,
                    dict(self.headers.items()),
                    request.body,
                    request.at,
                    0 if reply.disconnect in ("close", "reset") else reply.status,
                    request.fault.kind if request.fault else None,
                    dict(request.notes),
                )
            )
        with contextlib.suppress(OSError):  # the client went away
            self._send(reply)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

    def _send(self, reply: Reply) -> None:
        if reply.delay > 0:
            self.fake.sleep(reply.delay)
        if reply.disconnect == "close":  # no answer at all
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        if reply.disconnect == "reset":  # SO_LINGER 0: close() sends a TCP RST
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.close_connection = True
            self.connection.close()
            return
        self.send_response(reply.status)  # also sends Server and Date
        headers = {**self.fake.default_headers, **reply.headers}
        if reply.body is not None:
            headers["Content-Length"] = str(len(reply.body))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        if reply.body is None:
            return
        if reply.disconnect == "mid_body":  # the promised length never arrives
            self.wfile.write(reply.body[: len(reply.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(socket.SHUT_WR)
            return
        self.wfile.write(reply.body)


class WireServer:
    """A threaded HTTP/1.1 server on loopback (``port`` 0: a free one); subclasses implement
    :meth:`handle`. ``faults``, ``log``, ``connections`` (TCP connections accepted) and
    ``internal_errors`` (exceptions a handler raised; answered 500) are for tests.

    ``clock`` stamps the log; ``sleep`` serves fault delays (real time unless replaced).
    ``handler``: a hand-written request handler instead (then :meth:`handle`, faults and the log
    are not used; see ``tests/fakes/local_server.py``).
    """

    methods: tuple[str, ...] = ("GET", "POST", "PUT", "PATCH", "DELETE")
    server_name: str | None = None  # the Server header
    default_headers: Mapping[str, str] = {}
    thread_name = "wire-fake"

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
        handler: type[BaseHTTPRequestHandler] = _Handler,
    ) -> None:
        self.host = host
        self.clock = clock
        self.sleep = sleep
        self.faults = FaultQueue()
        self.log = RequestLog()
        self.connections = 0
        self.internal_errors: list[str] = []
        self._counter_lock = threading.Lock()
        self._httpd = _HTTPServer((host, port), handler)
        self._httpd.fake = self
        self._thread: threading.Thread | None = None

    # ---------------------------------------------------------------- what a fake implements

    def handle(self, request: Request) -> Reply:
        raise NotImplementedError

    def error(self, status: int, request: Request) -> Reply:
        """The answer for ``status`` when the fake has nothing more specific (405, 500, a fault)."""
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
        return Reply.json(status, {"message": phrase})

    def respond(self, request: Request) -> Reply:
        """Take the request's fault, then answer: the fault's, the real one, or the real one changed."""
        fault = request.fault = self.faults.take(request.method, request.path)
        if fault is None:
            return self.handle(request)
        if fault.disconnect in ("close", "reset"):
            return Reply(0, disconnect=fault.disconnect, delay=fault.delay)
        if fault.status is None:
            try:
                reply = self.handle(request)
            except Reply as raised:
                reply = raised
        else:
            reply = self.error(fault.status, request)
            reply.status = fault.status
        return fault.apply(reply)

    # ---------------------------------------------------------------- lifecycle

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    @property
    def root(self) -> str:
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        return f"{self.root}/{path.lstrip('/')}"

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.02},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until interrupted (standalone runs)."""
        try:
            self._httpd.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            self._httpd.server_close()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # ---------------------------------------------------------------- test controls

    def inject(self, *faults: Fault) -> None:
        """Queue ``faults`` (see :class:`Fault`)."""
        self.faults.add(*faults)


# =================================================================== HTTP helpers


def etag(body: bytes) -> str:
    """A weak content ETag."""
    return 'W/"' + hashlib.sha256(body).hexdigest()[:40] + '"'


def not_modified(headers: email.message.Message, tag: str, last_modified: dt.datetime | None = None) -> bool:
    """Whether a conditional GET (``If-None-Match``, else ``If-Modified-Since``) may get a 304."""
    if_none_match = headers.get("If-None-Match")
    if if_none_match:
        bare = tag.removeprefix("W/")
        return any(c.strip().removeprefix("W/") in {bare, "*"} for c in if_none_match.split(","))
    since = headers.get("If-Modified-Since")
    if since and last_modified is not None:
        try:
            return last_modified.replace(microsecond=0) <= email.utils.parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False


def number_page(
    items: list[Any],
    query: Mapping[str, str],
    link_base: str,
    *,
    default: int = 30,
    maximum: int = 100,
    cap: int | None = None,
) -> tuple[list[Any], dict[str, str]]:
    """``?page=&per_page=`` pagination: the page's items and its ``prev/first/next/last`` links
    (the query kept, ``page`` replaced). ``cap``: items past it are never served."""

    def number(name: str, fallback: int) -> int:
        try:
            return int(query[name])
        except (KeyError, ValueError):
            return fallback

    per_page = max(1, min(number("per_page", default), maximum))
    page = max(1, number("page", 1))
    total = len(items) if cap is None else min(len(items), cap)
    last = max(1, -(-total // per_page))
    start = (page - 1) * per_page

    def link(n: int) -> str:
        return f"{link_base}?{urlencode({**{k: v for k, v in query.items() if k != 'page'}, 'page': str(n)})}"

    links: dict[str, str] = {}
    if page > 1:
        links["prev"], links["first"] = link(page - 1), link(1)
    if page < last:
        links["next"], links["last"] = link(page + 1), link(last)
    return items[start : min(start + per_page, total)], links


def link_header(links: Mapping[str, str]) -> str:
    return ", ".join(f'<{url}>; rel="{rel}"' for rel, url in links.items())
