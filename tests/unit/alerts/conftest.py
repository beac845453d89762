"""Fixtures for the alert tests: a local webhook receiver, destination and store connections."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest

from core.config import AlertRouting
from tests.fakes.webhook_receiver import WebhookReceiver
from tests.unit.alerts.helpers import store_connection


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as hooks:
        yield hooks


@pytest.fixture
def destinations(monkeypatch: pytest.MonkeyPatch, receiver: WebhookReceiver) -> AlertRouting:
    """Slack, Discord and generic JSON webhook connections pointing at the receiver (no store)."""
    monkeypatch.setenv(
        "AIRFLOW_CONN_SLACK_ALERTS",
        json.dumps(
            {"conn_type": "slackwebhook", "host": receiver.url("/services"), "password": "T0/B0/hooksecret"}
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_DISCORD_ALERTS",
        json.dumps(
            {
                "conn_type": "http",
                "password": receiver.url("/api/webhooks/1/discsecret"),
                "extra": {"format": "discord"},
            }
        ),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_JSON_ALERTS",
        json.dumps({"conn_type": "http", "extra": {"url": receiver.url("/hooks/jsonsecret")}}),
    )
    return AlertRouting(
        slack_conn_id="slack_alerts", webhook_conn_ids=["discord_alerts"], repeat_suppression_minutes=30
    )


@pytest.fixture
def alert_store(monkeypatch: pytest.MonkeyPatch, store_url: str) -> str:
    """Connection ``alert_store``: the test store (both dialects)."""
    monkeypatch.setenv("AIRFLOW_CONN_ALERT_STORE", store_connection(store_url))
    return "alert_store"


@pytest.fixture
def alert_env(destinations: AlertRouting, alert_store: str) -> AlertRouting:
    """Slack and Discord destinations plus the ``alert_store`` connection."""
    return destinations
