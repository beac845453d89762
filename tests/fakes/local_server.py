"""A hand-written ``BaseHTTPRequestHandler`` served with the wire toolkit's lifecycle.

For scripted servers that need nothing but their own handler; a fake that wants the fault queue
and the request log subclasses :class:`tests.fakes.wire.WireServer` instead.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler

from tests.fakes.wire import WireServer


class LocalHTTPServer(WireServer):
    """Serve ``handler`` on ``host:port`` (port 0 = a free one) in a daemon thread."""

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], host: str = "127.0.0.1", port: int = 0, *, name: str
    ) -> None:
        self.thread_name = name
        super().__init__(host, port, handler=handler)
