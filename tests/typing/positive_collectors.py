"""The collector classes where ``CollectorRunnable`` (what a console command runs) is expected."""

from __future__ import annotations

import sys

from core.collectors import (
    AbstractCollector,
    BaseCollectorCommand,
    CollectorBase,
    CollectorRunnable,
    CommandCollector,
)
from core.protocols import RunResult, TrackerResult


class Notes(AbstractCollector):
    name = "notes"

    def validate_config(self) -> None:
        return None

    def collect(self) -> TrackerResult:
        return RunResult(success=True, counts={"notes": 0})


class Legacy(CollectorBase):
    name = "legacy"

    def run(self) -> TrackerResult | None:
        return None


class Command(BaseCollectorCommand):
    def get_collector(self, **options: object) -> CollectorRunnable:
        return CommandCollector([sys.executable, "-c", "print(1)"], name="one")


runnables: list[CollectorRunnable] = [
    Notes(),
    Legacy(),
    CommandCollector([sys.executable, "-c", "pass"]),
    CommandCollector(lambda: RunResult(success=True), name="callable"),
    Command().get_collector(),
]
