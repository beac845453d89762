"""Collector alerts (compatibility module): the pieces live in :mod:`airflow_collectors.alerts`.

:mod:`~airflow_collectors.alerts.formatter` (the message), :mod:`~airflow_collectors.alerts.router`
(routing and suppression), :mod:`~airflow_collectors.alerts.delivery` (Slack provider and
:class:`~airflow_collectors.alerts.webhook_hook.WebhookHook`), and
:mod:`~airflow_collectors.alerts.notifier` (the ``BaseNotifier``). The names below stay
importable from here.
"""

from __future__ import annotations

from airflow_collectors.alerts.context import alert_from_task_context
from airflow_collectors.alerts.delivery import deliver_alert
from airflow_collectors.alerts.dispatch import DispatchResult, dispatch_alert
from airflow_collectors.alerts.formatter import (
    CATEGORY_ADVICE,
    LATE_CATEGORY,
    STALE_CATEGORY,
    AlertKind,
    CollectorAlert,
)
from airflow_collectors.alerts.notifier import CollectorAlertNotifier
from airflow_collectors.alerts.router import routing_from, should_alert
from airflow_collectors.alerts.vanished import record_and_alert_vanished

__all__ = [
    "CATEGORY_ADVICE",
    "LATE_CATEGORY",
    "STALE_CATEGORY",
    "AlertKind",
    "CollectorAlert",
    "CollectorAlertNotifier",
    "DispatchResult",
    "alert_from_task_context",
    "deliver_alert",
    "dispatch_alert",
    "record_and_alert_vanished",
    "routing_from",
    "should_alert",
]
