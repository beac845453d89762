"""Whether an alert goes out: by category and try (``alerts:`` routing), then by suppression.

Routing (:func:`should_alert`, config :class:`core.config.AlertRouting`):

* ``immediate`` categories alert on the first failure. With :class:`CollectorRetryPolicy`
  the default immediate categories (auth, permission, validation, command) are never
  retried, so the task goes straight to ``failed`` and ``on_failure_callback`` alerts once.
  Should an immediate category be retried (a custom routing), ``on_retry_callback`` alerts
  on try 1 only.
* ``on_final_failure`` categories are retried; ``on_retry_callback`` stays quiet and
  ``on_failure_callback`` alerts once retries are exhausted.
* A category in neither list never alerts from a task (it is still in the log, run history
  and metrics). Deadline and stale alerts are always routed.

Suppression (:class:`AlertRouter`): repeated alerts for the same collector and category
within ``repeat_suppression_minutes`` are held back through the store's ``collector_alerts``
table (:mod:`core.store.alerts`); the next alert that goes out says how many were. A slot
whose delivery failed is given back (:meth:`Admission.release`). When the store cannot be
reached the alert is admitted anyway: a duplicate beats silence.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from airflow_collectors.alerts.formatter import AlertKind, CollectorAlert
from airflow_collectors.connections import store_url
from core.config import AlertRouting

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from core.store.alerts import AlertClaim

__all__ = ["Admission", "AlertRouter", "routing_from", "should_alert"]

log = logging.getLogger(__name__)


def routing_from(value: AlertRouting | Mapping[str, Any] | None) -> AlertRouting:
    if isinstance(value, AlertRouting):
        return value
    return AlertRouting.model_validate(dict(value or {}))


def should_alert(routing: AlertRouting, kind: AlertKind, category: str, try_number: int | None) -> bool:
    """The routing rule (see the module docstring)."""
    if kind == "retry":
        return category in routing.immediate and (try_number or 1) <= 1
    if kind == "failure":
        return category in routing.immediate or category in routing.on_final_failure
    return True  # deadline and stale alerts are always routed


@dataclasses.dataclass
class Admission:
    """The router's answer for one alert.

    ``send``: deliver ``alert`` now (it carries ``suppressed_before``). ``last_sent_at``: when
    the alert that suppresses this one went out. ``tracked``: the suppression state was
    reachable (False: admitted because the store was not).
    """

    send: bool
    alert: CollectorAlert
    last_sent_at: dt.datetime | None = None
    tracked: bool = False
    _claim: AlertClaim | None = None
    _engine: Engine | None = None

    def release(self) -> bool:
        """Give the slot back after a failed delivery, so the next alert is not suppressed."""
        if self._claim is None or self._engine is None:
            return False
        from core.store.alerts import release_alert

        try:
            return release_alert(self._engine, self._claim)
        except Exception as exc:  # noqa: BLE001 - the worst case is one suppressed alert
            log.warning("Could not give the alert slot back (%s)", type(exc).__name__)
            return False


class AlertRouter:
    """Routing rule plus repeat suppression for one ``alerts:`` configuration.

    :param routing: the ``alerts:`` section (an :class:`AlertRouting` or its dict form).
    :param store_conn_id: the store holding the suppression state; ``None``: the embedded
        SQLite default.
    """

    def __init__(
        self, routing: AlertRouting | Mapping[str, Any] | None, *, store_conn_id: str | None = "collector_db"
    ) -> None:
        self.routing = routing_from(routing)
        self.store_conn_id = store_conn_id

    def routes(self, alert: CollectorAlert) -> bool:
        """Whether the routing sends this alert at all (before suppression)."""
        return should_alert(self.routing, alert.kind, alert.category, alert.try_number)

    @contextlib.contextmanager
    def admit(self, alert: CollectorAlert, *, now: dt.datetime | None = None) -> Iterator[Admission]:
        """Claim the ``(collector, category)`` slot; the store stays open for a release."""
        from core.store import Store
        from core.store.alerts import claim_alert

        store = None
        admission = Admission(send=True, alert=alert)
        try:
            store = Store.from_url(store_url(self.store_conn_id) if self.store_conn_id else None)
            store.ensure_core()
            claim = claim_alert(
                store.engine,
                alert.collector,
                alert.category,
                window=dt.timedelta(minutes=self.routing.repeat_suppression_minutes),
                kind=alert.kind,
                dag_id=alert.dag_id,
                run_id=alert.run_id,
                message=alert.text(),
                now=now,
            )
            admission = Admission(
                send=claim.send,
                alert=dataclasses.replace(alert, suppressed_before=claim.suppressed_before)
                if claim.send
                else alert,
                last_sent_at=claim.last_sent_at,
                tracked=True,
                _claim=claim,
                _engine=store.engine,
            )
        except Exception as exc:  # noqa: BLE001 - suppression is an optimization, the alert is not
            log.warning("Alert suppression state unavailable (%s): sending anyway", type(exc).__name__)
        try:
            yield admission
        finally:
            if store is not None:
                store.dispose()
