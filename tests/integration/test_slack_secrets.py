"""The bot token never leaves the Slack client through the SDK's log or its errors, even when a
server echoes it back (both dialects, real HTTP to the Slack fake, DEBUG logging on). The same
under Airflow, with alerts: ``tests/e2e/test_slack_dag_failures.py``."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

from core.errors import NetworkError
from tests.fakes.wire import Fault
from tests.integration.slack_helpers import TOKEN, SlackWorld, world

# A proxy's error page that quotes the Authorization header: slack_sdk logs this body (all of it
# at DEBUG, its first 100 characters at ERROR, which ends inside the token).
ECHO_PAGE = (
    "<html><body><h1>502 Bad Gateway</h1><p>upstream rejected: Authorization: Bearer "
    f"{TOKEN}</p></body></html>"
)


@pytest.fixture
def w(store_url: str) -> Iterator[SlackWorld]:
    yield from world(store_url)


def test_an_echoed_token_is_redacted_from_sdk_logs_and_errors(
    w: SlackWorld, caplog: pytest.LogCaptureFixture
) -> None:
    w.data.post("T1", "C1", "U1", "hello")
    w.server.inject(Fault(502, body=ECHO_PAGE, headers={"Content-Type": "text/html"},
                          path="/api/conversations.history", times=10))
    caplog.set_level(logging.DEBUG)

    with pytest.raises(NetworkError) as raised:
        w.collect()

    assert w.server.log.count(path="/api/conversations.history") == 3  # retried, then failed
    sdk = "\n".join(r.getMessage() for r in caplog.records if r.name == "slack_activity_tracker.sdk")
    assert "Failed to decode Slack API response" in sdk  # the SDK did log the body...
    assert "502 Bad Gateway" in sdk
    for text in (sdk, caplog.text, str(raised.value)):  # ...without any 8+ character prefix of the token
        assert not [n for n in range(8, len(TOKEN) + 1) if TOKEN[:n] in text]
    assert str(raised.value) == "Slack conversations.history: server error (HTTP 502, not JSON)"
