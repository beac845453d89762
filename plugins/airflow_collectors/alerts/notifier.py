"""The collectors' notifier: one ``BaseNotifier`` for task failures, retries and missed deadlines.

It composes the pieces of :mod:`airflow_collectors.alerts`: builds the alert from the callback
context (:mod:`.context`), asks the router whether it is routed (:mod:`.router`), and hands it
to :func:`~.dispatch.dispatch_alert` (suppression, then delivery). A failure or retry callback
without an ``exception`` is Airflow reporting a task it found dead (heartbeat timeout): it goes
to :func:`~.vanished.record_and_alert_vanished`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseNotifier

from airflow_collectors.alerts.formatter import AlertKind, CollectorAlert
from airflow_collectors.alerts.router import AlertRouter
from core.config import AlertRouting

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_collectors.alerts.dispatch import DispatchResult

# Building an alert and delivering it (the task context, suppression, hooks) is imported when a
# callback runs: every collector DAG holds two notifiers, built while the DAG file is parsed.

__all__ = ["CollectorAlertNotifier"]


class CollectorAlertNotifier(BaseNotifier):
    """The collectors' notifier: ``on_failure_callback`` (``kind="failure"``),
    ``on_retry_callback`` (``kind="retry"``), and, awaited by the deadline callback in the
    triggerer, missed deadlines (``kind="deadline"``).

    :param routing: the ``alerts:`` section (an :class:`AlertRouting` or its dict form).
    :param store_conn_id: the store holding the suppression state (``defaults.store_conn_id``).
    :param kind: which event this instance reports.
    :param collector: collector name, for deadline alerts (task alerts read it from the task).
    :param deadline_minutes: the deadline, for the lateness message.
    """

    template_fields = ()

    def __init__(
        self,
        *,
        routing: AlertRouting | Mapping[str, Any] | None = None,
        store_conn_id: str = "collector_db",
        kind: AlertKind = "failure",
        collector: str | None = None,
        deadline_minutes: float | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.router = AlertRouter(routing, store_conn_id=store_conn_id)
        self.routing = self.router.routing
        self.store_conn_id = store_conn_id
        self.kind: AlertKind = kind
        self.collector = collector
        self.deadline_minutes = deadline_minutes
        self.last_result: DispatchResult | None = None
        self.last_outcome: str | None = None

    def notify(self, context: Context) -> None:
        from airflow_collectors.alerts.context import alert_from_task_context
        from airflow_collectors.alerts.dispatch import dispatch_alert

        if self.kind in ("failure", "retry") and context.get("exception") is None:
            # Airflow found the task dead (heartbeat timeout): the callback runs in the
            # dag-processor, without an exception, because the task never reported one.
            self.last_outcome = self.vanished(context)
            return
        if self.kind in ("failure", "retry"):
            alert, secrets = alert_from_task_context(context, self.kind)
        else:
            alert, secrets = self.deadline_alert(context), []
        if not self.router.routes(alert):
            self.log.info(
                "No alert for %s/%s on %s (try %s): not routed by alerts.immediate/on_final_failure",
                alert.collector,
                alert.category,
                alert.kind,
                alert.try_number,
            )
            return
        self.last_result = dispatch_alert(
            alert, self.routing, store_conn_id=self.store_conn_id, secrets=secrets
        )

    def vanished(self, context: Mapping[str, Any]) -> str:
        """Record and alert a task Airflow found dead (see :func:`record_and_alert_vanished`)."""
        from airflow_collectors.alerts.context import task_and_instance, task_log_url, task_secrets
        from airflow_collectors.alerts.vanished import record_and_alert_vanished

        task, ti = task_and_instance(context)
        map_index = getattr(ti, "map_index", None)
        outcome = record_and_alert_vanished(
            collector=str(getattr(task, "collector_name", None) or getattr(ti, "dag_id", "unknown")),
            step=str(getattr(task, "step", None) or getattr(ti, "task_id", "unknown")),
            dag_id=getattr(ti, "dag_id", None),
            run_id=getattr(ti, "run_id", None) or context.get("run_id"),
            task_id=getattr(ti, "task_id", None),
            map_index=map_index if isinstance(map_index, int) else -1,
            partition=getattr(task, "partition", None),
            try_number=getattr(ti, "try_number", None),
            max_tries=getattr(ti, "max_tries", None),
            will_retry=self.kind == "retry",
            started_at=getattr(ti, "start_date", None),
            routing=self.routing,
            store_conn_id=str(getattr(task, "store_conn_id", None) or self.store_conn_id),
            secrets=task_secrets(task),
            log_url=task_log_url(ti),
            detected_by="Airflow's heartbeat timeout (the task and its supervisor stopped reporting)",
        )
        self.log.info("Vanished task %s: %s", getattr(ti, "task_id", None), outcome)
        return outcome

    async def async_notify(self, context: Context) -> None:
        # Hooks, connections and the store are synchronous: run them off the event loop.
        await asyncio.to_thread(self.notify, context)

    def deadline_alert(self, context: Mapping[str, Any]) -> CollectorAlert:
        """The lateness alert from the deadline callback's context (``dag_run``, ``deadline``)."""
        from airflow_collectors.alerts.context import alert_from_deadline_context

        return alert_from_deadline_context(
            context, collector=self.collector, deadline_minutes=self.deadline_minutes
        )
