"""The collector framework: contracts, lifecycle and adapters that run collectors anywhere."""

from core.collectors.abstract import AbstractCollector
from core.collectors.cli import BaseCollectorCommand
from core.collectors.command import CommandCollector
from core.collectors.context import RunContext
from core.collectors.legacy import CollectorBase
from core.collectors.runnable import CollectorRunnable

__all__ = [
    "AbstractCollector",
    "BaseCollectorCommand",
    "CollectorBase",
    "CollectorRunnable",
    "CommandCollector",
    "RunContext",
]
