"""A local HTTP "source" API that refuses in the ways real APIs do, for failure-injection tests.

Endpoints (``GET``):

* ``/ok`` -- ``200`` ``{"notes": N}`` (``?notes=N``, default 3).
* ``/unauthorized`` -- ``401`` whose JSON error text echoes the bearer token it was sent and
  names a token of its own (``LEAKY_SERVER_TOKEN``), as careless APIs and proxies do: the
  collector's error message then carries secrets that must be redacted before logs and alerts.
* ``/rate_limited`` -- ``429`` announcing when the limit resets, GitHub style
  (``X-RateLimit-Remaining: 0``, ``X-RateLimit-Reset: <epoch seconds>``) and with
  ``Retry-After: <seconds>``; the reset is ``reset_after`` seconds after the request.

Every request is recorded (path, arrival time, the reset it announced).

Stdlib only.
"""

from __future__ import annotations

import dataclasses
import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.local_server import LocalHTTPServer

__all__ = ["LEAKY_SERVER_TOKEN", "HttpSource", "SourceRequest"]

# Shaped like a GitHub personal access token, so pattern-based redaction must catch it.
LEAKY_SERVER_TOKEN = "ghp_" + "Z9y8X7w6V5u4T3s2R1q0P9o8N7m6L5k4J3i2"


@dataclasses.dataclass(frozen=True)
class SourceRequest:
    path: str
    at: float
    status: int
    authorization: str | None
    announced_reset: float | None = None


class HttpSource(LocalHTTPServer):
    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, reset_after: float = 6.0) -> None:
        self.reset_after = reset_after
        self._lock = threading.Lock()
        self._requests: list[SourceRequest] = []
        source = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                auth = self.headers.get("Authorization")
                now = time.time()
                if parts.path == "/ok":
                    notes = int(parse_qs(parts.query).get("notes", ["3"])[0])
                    self._json(200, {"notes": notes})
                    source._record(parts.path, now, 200, auth)
                elif parts.path == "/unauthorized":
                    presented = (auth or "").split(" ", 1)[-1] or "<none>"
                    self._json(
                        401,
                        {
                            "message": f"Bad credentials: token {presented} is not valid "
                            f"(upstream said: revoked {LEAKY_SERVER_TOKEN})",
                            "documentation_url": "https://docs.example.test/rest",
                        },
                    )
                    source._record(parts.path, now, 401, auth)
                elif parts.path == "/rate_limited":
                    reset = math.ceil(now + source.reset_after)
                    self._json(
                        429,
                        {"message": "API rate limit exceeded"},
                        {
                            "X-RateLimit-Limit": "60",
                            "X-RateLimit-Remaining": "0",
                            "X-RateLimit-Reset": str(reset),
                            "Retry-After": str(math.ceil(reset - now)),
                        },
                    )
                    source._record(parts.path, now, 429, auth, float(reset))
                else:
                    self._json(404, {"message": "Not Found"})
                    source._record(parts.path, now, 404, auth)

            def _json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        super().__init__(Handler, host, port, name="http-source")

    def _record(
        self, path: str, at: float, status: int, auth: str | None, reset: float | None = None
    ) -> None:
        with self._lock:
            self._requests.append(SourceRequest(path, at, status, auth, reset))

    def requests(self, path: str | None = None) -> list[SourceRequest]:
        with self._lock:
            return [r for r in self._requests if path is None or r.path == path]
