"""One GitHub collector run over ``acme/widgets`` of a fake GitHub server, for tests that need
GitHub rows in a store as their starting point (publishing, person profiles, digests)."""

from __future__ import annotations

from pathlib import Path

from core.collectors import RunContext
from core.protocols import TrackerResult
from github_activity_tracker.collector import GitHubCollector
from tests.fakes.github_server import FakeClock, FakeGitHubServer

__all__ = ["collect_widgets"]


def collect_widgets(
    server: FakeGitHubServer, clock: FakeClock, store_url: str, tmp_path: Path, *, token: str
) -> TrackerResult:
    """Validate and run the collector (clones under ``tmp_path``), dispose of its store; the result."""
    collector = GitHubCollector(
        {
            "repositories": ["acme/widgets"],
            "web_host": "github.com",
            "clone_cache_dir": str(tmp_path / "git-cache"),
            "min_remaining": 0,
        },
        context=RunContext(
            store_url=store_url,
            connections={"github_default": {"host": server.base_url, "password": token}},
        ),
        clock=clock.time,
        sleep=clock.sleep,
        rng=lambda: 0.0,
    )
    collector.validate()
    result = collector.run()
    collector.store.dispose()
    return result
