"""Discord ``source: api`` against the REST fake, on SQLite and real PostgreSQL: the API path
stores what the export path stores, edits and deletions in the look-back window, threads and
forum posts, rate limits, bad tokens, bad payloads, crashes."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select

from core.collectors import RunContext
from core.errors import AuthenticationError, ConfigError, DataValidationError, NetworkError, RateLimitError
from core.store import Store, collector_checkpoints, load_checkpoint
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.tables import (
    discord_authors,
    discord_channels,
    discord_guilds,
    discord_messages,
)
from tests.fakes.discord_api_server import DEFAULT_TOKEN, DiscordApiServer, snowflake
from tests.fakes.wire import FakeClock, Fault, Reply

GUILD = "900000000000000001"
CATEGORY = "900000000000000002"
GENERAL = "900000000000000010"
HELP = "900000000000000011"
FORUM = "900000000000000012"
SECRET = "900000000000000013"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def fake(clock: FakeClock) -> Iterator[DiscordApiServer]:
    server = DiscordApiServer(clock=clock, user_tokens=("MTIz.user-token.abc",))
    data = server.data
    data.guild(GUILD, "Northwind Makers", "f00dcafe")
    data.channel(GUILD, CATEGORY, "Community", kind=4)
    data.channel(GUILD, GENERAL, "general", parent_id=CATEGORY, topic="Talk")
    data.channel(GUILD, HELP, "help", parent_id=CATEGORY)
    data.channel(GUILD, FORUM, "help-forum", kind=15)
    with server:
        yield server


def _collector(
    fake: DiscordApiServer,
    store_url: str,
    clock: FakeClock,
    *,
    token: str = DEFAULT_TOKEN,
    name: str = "discord_bot",
    **config: Any,
) -> DiscordCollector:
    context = config.pop("_context", {})
    raw = {"source": "api", "guilds": [{"guild_id": GUILD}], **config}
    connections = {"discord_bot_default": {"password": token, "extra": {"base_url": fake.api_url}}}
    return DiscordCollector(
        raw,
        context=RunContext(store_url=store_url, collector_name=name, connections=connections, **context),
        clock=clock.time,
        sleep=clock.sleep,
    )


def _run(fake: DiscordApiServer, store_url: str, clock: FakeClock, **kwargs: Any):
    collector = _collector(fake, store_url, clock, **kwargs)
    collector.validate()
    return collector.run()


def _rows(store_url: str, table, *skip: str) -> list[dict[str, Any]]:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(select(table)).mappings()]
    key = table.primary_key.columns.keys()[0]
    return sorted(({k: v for k, v in r.items() if k not in skip} for r in rows), key=lambda r: r[key])


def _message(store_url: str, message_id: str) -> dict[str, Any] | None:
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        row = conn.execute(
            select(discord_messages).where(discord_messages.c.message_id == message_id)
        ).mappings()
        found = row.one_or_none()
    return dict(found) if found else None


# ---------------------------------------------------------------- the same rows through both paths


def _dce_user(
    user_id: str, name: str, display: str | None, avatar: str | None, bot: bool = False
) -> dict[str, Any]:
    """An author as DCE writes it for a user seen through the bot API (no role colours)."""
    avatar_url = (
        f"https://cdn.discordapp.com/avatars/{user_id}/{avatar}.png?size=512"
        if avatar
        else f"https://cdn.discordapp.com/embed/avatars/{(int(user_id) >> 22) % 6}.png"
    )
    return {
        "id": user_id,
        "name": name,
        "discriminator": "0000",
        "nickname": display or name,
        "color": None,
        "isBot": bot,
        "roles": [],
        "avatarUrl": avatar_url,
    }


def _export(now: dt.datetime) -> dict[str, Any]:
    alice = _dce_user("700000000000000101", "alice", "Alice A.", "a1b2c3")
    bob = _dce_user("700000000000000102", "bob_", None, None)
    hook = _dce_user("700000000000000103", "ci-bot", None, "b0b0", bot=True)
    base = now - dt.timedelta(days=20)

    def stamp(minutes: int) -> str:
        return (base + dt.timedelta(minutes=minutes)).isoformat(timespec="milliseconds")

    def ident(minutes: int) -> str:
        return snowflake(base + dt.timedelta(minutes=minutes), 7)

    common = {
        "callEndedTimestamp": None,
        "isPinned": False,
        "attachments": [],
        "components": [],
        "embeds": [],
        "stickers": [],
        "reactions": [],
        "mentions": [],
        "inlineEmojis": [],
    }
    messages = [
        {
            **common,
            "id": ident(1),
            "type": "Default",
            "timestamp": stamp(1),
            "timestampEdited": stamp(9),
            "content": "Flashing fails at 87%",
            "author": alice,
            "isPinned": True,
            "reactions": [{"emoji": {"id": "", "name": "😢", "isAnimated": False}, "count": 2}],
        },
        {
            **common,
            "id": ident(2),
            "type": "Reply",
            "timestamp": stamp(2),
            "timestampEdited": None,
            "content": "Try a shorter cable <@700000000000000101>",
            "author": bob,
            "mentions": [alice],
            "reference": {"messageId": ident(1), "channelId": GENERAL, "guildId": GUILD},
        },
        {
            **common,
            "id": ident(3),
            "type": "Default",
            "timestamp": stamp(3),
            "timestampEdited": None,
            "content": "",
            "author": hook,
            "attachments": [
                {
                    "id": "1300000000000000001",
                    "url": "https://cdn.discordapp.com/attachments/x/log.txt",
                    "fileName": "log.txt",
                    "fileSizeBytes": 2048,
                }
            ],
            "embeds": [{"type": "rich", "title": "Build #42 passed", "color": 3066993}],
            "stickers": [{"id": "1300000000000000002", "name": "wave"}],
        },
        {
            **common,
            "id": ident(4),
            "type": "ChannelPinnedMessage",
            "timestamp": stamp(4),
            "timestampEdited": None,
            "content": "",
            "author": alice,
            "reference": {"messageId": ident(1), "channelId": GENERAL, "guildId": GUILD},
        },
    ]
    return {
        "guild": {
            "id": GUILD,
            "name": "Northwind Makers",
            "iconUrl": f"https://cdn.discordapp.com/icons/{GUILD}/f00dcafe.png?size=512",
        },
        "channel": {
            "id": GENERAL,
            "type": "GuildTextChat",
            "categoryId": CATEGORY,
            "category": "Community",
            "name": "general",
            "topic": "Talk",
        },
        "dateRange": {"after": None, "before": None},
        "exportedAt": now.isoformat(timespec="milliseconds"),
        "messages": messages,
        "messageCount": len(messages),
    }


def test_api_path_stores_the_same_rows_as_the_export_path(store_url: str, tmp_path: Path, clock: FakeClock):
    now = dt.datetime.fromtimestamp(clock.time(), dt.UTC)
    export = _export(now)
    folder = tmp_path / "exports"
    folder.mkdir()
    (folder / "general.json").write_text(json.dumps(export), encoding="utf-8")
    DiscordCollector({"export_dir": str(folder)}, context=RunContext(store_url=store_url)).run()
    tables = (discord_guilds, discord_channels, discord_authors, discord_messages)
    skip = ("updated_at", "change_seq", "last_message_id")  # the last: what the API listing said
    through_file = {t.name: _rows(store_url, t, *skip) for t in tables}
    assert len(through_file["discord_messages"]) == 4
    store = Store.from_url(store_url)
    with store.transaction() as conn:
        for table in reversed(tables):
            conn.execute(delete(table))
        conn.execute(delete(collector_checkpoints))

    server = DiscordApiServer(clock=clock)
    server.data.load_export(export)
    with server:
        result = _run(server, store_url, clock, guilds=[{"guild_id": GUILD, "channels": [GENERAL]}])
    assert result.counts["messages_new"] == 4
    through_api = {t.name: _rows(store_url, t, *skip) for t in tables}
    assert through_api == through_file


# ---------------------------------------------------------------- incremental, edits, deletions


def test_new_messages_by_checkpoint_in_pages_of_100(fake: DiscordApiServer, store_url: str, clock: FakeClock):
    start = dt.datetime.fromtimestamp(clock.time(), dt.UTC) - dt.timedelta(days=20)
    for n in range(230):
        fake.data.post(
            GENERAL, "alice" if n % 2 else "bob", f"message {n}", at=start + dt.timedelta(minutes=n)
        )
    first = _run(fake, store_url, clock)
    assert first.counts["messages_new"] == 230
    general_pages = fake.log.select("GET", f"/api/v10/channels/{GENERAL}/messages")
    assert general_pages[0].query.split("&")[0] == "after=0"
    assert len(general_pages) == 3 and all("limit=100" in e.query for e in general_pages)
    with Store.from_url(store_url).engine.connect() as conn:
        state = load_checkpoint(conn, "discord_bot", GENERAL)
    assert state is not None and state.checkpoint_token == max(fake.data.messages[GENERAL], key=int)

    fake.log.clear()
    fake.data.post(GENERAL, "alice", "one more", at=dt.datetime.fromtimestamp(clock.time(), dt.UTC))
    again = _run(fake, store_url, clock, lookback_days=0)
    assert again.counts["messages_new"] == 1 and again.counts["messages_read"] == 1
    assert fake.log.count("GET", f"/api/v10/channels/{GENERAL}/messages") == 1

    # Nothing newer than the checkpoints (the listing's last_message_id says so): no page read.
    fake.log.clear()
    idle = _run(fake, store_url, clock, lookback_days=0)
    assert idle.counts["partitions_unchanged"] == 1 and idle.counts["messages_read"] == 0
    assert fake.log.count(contains="/messages") == 1  # #help: empty, so no checkpoint token to compare


def test_edits_and_deletions_in_the_lookback_window(fake: DiscordApiServer, store_url: str, clock: FakeClock):
    now = dt.datetime.fromtimestamp(clock.time(), dt.UTC)
    old = fake.data.post(GENERAL, "alice", "from last month", at=now - dt.timedelta(days=20))
    root = fake.data.post(GENERAL, "alice", "How do I flash?", at=now - dt.timedelta(days=2))
    reply = fake.data.post(
        GENERAL, "bob", "Hold BOOTSEL", reply_to=root["id"], at=now - dt.timedelta(days=2, minutes=-5)
    )
    alone = fake.data.post(GENERAL, "bob", "a thought", at=now - dt.timedelta(days=1))
    _run(fake, store_url, clock)

    fake.data.edit(GENERAL, root["id"], "How do I flash an RP2040?")
    fake.data.delete(GENERAL, reply["id"])
    fake.data.delete(GENERAL, alone["id"])
    fake.data.delete(GENERAL, old["id"])  # older than the window: not noticed (the documented bound)
    collector = _collector(fake, store_url, clock)
    collector.validate()
    result = collector.run()
    assert result.counts["messages_deleted"] == 2
    assert _message(store_url, root["id"])["content"] == "How do I flash an RP2040?"
    assert _message(store_url, reply["id"])["deleted_at"] is not None
    assert _message(store_url, alone["id"])["deleted_at"] is not None
    assert _message(store_url, old["id"])["deleted_at"] is None
    documents = {d.doc_id: d for d in collector.preprocess(None, [])}
    assert "Hold BOOTSEL" not in documents[root["id"]].text and "RP2040" in documents[root["id"]].text
    assert alone["id"] not in documents
    assert alone["id"] in list(collector.removed_document_ids(None))
    assert root["id"] not in list(collector.removed_document_ids(None))

    unchanged = _run(fake, store_url, clock)
    assert unchanged.counts["messages_deleted"] == 0 and unchanged.counts["messages_new"] == 0

    # A full refresh re-reads the whole history: the old deletion is found too.
    full = _run(fake, store_url, clock, _context={"full_refresh": True})
    assert full.counts["messages_deleted"] == 1 and _message(store_url, old["id"])["deleted_at"] is not None


def test_since_until_become_snowflakes_and_leave_the_checkpoint(
    fake: DiscordApiServer, store_url: str, clock: FakeClock
):
    now = dt.datetime.fromtimestamp(clock.time(), dt.UTC)
    posts = [
        fake.data.post(GENERAL, "alice", f"day {d}", at=now - dt.timedelta(days=d)) for d in (10, 6, 3, 1)
    ]
    result = _run(
        fake,
        store_url,
        clock,
        _context={"since": now - dt.timedelta(days=7), "until": now - dt.timedelta(days=2)},
    )
    assert result.counts["messages_new"] == 2
    assert _message(store_url, posts[0]["id"]) is None and _message(store_url, posts[3]["id"]) is None
    with Store.from_url(store_url).engine.connect() as conn:
        assert load_checkpoint(conn, "discord_bot", GENERAL) is None
    first = fake.log.select("GET", f"/api/v10/channels/{GENERAL}/messages")[0]
    assert f"after={int(snowflake(now - dt.timedelta(days=7))) - 1}" in first.query


# ---------------------------------------------------------------- threads and forum posts


def test_threads_and_forum_posts_are_partitions(fake: DiscordApiServer, store_url: str, clock: FakeClock):
    now = dt.datetime.fromtimestamp(clock.time(), dt.UTC)
    post = fake.data.thread(
        FORUM, "Bootloader update?", content="Steps I tried: ...", at=now - dt.timedelta(days=3)
    )
    fake.data.post(post["id"], "bob", "Use picotool", at=now - dt.timedelta(days=3, minutes=-1))
    archived = fake.data.thread(GENERAL, "old build thread", at=now - dt.timedelta(days=9))
    fake.data.post(archived["id"], "alice", "fixed in 1.2", at=now - dt.timedelta(days=9, minutes=-1))
    fake.data.archive(archived["id"], at=now - dt.timedelta(days=2))
    collector = _collector(fake, store_url, clock)
    collector.validate()
    assert set(collector.partitions or []) == {
        f"{GUILD}/{c}" for c in (GENERAL, HELP, post["id"], archived["id"])
    }
    result = collector.run()
    assert result.counts["messages_new"] == 3
    channels = {r["channel_id"]: r for r in _rows(store_url, discord_channels)}
    assert channels[post["id"]]["type"] == "GuildPublicThread"
    assert channels[post["id"]]["category"] == "help-forum" and channels[post["id"]]["category_id"] == FORUM
    assert _message(store_url, post["id"])["content"] == "Steps I tried: ..."
    documents = {d.doc_id: d for d in collector.preprocess(None, [])}
    assert "Use picotool" in documents[post["id"]].text

    # The next scan asks for archived threads only back to the last scan minus the overlap.
    fake.log.clear()
    collector = _collector(fake, store_url, clock)
    collector.validate()
    assert f"{GUILD}/{archived['id']}" not in (collector.partitions or [])
    assert f"{GUILD}/{post['id']}" in (collector.partitions or [])  # active


# ---------------------------------------------------------------- rate limits


def test_spent_bucket_waits_for_its_reset_without_a_429(
    fake: DiscordApiServer, store_url: str, clock: FakeClock
):
    fake.bucket_limit, fake.bucket_window = 2, 5.0
    start = dt.datetime.fromtimestamp(clock.time(), dt.UTC) - dt.timedelta(days=20)
    for n in range(350):
        fake.data.post(GENERAL, "alice", f"m{n}", at=start + dt.timedelta(minutes=n))
    result = _run(fake, store_url, clock)
    assert result.counts["messages_new"] == 350
    assert fake.log.count(status=429) == 0
    assert any(4.0 <= s <= 7.0 for s in clock.sleeps), clock.sleeps


def test_429_retry_after_and_global_limit_are_waited(
    fake: DiscordApiServer, store_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    fake.data.post(GENERAL, "alice", "hello")
    fake.inject(
        Fault(
            status=429,
            path=f"/api/v10/channels/{GENERAL}/messages",
            headers={
                "X-RateLimit-Scope": "user",
                "X-RateLimit-Limit": "5",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset-After": "2.5",
                "Retry-After": "3",
            },
            body=json.dumps({"message": "You are being rate limited.", "retry_after": 2.5, "global": False}),
        ),
        Fault(
            status=429,
            path=f"/api/v10/channels/{HELP}/messages",
            headers={"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global", "Retry-After": "2"},
            body=json.dumps({"message": "You are being rate limited.", "retry_after": 1.25, "global": True}),
        ),
    )
    result = _run(fake, store_url, clock)
    assert result.counts["messages_new"] == 1
    assert fake.log.count(status=429) == 2
    assert any(3.0 <= s <= 3.3 for s in clock.sleeps) and any(2.0 <= s <= 2.3 for s in clock.sleeps)
    assert result.counts["invalid_requests"] == 2
    assert "429" in caplog.text and DEFAULT_TOKEN[:12] not in caplog.text  # every log line, DEBUG included


def test_a_long_rate_limit_wait_becomes_rate_limit_error_with_retry_at(
    fake: DiscordApiServer, store_url: str, clock: FakeClock
):
    fake.inject(
        Fault(
            status=429,
            path=f"/api/v10/channels/{GENERAL}/messages",
            body=json.dumps({"message": "slow down", "retry_after": 900.0, "global": False}),
        )
    )
    with pytest.raises(RateLimitError) as raised:
        _run(fake, store_url, clock, max_rate_limit_wait=60)
    assert raised.value.retry_at is not None
    expected = dt.datetime.fromtimestamp(clock.time() + 900, dt.UTC)
    assert abs((raised.value.retry_at - expected).total_seconds()) < 5


def test_requests_are_paced_under_the_global_limit(fake: DiscordApiServer, store_url: str, clock: FakeClock):
    fake.global_limit = 5
    for n in range(12):
        fake.data.channel(GUILD, str(900000000000001000 + n), f"room-{n}")
    result = _run(fake, store_url, clock, global_requests_per_second=5)
    assert fake.log.count(status=429) == 0
    assert result.counts["partitions"] == 14


# ---------------------------------------------------------------- tokens


def test_unknown_token_fails_auth_without_the_token_anywhere(
    fake: DiscordApiServer, store_url: str, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    secret = "MTExMTExMTExMTExMTExMTEx.Gabcde.not-a-valid-token-9999999999"
    caplog.set_level(logging.DEBUG)
    collector = _collector(fake, store_url, clock, token=secret)
    with pytest.raises(AuthenticationError) as raised:
        collector.validate()
    assert secret not in str(raised.value) and secret[:12] not in caplog.text
    assert "401" in str(raised.value)


def test_user_tokens_are_refused(fake: DiscordApiServer, store_url: str, clock: FakeClock):
    with pytest.raises(AuthenticationError, match="user account, not a bot"):
        _collector(fake, store_url, clock, token="MTIz.user-token.abc").validate()
    with pytest.raises(ConfigError, match="not a bot token"):
        _collector(fake, store_url, clock, token="mfa.abcdefghijklmnopqrstuvwxyz").validate()
    with pytest.raises(ConfigError, match="bearer"):
        _collector(fake, store_url, clock, token="Bearer abc.def.ghi").validate()
    assert fake.log.count(path="/api/v10/channels") == 0


def test_a_bot_without_the_message_content_intent_is_refused(
    fake: DiscordApiServer, store_url: str, clock: FakeClock
):
    fake.message_content = False
    with pytest.raises(ConfigError, match="Message Content intent"):
        _collector(fake, store_url, clock).validate()
    assert fake.log.count(path=f"/api/v10/channels/{GENERAL}/messages") == 0


# ---------------------------------------------------------------- bad input, skipped channels, crashes


def test_forbidden_channel_is_skipped_and_the_others_stored(
    fake: DiscordApiServer, store_url: str, clock: FakeClock
):
    fake.data.channel(GUILD, SECRET, "mods-only", parent_id=CATEGORY)
    fake.data.post(SECRET, "alice", "secret")
    fake.data.post(GENERAL, "bob", "public")
    fake.forbidden.add(SECRET)
    result = _run(fake, store_url, clock)
    assert result.counts["partitions_skipped"] == 1 and result.counts["messages_new"] == 1
    assert fake.log.count("GET", f"/api/v10/channels/{SECRET}/messages", status=403) == 1


def test_a_malformed_message_rejects_its_channel_only(
    fake: DiscordApiServer, store_url: str, clock: FakeClock
):
    good = fake.data.post(HELP, "bob", "fine")
    fake.data.post(GENERAL, "alice", "fine too")
    broken = fake.data.post(GENERAL, "alice", "x")
    broken["timestamp"] = "yesterday"
    with pytest.raises(DataValidationError) as raised:
        _run(fake, store_url, clock)
    assert broken["id"] in str(raised.value) and "timestamp" in str(raised.value)
    assert _message(store_url, good["id"]) is not None
    with Store.from_url(store_url).engine.connect() as conn:
        assert load_checkpoint(conn, "discord_bot", GENERAL) is None


def test_a_crash_after_a_page_resumes_from_its_checkpoint(
    fake: DiscordApiServer, store_url: str, clock: FakeClock
):
    start = dt.datetime.fromtimestamp(clock.time(), dt.UTC) - dt.timedelta(days=20)
    for n in range(150):
        fake.data.post(GENERAL, "alice", f"m{n}", at=start + dt.timedelta(minutes=n))

    def die_after_first_page(channel: str, query: dict[str, str]) -> None:
        if channel == GENERAL and query.get("after") != "0":
            raise Reply(0, disconnect="reset")

    fake.before_messages = die_after_first_page
    with pytest.raises(NetworkError):
        _run(fake, store_url, clock, transient_max_retries=1)
    with Store.from_url(store_url).engine.connect() as conn:
        state = load_checkpoint(conn, "discord_bot", GENERAL)
    ordered = sorted(fake.data.messages[GENERAL], key=int)
    assert state is not None and state.checkpoint_token == ordered[99]
    fake.before_messages = None
    fake.log.clear()
    result = _run(fake, store_url, clock, lookback_days=0)
    assert result.counts["messages_new"] == 50 and result.counts["messages_read"] == 50
    assert len(_rows(store_url, discord_messages)) == 150


def test_hostile_and_broken_pages(fake: DiscordApiServer, store_url: str, clock: FakeClock):
    good = fake.data.post(HELP, "bob", "fine")
    fake.data.post(GENERAL, "alice", "hello")
    # A body cut short on the wire is retried; an object where a list belongs rejects the channel.
    fake.inject(
        Fault(path=f"/api/v10/channels/{HELP}/messages", disconnect="mid_body"),
        Fault(path=f"/api/v10/channels/{GENERAL}/messages", body=b'{"messages": []}'),
    )
    with pytest.raises(DataValidationError, match="expected a JSON array"):
        _run(fake, store_url, clock)
    assert _message(store_url, good["id"]) is not None
    with Store.from_url(store_url).engine.connect() as conn:
        assert load_checkpoint(conn, "discord_bot", GENERAL) is None

    # Another channel's messages, or a page that does not move past after=, are refused.
    alien = json.dumps([fake.data.messages[HELP][good["id"]]])
    fake.inject(Fault(path=f"/api/v10/channels/{GENERAL}/messages", body=alien))
    with pytest.raises(DataValidationError, match="belongs to channel"):
        _run(fake, store_url, clock, lookback_days=0)
    assert _message(store_url, good["id"])["channel_id"] == HELP
    old = fake.data.post(
        GENERAL, "alice", "old", at=dt.datetime.fromtimestamp(clock.time(), dt.UTC) - dt.timedelta(days=9)
    )
    _run(fake, store_url, clock, lookback_days=0)  # #general's checkpoint: its newest message
    stale = json.dumps([old])
    fake.inject(Fault(path=f"/api/v10/channels/{GENERAL}/messages", body=stale))
    fake.data.post(GENERAL, "bob", "new", at=dt.datetime.fromtimestamp(clock.time(), dt.UTC))
    with pytest.raises(DataValidationError, match="at or before after="):
        _run(fake, store_url, clock, lookback_days=0)
