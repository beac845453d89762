"""An activity digest: a legacy console command that runs in a DAG through ``CommandCollector``.

A real use of the supported API that the trackers themselves do not need (docs/core-api.md,
"A console command in a DAG"):

* :class:`ActivityDigest` is a legacy collector (:class:`~core.collectors.CollectorBase`: its
  ``run()`` does everything). It reads what the trackers stored, turns every Discord message,
  GitHub issue or pull request and GitHub commit into that tracker's
  :class:`~core.protocols.ActivityRecord` implementation (``protocol_impl``), checks each
  with :func:`~core.protocols.require_activity_record` and upserts it into
  ``activity_digest`` (one source-neutral row per activity; reruns update in place).
* :class:`DigestCommand` is its console command (:class:`~core.collectors.BaseCollectorCommand`):
  ``python -m tests.fakes.activity_digest [--db URL] [--dry-run] [--source discord|github ...]``.
* :class:`ActivityDigestCollector` is what ``collectors.yaml`` names: an
  :class:`~core.collectors.AbstractCollector` whose ``collect()`` runs that console command
  as a child process through :class:`~core.collectors.CommandCollector` (``json_result``:
  the command's counts become the step's counts). The store URL reaches the child in
  ``$COLLECTOR_DB_URL``, never on its command line.

Config of the collector: ``sources`` (``discord``, ``github``; default both),
``timeout_seconds`` (default 600).
"""

from __future__ import annotations

import itertools
import os
import sys
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, DateTime, MetaData, String, Table, Text, inspect, select
from sqlalchemy.engine import make_url

from core.cli.store_url import resolve_store_url
from core.collectors import (
    AbstractCollector,
    BaseCollectorCommand,
    CollectorBase,
    CollectorRunnable,
    CommandCollector,
)
from core.errors import ConfigError
from core.protocols import ActivityRecord, RunResult, TrackerResult, require_activity_record
from core.store import Migration, Store, create_tables, upsert_rows
from discord_activity_tracker.protocol_impl import DiscordMessageActivity
from discord_activity_tracker.tables import discord_messages
from github_activity_tracker.protocol_impl import GitHubActivity
from github_activity_tracker.tables import github_commits, github_issues, github_repositories

__all__ = [
    "DIGEST_MIGRATIONS",
    "ActivityDigest",
    "ActivityDigestCollector",
    "DigestCommand",
    "activity_digest",
    "discord_activities",
    "github_activities",
]

SOURCES = ("discord", "github")
BATCH = 500
PROJECT_ROOT = Path(__file__).resolve().parents[2]

meta = MetaData()
activity_digest = Table(
    "activity_digest",
    meta,
    Column("source_system", String(40), primary_key=True),
    Column("external_id", String(400), primary_key=True),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("activity_type", String(40), nullable=False),
    Column("actor_external_id", String(200), nullable=True),
    Column("source_url", Text, nullable=True),
    Column("summary", Text, nullable=False),
)
DIGEST_MIGRATIONS = (Migration(1, "activity digest", create_tables(activity_digest)),)
COMPONENT = "activity_digest"


# --------------------------------------------------------------------------- reading the trackers' rows


def discord_activities(conn: Connection) -> Iterator[ActivityRecord]:
    if not inspect(conn).has_table(discord_messages.name):
        return
    query = select(
        discord_messages.c.message_id,
        discord_messages.c.channel_id,
        discord_messages.c.guild_id,
        discord_messages.c.author_id,
        discord_messages.c.content,
        discord_messages.c.created_at,
        discord_messages.c.reply_to_message_id,
    ).order_by(discord_messages.c.message_id)
    for row in conn.execute(query):
        yield require_activity_record(DiscordMessageActivity.from_message_row(row._asdict()))


def github_activities(conn: Connection) -> Iterator[ActivityRecord]:
    tables = inspect(conn)
    if tables.has_table(github_issues.name):
        issues = select(github_issues).order_by(github_issues.c.repo_id, github_issues.c.number)
        for row in conn.execute(issues):
            yield require_activity_record(GitHubActivity.from_issue_row(row._asdict()))
    if tables.has_table(github_commits.name) and tables.has_table(github_repositories.name):
        commits = (
            select(github_commits, github_repositories.c.full_name)
            .join(github_repositories, github_repositories.c.repo_id == github_commits.c.repo_id)
            .order_by(github_commits.c.repo_id, github_commits.c.sha)
        )
        for row in conn.execute(commits):
            values = row._asdict()
            yield require_activity_record(GitHubActivity.from_commit_row(values, repo=values["full_name"]))


READERS = {"discord": discord_activities, "github": github_activities}


def _row(record: ActivityRecord) -> dict[str, Any]:
    return {
        "source_system": record.source_system,
        "external_id": record.external_id,
        "occurred_at": record.occurred_at,
        "activity_type": record.activity_type,
        "actor_external_id": record.actor_external_id,
        "source_url": record.source_url,
        "summary": record.summary,
    }


def _batches(records: Iterable[ActivityRecord]) -> Iterator[list[ActivityRecord]]:
    iterator = iter(records)
    while batch := list(itertools.islice(iterator, BATCH)):
        yield batch


# --------------------------------------------------------------------------- the legacy collector

with warnings.catch_warnings():
    # Legacy on purpose (that is what this example shows): do not warn every import.
    warnings.simplefilter("ignore", DeprecationWarning)

    class ActivityDigest(CollectorBase):
        """Rebuild ``activity_digest`` from the stored rows of the chosen sources."""

        name = COMPONENT

        def __init__(self, store_url: str | None, sources: Iterable[str] = SOURCES, dry_run: bool = False):
            self.store_url = store_url
            self.sources = tuple(sources)
            self.dry_run = dry_run

        def secrets(self) -> list[str]:
            return _url_secrets(self.store_url)

        def run(self) -> TrackerResult:
            try:
                return self._digest()
            except BaseException as exc:
                self.handle_error(exc, "collect")
                raise

        def _digest(self) -> TrackerResult:
            store = Store.from_url(self.store_url)
            try:
                if not self.dry_run:
                    store.migrate(COMPONENT, DIGEST_MIGRATIONS)
                counts: dict[str, int] = {}
                with store.engine.connect() as reader:
                    for source in self.sources:
                        counts[source] = 0
                        for batch in _batches(READERS[source](reader)):
                            counts[source] += len(batch)
                            if not self.dry_run:
                                with store.transaction() as conn:
                                    upsert_rows(
                                        conn,
                                        activity_digest,
                                        [_row(r) for r in batch],
                                        ["source_system", "external_id"],
                                    )
                counts["activities"] = sum(counts.values())
                self.last_result = RunResult(success=True, counts=counts, step="collect")
                return self.last_result
            finally:
                store.dispose()


def _url_secrets(url: str | None) -> list[str]:
    if not url:
        return []
    password = make_url(url).password
    return [str(password)] if password else []


class DigestCommand(BaseCollectorCommand):
    help = "Rebuild the activity digest from the trackers' stored rows"

    def add_arguments(self, parser: Any) -> None:
        super().add_arguments(parser)
        parser.add_argument("--db", default=None, help="store URL (default: $COLLECTOR_DB_URL or SQLite)")
        parser.add_argument("--source", action="append", choices=SOURCES, help="repeatable; default: all")
        parser.add_argument("--dry-run", action="store_true", help="count, write nothing")

    def get_collector(self, **options: Any) -> CollectorRunnable:
        return ActivityDigest(
            resolve_store_url(options.get("db")),
            sources=options.get("source") or SOURCES,
            dry_run=bool(options.get("dry_run")),
        )


# --------------------------------------------------------------------------- the same command in a DAG


class ActivityDigestCollector(AbstractCollector):
    """``collect`` runs ``python -m tests.fakes.activity_digest`` through ``CommandCollector``."""

    name = COMPONENT
    migrations = DIGEST_MIGRATIONS

    def validate_config(self) -> None:
        sources = self.raw_config.get("sources", list(SOURCES))
        if not isinstance(sources, list) or not sources or not set(sources) <= set(SOURCES):
            raise ConfigError(f"{self.name}: config.sources must be a non-empty list of {', '.join(SOURCES)}")
        timeout = self.raw_config.get("timeout_seconds", 600)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"{self.name}: config.timeout_seconds must be a positive number")

    def _store_url(self) -> str:
        return self.context.store_url or self.store.engine.url.render_as_string(hide_password=False)

    def secrets(self) -> list[str]:
        return _url_secrets(self._store_url())

    def command(self) -> CommandCollector:
        argv = [sys.executable, "-m", "tests.fakes.activity_digest", "--skip-sync"]
        for source in self.raw_config.get("sources", SOURCES):
            argv += ["--source", source]
        if self.context.dry_run:
            argv.append("--dry-run")
        paths = [str(PROJECT_ROOT / "plugins"), str(PROJECT_ROOT), os.environ.get("PYTHONPATH", "")]
        env = {
            **os.environ,
            "COLLECTOR_DB_URL": self._store_url(),
            "PYTHONPATH": os.pathsep.join(p for p in paths if p),
        }
        return CommandCollector(
            argv,
            name=self.name,
            timeout=float(self.raw_config.get("timeout_seconds", 600)),
            env=env,
            secrets=self.secrets(),
            json_result=True,
        )

    def collect(self) -> TrackerResult:
        return self.command().run()


def main(argv: list[str] | None = None) -> int:
    return DigestCommand().main(argv)


if __name__ == "__main__":
    sys.exit(main())
