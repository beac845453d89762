"""A local HTTP "source" API that refuses in the ways real APIs do, for failure-injection tests.

Endpoints (``GET``):

* ``/ok`` -- ``200`` ``{"notes": N}`` (``?notes=N``, default 3).
* ``/unauthorized`` -- ``401`` whose JSON error text echoes the bearer token it was sent and
  names a token of its own (``LEAKY_SERVER_TOKEN``), as careless APIs and proxies do: the
  collector's error message then carries secrets that must be redacted before logs and alerts.
* ``/rate_limited`` -- ``429`` announcing when the limit resets, GitHub style
  (``X-RateLimit-Remaining: 0``, ``X-RateLimit-Reset: <epoch seconds>``) and with
  ``Retry-After: <seconds>``; the reset is ``reset_after`` seconds after the request.

Every request is recorded (path, arrival time, the reset it announced). Built on
``tests/fakes/wire.py``; stdlib only.
"""

from __future__ import annotations

import dataclasses
import math

from tests.fakes.wire import Reply, Request, WireServer

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


class HttpSource(WireServer):
    methods = ("GET",)
    thread_name = "http-source"

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, reset_after: float = 6.0) -> None:
        super().__init__(host, port)
        self.reset_after = reset_after

    def handle(self, request: Request) -> Reply:
        if request.path == "/ok":
            return Reply.json(200, {"notes": int(request.query.get("notes", "3"))})
        if request.path == "/unauthorized":
            presented = (request.headers.get("Authorization") or "").split(" ", 1)[-1] or "<none>"
            message = f"Bad credentials: token {presented} is not valid (upstream said: revoked {LEAKY_SERVER_TOKEN})"
            return Reply.json(
                401, {"message": message, "documentation_url": "https://docs.example.test/rest"}
            )
        if request.path == "/rate_limited":
            reset = math.ceil(request.at + self.reset_after)
            request.notes["announced_reset"] = float(reset)
            headers = {
                "X-RateLimit-Limit": "60",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": str(reset),
                "Retry-After": str(math.ceil(reset - request.at)),
            }
            return Reply.json(429, {"message": "API rate limit exceeded"}, headers)
        return Reply.json(404, {"message": "Not Found"})

    def requests(self, path: str | None = None) -> list[SourceRequest]:
        return [
            SourceRequest(e.path, e.at, e.status, e.header("Authorization"), e.notes.get("announced_reset"))
            for e in self.log
            if path is None or e.path == path
        ]
