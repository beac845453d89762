"""The collector store outside the embedded mode: a missing ``collector_db`` fails loudly.

On a cluster every worker has its own disk: falling back to a SQLite file there would split the
data over the workers without a word. ``$COLLECTOR_EMBEDDED`` (set by ``scripts/env.sh``, never
by the image) is the only way to the embedded store.
"""

from __future__ import annotations

import pytest

from airflow_collectors.connections import EMBEDDED_ENV, store_url
from core.errors import CollectorFailureCategory, ConfigError, classify_failure

CONN = "collector_db_required_test"


def test_missing_connection_outside_the_embedded_mode_is_a_validation_error(monkeypatch):
    monkeypatch.delenv(EMBEDDED_ENV, raising=False)
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN.upper()}", raising=False)
    with pytest.raises(ConfigError) as raised:
        store_url(CONN)
    message = str(raised.value)
    assert f"connection {CONN!r} (the collector store) is not defined" in message
    assert f"AIRFLOW_CONN_{CONN.upper()}" in message and f"{EMBEDDED_ENV}=1" in message
    assert classify_failure(raised.value) is CollectorFailureCategory.VALIDATION


@pytest.mark.parametrize("value", ["0", "", "no", "false"])
def test_only_an_explicit_switch_turns_the_embedded_mode_on(monkeypatch, value):
    monkeypatch.setenv(EMBEDDED_ENV, value)
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN.upper()}", raising=False)
    with pytest.raises(ConfigError):
        store_url(CONN)


def test_the_embedded_mode_uses_the_embedded_store(monkeypatch):
    monkeypatch.setenv(EMBEDDED_ENV, "1")
    monkeypatch.delenv(f"AIRFLOW_CONN_{CONN.upper()}", raising=False)
    assert store_url(CONN) is None  # None: the SQLite file under $COLLECTOR_STATE_DIR


def test_a_defined_connection_wins_over_the_embedded_mode(monkeypatch, pg_url):
    monkeypatch.setenv(EMBEDDED_ENV, "1")
    monkeypatch.setenv(
        f"AIRFLOW_CONN_{CONN.upper()}", pg_url.replace("postgresql+psycopg2://", "postgresql://")
    )
    url = store_url(CONN)
    assert (
        url is not None and url.startswith("postgres") and url.rsplit("/", 1)[1] == pg_url.rsplit("/", 1)[1]
    )
