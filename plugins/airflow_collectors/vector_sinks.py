"""Build the vector sink a collector's ``vectors:`` config asks for."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from airflow_collectors.connections import connection_fields
from core.store import Store
from core.vectors.local_sink import LocalSink
from core.vectors.settings import VectorSettings, parse_vector_settings
from core.vectors.sink import VectorSink

__all__ = ["PINECONE_CONN_ID", "sink_factory"]

PINECONE_CONN_ID = "pinecone_default"
_PINECONE_OVERRIDES = {
    "index",
    "sparse_index",
    "model",
    "sparse_model",
    "text_field",
    "cloud",
    "region",
    "namespace",
}


def sink_factory(config: Mapping[str, Any]) -> Callable[[Store], VectorSink]:
    settings = parse_vector_settings(config.get("vectors"))
    if settings.sink == "local":
        return LocalSink
    return lambda store: _pinecone_sink(settings)


def _pinecone_sink(settings: VectorSettings) -> VectorSink:
    from core.errors import ConfigError
    from core.vectors.pinecone_sink import PineconeSink, pinecone_config_from_connection

    fields = connection_fields(PINECONE_CONN_ID)
    if fields is None:
        raise ConfigError(f"vectors.sink is 'pinecone' but connection {PINECONE_CONN_ID!r} is not defined")
    sink_config = pinecone_config_from_connection(
        login=fields["login"],
        password=fields["password"],
        host=fields["host"],
        extra=fields["extra"],
        overrides=settings.model_dump(include=_PINECONE_OVERRIDES, exclude_unset=True),
    )
    return PineconeSink(sink_config)
