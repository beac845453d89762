"""The store's password is redacted like every connection secret."""

from __future__ import annotations

from airflow_collectors.operator import _run_secrets
from core.collectors import RunContext
from core.errors import sanitize_exception_message


def test_the_store_password_is_among_the_run_secrets_and_is_redacted():
    context = RunContext(
        store_url="postgresql+psycopg2://collector:Store-Pa55word-9f@db.internal:5432/collector",
        connections={"github_default": {"password": "ghp_abcdefghijklmnopqrstuvwxyz0123456789"}},
    )
    secrets = _run_secrets(context)
    assert "Store-Pa55word-9f" in secrets
    leaked = RuntimeError('could not connect: password "Store-Pa55word-9f" rejected')
    assert "Store-Pa55word-9f" not in sanitize_exception_message(leaked, secrets)


def test_a_store_without_password_adds_nothing():
    assert _run_secrets(RunContext(store_url="sqlite:////tmp/store.db")) == []
