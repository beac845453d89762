"""The Slack collector against the wire-level Slack fake, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from core.errors import (
    AuthenticationError,
    DataValidationError,
    NetworkError,
    RateLimitError,
    classify_failure,
)
from core.identity import person_profiles, profile_emails
from core.store import Store, load_checkpoint
from slack_activity_tracker.tables import slack_channels, slack_files, slack_teams, slack_users
from tests.fakes.slack_server import html_500, malformed, slack_error
from tests.fakes.wire import Fault
from tests.integration.slack_helpers import DAY, NOW, TOKEN, TOKEN2, SlackWorld, world


@pytest.fixture
def w(store_url: str) -> Iterator[SlackWorld]:
    yield from world(store_url)


def _rows(w: SlackWorld, table, *where):  # type: ignore[no-untyped-def]
    store = Store.from_url(w.store_url)
    try:
        with store.engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(table).where(*where)).mappings()]
    finally:
        store.dispose()


# --------------------------------------------------------------------------- the basics


def test_first_run_stores_team_channel_users_messages_and_thread_replies(w: SlackWorld) -> None:
    root = w.data.post("T1", "C1", "U1", "How do I <@U2>?", at=NOW - 2 * DAY)
    reply = w.data.reply("T1", "C1", root, "U2", "Like this", at=NOW - 2 * DAY + 60)
    bot = w.data.post("T1", "C1", "B1", "bot answer", at=NOW - DAY, bot_id="BB1", subtype="bot_message")
    join = w.data.join_event("T1", "C1", "U2", at=NOW - DAY + 5)
    w.data.react("T1", "C1", root, "thumbsup", "U2")

    result = w.collect()

    rows = w.messages()
    assert set(rows) == {root, reply, bot, join}
    assert rows[root]["is_root"] and rows[root]["reply_count"] == 1 and rows[root]["latest_reply"] == reply
    assert rows[root]["replies_synced_latest_reply"] == reply
    assert rows[root]["reactions"] == [{"name": "thumbsup", "count": 1, "users": ["U2"]}]
    assert rows[reply]["thread_ts"] == root and not rows[reply]["is_root"]
    assert rows[bot]["subtype"] == "bot_message" and rows[bot]["bot_id"] == "BB1" and rows[bot]["text"] == "bot answer"
    assert rows[join]["subtype"] == "channel_join"  # every subtype is stored; documents filter
    assert result.counts["replies"] == 1 and result.counts["threads_refreshed"] == 1
    assert result.channels == ("T1/C1",)
    assert [t["domain"] for t in _rows(w, slack_teams)] == ["acme"]
    assert [c["name"] for c in _rows(w, slack_channels)] == ["general"]
    users = {u["user_id"]: u for u in _rows(w, slack_users)}
    assert set(users) == {"U1", "U2", "B1"} and users["B1"]["is_bot"]
    assert users["U1"]["email"] is None and users["U1"]["email_sha256"]  # plain e-mail only when enabled
    profiles = {p["external_id"]: p for p in _rows(w, person_profiles, person_profiles.c.source == "slack")}
    assert profiles["T1/U1"]["display_name"] == "Ada" and profiles["T1/B1"]["is_bot"]
    emails = _rows(w, profile_emails, profile_emails.c.external_id == "T1/U1")
    assert len(emails) == 1 and emails[0]["email"] is None
    store = Store.from_url(w.store_url)
    with store.engine.connect() as conn:
        state = load_checkpoint(conn, "slack", "T1/C1")
    store.dispose()
    assert state is not None and state.checkpoint_token == f"{NOW:.6f}" and state.extras["pending"] is None


def test_store_emails_keeps_the_address(w: SlackWorld) -> None:
    w.collect(w.config(store_emails=True))
    users = {u["user_id"]: u for u in _rows(w, slack_users)}
    assert users["U1"]["email"] == "Ada@Example.org"


def test_unchanged_rerun_touches_nothing_and_costs_one_history_request(w: SlackWorld) -> None:
    root = w.data.post("T1", "C1", "U1", "question", at=NOW - 10 * DAY)
    w.data.reply("T1", "C1", root, "U2", "answer", at=NOW - 10 * DAY + 5)
    w.collect()
    before = w.messages()
    w.server.log.clear()
    w.clock.advance(3600)

    result = w.collect()

    assert w.messages() == before  # not even updated_at / change_seq moved
    assert w.server.calls("conversations.history") == 1
    assert w.server.calls("conversations.replies") == 0  # latest_reply unchanged, older than the look-back
    assert w.server.calls("users.list") == 0  # refreshed at most every users_refresh_hours
    assert result.counts.get("threads_refreshed", 0) == 0


def test_late_reply_to_a_40_day_old_thread_is_collected(w: SlackWorld) -> None:
    root = w.data.post("T1", "C1", "U1", "old question", at=NOW - 40 * DAY)
    w.collect()
    w.clock.advance(DAY)
    late = w.data.reply("T1", "C1", root, "U2", "late answer")

    w.collect()

    rows = w.messages()
    assert late in rows and rows[late]["text"] == "late answer"
    assert rows[root]["replies_synced_latest_reply"] == late


def test_reply_to_a_400_day_old_thread_needs_the_deep_sweep(w: SlackWorld) -> None:
    root = w.data.post("T1", "C1", "U1", "ancient question", at=NOW - 400 * DAY)
    config = w.config(deep_sweep_every_days=30, deep_sweep_horizon_days=450)
    w.collect(config)  # the first run reads everything, and counts as a deep sweep
    w.clock.advance(DAY)
    late = w.data.reply("T1", "C1", root, "U2", "answer a year later")

    w.collect(config)
    assert late not in w.messages()  # beyond thread_horizon_days (45)

    w.clock.advance(30 * DAY)
    result = w.collect(config)
    assert result.counts["deep_sweeps"] == 1
    assert late in w.messages()


def test_edits_and_deletions_in_the_lookback_update_rows(w: SlackWorld) -> None:
    edited = w.data.post("T1", "C1", "U1", "tpyo", at=NOW - DAY)
    gone = w.data.post("T1", "C1", "U2", "oops", at=NOW - DAY + 10)
    root = w.data.post("T1", "C1", "U1", "thread", at=NOW - DAY + 20)
    reply_gone = w.data.reply("T1", "C1", root, "U2", "wrong answer", at=NOW - DAY + 30)
    reply_edit = w.data.reply("T1", "C1", root, "U1", "answr", at=NOW - DAY + 40)
    w.collect()
    w.clock.advance(3600)
    w.data.edit("T1", "C1", edited, "typo fixed")
    w.data.edit("T1", "C1", reply_edit, "answer")
    w.data.delete("T1", "C1", gone)
    w.data.delete("T1", "C1", reply_gone)

    result = w.collect()

    rows = w.messages()
    assert rows[edited]["text"] == "typo fixed" and rows[edited]["edited_ts"]
    assert rows[reply_edit]["text"] == "answer"
    assert rows[gone]["deleted_at"] is not None
    assert rows[reply_gone]["deleted_at"] is not None
    assert rows[root]["deleted_at"] is None and rows[edited]["deleted_at"] is None
    assert result.counts["messages_deleted"] == 2


def test_deleted_root_with_replies_becomes_a_deleted_tombstone_and_keeps_its_thread(w: SlackWorld) -> None:
    root = w.data.post("T1", "C1", "U1", "question", at=NOW - DAY)
    reply = w.data.reply("T1", "C1", root, "U2", "answer", at=NOW - DAY + 5)
    w.collect()
    w.data.delete("T1", "C1", root)
    w.clock.advance(60)

    w.collect()

    rows = w.messages()
    assert rows[root]["subtype"] == "tombstone" and rows[root]["deleted_at"] is not None
    assert rows[reply]["deleted_at"] is None


def test_broadcast_reply_is_one_row_from_history_and_replies(w: SlackWorld) -> None:
    root = w.data.post("T1", "C1", "U1", "question", at=NOW - DAY)
    cast = w.data.broadcast_reply("T1", "C1", root, "U2", "answer for all", at=NOW - DAY + 5)
    w.collect()
    rows = w.messages()
    assert rows[cast]["subtype"] == "thread_broadcast" and rows[cast]["thread_ts"] == root
    assert rows[cast]["text"] == "answer for all"  # the original stored such subtypes with empty text
    w.clock.advance(60)
    w.collect()
    assert w.messages()[cast]["deleted_at"] is None  # history still returns it: not "deleted"


def test_file_metadata_is_stored_never_the_bytes(w: SlackWorld) -> None:
    ts, file_id = w.data.file_share("T1", "C1", "U1", "see file", preview="int main() {}", at=NOW - DAY)
    w.collect()
    files = _rows(w, slack_files)
    assert [(f["file_id"], f["mode"], f["preview_text"]) for f in files] == [(file_id, "snippet", "int main() {}")]
    assert w.messages()[ts]["subtype"] == "file_share"
    assert not [e for e in w.server.log if "files-pri" in e.path]


def test_two_teams_with_the_same_user_id_stay_apart(w: SlackWorld) -> None:
    w.data.add_team("T2", "Other", "other", token=TOKEN2)
    w.data.add_user("T2", "U1", "someone-else", display_name="Eve")
    w.data.add_channel("T2", "C1", "general")
    w.data.post("T1", "C1", "U1", "from acme", at=NOW - DAY)
    w.data.post("T2", "C1", "U1", "from other", at=NOW - DAY)
    config = w.config(teams=[{"team_id": "T1", "connection_id": "slack_api_t1"},
                             {"team_id": "T2", "connection_id": "slack_api_t2"}])

    assert w.collector(config).validate().counts["partitions"] == 2
    result = w.collect(config)

    assert sorted(result.channels) == ["T1/C1", "T2/C1"]
    assert [m["text"] for m in w.messages("C1", "T1").values()] == ["from acme"]
    assert [m["text"] for m in w.messages("C1", "T2").values()] == ["from other"]
    profiles = {p["external_id"]: p["display_name"] for p in _rows(w, person_profiles)}
    assert profiles["T1/U1"] == "Ada" and profiles["T2/U1"] == "Eve"


def test_channel_filters_and_membership(w: SlackWorld) -> None:
    w.data.add_channel("T1", "C2", "boost-users")
    w.data.add_channel("T1", "C3", "random")
    w.data.add_channel("T1", "C4", "boost-dev", is_member=False)
    config = w.config(teams=[{"team_id": "T1", "connection_id": "slack_api_t1",
                              "channels": {"include": ["boost*", "general"], "exclude": ["random"]}}])
    collector = w.collector(config)
    collector.validate()
    assert collector.partitions == ["T1/C1", "T1/C2"]  # C4: not a member, join: none
    result = w.collect(config)
    assert result.counts["channels_not_member"] == 1
    assert w.server.calls("conversations.join") == 0


def test_join_public_joins_channels_the_bot_is_not_in(w: SlackWorld) -> None:
    w.data.add_channel("T1", "C4", "boost-dev", is_member=False)
    w.data.post("T1", "C4", "U1", "dev talk", at=NOW - DAY)
    config = w.config(teams=[{"team_id": "T1", "connection_id": "slack_api_t1", "join": "public"}])
    result = w.collect(config)
    assert result.counts["channels_joined"] == 1
    assert [m["text"] for m in w.messages("C4").values()] == ["dev talk"]
    w.collect(config)
    assert w.server.calls("conversations.join") == 1  # joined once


# --------------------------------------------------------------------------- failures


def test_not_in_channel_skips_the_partition_and_reports_it(w: SlackWorld, caplog: pytest.LogCaptureFixture) -> None:
    w.data.add_channel("T1", "C2", "boost-users")
    w.data.post("T1", "C2", "U1", "still collected", at=NOW - DAY)
    w.server.inject(slack_error("not_in_channel", method="conversations.history", times=1))
    caplog.set_level(logging.WARNING)

    result = w.collect()

    assert result.success and result.skipped == ("T1/C1: not_in_channel",)
    assert result.counts["channels_skipped"] == 1
    assert any("not_in_channel" in e for e in result.errors)
    assert [m["text"] for m in w.messages("C2").values()] == ["still collected"]
    assert any(getattr(r, "failure_category", None) == "permission" for r in caplog.records)


def test_partitioned_run_of_a_channel_the_bot_left_is_skipped(w: SlackWorld) -> None:
    w.data.channel("T1", "C1").is_member = False
    result = w.collect(partition="T1/C1")
    assert result.success and result.channels == () and result.skipped == ("T1/C1: not_in_channel",)


def test_invalid_auth_is_auth_and_no_token_leaks(w: SlackWorld, caplog: pytest.LogCaptureFixture) -> None:
    w.server.inject(slack_error("invalid_auth", times=10))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(AuthenticationError) as raised:
        w.collect()
    assert classify_failure(raised.value).value == "auth"
    assert TOKEN not in str(raised.value) and TOKEN not in caplog.text


def test_missing_scope_on_history_skips_with_the_scope_named(w: SlackWorld) -> None:
    w.server.inject(slack_error("missing_scope", method="conversations.history", needed="channels:history",
                                provided="users:read"))
    result = w.collect()
    assert result.skipped == ("T1/C1: missing_scope",)


def test_short_rate_limit_is_waited_out_through_the_sdk_handler(w: SlackWorld) -> None:
    w.data.post("T1", "C1", "U1", "hello", at=NOW - DAY)
    w.server.inject(Fault(429, headers={"Retry-After": "7"}, body='{"ok":false,"error":"ratelimited"}',
                          path="/api/conversations.history"))
    result = w.collect()
    assert 7.0 in w.clock.sleeps
    assert result.counts["api_rate_limit_waits"] == 1
    assert len(w.messages()) == 1


def test_rate_limit_longer_than_the_cap_raises_with_retry_at(w: SlackWorld) -> None:
    w.server.inject(Fault(429, headers={"Retry-After": "900"}, body='{"ok":false,"error":"ratelimited"}',
                          path="/api/conversations.history"))
    with pytest.raises(RateLimitError) as raised:
        w.collect(w.config(max_rate_limit_wait=300))
    assert raised.value.retry_at is not None
    assert raised.value.retry_at.timestamp() == pytest.approx(NOW + 900, abs=1)
    assert 900.0 not in w.clock.sleeps


def test_tier_limit_of_the_fake_answers_429_and_the_collector_waits(w: SlackWorld) -> None:
    for n in range(5):
        root = w.data.post("T1", "C1", "U1", f"q{n}", at=NOW - DAY + n)
        w.data.reply("T1", "C1", root, "U2", f"a{n}", at=NOW - DAY + n + 100)
    w.server.tier_limits["conversations.replies"] = 2
    result = w.collect()
    assert result.counts["replies"] == 5
    assert result.counts["api_rate_limit_waits"] >= 1
    assert w.server.log.count(status=429) >= 1


def test_html_500_is_retried_then_network(w: SlackWorld) -> None:
    w.data.post("T1", "C1", "U1", "hello", at=NOW - DAY)
    w.server.inject(html_500(method="conversations.history", times=1))
    w.collect()  # one 500, then the retry succeeds
    assert len(w.messages()) == 1
    w.server.inject(html_500(method="conversations.history", times=10))
    with pytest.raises(NetworkError):
        w.collect()


def test_fatal_error_with_http_200_is_network(w: SlackWorld) -> None:
    w.server.inject(slack_error("fatal_error", method="conversations.history"))
    with pytest.raises(NetworkError):
        w.collect()


def test_malformed_json_is_validation_and_writes_nothing(w: SlackWorld) -> None:
    w.data.post("T1", "C1", "U1", "hello", at=NOW - DAY)
    w.server.inject(malformed(method="conversations.history"))
    with pytest.raises(DataValidationError) as raised:
        w.collect()
    assert "conversations.history" in str(raised.value)
    assert w.messages() == {}


def test_payload_breaking_the_schema_names_the_field(w: SlackWorld) -> None:
    w.data.post("T1", "C1", "U1", "hello", at=NOW - DAY)
    w.data.channel("T1", "C1").messages[next(iter(w.data.channel("T1", "C1").messages))]["reply_count"] = "many"
    with pytest.raises(DataValidationError) as raised:
        w.collect()
    assert "$[0].reply_count" in str(raised.value) and "conversations.history" in str(raised.value)
    assert w.messages() == {}


def test_disconnect_is_retried(w: SlackWorld) -> None:
    w.data.post("T1", "C1", "U1", "hello", at=NOW - DAY)
    w.server.inject(Fault(disconnect="close", path="/api/conversations.history"))
    w.collect()
    assert len(w.messages()) == 1


def test_non_marketplace_pacing_waits_a_minute_between_history_requests(store_url: str) -> None:
    for w in world(store_url, marketplace=False):
        for n in range(40):
            w.data.post("T1", "C1", "U1", f"m{n}", at=NOW - DAY + n)
        result = w.collect(w.config(pacing="non_marketplace"))
        assert len(w.messages()) == 40
        assert result.counts["history_pages"] == 3  # 15 + 15 + 10
        sent = [e.query + e.body.decode() for e in w.server.log.select(path="/api/conversations.history")]
        assert all("limit=15" in request for request in sent)
        assert w.server.log.count(status=429) == 0  # paced: never refused
        assert sum(w.clock.sleeps) >= 120


def test_a_message_marked_deleted_that_slack_returns_again_is_live_again(w: SlackWorld) -> None:
    ts = w.data.post("T1", "C1", "U1", "flaky", at=NOW - DAY)
    hidden = w.data.channel("T1", "C1").messages.pop(ts)
    w.collect()
    w.data.channel("T1", "C1").messages[ts] = hidden
    w.collect()  # stored first (live)
    w.data.channel("T1", "C1").messages.pop(ts)
    w.clock.advance(60)
    w.collect()
    assert w.messages()[ts]["deleted_at"] is not None
    w.data.channel("T1", "C1").messages[ts] = hidden
    w.clock.advance(60)
    w.collect()
    assert w.messages()[ts]["deleted_at"] is None


def test_bounded_run_reads_its_window_and_writes_rows_only(w: SlackWorld) -> None:
    import datetime as dt

    inside = w.data.post("T1", "C1", "U1", "inside", at=NOW - 20 * DAY)
    w.data.post("T1", "C1", "U1", "outside", at=NOW - 2 * DAY)
    since = dt.datetime.fromtimestamp(NOW - 21 * DAY, dt.UTC)
    until = dt.datetime.fromtimestamp(NOW - 19 * DAY, dt.UTC)

    w.collect(since=since, until=until)

    assert set(w.messages()) == {inside}
    store = Store.from_url(w.store_url)
    with store.engine.connect() as conn:
        assert load_checkpoint(conn, "slack", "T1/C1") is None
    store.dispose()


def test_free_plan_visibility_never_marks_hidden_history_deleted(w: SlackWorld) -> None:
    old = w.data.post("T1", "C1", "U1", "old", at=NOW - 100 * DAY)
    config = w.config(visibility_days=90, deep_sweep_every_days=0, thread_horizon_days=365)
    w.collect(w.config())  # stored while it was visible
    w.data.set_visibility_days(90)
    w.clock.advance(60)
    w.collect(config)
    assert w.messages()[old]["deleted_at"] is None


def test_config_and_connection_errors_name_the_field(w: SlackWorld) -> None:
    from core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"config\.teams\.0\.team_id"):
        w.collect({"teams": [{"team_id": "lower-case", "connection_id": "slack_api_t1"}]})
    with pytest.raises(ConfigError, match=r"config\.lookback_days"):
        w.collect(w.config(lookback_days=-1))
    with pytest.raises(ConfigError, match="connection slack_api_nowhere"):
        w.collect(w.config(teams=[{"team_id": "T1", "connection_id": "slack_api_nowhere"}]))
    with pytest.raises(ConfigError, match="partition"):
        w.collect(partition="C1")


def test_without_team_read_the_team_comes_from_auth_test(w: SlackWorld) -> None:
    w.data.teams["T1"].scopes.discard("team:read")
    w.collect()
    assert [(t["name"], t["domain"]) for t in _rows(w, slack_teams)] == [("Acme", "acme")]


def test_an_author_who_joined_after_users_list_is_fetched_with_users_info(w: SlackWorld) -> None:
    w.collect()
    w.data.add_user("T1", "U7", "newcomer", display_name="Newt")
    w.data.post("T1", "C1", "U7", "hi all", at=NOW + 10)
    w.clock.advance(60)
    w.collect()
    assert w.server.calls("users.info") == 1 and w.server.calls("users.list") == 1
    profiles = {p["external_id"]: p["display_name"] for p in _rows(w, person_profiles)}
    assert profiles["T1/U7"] == "Newt"
