"""``SlackCollector``: teams, channels, users, messages, thread replies, files (metadata).

Partitions are channels, ``<team>/<channel>``: with ``partitioned: true`` the collect step is
mapped, one task per channel with its own checkpoint. Per channel and run (``run_latest`` =
now, frozen at the start):

1. **Window.** ``oldest = min(checkpoint - lookback_days, now - thread_horizon_days)`` (the
   deep-sweep horizon when one is due), ``latest = run_latest``; first run: ``initial_start``.
   Never older than ``visibility_days`` (Free plans).
2. **History newest-first**, ``inclusive``. For each page: the thread roots whose
   ``latest_reply`` changed since their replies were last read (or whose last reply is within
   the look-back, for reply edits) get ``conversations.replies`` read in full, each thread in
   its own transaction (replies upserted, absent replies marked ``deleted_at``, the root's
   ``replies_synced_latest_reply`` set); then the page's rows, the deletions inside the span
   the page covers (top-level rows stored there that Slack no longer returns) and the
   checkpoint's ``pending`` (``latest`` = the page's oldest ts) in ONE transaction, so a crash
   resumes below the last committed page.
3. **Checkpoint** ``run_latest`` with the last page.

Bounded runs (``since``/``until``) read exactly that window and write rows only.
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, and_, or_, select, update

from core.collectors import AbstractCollector, RunContext
from core.errors import ConfigError, DataValidationError, PermissionDeniedError, sanitize_exception_message
from core.identity import ensure_identity, upsert_profiles
from core.protocols import Checkpoint, IncrementalState
from core.store import load_checkpoint, save_checkpoint, upsert_rows
from core.streams import Checkpointer
from core.vectors.documents import Document
from slack_activity_tracker.api_schemas import Channel, Message, Team, User, parse_items, parse_object
from slack_activity_tracker.client import ChannelUnavailable, SlackApi, SlackCallError
from slack_activity_tracker.config import (
    SlackConfig,
    SlackConnection,
    TeamConfig,
    parse_config,
    parse_partition,
    resolve_connection,
)
from slack_activity_tracker.export_import import WorkspaceExport
from slack_activity_tracker.preprocess import documents, removed_documents
from slack_activity_tracker.protocol_impl import SlackChannelState, SlackCollectResult
from slack_activity_tracker.rows import (
    channel_row,
    file_rows,
    message_row,
    team_row,
    ts_at,
    user_profile,
    user_row,
)
from slack_activity_tracker.tables import (
    SLACK_MIGRATIONS,
    slack_channels,
    slack_files,
    slack_message_files,
    slack_messages,
    slack_teams,
    slack_users,
)

__all__ = ["SlackCollector", "format_ts", "write_messages", "write_users"]

log = logging.getLogger(__name__)
DAY = 86_400.0
EXPORT_BATCH = 5000
_m = slack_messages


def format_ts(epoch: float) -> str:
    return f"{epoch:.6f}"


def write_messages(
    conn: Connection, team_id: str, channel_id: str, messages: Sequence[Message], now: dt.datetime
) -> int:
    """Upsert messages (and their file metadata); an unchanged message is not touched."""
    if not messages:
        return 0
    rows = [message_row(team_id, channel_id, m) for m in messages]
    # deleted_at too: a message marked deleted that Slack returns again is live again.
    upsert_rows(conn, _m, rows, ["team_id", "channel_id", "ts"], only_if_changed=["content_hash", "deleted_at"],
                constants={"updated_at": now})
    files: list[dict[str, Any]] = []
    links: list[dict[str, Any]] = []
    for message in messages:
        f, link = file_rows(team_id, channel_id, message, now)
        files += f
        links += link
    if files:
        upsert_rows(conn, slack_files, files, ["team_id", "file_id"])
        upsert_rows(conn, slack_message_files, links, ["team_id", "channel_id", "ts", "file_id"])
    return len(rows)


def write_users(
    conn: Connection, team_id: str, users: Sequence[User], seen_at: dt.datetime, *, store_emails: bool,
    domain: str | None,
) -> None:
    if not users:
        return
    upsert_rows(conn, slack_users, [user_row(team_id, u, store_emails=store_emails) for u in users],
                ["team_id", "user_id"], only_if_changed=["content_hash"], constants={"updated_at": seen_at})
    upsert_profiles(conn, "slack", [user_profile(team_id, u, seen_at, domain) for u in users],
                    store_plain_emails=store_emails)


class SlackCollector(AbstractCollector):
    """Collects Slack workspaces into the store; see the module docstring and docs/slack.md.

    ``clock``/``sleep`` drive "now", pacing and rate-limit waits (fakes run them fast).
    """

    name = "slack"
    vector_source = "slack"
    migrations = SLACK_MIGRATIONS

    settings: SlackConfig

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        context: RunContext | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        super().__init__(config, context=context)
        self._clock = clock or time.time
        self._sleep = sleep or time.sleep
        self._connections: dict[str, SlackConnection] = {}
        self._apis: dict[str, SlackApi] = {}
        self._prepared: set[str] = set()
        self._known_users: dict[str, set[str]] = {}
        self._channels_not_member: list[str] = []
        self._exports: dict[str, WorkspaceExport] = {}

    def export(self, team_id: str) -> WorkspaceExport | None:
        """The team's workspace export (``export_path``), opened once per run."""
        path = self.settings.team(team_id).export_file
        if path is None:
            return None
        if team_id not in self._exports:
            self._exports[team_id] = WorkspaceExport(path)
        return self._exports[team_id]

    def export_is_new(self, partition: str) -> bool:
        """The export differs from the one last imported for ``partition`` (its checkpoint holds the sha256)."""
        export = self.export(partition.split("/", 1)[0])
        if export is None or self.context.bounded:
            return False
        if self.context.full_refresh:
            return True
        with self.store.engine.connect() as conn:
            state = load_checkpoint(conn, self.name, f"{partition}/export")
        return state is None or state.checkpoint_token != export.sha256

    def remember_export(self, conn: Connection, partition: str) -> None:
        export = self.export(partition.split("/", 1)[0])
        assert export is not None
        save_checkpoint(conn, self.name, Checkpoint(export.sha256, f"export {export.path.name}"), f"{partition}/export")

    # ------------------------------------------------------------------ lifecycle

    def migrate(self) -> list[int]:
        ensure_identity(self.store)
        return super().migrate()

    def validate_config(self) -> None:
        self.settings = parse_config(self.raw_config)
        self._connections = {
            team.team_id: resolve_connection(self.context.connection(team.connection_id) or None,
                                             conn_id=team.connection_id)
            for team in self.settings.teams
        }
        if self.context.partition is not None:
            team_id, _channel = parse_partition(self.context.partition)
            self.settings.team(team_id)

    def secrets(self) -> list[str]:
        return [c.token for c in self._connections.values()]

    def api(self, team_id: str) -> SlackApi:
        if team_id not in self._apis:
            if not self._connections:
                self.validate_config()
            conn = self._connections[team_id]
            s = self.settings
            self._apis[team_id] = SlackApi(
                token=conn.token,
                base_url=conn.base_url,
                timeout=s.request_timeout,
                max_rate_limit_wait=s.max_rate_limit_wait,
                rate_limit_max_retries=s.rate_limit_max_retries,
                transient_max_retries=s.transient_max_retries,
                backoff_seconds=s.retry_backoff_seconds,
                paced_interval=s.history_interval,
                clock=self._clock,
                sleep=self._sleep,
            )
        return self._apis[team_id]

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    def preflight(self) -> None:
        """``auth.test`` per workspace: the token works and belongs to the configured team."""
        for team in self.settings.teams:
            data = self.api(team.team_id).call("auth.test")
            if data.get("team_id") and data["team_id"] != team.team_id:
                raise ConfigError(
                    f"connection {team.connection_id}: its token belongs to team {data['team_id']}, "
                    f"not {team.team_id} (config.teams)"
                )
            log.info("Slack workspace %s reachable as %s", team.team_id, data.get("user") or "?")

    def list_partitions(self) -> list[str]:
        """``<team>/<channel>`` of every channel to read (conversations.list, filters, membership);
        channel metadata is stored on the way."""
        partitions: list[str] = []
        self._channels_not_member = []
        for team in self.settings.teams:
            partitions += self._team_channels(team)
        return partitions

    def _team_channels(self, team: TeamConfig) -> list[str]:
        api = self.api(team.team_id)
        wanted: list[str] = []
        now = self.now()
        for data in api.pages("conversations.list", types=",".join(team.types), exclude_archived=False,
                              limit=200):
            channels = parse_items(Channel, data.get("channels"), source="conversations.list")
            rows = []
            for channel in channels:
                if not team.channels.wanted(team.team_id, channel.id, channel.name):
                    continue
                rows.append(channel_row(team.team_id, channel, now))
                partition = f"{team.team_id}/{channel.id}"
                if channel.is_member or (team.join == "public" and not channel.is_private
                                         and not channel.is_archived):
                    wanted.append(partition)
                else:
                    self._channels_not_member.append(partition)
            if rows:
                with self.store.transaction() as conn:
                    upsert_rows(conn, slack_channels, rows, ["team_id", "channel_id"])
        if self._channels_not_member:
            log.info("%s: %d wanted channel(s) the bot is not a member of (invite it, or join: public): %s",
                     team.team_id, len(self._channels_not_member), ", ".join(self._channels_not_member[:20]))
        return wanted

    def load_incremental_state(self) -> IncrementalState | None:
        return None  # one checkpoint per channel, loaded by each channel's run

    # ------------------------------------------------------------------ collect

    def collect(self) -> SlackCollectResult:
        started = time.monotonic()
        partition = self.context.partition
        channels = [partition] if partition else self.list_partitions()
        if not partition and self.context.partitions:
            wanted = set(self.context.partitions)
            channels = [c for c in channels if c in wanted]
        totals: collections.Counter[str] = collections.Counter()
        if not partition:
            totals["channels_not_member"] = len(self._channels_not_member)
        done: list[str] = []
        skipped: list[str] = []
        try:
            for number, key in enumerate(channels, start=1):
                team_id, channel_id = parse_partition(key)
                self._prepare_team(team_id, totals)
                run = _ChannelRun(self, team_id, channel_id)
                try:
                    run.run()
                except ChannelUnavailable as exc:
                    skipped.append(f"{key}: {exc.code}")
                    totals["channels_skipped"] += 1
                    log.warning("[%d/%d] %s skipped (permission): %s", number, len(channels), key,
                                sanitize_exception_message(exc, self.secrets()),
                                extra={"failure_category": "permission"})
                    continue
                except PermissionDeniedError as exc:
                    if "missing_scope" not in str(exc) or "conversations." not in str(exc):
                        raise
                    skipped.append(f"{key}: missing_scope")
                    totals["channels_skipped"] += 1
                    log.warning("[%d/%d] %s skipped (permission): %s", number, len(channels), key,
                                sanitize_exception_message(exc, self.secrets()),
                                extra={"failure_category": "permission"})
                    continue
                finally:
                    totals.update(run.counts)
                done.append(key)
                log.info("[%d/%d] %s: %s", number, len(channels), key,
                         ", ".join(f"{k}={v}" for k, v in sorted(run.counts.items()) if v) or "nothing new")
        finally:
            for api in self._apis.values():
                totals.update(api.counts())
            self.close()
        return SlackCollectResult(
            success=True,
            counts=dict(totals),
            errors=[f"skipped {s} (permission)" for s in skipped],
            duration_seconds=time.monotonic() - started,
            channels=done,
            skipped=skipped,
        )

    def _prepare_team(self, team_id: str, totals: collections.Counter[str]) -> None:
        """Once per run and team: the team row and, when due, every user (users.list)."""
        if team_id in self._prepared:
            return
        self._prepared.add(team_id)
        api = self.api(team_id)
        with self.store.engine.connect() as conn:
            team = conn.execute(select(slack_teams).where(slack_teams.c.team_id == team_id)).mappings().first()
            state = load_checkpoint(conn, self.name, team_id)
            self._known_users[team_id] = set(
                conn.execute(select(slack_users.c.user_id).where(slack_users.c.team_id == team_id)).scalars()
            )
        refreshed = dt.datetime.fromisoformat(state.checkpoint_token) if state and state.checkpoint_token else None
        now = self.now()
        due = refreshed is None or (now - refreshed).total_seconds() >= self.settings.users_refresh_hours * 3600
        domain = team["domain"] if team else None
        if team is None or due:
            team_model = self._team_info(api, team_id)
            domain = team_model.domain
            with self.store.transaction() as conn:
                upsert_rows(conn, slack_teams, [team_row(team_model, now)], ["team_id"])
        export = self.export(team_id)
        if export is not None and self.export_is_new(team_id):
            users = export.users()
            with self.store.transaction() as conn:
                write_users(conn, team_id, users, now, store_emails=self.settings.store_emails, domain=domain)
                self.remember_export(conn, team_id)
            self._known_users[team_id].update(u.id for u in users)
            totals["export_users"] += len(users)
        if not due or self.context.dry_run:
            return
        for data in api.pages("users.list", limit=200):
            users = parse_items(User, data.get("members"), source="users.list")
            with self.store.transaction() as conn:
                write_users(conn, team_id, users, now, store_emails=self.settings.store_emails, domain=domain)
            self._known_users[team_id].update(u.id for u in users)
            totals["users"] += len(users)
        with self.store.transaction() as conn:
            save_checkpoint(conn, self.name, SlackChannelState(now.isoformat(), f"users refreshed {now:%Y-%m-%d %H:%M}Z"),
                            team_id)

    def _team_info(self, api: SlackApi, team_id: str) -> Team:
        try:
            return parse_object(Team, api.call("team.info").get("team"), source="team.info")
        except PermissionDeniedError:  # no team:read: auth.test knows the name and the URL
            data = api.call("auth.test")
            url = str(data.get("url") or "")
            domain = url.split("//", 1)[-1].split(".slack.com", 1)[0] or None
            return Team(id=team_id, name=data.get("team"), domain=domain)

    def domain(self, team_id: str) -> str | None:
        with self.store.engine.connect() as conn:
            return conn.execute(select(slack_teams.c.domain).where(slack_teams.c.team_id == team_id)).scalar()

    def on_error(self, exc: BaseException) -> None:
        self.close()

    def close(self) -> None:
        self._apis.clear()
        for export in self._exports.values():
            export.close()
        self._exports.clear()

    # ------------------------------------------------------------------ vector step

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(self.store.engine, changed_since, doc_ids)

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return removed_documents(self.store.engine, changed_since)


class _ChannelRun:
    """One channel's collection (one per channel per run); see the module docstring."""

    def __init__(self, collector: SlackCollector, team_id: str, channel_id: str) -> None:
        self.collector = collector
        self.settings = collector.settings
        self.context = collector.context
        self.store = collector.store
        self.team_id = team_id
        self.team = collector.settings.team(team_id)
        self.channel_id = channel_id
        self.partition = f"{team_id}/{channel_id}"
        self.api = collector.api(team_id)
        self.counts: collections.Counter[str] = collections.Counter()
        self.checkpoint: Checkpointer[SlackChannelState] = Checkpointer.load(
            self.store,
            collector.name,
            self.partition,
            SlackChannelState.from_state,
            full_refresh=self.context.full_refresh,
            bounded=self.context.bounded,
            counts=self.counts,
        )
        self.known_users = collector._known_users.setdefault(team_id, set())

    # ------------------------------------------------------------------ window

    def window(self) -> tuple[float, str, str, bool]:
        """(oldest epoch, latest ts, run_latest ts, deep sweep)."""
        now = self.collector._clock()
        settings = self.settings
        if self.context.bounded:
            oldest = self.context.since.timestamp() if self.context.since else 0.0
            latest = format_ts(self.context.until.timestamp()) if self.context.until else format_ts(now)
            return oldest, latest, latest, False
        state = self.checkpoint.state
        pending = state.pending
        if pending:
            self.counts["resumed"] += 1
            return float(pending["oldest"]), str(pending["latest"]), str(pending["run_latest"]), bool(pending.get("deep"))
        run_latest = format_ts(now)
        deep = False
        if state.checkpoint_token:
            horizon = settings.thread_horizon_days
            last_deep = state.extras.get("last_deep_sweep")
            every = settings.deep_sweep_every_days
            if every and (last_deep is None or now - float(last_deep) >= every * DAY):
                horizon, deep = settings.deep_sweep_horizon_days, True
            oldest = min(float(state.checkpoint_token) - settings.lookback_days * DAY, now - horizon * DAY)
        else:
            oldest = settings.initial_start.timestamp() if settings.initial_start else 0.0
        if settings.visibility_days:
            oldest = max(oldest, now - settings.visibility_days * DAY)
        return max(oldest, 0.0), run_latest, run_latest, deep

    # ------------------------------------------------------------------ the run

    def run(self) -> None:
        self.import_export()
        self.ensure_member()
        oldest, latest, run_latest, deep = self.window()
        if deep:
            self.counts["deep_sweeps"] += 1
        upper, upper_inclusive = latest, True
        oldest_ts = format_ts(oldest)
        base = dict(self.checkpoint.state.extras)
        for data in self.api.pages("conversations.history", channel=self.channel_id, oldest=oldest_ts,
                                   latest=latest, inclusive=True, limit=self.settings.history_limit):
            messages = parse_items(Message, data.get("messages"), source="conversations.history")
            has_more = bool(((data.get("response_metadata") or {}).get("next_cursor") or "").strip())
            self.counts["history_pages"] += 1
            self.read_threads(messages)
            page_min = min((m.ts for m in messages), key=float, default=None)
            last = not has_more or page_min is None
            lower = oldest_ts if last else page_min
            assert lower is not None
            pending = None if last else {"latest": page_min, "oldest": oldest, "run_latest": run_latest, "deep": deep}
            extras = {**base, "pending": pending}
            if last and deep:
                extras["last_deep_sweep"] = float(run_latest)
            elif last and "last_deep_sweep" not in extras and not self.checkpoint.state.checkpoint_token:
                extras["last_deep_sweep"] = float(run_latest)  # a first run reads everything
            token = run_latest if last else self.checkpoint.state.checkpoint_token
            marker = (f"{ts_at(run_latest):%Y-%m-%dT%H:%MZ} ({self.counts['threads_refreshed']} threads refreshed)"
                      if last else self.checkpoint.state.human_readable_marker)
            span = (lower, upper, upper_inclusive)
            self.checkpoint.commit(lambda conn, ms=messages, sp=span: self.write_page(conn, ms, sp),
                                   SlackChannelState(token, marker, extras))
            self.counts["messages"] += len(messages)
            if last or page_min is None:
                break
            upper, upper_inclusive = page_min, False

    def import_export(self) -> None:
        """This channel's history from the team's workspace export, once per export file (rows
        through the API path's writers; each day file one transaction). Bounded runs skip it."""
        if not self.collector.export_is_new(self.partition):
            return
        export = self.collector.export(self.team_id)
        assert export is not None
        folder = None
        for channel, name in export.channels():
            if channel.id == self.channel_id:
                folder = name
                row = channel_row(self.team_id, channel, self.collector.now())
                del row["is_member"]  # the export does not know the bot's membership
                with self.store.transaction() as conn:
                    upsert_rows(conn, slack_channels, [row], ["team_id", "channel_id"])
        batch: list[Message] = []

        def flush() -> None:
            if batch:
                with self.store.transaction() as conn:
                    write_messages(conn, self.team_id, self.channel_id, batch, self.collector.now())
                self.counts["export_messages"] += len(batch)
                batch.clear()

        try:
            # Day files are small: several go into one transaction (about EXPORT_BATCH messages).
            for _name, messages in export.days(folder) if folder else ():
                batch += messages
                self.counts["export_files"] += 1
                if len(batch) >= EXPORT_BATCH:
                    flush()
        except DataValidationError:
            flush()  # the valid files before the bad one are stored; nothing of the bad one
            raise
        flush()
        with self.store.transaction() as conn:
            self.collector.remember_export(conn, self.partition)

    def ensure_member(self) -> None:
        with self.store.engine.connect() as conn:
            row = conn.execute(select(slack_channels).where(
                slack_channels.c.team_id == self.team_id, slack_channels.c.channel_id == self.channel_id
            )).mappings().first()
        if row is None:  # a run of one partition without the validate step: read it now
            info = parse_object(Channel, self.api.call("conversations.info", channel=self.channel_id).get("channel"),
                                source="conversations.info")
            with self.store.transaction() as conn:
                upsert_rows(conn, slack_channels, [channel_row(self.team_id, info, self.collector.now())],
                            ["team_id", "channel_id"])
            is_member, private = info.is_member, info.is_private
        else:
            is_member, private = row["is_member"], row["is_private"]
        if is_member is False and self.team.join == "public" and not private and not self.context.dry_run:
            self.api.call("conversations.join", channel=self.channel_id)
            with self.store.transaction() as conn:
                conn.execute(update(slack_channels).where(
                    slack_channels.c.team_id == self.team_id, slack_channels.c.channel_id == self.channel_id
                ).values(is_member=True))
            self.counts["channels_joined"] += 1
            log.info("Joined %s (join: public)", self.partition)

    def write_page(self, conn: Connection, messages: list[Message], span: tuple[str, str, bool]) -> None:
        now = self.collector.now()
        self.write_unknown_users(conn, messages)
        write_messages(conn, self.team_id, self.channel_id, messages, now)
        lower, upper, inclusive = span
        returned = {m.ts for m in messages}
        top_level = or_(_m.c.is_root.is_(True), _m.c.subtype == "thread_broadcast")
        in_span = and_(_m.c.ts_at >= ts_at(lower), _m.c.ts_at <= ts_at(upper) if inclusive else _m.c.ts_at < ts_at(upper))
        self.mark_deleted(conn, [top_level, in_span], returned, now)

    def mark_deleted(self, conn: Connection, where: list[Any], returned: set[str], now: dt.datetime) -> None:
        stored = conn.execute(select(_m.c.ts).where(
            _m.c.team_id == self.team_id, _m.c.channel_id == self.channel_id, _m.c.deleted_at.is_(None), *where
        )).scalars().all()
        gone = [ts for ts in stored if ts not in returned]
        for start in range(0, len(gone), 500):
            conn.execute(update(_m).where(
                _m.c.team_id == self.team_id, _m.c.channel_id == self.channel_id, _m.c.ts.in_(gone[start:start + 500])
            ).values(deleted_at=now, updated_at=now))
        self.counts["messages_deleted"] += len(gone)

    def write_unknown_users(self, conn: Connection, messages: Sequence[Message]) -> None:
        """Authors not stored yet (joined since users.list ran): users.info each (Tier 4)."""
        unknown = sorted({m.user for m in messages if m.user and m.user != "USLACKBOT"} - self.known_users)
        if not unknown or self.context.dry_run:
            return
        users: list[User] = []
        for user_id in unknown:
            try:
                data = self.api.call("users.info", user=user_id)
            except (PermissionDeniedError, SlackCallError) as exc:  # user_not_found, no users:read
                log.info("%s: no profile for author %s (%s)", self.partition, user_id, exc)
                continue
            users.append(parse_object(User, data.get("user"), source="users.info"))
        write_users(conn, self.team_id, users, self.collector.now(), store_emails=self.settings.store_emails,
                    domain=self.collector.domain(self.team_id))
        self.known_users.update(unknown)
        self.counts["users_fetched"] += len(users)

    # ------------------------------------------------------------------ threads

    def read_threads(self, messages: Sequence[Message]) -> None:
        roots = [m for m in messages if m.thread_ts == m.ts and (m.reply_count or 0) > 0 and m.latest_reply]
        if not roots:
            return
        with self.store.engine.connect() as conn:
            synced = dict(conn.execute(select(_m.c.ts, _m.c.replies_synced_latest_reply).where(
                _m.c.team_id == self.team_id, _m.c.channel_id == self.channel_id,
                _m.c.ts.in_([r.ts for r in roots]),
            )).all())
        recent = self.collector._clock() - self.settings.lookback_days * DAY
        for root in roots:
            assert root.latest_reply is not None
            stored = synced.get(root.ts)
            if stored == root.latest_reply and float(root.latest_reply) < recent:
                continue
            self.read_thread(root, stored)

    def read_thread(self, root: Message, stored_synced: str | None) -> None:
        partial = stored_synced is not None and (root.reply_count or 0) > self.settings.replies_full_reread_max
        replies: dict[str, Message] = {}
        for data in self.api.pages("conversations.replies", channel=self.channel_id, ts=root.ts,
                                   oldest=stored_synced if partial else None, inclusive=True,
                                   limit=self.settings.history_limit):
            for message in parse_items(Message, data.get("messages"), source="conversations.replies"):
                replies[message.ts] = message
        parent = replies.get(root.ts, root)
        latest = parent.latest_reply or root.latest_reply
        items = list(replies.values()) if root.ts in replies else [root, *replies.values()]

        def work(conn: Connection) -> None:
            now = self.collector.now()
            self.write_unknown_users(conn, items)
            write_messages(conn, self.team_id, self.channel_id, items, now)
            if not partial:
                self.mark_deleted(conn, [_m.c.thread_ts == root.ts, _m.c.ts != root.ts], set(replies), now)
            synced = _m.c.replies_synced_latest_reply
            conn.execute(update(_m).where(
                _m.c.team_id == self.team_id, _m.c.channel_id == self.channel_id, _m.c.ts == root.ts,
                or_(synced.is_(None), synced != latest),
            ).values(replies_synced_latest_reply=latest))

        self.checkpoint.commit(work)
        self.counts["threads_refreshed"] += 1
        self.counts["replies"] += len([m for m in replies.values() if m.ts != root.ts])
