"""The router alone: the routing rule, the suppression state in a real store (SQLite and
PostgreSQL) and the admission the dispatcher acts on (no delivery)."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from airflow_collectors.alerts.router import AlertRouter, routing_from, should_alert
from core.config import AlertRouting
from core.store import Store
from core.store.alerts import alert_states, claim_alert, release_alert
from tests.unit.alerts.helpers import T0, closed_port, make_alert

DEFAULT = AlertRouting()

# --------------------------------------------------------------------------- routing rule


@pytest.mark.parametrize(
    ("kind", "category", "try_number", "expected"),
    [
        ("failure", "auth", 1, True),  # immediate: the policy fails it at once -> one alert
        ("failure", "validation", 1, True),
        ("retry", "rate_limit", 1, False),  # retried categories stay quiet while retrying
        ("retry", "network", 2, False),
        ("failure", "rate_limit", 4, True),  # ... and alert when retries are exhausted
        ("failure", "network", 4, True),
        ("failure", "unknown", 2, True),
        ("retry", "auth", 1, True),  # an immediate category that is retried alerts on try 1...
        ("retry", "auth", 2, False),  # ... only
        ("deadline", "late", None, True),
        ("stale", "stale", None, True),
    ],
)
def test_default_routing(kind, category, try_number, expected):
    assert should_alert(DEFAULT, kind, category, try_number) is expected
    alert = make_alert(kind=kind, category=category, try_number=try_number)
    assert AlertRouter(DEFAULT).routes(alert) is expected


def test_custom_routing_can_mute_and_promote_categories():
    routing = AlertRouting(immediate=["network"], on_final_failure=["auth"])
    assert should_alert(routing, "retry", "network", 1) is True
    assert should_alert(routing, "retry", "network", 2) is False
    assert should_alert(routing, "failure", "auth", 1) is True
    assert should_alert(routing, "failure", "rate_limit", 4) is False  # in neither list: muted


def test_routing_from_its_dict_form():
    routing = routing_from({"immediate": ["network"], "repeat_suppression_minutes": 5})
    assert routing.immediate == ["network"] and routing.repeat_suppression_minutes == 5
    assert routing_from(None) == DEFAULT and routing_from(DEFAULT) is DEFAULT
    assert AlertRouter({"on_final_failure": []}).routes(make_alert(category="network")) is False


# --------------------------------------------------------------------------- suppression state


def test_claims_suppress_repeats_within_the_window(store: Store):
    store.ensure_core()
    window = dt.timedelta(minutes=60)
    first = claim_alert(store.engine, "toy", "auth", window=window, now=T0, message="m1")
    assert first.send and first.suppressed_before == 0
    second = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=5))
    third = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=59))
    assert not second.send and not third.send
    other_category = claim_alert(
        store.engine, "toy", "network", window=window, now=T0 + dt.timedelta(minutes=6)
    )
    other_collector = claim_alert(store.engine, "gh", "auth", window=window, now=T0 + dt.timedelta(minutes=6))
    assert other_category.send and other_collector.send
    later = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=61))
    assert later.send and later.suppressed_before == 2 and later.previous_sent_at == T0
    (row,) = alert_states(store.engine, "toy")[:1]
    assert row["category"] == "auth" and row["sent_count"] == 2 and row["suppressed_count"] == 0
    assert row["last_sent_at"] == T0 + dt.timedelta(minutes=61)


def test_zero_window_never_suppresses(store: Store):
    store.ensure_core()
    claims = [
        claim_alert(store.engine, "toy", "auth", window=dt.timedelta(0), now=T0 + dt.timedelta(seconds=i))
        for i in range(3)
    ]
    assert all(c.send for c in claims)


def test_release_gives_the_slot_back(store: Store):
    store.ensure_core()
    window = dt.timedelta(minutes=60)
    sent = claim_alert(store.engine, "toy", "auth", window=window, now=T0)
    claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=1))
    undelivered = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=70))
    assert sent.send and undelivered.send and undelivered.suppressed_before == 1
    assert release_alert(store.engine, undelivered) is True
    retry = claim_alert(store.engine, "toy", "auth", window=window, now=T0 + dt.timedelta(minutes=71))
    assert retry.send and retry.suppressed_before == 1


# --------------------------------------------------------------------------- admission


def _admit(router: AlertRouter, minutes: float, **overrides):
    with router.admit(make_alert(**overrides), now=T0 + dt.timedelta(minutes=minutes)) as admission:
        return admission


def test_admission_suppresses_repeats_and_carries_the_count(alert_store: str):
    router = AlertRouter(AlertRouting(repeat_suppression_minutes=30), store_conn_id=alert_store)
    first = _admit(router, 0)
    assert first.send and first.tracked and first.alert.suppressed_before == 0
    held = [_admit(router, m) for m in (1, 29)]
    assert [a.send for a in held] == [False, False]
    assert held[0].last_sent_at == T0
    assert _admit(router, 2, category="auth").send  # another category has its own slot
    assert _admit(router, 2, collector="discord").send  # ... and so has another collector
    after = _admit(router, 31)
    assert after.send and after.alert.suppressed_before == 2
    assert "(2 similar alert(s) were suppressed" in after.alert.text()


def test_released_admission_lets_the_next_alert_through(alert_store: str):
    router = AlertRouter(AlertRouting(repeat_suppression_minutes=30), store_conn_id=alert_store)
    with router.admit(make_alert(), now=T0) as admission:
        assert admission.send
        assert admission.release() is True  # delivery failed
    assert _admit(router, 1).send
    assert not _admit(router, 2).send


def test_zero_suppression_admits_every_alert(alert_store: str):
    router = AlertRouter(AlertRouting(repeat_suppression_minutes=0), store_conn_id=alert_store)
    assert all(_admit(router, m).send for m in (0, 0.5, 1))


def test_unreachable_store_admits_the_alert_untracked(monkeypatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_DOWN_STORE",
        json.dumps(
            {"conn_type": "postgres", "host": "127.0.0.1", "port": closed_port(), "login": "postgres"}
        ),
    )
    router = AlertRouter(DEFAULT, store_conn_id="down_store")
    first, second = _admit(router, 0), _admit(router, 1)
    assert first.send and second.send, "without suppression state, a duplicate beats silence"
    assert not first.tracked and first.release() is False
