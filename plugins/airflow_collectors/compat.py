"""Workarounds for defects of the installed Airflow, each applied where the DAGs are built.

``airflow dags test`` and DAG-level deadlines (Airflow 3.3): ``DAG.test()`` schedules an
in-memory copy of the DAG made by serializing and deserializing it, whose ``deadline`` holds
the *encoded* alerts (dicts), whereas DAGs loaded from the metadata DB hold alert ids. When
the run succeeds, ``DagRun.update_state`` calls ``DeadlineAlertModel.get_by_id`` with each
entry to decide whether to prune the run's deadlines, and crashes on the dict. The factory
used to leave deadlines out of DAGs parsed by ``airflow dags test``, which made that DAG
differ from the scheduler's (two DAG versions, flipping back and forth). Instead,
``get_by_id`` is taught the encoded form: given one, it returns an unsaved alert built from
it, which is all the caller reads (its reference type). Ids go to Airflow's own code as before.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

__all__ = ["tolerate_encoded_deadline_alerts"]

log = logging.getLogger(__name__)

_PATCHED = "_collectors_accepts_encoded_alerts"


def tolerate_encoded_deadline_alerts() -> bool:
    """Patch ``DeadlineAlertModel.get_by_id`` once per process; ``True`` when it is in place."""
    try:
        from airflow.models.deadline_alert import DeadlineAlert as DeadlineAlertModel
    except ImportError:  # an Airflow without deadline alerts has nothing to fix
        return False
    original = DeadlineAlertModel.__dict__.get("get_by_id")
    if not isinstance(original, classmethod):
        return False
    if getattr(original.__func__, _PATCHED, False):
        return True
    lookup = original.__func__

    @functools.wraps(lookup)
    def get_by_id(cls: type, deadline_alert_id: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(deadline_alert_id, Mapping) and "reference" in deadline_alert_id:
            return cls(
                name=deadline_alert_id.get("name"),
                reference=deadline_alert_id["reference"],
                interval=deadline_alert_id.get("interval"),
                callback_def=deadline_alert_id.get("callback"),
            )
        return lookup(cls, deadline_alert_id, *args, **kwargs)

    setattr(get_by_id, _PATCHED, True)
    DeadlineAlertModel.get_by_id = classmethod(get_by_id)  # type: ignore[method-assign, assignment]
    log.debug("DeadlineAlert.get_by_id accepts encoded alerts (airflow dags test with deadlines)")
    return True
