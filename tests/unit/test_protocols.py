from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

from core.protocols import (
    Activity,
    ActivityRecord,
    Checkpoint,
    IncrementalState,
    RunResult,
    TrackerResult,
    require_activity_record,
    require_incremental_state,
    require_tracker_result,
)


def test_run_result_round_trips_through_json_exactly():
    result = RunResult(
        success=True,
        counts={"messages": 3, "authors": 1},
        errors=("x",),
        duration_seconds=1.5,
        step="collect",
    )
    again = RunResult.from_dict(json.loads(json.dumps(result.asdict())))
    assert again == result
    assert isinstance(again, TrackerResult)


def test_activity_and_checkpoint_round_trip():
    activity = Activity(
        "discord", "123", dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC), "message", "42", "https://x", "hi"
    )
    assert Activity.from_dict(json.loads(json.dumps(activity.asdict()))) == activity
    assert isinstance(activity, ActivityRecord)
    state = Checkpoint("999", "2026-03-01T12:00:00+00:00", {"channel": "1"})
    assert Checkpoint.from_dict(json.loads(json.dumps(state.asdict()))) == state
    assert isinstance(state, IncrementalState)


def test_dataclasses_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        RunResult(success=True).success = False  # type: ignore[misc]


def test_guards_reject_incomplete_objects_and_bad_counts():
    class Half:
        success = True

    with pytest.raises(TypeError, match="does not satisfy TrackerResult"):
        require_tracker_result(Half())
    with pytest.raises(TypeError, match="counts must map str to int"):
        require_tracker_result(_BadCounts())
    with pytest.raises(TypeError):
        require_activity_record(object())
    with pytest.raises(TypeError):
        require_incremental_state({"checkpoint_token": "1"})
    assert require_incremental_state(Checkpoint()) is not None


@dataclasses.dataclass(frozen=True)
class _BadCounts:
    success: bool = True
    counts: dict = dataclasses.field(default_factory=lambda: {"messages": "three"})
    errors: tuple = ()
    duration_seconds: float | None = None


def test_merged_sums_counts():
    merged = RunResult(True, {"a": 1}, duration_seconds=1.0).merged(
        RunResult(False, {"a": 2, "b": 1}, ("e",), 2.0)
    )
    assert merged.counts == {"a": 3, "b": 1}
    assert merged.success is False and merged.errors == ("e",) and merged.duration_seconds == 3.0
