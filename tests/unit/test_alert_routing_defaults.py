"""Every failure category reaches an operator by default: at the first failure or when retries
are exhausted (a category routed nowhere would fail silently for ever)."""

from __future__ import annotations

from core.config import AlertRouting, load_collectors_file
from core.errors import CollectorFailureCategory
from tests.conftest import PROJECT_ROOT


def test_the_default_routing_covers_every_category():
    routing = AlertRouting()
    routed = set(routing.immediate) | set(routing.on_final_failure)
    assert routed == {category.value for category in CollectorFailureCategory}
    assert not set(routing.immediate) & set(routing.on_final_failure)


def test_the_shipped_collectors_file_routes_every_category():
    routing = load_collectors_file(PROJECT_ROOT / "include" / "collectors.yaml").alerts
    routed = set(routing.immediate) | set(routing.on_final_failure)
    assert routed == {category.value for category in CollectorFailureCategory}
