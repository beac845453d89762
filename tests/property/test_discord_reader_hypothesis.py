"""Generated exports thrown at the Discord reader and collector (hypothesis).

Valid exports across the range DiscordChatExporter versions write (optional fields present,
null, empty or missing; Unicode and custom emoji; replies; mentions; bots; any text but NUL)
are stored exactly. An export broken in one message (bad id, bad timestamp, NUL in a stored
name, missing content, nesting past the limit) is rejected naming the file and the message's
JSON path, nothing from it is written, and a good file next to it still lands. Memory bounds
are measured in tests/integration/test_discord_real_exports.py.
"""

from __future__ import annotations

import datetime as dt
import json
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.collectors import RunContext
from core.errors import DataValidationError
from core.store import Store
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.export_reader import MAX_DEPTH
from discord_activity_tracker.tables import discord_messages

MISSING = object()
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

texts = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"), max_size=40)
snowflakes = st.integers(min_value=1, max_value=2**63).map(str)
zones = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=2)), dt.timezone(-dt.timedelta(hours=5, minutes=30))]
)


def _optional(strategy: st.SearchStrategy[Any], *, empty: Any = MISSING) -> st.SearchStrategy[Any]:
    """A value, null, or the key left out (and ``empty`` when the exporter wrote that instead)."""
    choices = [strategy, st.none(), st.just(MISSING)]
    if empty is not MISSING:
        choices.append(st.just(empty))
    return st.one_of(*choices)


def _drop_missing(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v is not MISSING}


@st.composite
def users(draw: st.DrawFn) -> dict[str, Any]:
    return _drop_missing(
        {
            "id": draw(snowflakes),
            "name": draw(texts),
            "discriminator": draw(_optional(st.sampled_from(["0000", "0001", "4821"]))),
            "nickname": draw(_optional(texts)),
            "color": draw(_optional(st.sampled_from(["#1ABC9C", "#FFFFFF"]))),
            "isBot": draw(st.one_of(st.booleans(), st.just(MISSING))),
            "roles": draw(
                st.one_of(
                    st.just(MISSING),
                    st.lists(st.fixed_dictionaries({"id": snowflakes, "name": texts}), max_size=2),
                )
            ),
            "avatarUrl": draw(_optional(st.just("https://cdn.example/a.png"))),
        }
    )


emoji = st.fixed_dictionaries(
    {"id": st.one_of(st.none(), st.just(""), snowflakes), "name": st.one_of(texts, st.none())},
    optional={"code": texts, "isAnimated": st.booleans(), "imageUrl": st.just("https://e.example/x.svg")},
)
reactions = st.lists(
    st.fixed_dictionaries(
        {"emoji": emoji, "count": st.integers(0, 50)}, optional={"users": st.lists(users(), max_size=1)}
    ),
    max_size=3,
)


@st.composite
def exports(draw: st.DrawFn, *, first_id: int) -> dict[str, Any]:
    people = draw(st.lists(users(), min_size=1, max_size=4, unique_by=lambda u: u["id"]))
    count = draw(st.integers(0, 12))
    start = dt.datetime(2019, 1, 1, tzinfo=dt.UTC) + dt.timedelta(days=draw(st.integers(0, 2000)))
    messages = []
    for index in range(count):
        moment = start + dt.timedelta(minutes=index)
        stamp = moment.astimezone(draw(zones)).isoformat(timespec="milliseconds")
        stamp = stamp.replace("+00:00", "Z") if draw(st.booleans()) else stamp
        earlier = [m["id"] for m in messages]
        reference = draw(
            st.one_of(
                st.just(MISSING),
                st.none(),
                st.fixed_dictionaries(
                    {
                        "messageId": st.sampled_from([*earlier, "", None])
                        if earlier
                        else st.sampled_from(["", None])
                    },
                    optional={
                        "channelId": st.one_of(snowflakes, st.just("")),
                        "guildId": st.one_of(snowflakes, st.none()),
                    },
                ),
            )
        )
        messages.append(
            _drop_missing(
                {
                    "id": str(first_id + index),
                    "type": draw(
                        st.sampled_from(
                            ["Default", "Reply", "ThreadCreated", "RecipientAdd", "ChannelPinnedMessage"]
                        )
                    ),
                    "timestamp": stamp,
                    "timestampEdited": draw(_optional(st.just((moment + dt.timedelta(hours=1)).isoformat()))),
                    "callEndedTimestamp": draw(_optional(st.just(moment.isoformat()))),
                    "isPinned": draw(st.one_of(st.booleans(), st.just(MISSING))),
                    "content": draw(texts),
                    "author": draw(st.sampled_from(people)),
                    "attachments": draw(
                        _optional(
                            st.lists(
                                st.fixed_dictionaries(
                                    {"id": snowflakes, "url": st.just("u"), "fileName": texts}
                                ),
                                max_size=1,
                            )
                        )
                    ),
                    "embeds": draw(
                        st.one_of(
                            st.just(MISSING),
                            st.lists(
                                st.dictionaries(texts, st.one_of(texts, st.integers(-(2**31), 2**31))),
                                max_size=2,
                            ),
                        )
                    ),
                    "stickers": draw(
                        st.one_of(
                            st.just(MISSING),
                            st.lists(st.fixed_dictionaries({"id": snowflakes, "name": texts}), max_size=1),
                        )
                    ),
                    "reactions": draw(st.one_of(st.just(MISSING), reactions)),
                    "mentions": draw(
                        st.one_of(
                            st.just(MISSING),
                            st.lists(st.sampled_from(people), max_size=2, unique_by=lambda u: u["id"]),
                        )
                    ),
                    "reference": reference,
                    "inlineEmojis": draw(st.one_of(st.just(MISSING), st.lists(emoji, max_size=2))),
                }
            )
        )
    guild_id = draw(st.one_of(st.just("0"), snowflakes))
    channel = _drop_missing(
        {
            "id": str(first_id - 1),
            "type": draw(
                st.sampled_from(["GuildTextChat", "GuildPublicThread", "DirectGroupTextChat", "GuildNews"])
            ),
            "categoryId": draw(_optional(snowflakes, empty="")),
            "category": draw(_optional(texts)),
            "name": draw(texts),
            "topic": draw(_optional(texts)),
        }
    )
    header: dict[str, Any] = {"guild": {"id": guild_id, "name": draw(texts)}, "channel": channel}
    if draw(st.booleans()):
        header["exportedAt"] = (start + dt.timedelta(days=30)).isoformat()
    return {
        **header,
        "dateRange": {"after": None, "before": None},
        "messages": messages,
        "messageCount": count,
    }


def _collect(folder: Path, batch_size: int) -> tuple[Store, Exception | None]:
    store_url = f"sqlite:///{folder / 'store.db'}"
    collector = DiscordCollector(
        {"export_dir": str(folder / "exports"), "batch_size": batch_size},
        context=RunContext(store_url=store_url),
    )
    try:
        collector.run()
        error = None
    except Exception as exc:
        error = exc
    return Store.from_url(store_url), error


def _write(folder: Path, name: str, data: dict[str, Any]) -> None:
    (folder / "exports").mkdir(exist_ok=True)
    (folder / "exports" / name).write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


def _stored(store: Store) -> dict[str, dict[str, Any]]:
    with store.engine.connect() as conn:
        return {row["message_id"]: dict(row) for row in conn.execute(select(discord_messages)).mappings()}


@SETTINGS
@given(export=exports(first_id=10**15), batch_size=st.integers(1, 5))
def test_valid_generated_exports_are_stored_exactly(export: dict[str, Any], batch_size: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, "export.json", export)
        store, error = _collect(folder, batch_size)
        assert error is None, error
        stored = _stored(store)
        store.dispose()
    assert set(stored) == {m["id"] for m in export["messages"]}
    for message in export["messages"]:
        row = stored[message["id"]]
        assert row["content"] == message["content"]
        assert row["author_id"] == message["author"]["id"] and row["author_name"] == message["author"]["name"]
        assert row["reactions"] == message.get("reactions", [])
        assert row["embeds"] == message.get("embeds", [])
        assert row["mentions"] == [u["id"] for u in message.get("mentions", [])]
        assert row["reply_to_message_id"] == ((message.get("reference") or {}).get("messageId") or None)
        assert row["guild_id"] == export["guild"]["id"] and row["channel_id"] == export["channel"]["id"]


def _deep(levels: int) -> Any:
    value: Any = 0
    for _ in range(levels):
        value = [value]
    return value


DAMAGE = {
    "id_not_digits": (lambda m: m.__setitem__("id", "12ab"), ".id"),
    "timestamp_number": (lambda m: m.__setitem__("timestamp", 1_700_000_000), ".timestamp"),
    "timestamp_no_offset": (lambda m: m.__setitem__("timestamp", "2024-01-01T00:00:00"), ".timestamp"),
    "nul_in_author": (lambda m: m.__setitem__("author", {**m["author"], "name": "a\x00b"}), ".author.name"),
    "content_missing": (lambda m: m.pop("content"), ".content"),
    "too_deep": (lambda m: m.__setitem__("embeds", [{"x": _deep(MAX_DEPTH)}]), ".embeds[0].x"),
}


@SETTINGS
@given(
    bad=exports(first_id=2 * 10**15).filter(lambda e: e["messages"]),
    good=exports(first_id=3 * 10**15),
    damage=st.sampled_from(sorted(DAMAGE)),
    which=st.integers(min_value=0),
    batch_size=st.integers(1, 5),
)
def test_an_export_broken_in_one_message_is_rejected_with_its_path_and_the_other_file_lands(
    bad: dict[str, Any], good: dict[str, Any], damage: str, which: int, batch_size: int
) -> None:
    index = which % len(bad["messages"])
    change, field = DAMAGE[damage]
    change(bad["messages"][index])
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        _write(folder, "bad.json", bad)
        _write(folder, "good.json", good)
        store, error = _collect(folder, batch_size)
        stored = _stored(store)
        store.dispose()
    assert isinstance(error, DataValidationError), error
    assert error.source is not None and error.source.endswith("bad.json") and "bad.json" in str(error)
    assert error.location is not None and error.location.startswith(f"messages[{index}]{field}"), (
        error.location
    )
    assert set(stored) == {m["id"] for m in good["messages"]}


def test_the_strategies_cover_the_format_range() -> None:
    """The generators produce what the issue lists: null and empty emoji ids, missing optional
    fields, group DMs (guild "0"), empty category ids (a sanity check of the strategies)."""
    seen: set[str] = set()

    @settings(max_examples=200, deadline=None)
    @given(export=exports(first_id=10**15))
    def look(export: dict[str, Any]) -> None:
        if export["guild"]["id"] == "0":
            seen.add("group_dm")
        if export["channel"].get("categoryId") == "":
            seen.add("empty_category_id")
        for message in export["messages"]:
            for reaction in message.get("reactions", []):
                seen.add(
                    f"emoji_id_{'null' if reaction['emoji']['id'] is None else 'empty' if reaction['emoji']['id'] == '' else 'custom'}"
                )
            if "nickname" not in message["author"]:
                seen.add("no_nickname")
            if "callEndedTimestamp" not in message:
                seen.add("no_call_ended")

    look()
    assert seen >= {
        "group_dm",
        "empty_category_id",
        "emoji_id_null",
        "emoji_id_empty",
        "emoji_id_custom",
        "no_nickname",
        "no_call_ended",
    }


pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.NonInteractiveExampleWarning")
