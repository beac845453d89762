"""The one place that turns a collector's ``vectors:`` settings into a sink, for Airflow runs and
console runs alike (a console run configured for Pinecone syncs to Pinecone, or fails saying why).

Pinecone credentials come from the ``pinecone_default`` connection: resolved by the caller into
``RunContext.connections`` (the Airflow adapter does it through Airflow's connections), or, for a
console run, from ``$AIRFLOW_CONN_PINECONE_DEFAULT`` in Airflow's JSON form.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.connections import connection_extra, connection_from_env
from core.errors import ConfigError
from core.store import Store
from core.vectors.local_sink import LocalSink
from core.vectors.settings import VectorSettings, parse_vector_settings
from core.vectors.sink import VectorSink

__all__ = ["PINECONE_CONN_ID", "PINECONE_OVERRIDES", "build_sink", "vector_connection_ids"]

PINECONE_CONN_ID = "pinecone_default"
PINECONE_OVERRIDES = frozenset(
    {"index", "sparse_index", "model", "sparse_model", "text_field", "cloud", "region", "namespace"}
)


def vector_connection_ids(config: Mapping[str, Any]) -> list[str]:
    """The connections a collector's ``vectors:`` settings need resolved for its sink."""
    settings = parse_vector_settings(config.get("vectors"))
    return [PINECONE_CONN_ID] if settings.enabled and settings.sink == "pinecone" else []


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
        extra=connection_extra(fields, PINECONE_CONN_ID),
        overrides=settings.model_dump(include=set(PINECONE_OVERRIDES), exclude_unset=True),
    )
    return PineconeSink(config)
