from __future__ import annotations

import datetime as dt
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pydantic
import pytest
import requests
import sqlalchemy
import yaml

from core.errors import (
    AuthenticationError,
    CommandFailedError,
    ConfigError,
    DataValidationError,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
    sanitize_text,
)
from core.errors import (
    CollectorFailureCategory as Cat,
)


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _StatusHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        status = int(self.path.strip("/"))
        if status == 599:
            threading.Event().wait(2)
            status = 200
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def status_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _StatusHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.mark.parametrize(
    ("status", "category"),
    [
        (401, Cat.AUTH),
        (403, Cat.PERMISSION),
        (404, Cat.PERMISSION),
        (422, Cat.VALIDATION),
        (429, Cat.RATE_LIMIT),
        (500, Cat.NETWORK),
        (503, Cat.NETWORK),
        (504, Cat.TIMEOUT),
    ],
)
def test_http_errors_from_requests_and_httpx_are_classified_by_status(status_server, status, category):
    response = requests.get(f"{status_server}/{status}", timeout=5)
    with pytest.raises(requests.HTTPError) as caught:
        response.raise_for_status()
    assert classify_failure(caught.value) is category
    with pytest.raises(httpx.HTTPStatusError) as caught_httpx:
        httpx.get(f"{status_server}/{status}").raise_for_status()
    assert classify_failure(caught_httpx.value) is category


def test_connection_refused_is_network_for_every_client():
    url = f"http://127.0.0.1:{_closed_port()}/"
    with pytest.raises(requests.ConnectionError) as by_requests:
        requests.get(url, timeout=2)
    assert classify_failure(by_requests.value) is Cat.NETWORK
    with pytest.raises(httpx.ConnectError) as by_httpx:
        httpx.get(url)
    assert classify_failure(by_httpx.value) is Cat.NETWORK
    with pytest.raises(OSError) as by_socket:
        socket.create_connection(("127.0.0.1", _closed_port()), timeout=2)
    assert classify_failure(by_socket.value) is Cat.NETWORK


def test_read_timeouts_are_timeout(status_server):
    with pytest.raises(requests.Timeout) as caught:
        requests.get(f"{status_server}/599", timeout=0.2)
    assert classify_failure(caught.value) is Cat.TIMEOUT
    with pytest.raises(httpx.ReadTimeout) as caught_httpx:
        httpx.get(f"{status_server}/599", timeout=0.2)
    assert classify_failure(caught_httpx.value) is Cat.TIMEOUT


def test_parsing_and_schema_errors_are_validation():
    class Model(pydantic.BaseModel):
        count: int

    with pytest.raises(pydantic.ValidationError) as schema:
        Model.model_validate({"count": "many"})
    assert classify_failure(schema.value) is Cat.VALIDATION
    with pytest.raises(json.JSONDecodeError) as decode:
        json.loads("{broken")
    assert classify_failure(decode.value) is Cat.VALIDATION
    with pytest.raises(yaml.YAMLError) as bad_yaml:
        yaml.safe_load("a: [1, 2")
    assert classify_failure(bad_yaml.value) is Cat.VALIDATION


def test_database_connection_failure_is_network():
    engine = sqlalchemy.create_engine(f"postgresql+psycopg2://nobody@127.0.0.1:{_closed_port()}/x")
    with pytest.raises(sqlalchemy.exc.OperationalError) as caught:
        engine.connect()
    assert classify_failure(caught.value) is Cat.NETWORK


def test_typed_errors_and_cause_chain():
    retry_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert classify_failure(RateLimitError("slow down", retry_at=retry_at)) is Cat.RATE_LIMIT
    assert classify_failure(AuthenticationError("no")) is Cat.AUTH
    assert classify_failure(ConfigError("bad")) is Cat.VALIDATION
    assert classify_failure(CommandFailedError("exit 2", returncode=2)) is Cat.COMMAND
    assert classify_failure(PermissionError("denied")) is Cat.PERMISSION
    assert classify_failure(ValueError("plain")) is Cat.UNKNOWN
    assert classify_failure(None) is Cat.UNKNOWN
    try:
        try:
            raise AuthenticationError("token refused")
        except AuthenticationError as inner:
            raise RuntimeError("wrapped") from inner
    except RuntimeError as outer:
        assert classify_failure(outer) is Cat.AUTH
    error = DataValidationError("bad type", source="export.json", location="messages[3].author.id")
    assert "export.json" in str(error) and "messages[3].author.id" in str(error)


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("headers={'Authorization': 'Bearer abcdef123456789'}", "abcdef123456789"),
        ("Authorization: token ghp_abcdefghijklmnopqrstuvwxyz0123", "ghp_abcdefghijklmnopqrstuvwxyz0123"),
        ("slack said xoxb-1234-5678-abcdefABCDEF", "xoxb-1234-5678-abcdefABCDEF"),
        ("user token xoxp-99-88-77", "xoxp-99-88-77"),
        ("clone https://x-access-token:s3cr3tvalue@github.com/o/r.git", "s3cr3tvalue"),
        ("GET https://bob:hunter22@example.org/path failed", "hunter22"),
        ("GET https://api.example.org/x?token=tok_123456&page=2", "tok_123456"),
        ("GET https://api.example.org/x?page=1&key=AIzaSyXYZ123", "AIzaSyXYZ123"),
        ("api_key='pcsk_abcdef_1234567890'", "pcsk_abcdef_1234567890"),
        ('{"password": "correct horse"}', "correct"),
    ],
)
def test_sanitize_redacts_credentials(text, secret):
    cleaned = sanitize_text(text)
    assert secret not in cleaned
    assert "[REDACTED]" in cleaned


def test_sanitize_exception_message_keeps_type_and_hides_literal_secrets():
    exc = RuntimeError("login failed for token=plainvalue and raw abcdSECRETxyz")
    message = sanitize_exception_message(exc, extra_secrets=["abcdSECRETxyz"])
    assert message.startswith("RuntimeError: ")
    assert "plainvalue" not in message and "abcdSECRETxyz" not in message
    assert "login failed" in message


def test_airflow_task_timeout_is_timeout_without_core_importing_airflow():
    from airflow.sdk.exceptions import AirflowTaskTimeout

    assert classify_failure(AirflowTaskTimeout("Timeout, PID: 1")) is Cat.TIMEOUT


def test_retry_policy_round_trips_its_conflict_settings():
    from airflow_collectors.retry import CollectorRetryPolicy

    policy = CollectorRetryPolicy(
        conflict_base_delay_seconds=2, conflict_max_delay_seconds=30, conflict_jitter_fraction=0
    )
    copy = CollectorRetryPolicy.deserialize(policy.serialize())
    assert copy.conflict_delay(5).total_seconds() == 30
    assert copy.conflict_delay(2).total_seconds() == 4
