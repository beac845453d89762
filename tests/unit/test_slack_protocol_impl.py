"""The Slack tracker's protocol implementations satisfy the protocols and round-trip through JSON (XCom)."""

from __future__ import annotations

import datetime as dt
import json

from core.protocols import require_activity_record, require_incremental_state, require_tracker_result
from slack_activity_tracker.protocol_impl import SlackChannelState, SlackCollectResult, SlackMessageActivity


def test_collect_result_round_trips() -> None:
    result = SlackCollectResult(success=True, counts={"messages": 3}, errors=["skipped T1/C2: not_in_channel (permission)"],
                                channels=["T1/C1"], skipped=["T1/C2: not_in_channel"])
    require_tracker_result(result)
    again = SlackCollectResult.from_dict(json.loads(json.dumps(result.asdict())))
    assert again == result and again.channels == ("T1/C1",)


def test_channel_state_round_trips_with_its_pending_window() -> None:
    state = SlackChannelState("1750000000.000000", "2025-06-15T15:06Z (0 threads refreshed)",
                              {"pending": {"latest": "1749999000.000001", "oldest": 0.0,
                                           "run_latest": "1750000000.000000", "deep": False}})
    require_incremental_state(state)
    again = SlackChannelState.from_dict(json.loads(json.dumps(state.asdict())))
    assert again == state and again.pending is not None and again.pending["latest"] == "1749999000.000001"
    assert SlackChannelState.from_state(None).pending is None


def test_message_activity_from_a_reply_row() -> None:
    row = {"team_id": "T1", "channel_id": "C1", "ts": "1750000000.000002", "thread_ts": "1750000000.000001",
           "is_root": False, "user_id": "U1", "text": "an answer",
           "ts_at": dt.datetime(2025, 6, 15, 15, 6, 40, 2, tzinfo=dt.UTC)}
    activity = SlackMessageActivity.from_message_row(row, "acme")
    require_activity_record(activity)
    assert activity.activity_type == "reply" and activity.actor_external_id == "T1/U1"
    assert activity.source_url == (
        "https://acme.slack.com/archives/C1/p1750000000000002?thread_ts=1750000000.000001&cid=C1"
    )
    assert SlackMessageActivity.from_dict(json.loads(json.dumps(activity.asdict()))) == activity
