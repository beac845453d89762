"""Redaction of secrets (docs/operations.md, "Failure categories" > secrets): whole secrets,
echoed prefixes of them, token shapes and ``key=value`` credentials; tracebacks keep their
source lines; every connection's secrets are registered."""

from __future__ import annotations

import json
import logging

import pytest

from airflow_collectors.connections import resolve_connections, secret_values
from core.collectors.lifecycle import LifecycleMixin
from core.errors import REDACTED, sanitize_exception_message, sanitize_text, sanitize_traceback

GITHUB_TOKEN = "ghp_R3alLookingT0kenValue0123456789abcdEF"
FINE_GRAINED = "github_pat_11ABCDEFG0aBcDeFgHiJkL_mnopQRSTuvwxYZ0123456789abcdefghijklmnopqrstu"
PASSWORD = "hunter22hunter"


# --------------------------------------------------------------------------- echoed prefixes


@pytest.mark.parametrize(
    ("secret", "echo"),
    [
        (GITHUB_TOKEN, f"401 Bad credentials for token prefix {GITHUB_TOKEN[:12]}..."),
        (GITHUB_TOKEN, f'{{"message": "bad token", "token_prefix": "{GITHUB_TOKEN[:8]}"}}'),
        (FINE_GRAINED, f"refused {FINE_GRAINED[:20]}…"),
        (PASSWORD, f"login refused ({PASSWORD[:9]}…)"),
        (PASSWORD, f"echo: {PASSWORD}"),
    ],
)
def test_echoed_prefix_of_a_known_secret_is_redacted(secret, echo):
    cleaned = sanitize_text(echo, [secret])
    assert secret[:8] not in cleaned
    assert REDACTED in cleaned
    assert sanitize_exception_message(RuntimeError(echo), [secret]).startswith("RuntimeError: ")


def test_fragments_shorter_than_the_minimum_or_inside_other_words_are_kept():
    # 7 characters: below the documented minimum of 8.
    assert sanitize_text(f"prefix {PASSWORD[:7]}…", [PASSWORD]) == f"prefix {PASSWORD[:7]}…"
    # The public type prefix of a fine-grained token is not a secret: 8+ chars of it alone stay.
    text = "create a github_pat_ token with repo scope (github_pat_1…)"
    assert sanitize_text(text, [FINE_GRAINED]) == text
    # Another word that starts like the secret is not an echo of it.
    text = "hunter22huntington, hunter22hunt_backup"
    assert sanitize_text(text, [PASSWORD]) == text


# --------------------------------------------------------------------------- documented token shapes


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("socket mode: xapp-1-A0123456789-1234567890123-abcdef0123456789", "xapp-1-A0123456789"),
        (f"clone failed with {FINE_GRAINED} (expired)", FINE_GRAINED[:24]),
        ("config: client secret=s3cr3tV4lue!", "s3cr3tV4lue"),
        ("GET https://api.example.org/oauth?client_id=x&secret=s3cr3tV4lue", "s3cr3tV4lue"),
        ('{"secret": "s3cr3tV4lue"}', "s3cr3tV4lue"),
    ],
)
def test_documented_token_shapes_are_redacted_without_being_registered(text, secret):
    cleaned = sanitize_text(text)
    assert secret not in cleaned
    assert REDACTED in cleaned


# --------------------------------------------------------------------------- tracebacks


class _Credentials:
    def next_token(self, password: str) -> str:
        raise RuntimeError(
            f"401 from the API: Bad credentials ({GITHUB_TOKEN[:14]}...), login {password[:10]}…"
        )


def _fetch(credentials: _Credentials, password: str) -> str:
    token = credentials.next_token(password=password)
    return token


def _raise() -> BaseException:
    try:
        _fetch(_Credentials(), PASSWORD)
    except RuntimeError as exc:
        return exc
    raise AssertionError("no error")


def test_traceback_keeps_its_source_lines_and_loses_the_echoed_fragments():
    trace = sanitize_traceback(_raise(), [GITHUB_TOKEN, PASSWORD])
    assert "token = credentials.next_token(password=password)" in trace
    assert "def next_token" not in trace  # only the executing lines are shown
    assert GITHUB_TOKEN[:10] not in trace and PASSWORD[:8] not in trace
    assert trace.rstrip().endswith(
        f"RuntimeError: 401 from the API: Bad credentials ({REDACTED}...), login {REDACTED}…"
    )


def test_handle_error_logs_a_redacted_message_and_an_intact_traceback(caplog):
    class Collector(LifecycleMixin):
        name = "toy"

        def secrets(self) -> list[str]:
            return [GITHUB_TOKEN, PASSWORD]

    with caplog.at_level(logging.ERROR, logger="core.collectors"):
        Collector().handle_error(_raise(), "collect")
    logged = caplog.records[-1].getMessage()
    assert "token = credentials.next_token(password=password)" in logged
    assert GITHUB_TOKEN[:10] not in logged and PASSWORD[:8] not in logged


# --------------------------------------------------------------------------- every connection's secrets


def test_every_connection_secret_is_registered(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_REDACTION_SOURCE",
        json.dumps(
            {
                "conn_type": "http",
                "host": "api.example.org",
                "password": "p@ss/w0rd:with-specials",
                "extra": {
                    "tokens": ["tok_first_0123456789", "tok_second_0123456789"],
                    "private_key": "-----BEGIN KEY----- abcdef",
                    "passphrase": "correct horse battery",
                    "auth": {"client": {"value": "nested-credential-value"}},
                    "oauth": {"client_secret": "deep-secret-value"},
                    "timeout": 30,
                    "region": "us-east-1",
                },
            }
        ),
    )
    secrets = secret_values(resolve_connections(["redaction_source"]))
    for expected in (
        "p@ss/w0rd:with-specials",
        "p%40ss%2Fw0rd%3Awith-specials",
        "tok_first_0123456789",
        "tok_second_0123456789",
        "-----BEGIN KEY----- abcdef",
        "correct horse battery",
        "nested-credential-value",
        "deep-secret-value",
    ):
        assert expected in secrets
    assert "us-east-1" not in secrets and "30" not in secrets
    uri = resolve_connections(["redaction_source"])["redaction_source"]["uri"]
    assert "p%40ss%2Fw0rd%3Awith-specials" not in sanitize_text(f"GET {uri} failed", secrets)


def test_airflow_sensitive_field_names_are_all_treated_as_secret():
    from airflow.sdk._shared.secrets_masker.secrets_masker import DEFAULT_SENSITIVE_FIELDS

    extra = {name: f"value-of-{name}" for name in DEFAULT_SENSITIVE_FIELDS}
    secrets = secret_values({"c": {"extra": extra}})
    assert sorted(secrets) == sorted(extra.values())
