"""person_profiles (core.identity) on both dialects, through the helper and through both trackers.

The helper keeps the earliest first sighting, the latest last sighting and the names of the
newest sighting whatever order the sightings arrive in; it writes in the caller's transaction
(a rollback writes none). The Discord and GitHub trackers write their people there in the
transaction of the batch that mentions them.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect, select, text, update

from core.collectors import RunContext
from core.identity import (
    Profile,
    ProfileEmail,
    email_sha256,
    ensure_identity,
    person_profiles,
    profile_emails,
    upsert_profiles,
)
from core.store import Store
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.tables import discord_authors, discord_messages
from github_activity_tracker.tables import github_users
from tests.conftest import PROJECT_ROOT
from tests.fakes.github_run import collect_widgets
from tests.fakes.github_server import FakeClock, FakeGitHubServer, build_dataset

SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"
T0 = dt.datetime(2024, 3, 1, tzinfo=dt.UTC)


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    made = Store.from_url(store_url)
    ensure_identity(made)
    yield made
    made.dispose()


def profiles(store: Store, source: str | None = None) -> dict[str, dict[str, Any]]:
    query = select(person_profiles)
    if source is not None:
        query = query.where(person_profiles.c.source == source)
    with store.engine.connect() as conn:
        return {row["external_id"]: dict(row) for row in conn.execute(query).mappings()}


def at(hours: int) -> dt.datetime:
    return T0 + dt.timedelta(hours=hours)


def utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


SIGHTINGS = [
    Profile("42", at(1), username="old-login", display_name="Old Name", attrs={"v": 1}),
    Profile("42", at(5), username="new-login", display_name="New Name", is_bot=True, attrs={"v": 3}),
    Profile("42", at(3), username="mid-login", display_name="Mid Name", attrs={"v": 2}),
]


@pytest.mark.parametrize("order", list(itertools.permutations(range(3))))
def test_newest_sighting_names_win_whatever_the_order(store: Store, order: tuple[int, ...]) -> None:
    for index in order:  # one batch (transaction) per sighting
        with store.transaction() as conn:
            upsert_profiles(conn, "github", [SIGHTINGS[index]])
    with store.transaction() as conn:  # and all of them in one batch, reversed order
        upsert_profiles(conn, "slack", [SIGHTINGS[i] for i in reversed(order)])
    for source in ("github", "slack"):
        row = profiles(store, source)["42"]
        assert (row["username"], row["display_name"], row["is_bot"], row["attrs"]) == (
            "new-login",
            "New Name",
            True,
            {"v": 3},
        )
        assert (utc(row["first_seen_at"]), utc(row["last_seen_at"])) == (at(1), at(5))


def test_a_rollback_writes_no_profile(store: Store) -> None:
    with pytest.raises(RuntimeError), store.transaction() as conn:
        upsert_profiles(conn, "discord", [Profile("1", at(0), username="ann")])
        raise RuntimeError("the batch failed after the profiles")
    assert profiles(store) == {}


def test_unchanged_rereads_keep_updated_at_and_person_id_is_never_touched(store: Store) -> None:
    first = dt.datetime(2024, 4, 1, tzinfo=dt.UTC)
    with store.transaction() as conn:
        upsert_profiles(conn, "github", [SIGHTINGS[0], SIGHTINGS[1]], now=first)
        conn.execute(update(person_profiles).values(person_id="person-1"))
    with store.transaction() as conn:  # same sighting again, and an older one: nothing changes
        upsert_profiles(conn, "github", [SIGHTINGS[1], SIGHTINGS[2]], now=first + dt.timedelta(days=1))
    row = profiles(store)["42"]
    assert utc(row["updated_at"]) == first
    assert row["person_id"] == "person-1"
    with store.transaction() as conn:  # an earlier sighting moves first_seen_at only
        upsert_profiles(
            conn, "github", [Profile("42", at(0), username="older")], now=first + dt.timedelta(days=2)
        )
    row = profiles(store)["42"]
    assert utc(row["updated_at"]) == first + dt.timedelta(days=2)
    assert (row["username"], utc(row["first_seen_at"]), utc(row["last_seen_at"]), row["person_id"]) == (
        "new-login",
        at(0),
        at(5),
        "person-1",
    )


def test_emails_are_hashed_and_kept_plain_only_on_request(store: Store) -> None:
    with store.transaction() as conn:
        upsert_profiles(
            conn,
            "slack",
            [
                Profile("T1/U1", at(1), emails=[ProfileEmail(" Ann@Example.org ", evidence="slack_profile")]),
                Profile("T1/U1", at(2), emails=[ProfileEmail("ann@example.org", verified=True)]),
                Profile("T1/U1", at(0), emails=[ProfileEmail("ann@work.example", evidence="mail_from")]),
            ],
        )
        upsert_profiles(
            conn,
            "mailinglist",
            [Profile("m1", at(1), emails=[ProfileEmail("Bob@x.org")])],
            store_plain_emails=True,
        )
    with store.transaction() as conn:  # a later, unverified sighting never un-verifies
        upsert_profiles(conn, "slack", [Profile("T1/U1", at(3), emails=[ProfileEmail("ANN@example.org")])])
    with store.engine.connect() as conn:
        rows = {
            (r["external_id"], r["email_sha256"]): dict(r)
            for r in conn.execute(select(profile_emails)).mappings()
        }
    ann = rows[("T1/U1", email_sha256("ann@example.org"))]
    assert ann["email"] is None and ann["verified"] is True and ann["evidence"] is None
    assert (utc(ann["first_seen_at"]), utc(ann["last_seen_at"])) == (at(1), at(3))
    assert ("T1/U1", email_sha256("ann@work.example")) in rows
    assert rows[("m1", email_sha256("bob@x.org"))]["email"] == "Bob@x.org"
    assert len(rows) == 3
    assert email_sha256(" Ann@Example.org ") == email_sha256("ann@example.org")


# --------------------------------------------------------------------------- Discord


def _discord(folder: Path, store_url: str, batch_size: int = 7) -> DiscordCollector:
    return DiscordCollector(
        {"export_dir": str(folder), "batch_size": batch_size}, context=RunContext(store_url=store_url)
    )


def _sample_users() -> dict[str, list[tuple[str, dict[str, Any]]]]:
    """Every user of the samples (authors and mentions) with each sighting (timestamp, user)."""
    seen: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for path in SAMPLES.glob("*.json"):
        for message in json.loads(path.read_text(encoding="utf-8"))["messages"]:
            for user in [message["author"], *(message.get("mentions") or [])]:
                seen.setdefault(user["id"], []).append((message["timestamp"], user))
    return seen


@pytest.mark.parametrize("batch_size", [1, 500])
def test_discord_authors_land_in_person_profiles(store: Store, store_url: str, batch_size: int) -> None:
    _discord(SAMPLES, store_url, batch_size).run()
    stored = profiles(store, "discord")
    users = _sample_users()
    assert set(stored) == set(users)
    with store.engine.connect() as conn:
        authors = {r.author_id: r for r in conn.execute(select(discord_authors))}
    for user_id, sightings in users.items():
        row = stored[user_id]
        assert row["username"] == authors[user_id].name
        assert row["display_name"] == (authors[user_id].nickname or authors[user_id].name)
        assert row["is_bot"] == authors[user_id].is_bot
        assert row["profile_url"] == f"https://discord.com/users/{user_id}"
        newest = max(dt.datetime.fromisoformat(stamp) for stamp, _ in sightings)
        assert utc(row["last_seen_at"]) == newest.astimezone(dt.UTC)
        if batch_size == 1:  # one message per batch: first_seen is exactly the first message
            oldest = min(dt.datetime.fromisoformat(stamp) for stamp, _ in sightings)
            assert utc(row["first_seen_at"]) == oldest.astimezone(dt.UTC)


def test_discord_profiles_roll_back_with_their_batch(store: Store, store_url: str, tmp_path: Path) -> None:
    """A batch that fails after its profiles are written (a trigger refuses one message)
    leaves no profile from that batch; the batches committed before keep theirs."""
    folder = tmp_path / "exports"
    folder.mkdir()
    sample = next(p for p in SAMPLES.glob("*.json"))
    shutil.copy(sample, folder / sample.name)
    messages = json.loads(sample.read_text(encoding="utf-8"))["messages"]
    collector = _discord(folder, store_url, batch_size=len(messages))
    collector.migrate()
    poison = messages[-1]["id"]
    with store.transaction() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(
                text(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ BEGIN "
                    f"IF NEW.message_id = '{poison}' THEN RAISE EXCEPTION 'refused'; END IF; RETURN NEW; END "
                    "$$ LANGUAGE plpgsql"
                )
            )
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON discord_messages FOR EACH ROW EXECUTE FUNCTION refuse()"
                )
            )
        else:
            conn.execute(
                text(
                    "CREATE TRIGGER refuse BEFORE INSERT ON discord_messages "
                    f"WHEN NEW.message_id = '{poison}' BEGIN SELECT RAISE(ABORT, 'refused'); END"
                )
            )
    with pytest.raises(Exception, match=r"refused|rejected"):
        collector.run()
    with store.engine.connect() as conn:
        assert conn.execute(select(discord_messages.c.message_id)).all() == []
    assert profiles(store) == {}


# --------------------------------------------------------------------------- GitHub


def test_github_users_land_in_person_profiles(store: Store, store_url: str, tmp_path: Path) -> None:
    clock = FakeClock()
    token = "ghp_" + "Q1w2E3r4T5y6U7i8O9p0" * 2
    with FakeGitHubServer(build_dataset("small"), tokens={token: 5000}, clock=clock.time) as server:
        collect_widgets(server, clock, store_url, tmp_path, token=token)
    with store.engine.connect() as conn:
        users = {str(r.user_id): r for r in conn.execute(select(github_users))}
    stored = profiles(store, "github")
    assert users and set(stored) == set(users)
    for user_id, user in users.items():
        row = stored[user_id]
        assert (row["username"], row["profile_url"]) == (user.login, user.html_url)
        assert row["is_bot"] == (user.type == "Bot")
        assert row["attrs"]["node_id"] == user.node_id


def test_concurrent_batches_lock_profiles_in_key_order(pg_url: str) -> None:
    """Batch A holds profile "a" and then needs "b"; batch B, started in between, brings "b"
    before "a". Written in key order, B waits for "a" holding nothing and both commit; in input
    order B would hold "b" while waiting for "a" and PostgreSQL would abort one as a deadlock."""
    store = Store.from_url(pg_url)
    ensure_identity(store)
    errors: list[BaseException] = []

    def batch_b() -> None:
        try:
            with store.transaction() as conn:
                upsert_profiles(conn, "github", [Profile("b", at(2)), Profile("a", at(2))])
        except BaseException as exc:
            errors.append(exc)

    with store.transaction() as conn:
        upsert_profiles(conn, "github", [Profile("a", at(1))])
        thread = threading.Thread(target=batch_b)
        thread.start()
        with store.engine.connect() as watcher:  # wait until B is blocked on a row lock
            for _ in range(600):
                waiting = watcher.execute(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock'"
                    )
                ).scalar_one()
                watcher.rollback()
                if waiting:
                    break
                threading.Event().wait(0.05)
            assert waiting, "batch B never blocked on batch A"
        upsert_profiles(conn, "github", [Profile("b", at(1))])
    thread.join(timeout=60)
    assert errors == []
    assert {k: utc(v["last_seen_at"]) for k, v in profiles(store).items()} == {"a": at(2), "b": at(2)}
    store.dispose()


def test_console_migrate_creates_the_identity_tables(store_url: str, tmp_path: Path) -> None:
    config = tmp_path / "collectors.yaml"
    config.write_text(
        f'collectors:\n  discord:\n    collector: discord_activity_tracker.collector:DiscordCollector\n    config: {{export_dir: "{SAMPLES}"}}\n'
    )
    result = subprocess.run(
        [sys.executable, "-m", "core.cli", "migrate", "--db", store_url, "--config-file", str(config)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "identity: applied [1]" in result.stdout
    store = Store.from_url(store_url)
    assert {"person_profiles", "profile_emails"} <= set(inspect(store.engine).get_table_names())
    store.dispose()
