"""``source: api``: the guilds' channels and threads read through the bot REST API.

Partitions are channels (text, announcement) and threads (active ones, and public ones archived
since the last scan minus ``thread_overlap_days``: forum posts are threads). Listing them
stores the guild and channel rows, so a collect task reads its export header from the store.

Per partition: ``GET /channels/{id}/messages?after=`` in pages of 100, oldest first. Every page
is adapted to the export shape and validated in full (:mod:`~discord_activity_tracker.api_adapter`),
then written in one transaction with the channel's checkpoint (the newest id stored,
compare-and-set): a crash re-reads at most one page. A partition that was read before starts
``lookback_days`` back instead, so edits are re-read (``content_hash`` leaves unchanged rows
alone) and, once the read is complete, stored messages of the window that did not come back
are marked deleted (``full_refresh``: the whole history is the window). ``since``/``until``
become snowflakes; such a bounded run writes rows only.
A channel the bot may not read (403) or that is gone (404) is skipped, never retried.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select, update

from core.errors import (
    AuthenticationError,
    ConfigError,
    PermissionDeniedError,
    RateLimitError,
    classify_failure,
    sanitize_exception_message,
    worst_category,
)
from core.protocols import Checkpoint
from core.store import collector_checkpoints, load_checkpoint, save_checkpoint, upsert_rows
from discord_activity_tracker.api_adapter import export_header, snowflake_at, snowflake_time, validate_message
from discord_activity_tracker.api_client import DiscordApi, resolve_bot_connection
from discord_activity_tracker.api_schemas import ExportHeader
from discord_activity_tracker.preprocess import THREAD_TYPE_NAMES
from discord_activity_tracker.protocol_impl import DiscordChannelState, DiscordCollectResult
from discord_activity_tracker.rows import author_row, channel_row, guild_row, message_row
from discord_activity_tracker.spool import SpooledBatch
from discord_activity_tracker.tables import discord_channels, discord_guilds, discord_messages

if TYPE_CHECKING:
    from core.store import Store
    from discord_activity_tracker.collector import DiscordCollector

__all__ = ["API_COUNTS", "ApiSource", "channel_of"]

log = logging.getLogger(__name__)

MESSAGE_CHANNELS = {0, 5}  # text, announcement: read their messages
THREAD_PARENTS = {0, 5, 15, 16}  # and forum, media: their threads are partitions
THREAD_TYPES = {10, 11, 12}
_DELETE_BATCH = 500
DISCORD_EPOCH = dt.datetime(2015, 1, 1, tzinfo=dt.UTC)

API_COUNTS = (
    "partitions",
    "partitions_skipped",
    "partitions_unchanged",
    "pages",
    "messages_read",
    "messages_new",
    "messages_updated_or_same",
    "messages_deleted",
    "messages_outside_window",
)


def channel_of(partition: str) -> str:
    """The channel (or thread) id of a partition ``<guild>/<channel>`` (a bare id is accepted)."""
    channel_id = partition.rsplit("/", 1)[-1]
    if not (channel_id.isascii() and channel_id.isdigit() and len(channel_id) <= 20):
        raise ConfigError(f"partition {partition[:60]!r}: expected <guild id>/<channel id>")
    return channel_id


def _threads_partition(guild_id: str) -> str:
    return f"threads/{guild_id}"


class ApiSource:
    """The API mode of one :class:`~discord_activity_tracker.collector.DiscordCollector` run."""

    def __init__(
        self,
        collector: DiscordCollector,
        *,
        clock: Callable[[], float],
        sleep: Callable[[float], None],
    ) -> None:
        self.collector = collector
        self.settings = collector.settings
        self.connection = resolve_bot_connection(
            collector.context.connection(self.settings.connection_id) or None,
            conn_id=self.settings.connection_id,
        )
        self._clock = clock
        self._sleep = sleep
        self._api: DiscordApi | None = None

    @property
    def api(self) -> DiscordApi:
        if self._api is None:
            s = self.settings
            self._api = DiscordApi(
                self.connection,
                max_rate_limit_wait=s.max_rate_limit_wait,
                transient_max_retries=s.transient_max_retries,
                global_requests_per_second=s.global_requests_per_second,
                clock=self._clock,
                sleep=self._sleep,
            )
        return self._api

    def secrets(self) -> list[str]:
        return [self.connection.token]

    def close(self) -> None:
        if self._api is not None:
            self._api.close()

    def now(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self._clock(), dt.UTC)

    @property
    def store(self) -> Store:
        return self.collector.store

    # ------------------------------------------------------------------ validate step

    def preflight(self) -> None:
        me = self.api.me()
        self.api.check_message_content_intent()
        log.info("Discord bot %s (%s) authenticated", me.get("username"), me.get("id"))

    def list_partitions(self) -> list[str]:
        """Channel and thread ids to read, in that order; their rows are stored on the way."""
        partitions: list[str] = []
        for guild_config in self.settings.guilds:
            partitions += self._guild_partitions(guild_config.guild_id)
        return partitions

    def _guild_partitions(self, guild_id: str) -> list[str]:
        config = self.settings.guild(guild_id)
        started = self.now()
        guild = self.api.guild(guild_id)
        channels = {str(c.get("id")): c for c in self.api.guild_channels(guild_id)}
        wanted = set(config.channels) if config.channels else None
        unknown = sorted((wanted or set()) - set(channels))
        if unknown:
            log.warning(
                "guild %s: configured channel(s) %s not visible to the bot (not shared, or gone)",
                guild_id,
                ", ".join(unknown),
            )
        parents = {
            cid: c
            for cid, c in channels.items()
            if c.get("type") in THREAD_PARENTS and (wanted is None or cid in wanted)
        }
        headers: dict[str, ExportHeader] = {}
        last_ids: dict[str, str | None] = {}
        for cid, channel in parents.items():
            if channel.get("type") in MESSAGE_CHANNELS:
                headers[cid] = export_header(guild, channel, channels.get(str(channel.get("parent_id"))))
                last_ids[cid] = _snowflake_or_none(channel.get("last_message_id"))
        if config.threads:
            for thread in self._threads(guild_id, parents):
                parent = parents.get(str(thread.get("parent_id")))
                headers[str(thread.get("id"))] = export_header(guild, thread, parent)
                last_ids[str(thread.get("id"))] = _snowflake_or_none(thread.get("last_message_id"))
        partitions = list(headers)
        if config.threads:
            partitions += [t for t in self._uncollected_threads(guild_id) if t not in headers]
        now = self.now()
        with self.store.transaction() as conn:
            if headers:
                upsert_rows(
                    conn, discord_guilds, [guild_row(next(iter(headers.values())), now)], ["guild_id"]
                )
                rows = [
                    {**channel_row(h, now), "last_message_id": last_ids.get(c)} for c, h in headers.items()
                ]
                upsert_rows(conn, discord_channels, rows, ["channel_id"])
            if config.threads:
                save_checkpoint(
                    conn,
                    self.collector.name,
                    Checkpoint(started.isoformat(), "threads scanned"),
                    _threads_partition(guild_id),
                )
        # "<guild>/<channel>": the task's label says where it reads (and a label of digits only
        # would be rendered as a number by Airflow's native templating).
        return [f"{guild_id}/{channel_id}" for channel_id in partitions]

    def _uncollected_threads(self, guild_id: str) -> list[str]:
        """Threads listed before whose collect never finished a page (a failed task, a run cut
        short): listed again even when archived before the scan window."""
        c, k = discord_channels, collector_checkpoints
        collected = select(k.c.partition).where(k.c.collector == self.collector.name)
        query = select(c.c.channel_id).where(
            c.c.guild_id == guild_id, c.c.type.in_(THREAD_TYPE_NAMES), c.c.channel_id.not_in(collected)
        )
        with self.store.engine.connect() as conn:
            return list(conn.execute(query).scalars())

    def _threads(self, guild_id: str, parents: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        with self.store.engine.connect() as conn:
            scanned = load_checkpoint(conn, self.collector.name, _threads_partition(guild_id))
        newer_than = None
        if scanned is not None and scanned.checkpoint_token and not self.collector.context.full_refresh:
            newer_than = dt.datetime.fromisoformat(scanned.checkpoint_token) - dt.timedelta(
                days=self.settings.thread_overlap_days
            )
        if self.collector.context.since is not None:
            newer_than = min(newer_than or self.collector.context.since, self.collector.context.since)
        found: dict[str, dict[str, Any]] = {}
        for thread in self.api.active_threads(guild_id):
            if str(thread.get("parent_id")) in parents and thread.get("type") in THREAD_TYPES:
                found[str(thread.get("id"))] = thread
        for parent_id in parents:
            try:
                for thread in self.api.archived_public_threads(parent_id, newer_than=newer_than):
                    found.setdefault(str(thread.get("id")), thread)
            except PermissionDeniedError as exc:  # Missing Access on this parent: its threads are unreadable
                log.warning(
                    "guild %s: archived threads of %s skipped: %s",
                    guild_id,
                    parent_id,
                    sanitize_exception_message(exc, self.secrets()),
                )
        return list(found.values())

    # ------------------------------------------------------------------ collect step

    def collect(self) -> DiscordCollectResult:
        counts: dict[str, int] = dict.fromkeys(API_COUNTS, 0)
        partition = self.collector.context.partition
        partitions = [partition] if partition else self.list_partitions()
        failures: list[tuple[str, Exception]] = []
        done: list[str] = []
        for label in partitions:
            channel_id = channel_of(label)
            try:
                self._collect_partition(channel_id, counts)
                done.append(channel_id)
            except PermissionDeniedError as exc:  # 403 Missing Access/Permissions, 404 Unknown Channel
                counts["partitions_skipped"] += 1
                log.warning(
                    "channel %s skipped (the bot may not read it, or it is gone): %s",
                    channel_id,
                    sanitize_exception_message(exc, self.secrets()),
                )
            except (AuthenticationError, RateLimitError):
                raise  # the token or the whole API: every other partition would fail the same way
            except Exception as exc:  # noqa: BLE001 - one channel's failure never stops the others
                log.error(
                    "channel %s failed [%s]: %s",
                    channel_id,
                    classify_failure(exc).value,
                    sanitize_exception_message(exc, self.secrets()),
                )
                failures.append((channel_id, exc))
        stats = self.api.stats
        counts.update(
            http_requests=stats.requests,
            http_rate_limit_waits=stats.rate_limit_waits,
            http_retries=stats.retries,
            invalid_requests=self.api.invalid_requests,
        )
        if failures:
            category = worst_category(classify_failure(exc) for _c, exc in failures)
            worst = next(exc for _c, exc in failures if classify_failure(exc) is category)
            log.error(
                "%d channel(s) failed, %d stored: %s",
                len(failures),
                len(done),
                ", ".join(channel for channel, _exc in failures),
            )
            raise worst
        return DiscordCollectResult(success=True, counts=counts, files=())

    def _header(self, channel_id: str) -> tuple[ExportHeader, str | None]:
        query = (
            select(discord_channels, discord_guilds.c.name.label("guild_name"), discord_guilds.c.icon_url)
            .join(discord_guilds, discord_guilds.c.guild_id == discord_channels.c.guild_id)
            .where(discord_channels.c.channel_id == channel_id)
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(query).mappings().one_or_none()
        if row is None:
            if channel_id not in {channel_of(p) for p in self.list_partitions()}:
                raise ConfigError(f"partition {channel_id}: not a channel or thread of config.guilds")
            return self._header(channel_id)
        header = ExportHeader.model_validate(
            {
                "guild": {"id": row["guild_id"], "name": row["guild_name"], "iconUrl": row["icon_url"]},
                "channel": {
                    "id": row["channel_id"],
                    "type": row["type"],
                    "categoryId": row["category_id"],
                    "category": row["category"],
                    "name": row["name"],
                    "topic": row["topic"],
                },
            }
        )
        return header, row["last_message_id"]

    def _collect_partition(self, channel_id: str, counts: dict[str, int]) -> None:
        header, last_listed = self._header(channel_id)
        context = self.collector.context
        forward = not context.bounded
        with self.store.engine.connect() as conn:
            previous = load_checkpoint(conn, self.collector.name, channel_id) if forward else None
        state = (
            DiscordChannelState.from_dict(previous.asdict())
            if previous is not None
            else DiscordChannelState(None)
        )
        state_start = 0 if context.full_refresh else state.last_message_id
        window_start: dt.datetime | None = None
        if not forward:
            after = snowflake_at(context.since) if context.since else 0
        elif context.full_refresh:  # the whole history: every deletion is found
            window_start, after = DISCORD_EPOCH, 0
        elif state_start and self.settings.lookback_days > 0:
            window_start = self.now() - dt.timedelta(days=self.settings.lookback_days)
            after = min(state_start, snowflake_at(window_start))
        else:
            after = state_start
        if forward and _nothing_to_read(state_start, last_listed, window_start):
            counts["partitions_unchanged"] += 1  # nothing newer, nothing stored in the window
            return
        expected = state.checkpoint_token
        newest = state.last_message_id
        seen: set[str] = set()
        source = f"/channels/{channel_id}/messages"
        counts["partitions"] += 1
        for page in self.api.messages_after(channel_id, after):
            validated = [validate_message(raw, header.guild.id, source=source) for raw in page]
            counts["pages"] += 1
            counts["messages_read"] += len(validated)
            kept = [
                (raw, model)
                for raw, model in validated
                if context.until is None or model.timestamp < context.until
            ]
            counts["messages_outside_window"] += len(validated) - len(kept)
            seen.update(raw["id"] for raw, _model in validated)
            if kept:
                newest = max(newest, *(int(raw["id"]) for raw, _model in kept))
            with self.store.transaction() as conn:
                if kept:
                    self.collector._upsert_batch(conn, _batch(kept, header), counts, expect_new=False)
                if forward and newest and str(newest) != expected:
                    save_checkpoint(
                        conn,
                        self.collector.name,
                        DiscordChannelState(
                            str(newest), f"message {newest} in #{header.channel.name}", {"source": "api"}
                        ),
                        channel_id,
                        expected=expected,
                    )
                    expected = str(newest)
            if len(kept) < len(validated):
                break  # past ``until``: the rest is newer still
        else:
            if forward and previous is None and not newest:  # read, and empty: listed as collected
                with self.store.transaction() as conn:
                    save_checkpoint(
                        conn,
                        self.collector.name,
                        DiscordChannelState(None, "no messages", {"source": "api"}),
                        channel_id,
                        expected=None,
                    )
            if window_start is not None:
                counts["messages_deleted"] += self._mark_deleted(channel_id, window_start, seen)

    def _mark_deleted(self, channel_id: str, window_start: dt.datetime, seen: set[str]) -> int:
        """Stored messages of the window that the complete re-read did not return: deleted."""
        m = discord_messages
        with self.store.engine.connect() as conn:
            stored = (
                conn.execute(
                    select(m.c.message_id).where(
                        m.c.channel_id == channel_id, m.c.created_at >= window_start, m.c.deleted_at.is_(None)
                    )
                )
                .scalars()
                .all()
            )
        gone = [message_id for message_id in stored if message_id not in seen]
        now = self.now()
        for start in range(0, len(gone), _DELETE_BATCH):
            with self.store.transaction() as conn:
                _mark(conn, gone[start : start + _DELETE_BATCH], now)
        if gone:
            log.info("channel %s: %d message(s) deleted since they were stored", channel_id, len(gone))
        return len(gone)


def _nothing_to_read(checkpoint: int, last_listed: str | None, window_start: dt.datetime | None) -> bool:
    """The listing said the newest message is one stored already, and no stored message is
    recent enough for the look-back window to re-read."""
    if not checkpoint or last_listed is None or int(last_listed) > checkpoint:
        return False
    return window_start is None or snowflake_time(checkpoint) < window_start


def _snowflake_or_none(value: object) -> str | None:
    text = str(value) if value is not None else ""
    return text if text.isascii() and text.isdigit() and len(text) <= 20 else None


def _mark(conn: Connection, ids: list[str], now: dt.datetime) -> None:
    m = discord_messages
    conn.execute(
        update(m)
        .where(m.c.message_id.in_(ids), m.c.deleted_at.is_(None))
        .values(deleted_at=now, updated_at=now)
    )


def _batch(kept: list[tuple[dict[str, Any], Any]], header: ExportHeader) -> SpooledBatch:
    """The page as the batch the file ingest writes (rows, each author once with its newest details)."""
    rows: dict[str, dict[str, Any]] = {}
    users: dict[str, tuple[dt.datetime, dict[str, Any]]] = {}
    for raw, model in kept:
        rows[raw["id"]] = message_row(raw, model, header)
        for user in [*(raw.get("mentions") or ()), raw["author"]]:
            seen = users.get(user["id"])
            if seen is None or model.timestamp >= seen[0]:
                users[user["id"]] = (model.timestamp, user)
    return SpooledBatch(
        end=len(kept),
        size=len(kept),
        outside_window=0,
        newest_id=max(int(raw["id"]) for raw, _model in kept),
        messages=list(rows.values()),
        authors=[author_row(user, moment) for moment, user in users.values()],
    )
