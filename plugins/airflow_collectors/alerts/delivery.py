"""Delivery: one alert to every destination of the routing; one broken destination never
hides the others.

* Slack (``slack_conn_id``): the Slack provider's
  :class:`~airflow.providers.slack.notifications.slack_webhook.SlackWebhookNotifier` (through
  its ``SlackWebhookHook``), with the alert's text and Block Kit blocks. Its ``notify`` is
  called directly, not the notifier's ``__call__``: that would render the text as a Jinja
  template, and an alert is data (an error message holding ``{{`` goes out verbatim).
* Every other destination (``webhook_conn_ids``): :class:`~.webhook_hook.WebhookHook`, with
  the body :func:`~.formatter.webhook_body` makes for the connection's ``format``.

A destination whose connection is not defined is skipped (logged), so a development setup
without Slack still runs. Errors are sanitized with the destination's URL and secrets.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, cast

from airflow_collectors.alerts.formatter import CollectorAlert, webhook_body
from airflow_collectors.alerts.webhook_hook import WebhookHook, webhook_secrets
from airflow_collectors.connections import connection_fields
from core.config import AlertRouting
from core.errors import sanitize_exception_message

__all__ = ["SEND_TIMEOUT_SECONDS", "deliver_alert", "send_slack", "send_webhook"]

log = logging.getLogger(__name__)

SEND_TIMEOUT_SECONDS = 15


def send_slack(conn_id: str, alert: CollectorAlert) -> None:
    """Post ``alert`` to the Slack incoming webhook of connection ``conn_id``."""
    from airflow.providers.slack.notifications.slack_webhook import SlackWebhookNotifier

    notifier = SlackWebhookNotifier(
        slack_webhook_conn_id=conn_id,
        text=alert.text(),
        blocks=alert.slack_blocks(),
        timeout=SEND_TIMEOUT_SECONDS,
    )
    notifier.notify(cast("Any", {}))  # the message is complete: nothing to take from a context


def send_webhook(conn_id: str, alert: CollectorAlert) -> None:
    """Post ``alert`` to the generic (or Discord) webhook of connection ``conn_id``."""
    hook = WebhookHook(conn_id, timeout=SEND_TIMEOUT_SECONDS)
    hook.send(webhook_body(alert, hook.payload_format))


def deliver_alert(
    alert: CollectorAlert, routing: AlertRouting, *, secrets: Sequence[str] = ()
) -> tuple[list[str], list[str]]:
    """Send ``alert`` to every configured destination: (delivered connection ids, sanitized errors)."""
    delivered: list[str] = []
    errors: list[str] = []
    targets = [(send_slack, routing.slack_conn_id)] if routing.slack_conn_id else []
    targets += [(send_webhook, conn_id) for conn_id in routing.webhook_conn_ids]
    for send, conn_id in targets:
        fields = connection_fields(conn_id)
        if fields is None:
            log.warning("Alert destination %r is not defined: skipped", conn_id)
            continue
        hidden = [*secrets, *webhook_secrets(fields)]
        try:
            send(conn_id, alert)
        except Exception as exc:  # noqa: BLE001 - one broken destination must not hide the others
            message = sanitize_exception_message(exc, hidden)
            log.warning("Alert to %r failed: %s", conn_id, message)
            errors.append(f"{conn_id}: {message}")
        else:
            delivered.append(conn_id)
    return delivered, errors
