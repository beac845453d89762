"""A local HTTP server speaking Slack's incoming-webhook protocol, for alert tests.

Slack's incoming webhooks take ``POST`` with a JSON body (``text``, ``blocks``...) and answer
``200`` with the plain-text body ``ok``; errors are non-200 with a short text such as
``invalid_payload`` or ``no_service``. This receiver records every request (path, headers,
parsed JSON, raw body, arrival time) and can be told to fail the next N requests.

Standalone::

    python -m tests.fakes.webhook_receiver --port 8766   (from the project root)

Stdlib only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_server import LocalHTTPServer

__all__ = ["ReceivedAlert", "WebhookReceiver"]


@dataclasses.dataclass(frozen=True)
class ReceivedAlert:
    path: str
    headers: dict[str, str]
    body: dict[str, Any] | None
    raw: str
    received_at: float

    @property
    def text(self) -> str:
        if self.body is None:
            return ""
        return str(self.body.get("text") or self.body.get("content") or "")


class WebhookReceiver(LocalHTTPServer):
    """``with WebhookReceiver() as hooks: ... hooks.url("/T0/B0/secret")``."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._lock = threading.Lock()
        self._received: list[ReceivedAlert] = []
        self._fail_next: list[tuple[int, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode("utf-8", "replace")
                try:
                    body = json.loads(raw) if raw else None
                except json.JSONDecodeError:
                    body = None
                alert = ReceivedAlert(self.path, dict(self.headers.items()), body, raw, time.time())
                with receiver._lock:
                    receiver._received.append(alert)
                    failure = receiver._fail_next.pop(0) if receiver._fail_next else None
                if failure is not None:
                    self._answer(*failure)
                elif body is None or not isinstance(body, dict):
                    self._answer(400, "invalid_payload")
                elif not (body.get("text") or body.get("blocks") or body.get("content")):
                    self._answer(400, "no_text")
                else:
                    self._answer(200, "ok")

            def _answer(self, status: int, text: str) -> None:
                payload = text.encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                return

        super().__init__(Handler, host, port, name="webhook-receiver")

    def fail_next(self, count: int = 1, status: int = 500, text: str = "no_service") -> None:
        with self._lock:
            self._fail_next += [(status, text)] * count

    @property
    def received(self) -> list[ReceivedAlert]:
        with self._lock:
            return list(self._received)

    def clear(self) -> None:
        with self._lock:
            self._received.clear()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8766)
    args = parser.parse_args()
    receiver = WebhookReceiver(port=args.port).start()
    print(f"listening on {receiver.url()}", flush=True)
    seen = 0
    try:
        while True:
            time.sleep(0.5)
            for alert in receiver.received[seen:]:
                print(f"--- {alert.path}\n{alert.text}", flush=True)
            seen = len(receiver.received)
    except KeyboardInterrupt:
        receiver.stop()


if __name__ == "__main__":
    main()
