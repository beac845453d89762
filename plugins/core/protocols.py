"""Structural contracts that cross process boundaries (XCom) and the guards that check them.

Each tracker implements these as frozen dataclasses in its ``protocol_impl`` module. The
generic implementations below (:class:`RunResult`, :class:`Activity`, :class:`Checkpoint`)
are what the framework itself produces and what a tracker may reuse or subclass.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, Protocol, Self, runtime_checkable

__all__ = [
    "Activity",
    "ActivityRecord",
    "Checkpoint",
    "IncrementalState",
    "RunResult",
    "TrackerResult",
    "require_activity_record",
    "require_incremental_state",
    "require_tracker_result",
    "tracker_result_to_dict",
]


@runtime_checkable
class TrackerResult(Protocol):
    """Outcome of one collector step: what it did (counts), what went wrong, how long it took."""

    @property
    def success(self) -> bool: ...

    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def errors(self) -> Sequence[str]: ...

    @property
    def duration_seconds(self) -> float | None: ...


@runtime_checkable
class ActivityRecord(Protocol):
    """One unit of community activity (a message, a commit, a comment) in source-neutral terms."""

    @property
    def source_system(self) -> str: ...

    @property
    def external_id(self) -> str: ...

    @property
    def occurred_at(self) -> dt.datetime: ...

    @property
    def activity_type(self) -> str: ...

    @property
    def actor_external_id(self) -> str | None: ...

    @property
    def source_url(self) -> str | None: ...

    @property
    def summary(self) -> str: ...


@runtime_checkable
class IncrementalState(Protocol):
    """Where a collector (or one of its partitions) left off."""

    @property
    def checkpoint_token(self) -> str | None: ...

    @property
    def human_readable_marker(self) -> str | None: ...

    @property
    def extras(self) -> Mapping[str, Any]: ...


def _require(obj: object, protocol: type, label: str) -> None:
    if not isinstance(obj, protocol):
        missing = [name for name in getattr(protocol, "__protocol_attrs__", ()) if not hasattr(obj, name)]
        detail = f"; missing {', '.join(sorted(missing))}" if missing else ""
        raise TypeError(f"{type(obj).__name__} does not satisfy {label}{detail}")


def require_tracker_result(obj: object) -> TrackerResult:
    """Return ``obj`` typed as :class:`TrackerResult`, or raise ``TypeError``."""
    _require(obj, TrackerResult, "TrackerResult")
    counts: object = getattr(obj, "counts", None)
    if not isinstance(counts, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) for k, v in counts.items()
    ):
        raise TypeError(f"{type(obj).__name__}.counts must map str to int, got {counts!r}")
    errors: object = getattr(obj, "errors", None)
    # A str is a Sequence[str] to the type checker (tests/typing/holes_protocols.py): check it here.
    if isinstance(errors, str | bytes) or not isinstance(errors, Sequence):
        raise TypeError(f"{type(obj).__name__}.errors must be a sequence of messages, got {errors!r}")
    return obj  # type: ignore[return-value]


def require_activity_record(obj: object) -> ActivityRecord:
    """Return ``obj`` typed as :class:`ActivityRecord`, or raise ``TypeError``."""
    _require(obj, ActivityRecord, "ActivityRecord")
    return obj  # type: ignore[return-value]


def require_incremental_state(obj: object) -> IncrementalState:
    """Return ``obj`` typed as :class:`IncrementalState`, or raise ``TypeError``."""
    _require(obj, IncrementalState, "IncrementalState")
    return obj  # type: ignore[return-value]


# --------------------------------------------------------------------------- implementations


def _freeze_mapping(value: Mapping[str, Any]) -> dict[str, Any]:
    return dict(value)


def _plain(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


@dataclasses.dataclass(frozen=True)
class RunResult:
    """Generic :class:`TrackerResult`; JSON round-trips exactly through ``asdict``/``from_dict``.

    Trackers subclass it to add fields of their own (a list of files, of repositories);
    list-valued fields are stored as tuples so a round trip compares equal.

    ``news`` is how a collect step says something new happened that other collectors may
    wait for (e.g. ``{"versions": ["1.87.0"]}`` when a release was inserted): ``None`` means
    nothing new; a mapping (small, JSON-safe, no secrets) means news and becomes the extra of
    the Airflow asset events the collector ``emits`` (docs/configuration.md, "Assets").
    """

    success: bool
    counts: Mapping[str, int] = dataclasses.field(default_factory=dict)
    errors: Sequence[str] = ()
    duration_seconds: float | None = None
    step: str | None = None
    failure_category: str | None = None
    news: Mapping[str, Any] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", {str(k): int(v) for k, v in self.counts.items()})
        object.__setattr__(self, "errors", tuple(str(e) for e in self.errors))
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if isinstance(value, list):
                object.__setattr__(self, field.name, tuple(value))

    def asdict(self) -> dict[str, Any]:
        return {field.name: _plain(getattr(self, field.name)) for field in dataclasses.fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        known = {field.name for field in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known and value is not None}
        values["success"] = bool(data["success"])
        return cls(**values)

    def with_duration(self, seconds: float) -> Self:
        return dataclasses.replace(self, duration_seconds=seconds)

    def merged(self, other: TrackerResult) -> RunResult:
        """Sum counts and concatenate errors (used to fold partition results together)."""
        counts = dict(self.counts)
        for key, value in other.counts.items():
            counts[key] = counts.get(key, 0) + value
        return RunResult(
            success=self.success and other.success,
            counts=counts,
            errors=(*self.errors, *other.errors),
            duration_seconds=(self.duration_seconds or 0.0) + (other.duration_seconds or 0.0),
            step=self.step,
        )


def tracker_result_to_dict(result: TrackerResult) -> dict[str, Any]:
    """JSON-safe dict of any :class:`TrackerResult` (used for XCom and run history)."""
    as_dict = getattr(result, "asdict", None)
    if callable(as_dict):
        data = as_dict()
        if isinstance(data, dict):
            return data
    return {
        "success": bool(result.success),
        "counts": dict(result.counts),
        "errors": list(result.errors),
        "duration_seconds": result.duration_seconds,
    }


def _parse_datetime(value: str | dt.datetime) -> dt.datetime:
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(value)


@dataclasses.dataclass(frozen=True)
class Activity:
    """Generic :class:`ActivityRecord`."""

    source_system: str
    external_id: str
    occurred_at: dt.datetime
    activity_type: str
    actor_external_id: str | None = None
    source_url: str | None = None
    summary: str = ""

    def asdict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["occurred_at"] = self.occurred_at.isoformat()
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        fields = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in fields}
        values["occurred_at"] = _parse_datetime(values["occurred_at"])
        return cls(**values)


@dataclasses.dataclass(frozen=True)
class Checkpoint:
    """Generic :class:`IncrementalState`."""

    checkpoint_token: str | None = None
    human_readable_marker: str | None = None
    extras: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "extras", _freeze_mapping(self.extras))

    def asdict(self) -> dict[str, Any]:
        return {
            "checkpoint_token": self.checkpoint_token,
            "human_readable_marker": self.human_readable_marker,
            "extras": dict(self.extras),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Self:
        return cls(
            checkpoint_token=data.get("checkpoint_token"),
            human_readable_marker=data.get("human_readable_marker"),
            extras=dict(data.get("extras") or {}),
        )
