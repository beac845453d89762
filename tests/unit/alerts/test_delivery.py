"""Delivery alone (no store, no routing): the Slack provider's notifier and the generic webhook
hook, to a local server speaking Slack's incoming-webhook protocol."""

from __future__ import annotations

import json

import pytest
import requests

from airflow_collectors.alerts.delivery import deliver_alert
from airflow_collectors.alerts.webhook_hook import WebhookHook
from core.config import AlertRouting
from tests.unit.alerts.helpers import make_alert


def test_slack_gets_text_and_blocks_and_discord_gets_content(destinations, receiver):
    alert = make_alert(category="auth", try_number=1)
    delivered, errors = deliver_alert(alert, destinations)
    assert (delivered, errors) == (["slack_alerts", "discord_alerts"], [])
    slack, discord = receiver.received
    assert slack.path == "/services/T0/B0/hooksecret"
    assert slack.body == {"text": alert.text(), "blocks": alert.slack_blocks()}
    assert discord.path == "/api/webhooks/1/discsecret"
    assert discord.body == {"content": alert.text(), "allowed_mentions": {"parse": []}}


def test_generic_webhook_gets_text_and_the_alert_fields(destinations, receiver):
    alert = make_alert(details=("Committed before the failure: 2 batches",))
    routing = AlertRouting(slack_conn_id=None, webhook_conn_ids=["json_alerts"])
    assert deliver_alert(alert, routing) == (["json_alerts"], [])
    (received,) = receiver.received
    assert received.path == "/hooks/jsonsecret"
    assert received.headers.get("content-type", received.headers.get("Content-Type")) == "application/json"
    assert received.body == json.loads(json.dumps({"text": alert.text(), "alert": alert.payload()}))


def test_alert_text_is_sent_verbatim_never_rendered_as_a_template(destinations, receiver):
    alert = make_alert(error="KeyError: '{{ ds }}' in {% raw %} {{ var.value.token }}")
    deliver_alert(alert, destinations)
    slack, discord = receiver.received
    assert slack.body and slack.body["text"] == alert.text()
    assert "{{ var.value.token }}" in slack.body["blocks"][2]["text"]["text"]
    assert discord.body and discord.body["content"] == alert.text()


def test_one_broken_destination_does_not_hide_the_others(destinations, receiver):
    receiver.fail_next(1, status=500, text="no_service")
    delivered, errors = deliver_alert(make_alert(), destinations, secrets=["T0/B0"])
    assert delivered == ["discord_alerts"]
    (error,) = errors
    assert error.startswith("slack_alerts: ")
    assert "hooksecret" not in error and "T0/B0" not in error
    assert len(receiver.received) == 2


def test_a_failed_webhook_error_hides_its_url(destinations, receiver):
    receiver.fail_next(1, status=404)
    routing = AlertRouting(slack_conn_id=None, webhook_conn_ids=["discord_alerts"])
    delivered, (error,) = deliver_alert(make_alert(), routing)
    assert delivered == [] and error.startswith("discord_alerts: ") and "404" in error
    assert "discsecret" not in error


def test_undefined_destinations_are_skipped(destinations, receiver):
    routing = AlertRouting(slack_conn_id="no_such_conn", webhook_conn_ids=["gone", "discord_alerts"])
    assert deliver_alert(make_alert(), routing) == (["discord_alerts"], [])
    assert [r.path for r in receiver.received] == ["/api/webhooks/1/discsecret"]
    assert deliver_alert(make_alert(), AlertRouting(slack_conn_id=None)) == ([], [])


# --------------------------------------------------------------------------- the webhook hook


def test_hook_builds_the_url_from_host_port_and_endpoint(monkeypatch, receiver):
    host, port = receiver.url("/").split("://", 1)[1].rstrip("/").split(":")
    monkeypatch.setenv(
        "AIRFLOW_CONN_PARTS_HOOK",
        json.dumps(
            {
                "conn_type": "http",
                "host": host,
                "port": int(port),
                "schema": "http",
                "extra": {"endpoint": "/in/x"},
            }
        ),
    )
    hook = WebhookHook("parts_hook")
    assert hook.url == f"http://{host}:{port}/in/x" and hook.payload_format == "json"
    assert hook.send({"text": "hello"}).status_code == 200
    assert receiver.received[0].path == "/in/x" and receiver.received[0].body == {"text": "hello"}


def test_hook_raises_on_an_error_answer_and_names_a_connection_without_url(
    monkeypatch, destinations, receiver
):
    receiver.fail_next(1, status=400, text="invalid_payload")
    with pytest.raises(requests.HTTPError, match="400"):
        WebhookHook("json_alerts").send({"text": "x"})
    monkeypatch.setenv("AIRFLOW_CONN_EMPTY_HOOK", json.dumps({"conn_type": "http"}))
    with pytest.raises(ValueError, match="'empty_hook' has no webhook URL"):
        _ = WebhookHook("empty_hook").url


def test_hook_declares_its_connection_like_a_provider_hook():
    assert (WebhookHook.conn_type, WebhookHook.conn_name_attr) == ("http", "webhook_conn_id")
    assert WebhookHook().webhook_conn_id == WebhookHook.default_conn_name == "webhook_default"
