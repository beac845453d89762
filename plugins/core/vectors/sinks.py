"""The one place that turns a collector's ``vectors:`` settings into a sink, for Airflow runs and
console runs alike (a console run configured for Pinecone syncs to Pinecone, or fails saying why).

Pinecone credentials come from the ``pinecone_default`` connection: resolved by the caller into
``RunContext.connections`` (the Airflow adapter does it through Airflow's connections), or, for a
console run, from ``$AIRFLOW_CONN_PINECONE_DEFAULT`` in Airflow's JSON form.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from core.errors import ConfigError
from core.store import Store
from core.vectors.local_sink import LocalSink
from core.vectors.settings import VectorSettings
from core.vectors.sink import VectorSink

__all__ = ["PINECONE_CONN_ID", "PINECONE_OVERRIDES", "build_sink", "connection_from_env"]

PINECONE_CONN_ID = "pinecone_default"
PINECONE_OVERRIDES = frozenset(
    {"index", "sparse_index", "model", "sparse_model", "text_field", "cloud", "region", "namespace"}
)


def build_sink(
    store: Store,
    settings: VectorSettings,
    connections: Mapping[str, Mapping[str, Any]],
    *,
    dry_run: bool = False,
) -> VectorSink:
    """The sink ``settings`` ask for; a dry run always stages locally under ``dry_run/``."""
    if dry_run:
        return LocalSink(store, namespace_prefix="dry_run/")
    if settings.sink == "local":
        return LocalSink(store)
    fields = connections.get(PINECONE_CONN_ID) or connection_from_env(PINECONE_CONN_ID)
    if not fields:
        raise ConfigError(
            f"vectors.sink is 'pinecone' but connection {PINECONE_CONN_ID!r} is not available: define it "
            f"in Airflow, or for a console run set $AIRFLOW_CONN_{PINECONE_CONN_ID.upper()} (JSON form); "
            "nothing was synced"
        )
    from core.vectors.pinecone_sink import PineconeSink, pinecone_config_from_connection

    config = pinecone_config_from_connection(
        login=fields.get("login"),
        password=fields.get("password"),
        host=fields.get("host"),
        extra=_extra(fields.get("extra")),
        overrides=settings.model_dump(include=set(PINECONE_OVERRIDES), exclude_unset=True),
    )
    return PineconeSink(config)


def connection_from_env(conn_id: str) -> dict[str, Any] | None:
    """``$AIRFLOW_CONN_<ID>`` in Airflow's JSON form (``{"conn_type": ..., "password": ...}``)."""
    raw = os.environ.get(f"AIRFLOW_CONN_{conn_id.upper()}")
    if not raw:
        return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        raise ConfigError(
            f"$AIRFLOW_CONN_{conn_id.upper()}: only Airflow's JSON connection form is read outside Airflow"
        ) from None
    if not isinstance(parsed, dict):
        raise ConfigError(f"$AIRFLOW_CONN_{conn_id.upper()}: expected a JSON object")
    return parsed


def _extra(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value) if value else {}
        except ValueError:
            raise ConfigError(f"connection {PINECONE_CONN_ID!r}: extra is not JSON") from None
    return dict(value or {})
