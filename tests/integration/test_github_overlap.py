# ruff: noqa: F811 - the GitHub harness fixtures are imported by name
"""The GitHub tracker under overlapping runs: bounded runs (backfills) write rows only, never
the checkpoints or HTTP validators unbounded runs rely on; two collects of one repository
serialise, other repositories run side by side."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from sqlalchemy import select

from core.errors import CollectorFailureCategory, ConflictError, classify_failure
from core.store import http_validators
from core.store.locks import collect_lock_requests, hold_locks
from github_activity_tracker.tables import github_repositories
from tests.fakes.github_server import BASE_TIME, FakeGitHubServer
from tests.integration.test_github_collector import Harness, clock, harness, server  # noqa: F401 - fixtures


def _validators(harness: Harness) -> list[dict[str, Any]]:
    with harness.store.engine.connect() as conn:
        rows = conn.execute(
            select(http_validators).order_by(http_validators.c.scope, http_validators.c.request_key)
        ).mappings()
        return [{k: v for k, v in row.items() if k != "updated_at"} for row in rows]


def test_a_bounded_run_moves_no_checkpoint_and_no_validator(harness: Harness, server: FakeGitHubServer) -> None:
    harness.run()
    checkpoints, validators = harness.checkpoint_rows(), _validators(harness)
    assert validators, "the unbounded run recorded validators"
    edited = server.dataset.edit_issue("acme/widgets", 2, title="Edited during a backfill")

    counts = harness.run(since=BASE_TIME, until=edited.updated_at + dt.timedelta(minutes=1))

    assert counts["issues"] >= 1 and harness.issue(2)["title"] == "Edited during a backfill"
    assert harness.checkpoint_rows() == checkpoints
    assert _validators(harness) == validators


def test_two_collects_of_one_repository_serialise(harness: Harness, server: FakeGitHubServer) -> None:
    harness.store.ensure_core()
    requests = collect_lock_requests("github", "acme/widgets")
    with hold_locks(harness.store.engine, requests, run_id="scheduled__widgets"):
        blocked = harness.collector(partition="acme/widgets", lock_wait_seconds=0.6)
        blocked.validate()
        with pytest.raises(ConflictError) as raised:
            blocked.run()
        assert classify_failure(raised.value) is CollectorFailureCategory.CONFLICT
        assert "scheduled__widgets" in str(raised.value)
        assert harness.count(github_repositories) == 0, "nothing was collected without the lock"
        # Another repository of the same collector is not held back.
        harness.run(partition="acme/gadgets", lock_wait_seconds=0.6)
        assert harness.count(github_repositories) == 1
    harness.run(partition="acme/widgets", lock_wait_seconds=0.6)
    assert harness.count(github_repositories) == 2
