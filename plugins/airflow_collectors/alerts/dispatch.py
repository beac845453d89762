"""One alert, end to end: redact, admit (suppression), deliver, give the slot back if nothing
was delivered, count the outcome in the metrics. Callers apply the routing rule first."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from collections.abc import Sequence

from airflow_collectors import metrics
from airflow_collectors.alerts.delivery import deliver_alert
from airflow_collectors.alerts.formatter import CollectorAlert
from airflow_collectors.alerts.router import AlertRouter
from core.config import AlertRouting

__all__ = ["DispatchResult", "dispatch_alert"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class DispatchResult:
    sent: bool
    suppressed: bool = False
    delivered_to: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()


def dispatch_alert(
    alert: CollectorAlert,
    routing: AlertRouting,
    *,
    store_conn_id: str | None = "collector_db",
    secrets: Sequence[str] = (),
    now: dt.datetime | None = None,
) -> DispatchResult:
    """Suppression check in the store, then delivery; a failed delivery gives the slot back.

    If the store cannot be reached the alert is sent anyway (a duplicate beats silence).
    """
    alert = alert.sanitized(secrets)
    with AlertRouter(routing, store_conn_id=store_conn_id).admit(alert, now=now) as admission:
        if not admission.send:
            log.info(
                "Alert for %s/%s suppressed: one was sent at %s (repeat_suppression_minutes=%s)",
                alert.collector,
                alert.category,
                admission.last_sent_at,
                routing.repeat_suppression_minutes,
            )
            metrics.alert_outcome(alert.collector, alert.category, "suppressed")
            return DispatchResult(sent=False, suppressed=True)
        alert = admission.alert
        delivered, errors = deliver_alert(alert, routing, secrets=secrets)
        if not delivered:
            log.warning("Alert was not delivered to any destination:\n%s", alert.text())
            admission.release()
            metrics.alert_outcome(alert.collector, alert.category, "undelivered")
            return DispatchResult(sent=False, errors=tuple(errors))
        log.info("Alert %s/%s sent to %s", alert.collector, alert.category, ", ".join(delivered))
        metrics.alert_outcome(alert.collector, alert.category, "sent")
        return DispatchResult(sent=True, delivered_to=tuple(delivered), errors=tuple(errors))
