"""Third-party libraries' own log records are redacted: urllib3's DEBUG request line carries the
query, so an API key sent as ``?key=`` would reach the task log without core.redaction."""

from __future__ import annotations

import logging

from core.operations.http import HttpClient, HttpClientConfig, QueryAuth
from core.redaction import RedactingFilter, redact_logger
from tests.fakes.wire import Reply, Request, WireServer

KEY = "AIzaSyQueryKey" + "x7" * 12


class Echo(WireServer):
    def handle(self, request: Request) -> Reply:
        return Reply.json(200, {"ok": True})


def test_an_api_key_in_the_query_never_reaches_the_log_through_urllib3(caplog) -> None:
    with Echo() as server, caplog.at_level(logging.DEBUG):
        client = HttpClient(HttpClientConfig(base_url=server.root), tokens=[QueryAuth(KEY)])
        assert client.get("/items", {"part": "id"}).data == {"ok": True}
    lines = [r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool"]
    assert any("/items?" in line for line in lines), lines  # the request line was logged ...
    assert not [line for line in lines if KEY in line or KEY[:8] in line]  # ... without the key


def test_one_filter_per_logger_and_secrets_added_later_are_redacted(caplog) -> None:
    first = redact_logger("tests.redaction.sdk")
    assert redact_logger("tests.redaction.sdk") is first
    assert sum(isinstance(f, RedactingFilter) for f in logging.getLogger("tests.redaction.sdk").filters) == 1
    first.secrets.add("plain-secret-value-123")
    with caplog.at_level(logging.INFO, logger="tests.redaction.sdk"):
        logging.getLogger("tests.redaction.sdk").info("body echoed: %s", "plain-secret-value-123 and more")
    assert "plain-secret-value" not in caplog.records[-1].getMessage()
