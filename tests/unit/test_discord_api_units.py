"""Discord bot-API pieces that need no server: token rules, bucket routes, snowflakes, the
shipped example entry and the documented config."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import yaml

from core.errors import ConfigError
from discord_activity_tracker.api_adapter import adapt_message, dce_timestamp, snowflake_at, snowflake_time
from discord_activity_tracker.api_client import (
    DiscordRateLimits,
    discord_policy,
    resolve_bot_connection,
    route_of,
)
from discord_activity_tracker.config import parse_config
from tests.conftest import PROJECT_ROOT

BOT = "MTA5ODc2NTQzMjEwOTg3NjU0.GbOtTk.bot-token-value"


def test_a_bot_prefix_is_removed_and_user_tokens_are_refused_naming_the_connection():
    assert resolve_bot_connection({"password": f"Bot {BOT}"}, conn_id="c").token == BOT
    for bad in ("mfa.abcdef", "Bearer abc.def.ghi", "just-a-secret"):
        with pytest.raises(ConfigError, match="connection c:") as raised:
            resolve_bot_connection({"password": bad}, conn_id="c")
        assert bad not in str(raised.value)
    with pytest.raises(ConfigError, match="empty"):
        resolve_bot_connection({"password": " "}, conn_id="c")


def test_routes_keep_the_top_level_id_and_share_learned_buckets():
    assert route_of("/channels/1/messages/2") == "/channels/1/messages/{id}"
    assert route_of("/guilds/7/threads/active") == "/guilds/7/threads/active"
    policy = discord_policy()
    assert (
        isinstance(policy, DiscordRateLimits)
        and policy.reset_is_delta
        and policy.body_retry_after == "retry_after"
    )
    before = policy.resource_for("/channels/1/messages")
    headers = {
        "X-RateLimit-Bucket": "abcd",
        "X-RateLimit-Limit": "5",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset-After": "2.5",
    }
    snap = policy.snapshot(headers, now=1000.0, path="/channels/1/messages")
    assert (
        snap is not None and snap.resource == "abcd:1" and snap.reset_at == 1002.5 and before != snap.resource
    )
    policy.snapshot(headers, now=1000.0, path="/channels/1/messages/9")
    assert policy.resource_for("/channels/1/messages/5") == "abcd:1"  # another route, the same bucket
    assert policy.resource_for("/channels/2/messages") != "abcd:1"  # another channel, its own quota


def test_snowflakes_and_timestamps():
    moment = dt.datetime(2024, 3, 8, 14, 5, 12, 371000, tzinfo=dt.UTC)
    after = snowflake_at(moment)
    assert snowflake_time(after + 1) == moment and snowflake_time(after) < moment
    assert dce_timestamp("2024-03-08T14:05:12.371000+00:00") == "2024-03-08T14:05:12.371+00:00"
    assert dce_timestamp("yesterday") == "yesterday"


def test_unknown_message_types_keep_their_number_and_missing_lists_are_empty():
    message = adapt_message({"id": "1", "type": 46, "author": {"id": "2", "username": "a"}}, "9")
    assert message["type"] == "46" and message["attachments"] == [] and message["reactions"] == []
    assert "reference" not in message


def test_the_shipped_entry_and_the_documented_config_parse():
    entries = yaml.safe_load((PROJECT_ROOT / "include" / "collectors.yaml").read_text())["collectors"]
    shipped = parse_config(entries["discord_bot"]["config"])
    assert (
        shipped.source == "api" and shipped.lookback_days == 7 and entries["discord_bot"]["enabled"] is False
    )
    doc = (PROJECT_ROOT / "docs" / "discord.md").read_text()
    block = next(b for b in re.findall(r"```yaml\n(.*?)```", doc, re.S) if "source: api" in b)
    documented = parse_config(yaml.safe_load(block)["collectors"]["discord_bot"]["config"])
    assert documented.guilds[0].guild_id == "123456789012345678" and documented.guilds[0].threads


def test_config_names_the_field_it_refuses():
    with pytest.raises(ConfigError, match="guilds must list"):
        parse_config({"source": "api"})
    with pytest.raises(ConfigError, match="export_dir belongs to source: files"):
        parse_config({"source": "api", "guilds": [{"guild_id": "1"}], "export_dir": "x"})
    with pytest.raises(ConfigError, match=r"config\.guilds\.0\.channels"):
        parse_config({"source": "api", "guilds": [{"guild_id": 1, "channels": ["general"]}]})
    assert parse_config({"source": "api", "guilds": [{"guild_id": 12, "channels": [34]}]}).guilds[
        0
    ].channels == ["34"]
