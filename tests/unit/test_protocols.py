from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest

import core.protocols
import discord_activity_tracker.protocol_impl as discord_protocol_impl
import github_activity_tracker.protocol_impl as github_protocol_impl
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


_WHEN = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)
_PROTOCOL_MODULES = (core.protocols, discord_protocol_impl, github_protocol_impl)


def _protocol_samples() -> list[object]:
    """One instance of every dataclass that implements a protocol (they cross processes as XCom)."""
    return [
        RunResult(success=True),
        Activity("x", "1", _WHEN, "message"),
        Checkpoint("1"),
        discord_protocol_impl.DiscordCollectResult(success=True, files=("a.json",)),
        discord_protocol_impl.DiscordMessageActivity("discord", "1", _WHEN, "message"),
        discord_protocol_impl.DiscordChannelState("1"),
        github_protocol_impl.GitHubCollectResult(success=True, repositories=("acme/widgets",)),
        github_protocol_impl.GitHubActivity("acme/widgets#1", _WHEN, "issue_opened", None, None, "hi"),
        github_protocol_impl.GitHubRepoState("acme/widgets"),
    ]


def test_dataclasses_are_frozen():
    samples = _protocol_samples()
    defined = {
        cls
        for module in _PROTOCOL_MODULES
        for cls in vars(module).values()
        if isinstance(cls, type) and dataclasses.is_dataclass(cls) and cls.__module__ == module.__name__
    }
    assert defined == {type(sample) for sample in samples}  # a new implementation needs a sample here
    for sample in samples:
        for field in dataclasses.fields(sample):  # type: ignore[arg-type]
            with pytest.raises(dataclasses.FrozenInstanceError):
                setattr(sample, field.name, getattr(sample, field.name))


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
