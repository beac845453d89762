"""Shared pieces of the Slack tests: a fake workspace on a fast clock, a collector bound to it."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

from sqlalchemy import select

from core.collectors import RunContext
from core.store import Store
from slack_activity_tracker.collector import SlackCollector
from slack_activity_tracker.tables import slack_messages
from tests.fakes.slack_server import SlackDataset, SlackServer
from tests.fakes.wire import FakeClock

TOKEN = "xoxb-T1-" + "S3cretT0kenValue" * 2
TOKEN2 = "xoxb-T2-" + "Anoth3rS3cretValue" * 2
DAY = 86_400.0
NOW = 1_750_000_000.0


@dataclasses.dataclass
class SlackWorld:
    clock: FakeClock
    data: SlackDataset
    server: SlackServer
    store_url: str

    def connections(self) -> dict[str, dict[str, Any]]:
        return {
            "slack_api_t1": {"conn_type": "slack", "password": TOKEN, "extra": {"base_url": self.server.api_url()}},
            "slack_api_t2": {"conn_type": "slack", "password": TOKEN2, "extra": {"base_url": self.server.api_url()}},
        }

    def config(self, **overrides: Any) -> dict[str, Any]:
        config: dict[str, Any] = {
            "teams": [{"team_id": "T1", "connection_id": "slack_api_t1"}],
            "retry_backoff_seconds": 0,
            "vectors": {"sink": "local", "namespace": "slack"},
        }
        config.update(overrides)
        return config

    def collector(self, config: Mapping[str, Any] | None = None, **context: Any) -> SlackCollector:
        ctx = RunContext(store_url=self.store_url, connections=self.connections(), **context)
        return SlackCollector(dict(config or self.config()), context=ctx, clock=self.clock.time,
                              sleep=self.clock.sleep)

    def collect(self, config: Mapping[str, Any] | None = None, **context: Any) -> Any:
        return self.collector(config, **context).run()

    def messages(self, channel: str = "C1", team: str = "T1") -> dict[str, dict[str, Any]]:
        store = Store.from_url(self.store_url)
        try:
            with store.engine.connect() as conn:
                rows = conn.execute(
                    select(slack_messages).where(slack_messages.c.team_id == team,
                                                 slack_messages.c.channel_id == channel)
                ).mappings()
                return {r["ts"]: dict(r) for r in rows}
        finally:
            store.dispose()


def world(store_url: str, *, clock: FakeClock | None = None, **server: Any) -> Iterator[SlackWorld]:
    clock = clock or FakeClock(NOW)
    data = SlackDataset(clock.time)
    data.add_team("T1", "Acme", "acme", token=TOKEN)
    data.add_user("T1", "U1", "ada", display_name="Ada", email="Ada@Example.org")
    data.add_user("T1", "U2", "bob", display_name="Bob")
    data.add_user("T1", "B1", "helper", is_bot=True)
    data.add_channel("T1", "C1", "general")
    with SlackServer(data, clock=clock.time, **server) as fake:
        yield SlackWorld(clock, data, fake, store_url)
