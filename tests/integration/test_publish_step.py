"""The publish step end to end: rows collected by the real trackers (GitHub against the fake
GitHub API, Discord from the sample exports) rendered, planned and committed to the Git Data
fake through the real client; the ledger on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, delete, select

from core.collectors import RunContext
from core.errors import CollectorFailureCategory, DataValidationError, classify_failure
from core.operations.github.gitdata import GitDataWriter, git_blob_sha
from core.publishing.connection import publish_client, publish_token
from core.publishing.ledger import load_horizon, publish_files
from core.publishing.settings import PublishSettings
from core.publishing.source import PublishedFile, RenderFailure, load_source
from core.publishing.step import publish_rows
from core.store import Store
from discord_activity_tracker.collector import DiscordCollector
from discord_activity_tracker.tables import discord_channels, discord_messages
from tests.conftest import PROJECT_ROOT
from tests.fakes.gitdata_server import FakeGitDataServer
from tests.fakes.github_run import collect_widgets
from tests.fakes.github_server import FakeClock, FakeGitHubServer, build_dataset
from tests.fakes.wire import Fault

PUBLISH_TOKEN = "github_pat_" + "P" * 30
SCRAPE_TOKEN = "ghp_" + "S" * 36
TARGET = "octo/context"
SAMPLES = PROJECT_ROOT / "include" / "sample_data" / "discord"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def target(clock: FakeClock) -> Iterator[FakeGitDataServer]:
    with FakeGitDataServer(TARGET, token=PUBLISH_TOKEN, clock=clock.time) as fake:
        yield fake
        assert fake.internal_errors == []


@pytest.fixture
def github(clock: FakeClock) -> Iterator[FakeGitHubServer]:
    srv = FakeGitHubServer(build_dataset("small"), tokens={SCRAPE_TOKEN: 5000}, clock=clock.time)
    srv.start()
    yield srv
    srv.stop()


def collect_github(server: FakeGitHubServer, clock: FakeClock, store_url: str, tmp_path: Path) -> None:
    assert collect_widgets(server, clock, store_url, tmp_path, token=SCRAPE_TOKEN).success


def settings(renderer: str, **overrides: Any) -> PublishSettings:
    return PublishSettings.model_validate(
        {"target": TARGET, "renderer": renderer, "write_interval_seconds": 0, **overrides}
    )


GITHUB = "github_activity_tracker.publish:GitHubIssuesPublisher"
DISCORD = "discord_activity_tracker.publish:DiscordDaysPublisher"


def publish(
    store_url: str,
    target: FakeGitDataServer,
    clock: FakeClock,
    publish_settings: PublishSettings,
    **kwargs: Any,
):
    client = publish_client(
        publish_settings,
        {"host": target.root, "password": PUBLISH_TOKEN},
        clock=clock.time,
        sleep=clock.sleep,
        rng=lambda: 0.0,
    )
    writer = GitDataWriter(
        client, publish_settings.target, publish_settings.branch, write_interval=0, sleep=clock.sleep
    )
    store = Store.from_url(store_url)
    try:
        return publish_rows(
            store,
            load_source(publish_settings),
            publish_settings,
            writer,
            collector="test",
            run_id="r1",
            **kwargs,
        )
    finally:
        store.dispose()


def ledger(store_url: str) -> dict[str, tuple[str, str]]:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                select(publish_files.c.path, publish_files.c.source_key, publish_files.c.blob_sha)
            )
            return {str(p): (str(k), str(s)) for p, k, s in rows}
    finally:
        store.dispose()


def horizon(store_url: str, s: PublishSettings) -> int | None:
    store = Store.from_url(store_url)
    try:
        with store.engine.connect() as conn:
            return load_horizon(conn, s.ledger_target, "test")
    finally:
        store.dispose()


def writes(target: FakeGitDataServer) -> int:
    return target.log.count(where=lambda e: e.method != "GET")


# --------------------------------------------------------------------------- GitHub issues/PRs


def test_github_issues_first_publish_then_nothing_then_a_retitle(
    store_url: str, github, target, clock, tmp_path
) -> None:
    collect_github(github, clock, store_url, tmp_path)
    s = settings(GITHUB, folder_prefix="boost.{name}")
    first = publish(store_url, target, clock, s)
    files = {p: b for p, b in target.files().items() if p.startswith("boost.widgets/")}
    assert len(files) == 6 and first.counts["commits"] == 1
    assert all(
        re.fullmatch(r"boost\.widgets/(issues|pull_requests)/\d{4}/\d{4}-\d{2}/#\d+ - .+\.md", p)
        for p in files
    )
    crash = next(p for p in files if "/#1 - " in p)
    assert crash.startswith("boost.widgets/issues/") and crash.endswith("#1 - Crash when resizing.md")
    text = files[crash].decode()
    assert text.startswith('---\nrepo: "acme/widgets"\nnumber: 1\n') and "I can reproduce this." in text
    assert any(p.startswith("boost.widgets/pull_requests/") and "#4 - Fix resize crash" in p for p in files)
    assert ledger(store_url) == {
        p: (f"github:acme/widgets#{p.split('#')[1].split(' ')[0]}", git_blob_sha(b)) for p, b in files.items()
    }
    assert target.commit_message(target.head()) == "chore(export): 6 files, 0 deletions (test r1)"

    target.log.clear()
    again = publish(store_url, target, clock, s)
    assert writes(target) == 0 and again.counts["commits"] == 0 and again.counts["files_rendered"] == 0
    refreshed = publish(store_url, target, clock, s, full_refresh=True)  # every item rendered again
    assert refreshed.counts["files_rendered"] == 6 and refreshed.counts["files_unchanged"] == 6
    assert writes(target) == 0

    commits = target.commit_count()
    github.dataset.edit_issue("acme/widgets", 1, title="Crash when resizing: window/dialog")
    collect_github(github, clock, store_url, tmp_path)
    retitled = publish(store_url, target, clock, s)
    assert target.commit_count() == commits + 1
    assert retitled.counts["files_written"] == 1 and retitled.counts["files_deleted"] == 1
    after = target.files()
    new = crash.replace("Crash when resizing.md", "Crash when resizing window dialog.md")
    assert crash not in after and new in after
    assert [p for p, (k, _) in ledger(store_url).items() if k == "github:acme/widgets#1"] == [new]


def test_dry_run_plans_without_writing_or_recording(store_url: str, github, target, clock, tmp_path) -> None:
    collect_github(github, clock, store_url, tmp_path)
    result = publish(store_url, target, clock, settings(GITHUB), dry_run=True)
    assert result.counts["dry_run"] == 1 and result.counts["files_written"] == 6
    assert writes(target) == 0 and ledger(store_url) == {}


def test_first_adoption_matches_files_already_there(store_url: str, github, target, clock, tmp_path) -> None:
    collect_github(github, clock, store_url, tmp_path)
    s = settings(GITHUB, folder_prefix="boost")
    dry = publish(store_url, target, clock, s, dry_run=True)
    assert dry.counts["files_written"] == 6
    # what the repository held before: the export of an older run (one issue since retitled) and a foreign file
    rendered = {}
    source = load_source(s)
    store = Store.from_url(store_url)
    with store.engine.connect() as conn:
        for item in source.render(conn, None):
            assert isinstance(item, PublishedFile)
            rendered[item.path] = item.content
    store.dispose()
    crash = next(p for p in rendered if "/#1 - " in p)
    stale = crash.rsplit("/", 1)[0] + "/#1 - Crash on resize (old title).md"
    seeded = {p: b for p, b in rendered.items() if p != crash} | {
        stale: b"old\n",
        "boost/notes.md": b"keep\n",
    }
    seeded["boost/issues/2024/2024-01/#19 - Not ours either.md"] = b"keep\n"
    target.seed(seeded)
    target.log.clear()
    result = publish(store_url, target, clock, s)
    assert result.counts["files_written"] == 1 and result.counts["files_unchanged"] == 5
    assert result.counts["files_deleted"] == 1
    after = target.files()
    assert stale not in after and after[crash] == rendered[crash]
    assert (
        after["boost/notes.md"] == b"keep\n" and "boost/issues/2024/2024-01/#19 - Not ours either.md" in after
    )
    assert len(ledger(store_url)) == 6


def test_crash_between_commit_and_ref_update_converges(
    store_url: str, github, target, clock, tmp_path
) -> None:
    collect_github(github, clock, store_url, tmp_path)
    s = settings(GITHUB)
    head = target.head()
    target.inject(Fault(disconnect="close", method="PATCH"))
    with pytest.raises(Exception) as caught:
        publish(store_url, target, clock, s)
    assert classify_failure(caught.value) is CollectorFailureCategory.NETWORK
    assert target.head() == head and ledger(store_url) == {}
    result = publish(store_url, target, clock, s)
    assert result.counts["commits"] == 1 and target.parents(target.head()) == [head]
    assert len(ledger(store_url)) == 6 == len([p for p in target.files() if p.endswith(".md") and "#" in p])


def test_concurrent_push_during_the_step(store_url: str, github, target, clock, tmp_path) -> None:
    collect_github(github, clock, store_url, tmp_path)
    target.concurrent_push({"README.md": b"# edited by a person\n"}, before="PATCH")
    result = publish(store_url, target, clock, settings(GITHUB))
    assert result.counts["attempts"] == 2 and result.counts["commits"] == 1
    assert target.files()["README.md"] == b"# edited by a person\n"
    assert len(ledger(store_url)) == 6


# --------------------------------------------------------------------------- Discord channel-days


def collect_discord(store_url: str) -> None:
    collector = DiscordCollector({"export_dir": str(SAMPLES)}, context=RunContext(store_url=store_url))
    collector.run()
    collector.store.dispose()


def test_discord_days_layout_front_matter_anchors_and_deletion(store_url: str, target, clock) -> None:
    collect_discord(store_url)
    s = settings(DISCORD, folder_prefix="discord")
    publish(store_url, target, clock, s)
    files = {p: b.decode() for p, b in target.files().items() if p.startswith("discord/")}
    assert files
    assert all(re.fullmatch(r"discord/(\d{4})/\1-\d{2}/\1-\d{2}-\d{2}/[^/]+\.md", p) for p in files)
    sample_path, sample = next(iter(sorted(files.items())))
    assert (
        sample.startswith("---\nguild: ") and "\nfirst_message: " in sample and "\nlast_message: " in sample
    )
    day = sample_path.split("/")[3]
    assert f'date: "{day}"' in sample
    replies = [t for t in files.values() if "> replying to [" in t]
    assert replies, "the samples hold replies"
    in_file = 0
    for text in replies:
        for line in (x for x in text.splitlines() if x.startswith("> replying to [")):
            local = re.fullmatch(r"> replying to \[[^\]]+\]\(#m-(\d+)\)", line)
            remote = re.fullmatch(
                r"> replying to \[a message\]\(https://discord\.com/channels/\d+/\d+/\d+\)", line
            )
            assert local or remote, line
            if local:
                in_file += 1
                assert f'<a id="m-{local.group(1)}"></a>' in text
    assert in_file > 0
    # same rows, same bytes
    target.log.clear()
    publish(store_url, target, clock, s)
    assert writes(target) == 0

    # every message of one channel-day deleted: its file goes, nothing else changes
    victim = sample_path
    channel_id = next(k for p, (k, _) in ledger(store_url).items() if p == victim).split(":")[1]
    store = Store.from_url(store_url)
    with store.transaction() as conn:
        ids = [
            str(r["message_id"])
            for r in conn.execute(
                select(discord_messages.c.message_id, discord_messages.c.created_at).where(
                    discord_messages.c.channel_id == channel_id
                )
            ).mappings()
            if r["created_at"].strftime("%Y-%m-%d") == day
        ]
        conn.execute(delete(discord_messages).where(discord_messages.c.message_id.in_(ids)))
    store.dispose()
    result = publish(store_url, target, clock, s)
    assert result.counts["files_deleted"] == 1 and result.counts["files_written"] == 0
    assert victim not in target.files() and victim not in ledger(store_url)


# --------------------------------------------------------------------------- the step's own rules


class ScriptedSource:
    """A PublishSource whose items a test sets (the step, not a tracker, is under test here)."""

    name = "scripted"

    def __init__(self, settings: PublishSettings) -> None:
        self.items: list[PublishedFile | RenderFailure] = []
        self.live: set[str] = set()

    def render(self, conn: Connection, changed_since: int | None) -> Iterable[PublishedFile | RenderFailure]:
        return list(self.items)

    def live_keys(self, conn: Connection) -> set[str]:
        return set(self.live)


def run_scripted(
    store_url: str, target, clock, source: ScriptedSource, s: PublishSettings, collector: str = "test"
):
    client = publish_client(
        s, {"host": target.root, "password": PUBLISH_TOKEN}, clock=clock.time, sleep=clock.sleep
    )
    writer = GitDataWriter(client, s.target, s.branch, write_interval=0)
    store = Store.from_url(store_url)
    try:
        return publish_rows(store, source, s, writer, collector=collector)
    finally:
        store.dispose()


def test_bad_items_never_stop_the_good_ones(store_url: str, target, clock) -> None:
    s = settings("tests.integration.test_publish_step:ScriptedSource", max_path_bytes=60)
    source = ScriptedSource(s)
    source.items = [
        PublishedFile("k:1", "a/one.md", b"one\n"),
        RenderFailure("k:2", "title is not text"),
        PublishedFile("k:3", "a/" + "x" * 80 + ".md", b"long\n"),
        PublishedFile("k:4", "a/one.md", b"collides\n"),
        PublishedFile("k:5", "a/../escape.md", b"no\n"),
    ]
    source.live = {"k:1", "k:2", "k:3", "k:4", "k:5"}
    with pytest.raises(DataValidationError) as caught:
        run_scripted(store_url, target, clock, source, s)
    message = str(caught.value)
    assert "4 item(s)" in message and all(k in message for k in ("k:2", "k:3", "k:4", "k:5"))
    assert getattr(caught.value, "committed_counts", {})["files_written"] == 1
    assert target.files()["a/one.md"] == b"one\n" and list(ledger(store_url)) == ["a/one.md"]
    assert horizon(store_url, s) is None  # the failed items are rendered again next run
    source.items = [PublishedFile("k:1", "a/one.md", b"one\n"), PublishedFile("k:2", "a/two.md", b"two\n")]
    run_scripted(store_url, target, clock, source, s)
    assert horizon(store_url, s) is not None and target.files()["a/two.md"] == b"two\n"


def test_a_deleted_source_removes_its_file_and_a_stale_ledger_delete_is_harmless(
    store_url: str, target, clock
) -> None:
    s = settings("tests.integration.test_publish_step:ScriptedSource")
    source = ScriptedSource(s)
    source.items = [PublishedFile("k:1", "one.md", b"1\n"), PublishedFile("k:2", "two.md", b"2\n")]
    source.live = {"k:1", "k:2"}
    run_scripted(store_url, target, clock, source, s)
    target.concurrent_push({"two.md": None})  # someone removed it by hand meanwhile
    source.items, source.live = [], {"k:1"}
    result = run_scripted(store_url, target, clock, source, s)
    assert result.counts["commits"] == 0 and result.counts["deletes_skipped"] == 1
    assert list(ledger(store_url)) == ["one.md"]
    source.live = set()
    result = run_scripted(store_url, target, clock, source, s)
    assert result.counts["files_deleted"] == 1 and "one.md" not in target.files() and ledger(store_url) == {}


def test_the_write_token_comes_only_from_the_publish_connection() -> None:
    from core.errors import ConfigError

    s = settings(GITHUB)
    with pytest.raises(ConfigError, match="'github_publish' is not defined"):
        publish_token(None, s.connection_id)
    with pytest.raises(ConfigError, match="no token"):
        publish_token({"host": "https://api.github.com", "login": "x"}, s.connection_id)
    assert publish_token({"password": "t"}, s.connection_id) == ("https://api.github.com", "t")
    enterprise = "https://ghe.example/api/v3"
    assert publish_token({"host": enterprise, "password": "t"}, s.connection_id)[0] == enterprise
    assert (
        publish_token({"password": "t", "extra": {"base_url": enterprise}}, s.connection_id)[0] == enterprise
    )


def test_discord_channels_sharing_a_name_get_their_id(store_url: str, target, clock) -> None:
    collect_discord(store_url)
    store = Store.from_url(store_url)
    with store.transaction() as conn:
        channel = dict(conn.execute(select(discord_channels).limit(1)).mappings().one())
        message = dict(
            conn.execute(
                select(discord_messages)
                .where(discord_messages.c.channel_id == channel["channel_id"])
                .limit(1)
            )
            .mappings()
            .one()
        )
        twin = str(int(channel["channel_id"]) + 1)
        conn.execute(discord_channels.insert().values({**channel, "channel_id": twin}))
        message.pop("change_seq", None)
        twin_message = {**message, "message_id": str(int(message["message_id"]) + 7), "channel_id": twin}
        conn.execute(discord_messages.insert().values(twin_message))
    store.dispose()
    publish(store_url, target, clock, settings(DISCORD))
    names = {p.rsplit("/", 1)[1] for p in target.files() if p.count("/") == 3}
    assert (
        f"{channel['name']}-{twin}.md" in names and f"{channel['name']}-{channel['channel_id']}.md" in names
    )
    assert f"{channel['name']}.md" not in names


def test_two_entries_share_a_target_without_touching_each_others_files(store_url: str, target, clock) -> None:
    s = settings("tests.integration.test_publish_step:ScriptedSource")
    first, second = ScriptedSource(s), ScriptedSource(s)
    first.items, first.live = [PublishedFile("k:1", "a/one.md", b"a1\n")], {"k:1"}
    second.items, second.live = [PublishedFile("k:1", "b/one.md", b"b1\n")], {"k:1"}
    run_scripted(store_url, target, clock, first, s, collector="entry_a")
    run_scripted(store_url, target, clock, second, s, collector="entry_b")
    second.items, second.live = [], set()  # entry b's item is gone: only b's file goes
    result = run_scripted(store_url, target, clock, second, s, collector="entry_b")
    assert result.counts["files_deleted"] == 1
    files = target.files()
    assert files["a/one.md"] == b"a1\n" and "b/one.md" not in files
    assert list(ledger(store_url)) == ["a/one.md"]
