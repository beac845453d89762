"""The Discord bot REST API (v10) on the HTTP source kit: bot token, buckets, the global limit.

Only a bot token is accepted (``Authorization: Bot <token>``): an OAuth2 bearer or an ``mfa.``
user token is refused before any request, and :meth:`DiscordApi.me` refuses a token whose
account is not a bot (a user token is against Discord's terms).

Rate limits (Discord's "Rate limits" page): each route belongs to a bucket the server names
in ``X-RateLimit-Bucket``; a bucket is shared by the routes with that hash and the same top-level
resource (channel or guild id). :class:`DiscordRateLimits` learns route -> bucket from the
answers, so the kit's token pool tracks ``Remaining``/``Reset-After`` per bucket and sleeps
until a spent bucket resets (bounded by ``max_rate_limit_wait``, beyond which it raises
``RateLimitError(retry_at)``). A 429 waits the body's ``retry_after`` (or ``Retry-After``), the
global one included. The global limit of 50 requests a second is kept by pacing every request
(``global_requests_per_second``). 401/403/429 answers (except ``shared`` 429s) are counted as
invalid requests: Discord bans an IP after 10,000 in 10 minutes.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import requests

from core.connections import connection_extra, connection_from_env
from core.errors import AuthenticationError, ConfigError, DataValidationError
from core.operations.http import DISCORD, HeaderAuth, HeaderRateLimitPolicy, HttpClient, HttpClientConfig
from core.operations.http.ratelimit import BadHeader, RateLimitSnapshot

__all__ = [
    "DEFAULT_BASE_URL",
    "PAGE_SIZE",
    "BotConnection",
    "DiscordApi",
    "DiscordRateLimits",
    "resolve_bot_connection",
    "route_of",
]

DEFAULT_BASE_URL = "https://discord.com/api/v10"
PAGE_SIZE = 100  # the most GET /channels/{id}/messages and the archived-threads list return
_MAJOR = {"channels", "guilds", "webhooks"}
# Application flags GATEWAY_MESSAGE_CONTENT and GATEWAY_MESSAGE_CONTENT_LIMITED (bots in < 100 guilds).
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)


@dataclasses.dataclass(frozen=True)
class BotConnection:
    conn_id: str
    token: str = dataclasses.field(repr=False)
    base_url: str = DEFAULT_BASE_URL


def resolve_bot_connection(fields: Mapping[str, Any] | None, *, conn_id: str) -> BotConnection:
    """The bot token (password, or extra ``token``) and API root (extra ``base_url`` or host)
    of ``conn_id`` (``AIRFLOW_CONN_<ID>`` outside Airflow). Refuses what is not a bot token."""
    data: Mapping[str, Any] = fields or connection_from_env(conn_id) or {}
    if not data:
        raise ConfigError(
            f"connection {conn_id}: not defined (a connection whose password is the Discord bot token)"
        )
    extra = connection_extra(data, conn_id)
    token = str(data.get("password") or extra.get("token") or "").strip()
    if not token:
        raise ConfigError(f"connection {conn_id}: password (the Discord bot token) is empty")
    if token.lower().startswith("bot "):
        token = token[4:].strip()
    if token.lower().startswith("bearer "):
        raise ConfigError(
            f"connection {conn_id}: holds an OAuth2 bearer token (a user's grant); "
            "only a bot token is accepted (docs/discord.md, bot setup)"
        )
    if token.startswith("mfa.") or token.count(".") != 2:
        raise ConfigError(
            f"connection {conn_id}: this is not a bot token (user-account tokens are refused: "
            "they break Discord's terms); create a bot and use its token (docs/discord.md)"
        )
    base = str(extra.get("base_url") or data.get("host") or DEFAULT_BASE_URL).strip()
    if not base.startswith(("http://", "https://")):
        raise ConfigError(f"connection {conn_id}: base_url must be an http(s) URL, got {base!r}")
    return BotConnection(conn_id=conn_id, token=token, base_url=base.rstrip("/"))


def route_of(path: str) -> str:
    """The route of a path as Discord buckets it: the top-level id kept, other ids generalised
    (``/channels/1/messages/2`` -> ``/channels/1/messages/{id}``)."""
    parts = path.split("?", 1)[0].strip("/").split("/")
    kept = []
    for index, part in enumerate(parts):
        major = index == 1 and parts[0] in _MAJOR
        kept.append("{id}" if part.isdigit() and not major else part)
    return "/" + "/".join(kept)


def _major(path: str) -> str:
    parts = path.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0] in _MAJOR else ""


@dataclasses.dataclass(frozen=True)
class DiscordRateLimits(HeaderRateLimitPolicy):
    """The kit's :data:`~core.operations.http.DISCORD` preset with buckets named by the server:
    a route's resource is ``<X-RateLimit-Bucket>:<top-level id>`` once an answer named its
    bucket (the route itself before), so routes sharing a bucket share its quota."""

    buckets: dict[str, str] = dataclasses.field(default_factory=dict)

    def resource_for(self, path: str) -> str:
        route = route_of(path)
        bucket = self.buckets.get(route)
        return f"{bucket}:{_major(path)}" if bucket else route

    def snapshot(
        self, headers: Mapping[str, str], *, now: float, path: str = "", on_bad: BadHeader | None = None
    ) -> RateLimitSnapshot | None:
        bucket = (headers.get("X-RateLimit-Bucket") or "").strip()
        if bucket and len(bucket) <= 64 and path:
            self.buckets[route_of(path)] = bucket
        return super().snapshot(headers, now=now, path=path, on_bad=on_bad)


def discord_policy() -> DiscordRateLimits:
    fields = {f.name: getattr(DISCORD, f.name) for f in dataclasses.fields(DISCORD)}
    return DiscordRateLimits(**fields)


class PacedBotAuth(HeaderAuth):
    """``Authorization: Bot <token>``, attached when a request is sent: the moment the global
    pacing (``pace``) waits for, so retries and redirects are paced too."""

    def __init__(self, secret: str, *, pace: Callable[[], None]) -> None:
        super().__init__(secret, prefix="Bot ")
        self._pace = pace

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        self._pace()
        return super().__call__(request)


class DiscordApi(HttpClient):
    """GETs of the endpoints the collector reads; see the module docstring."""

    def __init__(
        self,
        connection: BotConnection,
        *,
        max_rate_limit_wait: float = 60.0,
        transient_max_retries: int = 4,
        global_requests_per_second: float = 45.0,
        session: requests.Session | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        jitter: float = 0.25,
    ) -> None:
        config = HttpClientConfig(
            base_url=connection.base_url,
            api_name="Discord",
            logger="discord_activity_tracker.api",
            user_agent="DiscordBot (https://github.com/community-collectors, 0.1) community-collectors",
            max_rate_limit_wait=max_rate_limit_wait,
            rate_limit_default_wait=1.0,
            rate_limit_max_retries=8,
            transient_max_retries=transient_max_retries,
            jitter=jitter,
        )
        kwargs: dict[str, Any] = {}
        if clock is not None:
            kwargs["clock"] = clock
        if sleep is not None:
            kwargs["sleep"] = sleep
        self._recent: collections.deque[float] = collections.deque(
            maxlen=max(1, int(global_requests_per_second))
        )
        self.invalid_requests = 0
        super().__init__(
            config,
            tokens=[connection.token],
            credential=lambda secret: PacedBotAuth(secret, pace=self._pace),
            policy=discord_policy(),
            session=session,
            **kwargs,
        )
        self.connection = connection
        self._session.hooks["response"].append(self._count_invalid)

    # ------------------------------------------------------------------ pacing and accounting

    def _count_invalid(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        if response.status_code in (401, 403) or (
            response.status_code == 429 and response.headers.get("X-RateLimit-Scope") != "shared"
        ):
            self.invalid_requests += 1

    def _pace(self) -> None:
        """At most ``global_requests_per_second`` requests in any second (Discord's global limit)."""
        now = self._clock()
        if len(self._recent) == self._recent.maxlen:
            wait = self._recent[0] + 1.0 - now
            if wait > 0:
                self._sleep(wait, rate_limit=True)
                now = self._clock()
        self._recent.append(now)

    # ------------------------------------------------------------------ endpoints

    def me(self) -> dict[str, Any]:
        """``/users/@me``; refuses a token whose account is not a bot."""
        data = _object(self.get("/users/@me").data, "/users/@me")
        if data.get("bot") is not True:
            raise AuthenticationError(
                f"connection {self.connection.conn_id}: the token belongs to a user account, not a bot; "
                "user tokens are refused (Discord's terms): use a bot token (docs/discord.md)"
            )
        return data

    def check_message_content_intent(self) -> None:
        """``/applications/@me``: the bot must have the Message Content intent, or every message
        would be stored with empty content, embeds and attachments."""
        flags = _object(self.get("/applications/@me").data, "/applications/@me").get("flags")
        if not isinstance(flags, int) or not flags & MESSAGE_CONTENT_FLAGS:
            raise ConfigError(
                f"connection {self.connection.conn_id}: the bot lacks the Message Content intent "
                "(Developer Portal > Bot > Privileged Gateway Intents); without it Discord sends "
                "messages with empty content (docs/discord.md, bot setup)"
            )

    def guild(self, guild_id: str) -> dict[str, Any]:
        return _object(self.get(f"/guilds/{guild_id}").data, f"/guilds/{guild_id}")

    def channel(self, channel_id: str) -> dict[str, Any]:
        return _object(self.get(f"/channels/{channel_id}").data, f"/channels/{channel_id}")

    def guild_channels(self, guild_id: str) -> list[dict[str, Any]]:
        return _objects(self.get(f"/guilds/{guild_id}/channels").data, f"/guilds/{guild_id}/channels")

    def active_threads(self, guild_id: str) -> list[dict[str, Any]]:
        path = f"/guilds/{guild_id}/threads/active"
        body = _object(self.get(path).data, path)
        return _objects(body.get("threads"), path, "threads")

    def archived_public_threads(
        self, parent_id: str, *, newer_than: dt.datetime | None
    ) -> Iterator[dict[str, Any]]:
        """Public archived threads of ``parent_id``, most recently archived first, down to those
        archived before ``newer_than`` (all of them when ``None``)."""
        path = f"/channels/{parent_id}/threads/archived/public"
        before: str | None = None
        while True:
            params: dict[str, Any] = {"limit": PAGE_SIZE}
            if before:
                params["before"] = before
            body = _object(self.get(path, params).data, path)
            threads = _objects(body.get("threads"), path, "threads")
            for thread in threads:
                stamp = _archive_time(thread, path)
                if newer_than is not None and stamp is not None and stamp < newer_than:
                    return
                yield thread
            if not body.get("has_more") or not threads:
                return
            last = _archive_time(threads[-1], path)
            if last is None:
                return
            following = last.isoformat()
            if following == before:
                raise DataValidationError("archived threads: has_more but the page did not move", source=path)
            before = following

    def messages_after(self, channel_id: str, after: int) -> Iterator[list[dict[str, Any]]]:
        """Pages of messages newer than the snowflake ``after``, oldest first, each sorted by id;
        the last page is the first with fewer than :data:`PAGE_SIZE` messages."""
        path = f"/channels/{channel_id}/messages"
        while True:
            page = _objects(self.get(path, {"after": str(after), "limit": PAGE_SIZE}).data, path)
            ids = [_message_id(item, path, index) for index, item in enumerate(page)]
            for index, item in enumerate(page):
                if item.get("channel_id") not in (None, channel_id):
                    raise DataValidationError(
                        f"message {ids[index]} belongs to channel {str(item.get('channel_id'))[:24]}",
                        source=path,
                        location=f"[{index}].channel_id",
                    )
            ordered = [item for _id, item in sorted(zip(ids, page, strict=True), key=lambda pair: pair[0])]
            if ordered and int(ordered[0]["id"]) <= after:
                raise DataValidationError(f"a message at or before after={after} was returned", source=path)
            yield ordered
            if len(page) < PAGE_SIZE:
                return
            after = max(ids)


def _object(value: Any, source: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise DataValidationError(f"expected a JSON object, got {type(value).__name__}", source=source)
    return value


def _objects(value: Any, source: str, location: str = "$") -> list[dict[str, Any]]:
    if not isinstance(value, list):
        raise DataValidationError(
            f"expected a JSON array, got {type(value).__name__}", source=source, location=location
        )
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise DataValidationError(
                f"expected an object, got {type(item).__name__}",
                source=source,
                location=f"{location}[{index}]",
            )
    return value


def _message_id(item: Mapping[str, Any], source: str, index: int) -> int:
    value = item.get("id")
    if not isinstance(value, str) or not value.isascii() or not value.isdigit() or len(value) > 20:
        raise DataValidationError(
            f"message id must be a snowflake string, got {str(value)[:30]!r}",
            source=source,
            location=f"[{index}].id",
        )
    return int(value)


def _archive_time(thread: Mapping[str, Any], source: str) -> dt.datetime | None:
    metadata = thread.get("thread_metadata")
    stamp = metadata.get("archive_timestamp") if isinstance(metadata, dict) else None
    if stamp is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(str(stamp))
    except ValueError:
        raise DataValidationError(
            f"thread {thread.get('id')}: archive_timestamp is not ISO-8601", source=source
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)
