"""A local HTTP server speaking Slack's incoming-webhook protocol, for alert tests.

Slack's incoming webhooks take ``POST`` with a JSON body (``text``, ``blocks``...) and answer
``200`` with the plain-text body ``ok``; errors are non-200 with a short text such as
``invalid_payload`` or ``no_service``. This receiver records every request (path, headers,
parsed JSON, raw body, arrival time) and can be told to fail the next N requests.

Standalone::

    python -m tests.fakes.webhook_receiver --port 8766   (from the project root)

Built on ``tests/fakes/wire.py``; stdlib only.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from typing import Any

from tests.fakes.wire import Exchange, Fault, Reply, Request, WireServer

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

    @classmethod
    def of(cls, exchange: Exchange) -> ReceivedAlert:
        raw = exchange.body.decode("utf-8", "replace")
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = None
        return cls(exchange.path, exchange.headers, body, raw, exchange.at)


class WebhookReceiver(WireServer):
    """``with WebhookReceiver() as hooks: ... hooks.url("/T0/B0/secret")``."""

    methods = ("POST",)
    thread_name = "webhook-receiver"

    def handle(self, request: Request) -> Reply:
        try:
            body = json.loads(request.body) if request.body else None
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            return self._answer(400, "invalid_payload")
        if not (body.get("text") or body.get("blocks") or body.get("content")):
            return self._answer(400, "no_text")
        return self._answer(200, "ok")

    def error(self, status: int, request: Request) -> Reply:
        return self._answer(status, "error")

    @staticmethod
    def _answer(status: int, text: str) -> Reply:
        return Reply.text(status, text, content_type="text/html")

    def fail_next(self, count: int = 1, status: int = 500, text: str = "no_service") -> None:
        self.inject(Fault(status, body=text, times=count))

    @property
    def received(self) -> list[ReceivedAlert]:
        return [ReceivedAlert.of(e) for e in self.log]

    def clear(self) -> None:
        self.log.clear()


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
