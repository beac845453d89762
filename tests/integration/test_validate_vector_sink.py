"""The validate step checks the vector sink: a Pinecone index built for another model is a
``validation`` failure before anything is collected; a missing index is created."""

from __future__ import annotations

import pytest

from core.collectors import RunContext
from core.errors import CollectorFailureCategory, ConfigError, classify_failure
from core.vectors.pinecone_sink import PineconeSink, pinecone_config_from_connection
from tests.fakes.pinecone_server import FakePinecone
from tests.fakes.toy_collector import ToyCollector


def _collector(fake: FakePinecone, sqlite_url: str) -> ToyCollector:
    def factory(store):  # type: ignore[no-untyped-def]
        config = pinecone_config_from_connection(
            None, fake.api_key, fake.url, {"index": "community-activity"}, {"namespace": "toy"}
        )
        return PineconeSink(config)

    return ToyCollector({"notes": 1}, context=RunContext(store_url=sqlite_url, vector_sink_factory=factory))


def test_validate_refuses_an_index_with_another_embedding_model(sqlite_url: str):
    with FakePinecone() as fake:
        fake.add_index("community-activity", model="multilingual-e5-large")
        collector = _collector(fake, sqlite_url)
        with pytest.raises(ConfigError) as caught:
            collector.validate()
        assert "community-activity" in str(caught.value) and "model" in str(caught.value)
        assert classify_failure(caught.value) is CollectorFailureCategory.VALIDATION
        assert fake.api_key not in str(caught.value)


def test_validate_creates_a_missing_index(sqlite_url: str):
    with FakePinecone(ready_after=1) as fake:
        result = _collector(fake, sqlite_url).validate()
        assert result.success
        assert fake.index_names() == ["community-activity"]
