"""``core.connections``: one reader of ``$AIRFLOW_CONN_<ID>`` for console runs (both of Airflow's
forms) and of a connection's ``extra`` (text or mapping)."""

from __future__ import annotations

import json

import pytest

from core.connections import connection_extra, connection_from_env
from core.errors import ConfigError


def test_json_form(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(
        "AIRFLOW_CONN_SOURCE_X", json.dumps({"conn_type": "http", "password": "s3cret", "extra": '{"region": "eu"}'})
    )
    fields = connection_from_env("source_x")
    assert fields is not None and fields["password"] == "s3cret" and fields["extra"] == {"region": "eu"}


def test_uri_form_with_extras_in_the_query(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("AIRFLOW_CONN_SOURCE_Y", "https://bot:p%40ss@api.example.org:8443/v2?region=eu&tier=3")
    fields = connection_from_env("source_y")
    assert fields is not None
    assert (fields["login"], fields["password"], fields["host"], fields["port"], fields["schema"]) == (
        "bot",
        "p@ss",
        "api.example.org",
        8443,
        "v2",
    )
    assert fields["extra"] == {"region": "eu", "tier": "3"}


def test_unset_is_none_and_bad_json_names_the_variable(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("AIRFLOW_CONN_NOPE", raising=False)
    assert connection_from_env("nope") is None
    monkeypatch.setenv("AIRFLOW_CONN_BROKEN", "{not json")
    with pytest.raises(ConfigError, match=r"\$AIRFLOW_CONN_BROKEN is not valid JSON"):
        connection_from_env("broken")


def test_extra_as_text_or_mapping_and_a_bad_one_names_the_connection():
    assert connection_extra({"extra": '{"a": 1}'}, "c") == {"a": 1}
    assert connection_extra({"extra": {"a": 1}}, "c") == {"a": 1}
    assert connection_extra({}, "c") == {}
    with pytest.raises(ConfigError, match="connection c: extra is not valid JSON"):
        connection_extra({"extra": "{oops"}, "c")
    with pytest.raises(ConfigError, match="connection c: extra must be a JSON object"):
        connection_extra({"extra": "[1, 2]"}, "c")
