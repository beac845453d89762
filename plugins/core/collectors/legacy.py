"""``CollectorBase``: the legacy contract (subclass and implement ``run``). Prefer ``AbstractCollector``."""

from __future__ import annotations

import abc
import warnings
from typing import Any

from core.collectors.lifecycle import LifecycleMixin
from core.protocols import TrackerResult

__all__ = ["CollectorBase"]


class CollectorBase(LifecycleMixin, abc.ABC):
    """Legacy base: ``run()`` does everything. Subclassing emits ``DeprecationWarning``."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        warnings.warn(
            f"{cls.__qualname__} subclasses CollectorBase, which is deprecated; "
            "subclass core.collectors.AbstractCollector and implement validate_config() and collect()",
            DeprecationWarning,
            stacklevel=2,
        )

    @abc.abstractmethod
    def run(self) -> TrackerResult | None:
        """Collect and store; return a result (or ``None`` for very old collectors)."""
