"""Walking a subreddit's ``/new`` or ``/comments`` listing (newest first, ``after`` fullnames)
down to the stored checkpoint, one transaction per page (rows + checkpoint), and the bounded
walk of a backfill, which Reddit's ~1,000-item listing cap can refuse."""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Connection

from core.errors import ConfigError, DataValidationError
from core.streams import Checkpointer, Window
from reddit_activity_tracker.api_schemas import Comment, Submission, parse_listing, parse_things
from reddit_activity_tracker.client import RedditClient
from reddit_activity_tracker.config import SubredditConfig
from reddit_activity_tracker.rows import write_comments, write_submissions
from reddit_activity_tracker.state import Mark, RedditState, StreamState

__all__ = [
    "COMMENTS",
    "LISTING_CAP",
    "SUBMISSIONS",
    "BackfillTooDeepError",
    "ListingStream",
    "walk",
    "walk_window",
]

log = logging.getLogger("reddit_activity_tracker")

LISTING_CAP = 1000  # Reddit serves about this many items of a listing, however deep `after` goes
Writer = Callable[[Connection, Sequence[Any], SubredditConfig, dt.datetime], None]


@dataclasses.dataclass(frozen=True)
class ListingStream:
    name: str
    path: str  # "{sub}" is the subreddit
    kind: str
    model: type[BaseModel]
    write: Writer


SUBMISSIONS = ListingStream("submissions", "/r/{sub}/new", "t3", Submission, write_submissions)
COMMENTS = ListingStream("comments", "/r/{sub}/comments", "t1", Comment, write_comments)


class BackfillTooDeepError(ConfigError):
    """A bounded run asked for items older than the listing reaches (nothing was written)."""


@dataclasses.dataclass
class _Page:
    items: list[Any]
    after: str | None


def _pages(client: RedditClient, stream: ListingStream, sub: SubredditConfig, page_size: int,
           after: str | None) -> Any:  # fmt: skip
    """Pages from ``after`` (the top when ``None``) to the listing's end, each validated whole."""
    path = stream.path.format(sub=sub.name)
    seen: set[str] = set()
    for _ in range(math.ceil(LISTING_CAP * 1.5 / page_size) + 2):
        response = client.listing(path, {"limit": page_size, **({"after": after} if after else {})})
        listing = parse_listing(response.data, endpoint=response.endpoint)
        items = parse_things(listing.data.children, stream.kind, stream.model, endpoint=response.endpoint)
        yield _Page(items, listing.data.after)
        if listing.data.after is None:
            return
        if listing.data.after in seen:
            raise DataValidationError("listing loops back to a page already read", source=response.endpoint)
        seen.add(after := listing.data.after)
    raise DataValidationError(f"listing goes on past {LISTING_CAP} items", source=path)


def walk(
    client: RedditClient,
    stream: ListingStream,
    sub: SubredditConfig,
    checkpoint: Checkpointer[RedditState],
    *,
    page_size: int,
    first_floor: dt.datetime,
    overlap: dt.timedelta,
    now: dt.datetime,
    counts: collections.Counter[str],
    keep: Callable[[Any], bool] = lambda _item: True,
) -> list[Any]:
    """Read new things down to the checkpoint (or ``first_floor`` on a first run); returns those
    stored. A walk resumed from a crash is finished first, then the things that arrived above it
    since are read by a fresh walk from the top."""
    state = checkpoint.state.stream(stream.name)
    floor_name = state.newest.fullname if state.newest else None
    floor = (state.newest.created_at - overlap) if state.newest else first_floor
    top, after = state.top, state.after
    stored: list[Any] = []
    pages = _pages(client, stream, sub, page_size, after)
    resuming = resumed = after is not None
    while True:
        page = next(pages)
        if resuming and not page.items:
            # the thing we were to resume after is gone from the listing: start again from the top
            log.warning("r/%s %s: cannot resume after %s; reading from the top", sub.name, stream.name, after)
            counts[f"{stream.name}_restarts"] += 1
            top, after = None, None
            pages = _pages(client, stream, sub, page_size, None)
            resuming = resumed = False
            continue
        resuming = False
        if top is None and page.items:
            top = Mark(page.items[0].name, page.items[0].created_utc)
        fresh: list[Any] = []
        reached = False
        for item in page.items:
            if item.name == floor_name or item.created_at < floor:
                reached = True
                break
            fresh.append(item)
        wanted = [item for item in fresh if keep(item)]
        if reached or page.after is None:
            if not reached:
                _listing_ended(stream, sub, state, counts)
            new = StreamState(newest=top or state.newest)
        else:
            new = StreamState(newest=state.newest, top=top, after=page.after)
        checkpoint.commit(
            lambda conn, items=wanted: stream.write(conn, items, sub, now) if items else None,
            checkpoint.state.with_stream(stream.name, new),
        )
        counts[stream.name] += len(wanted)
        counts[f"{stream.name}_pages"] += 1
        stored += wanted
        if new.after is None:
            if resumed:
                counts[f"{stream.name}_resumed"] += 1
                return stored + walk(client, stream, sub, checkpoint, page_size=page_size, first_floor=first_floor,
                                     overlap=overlap, now=now, counts=counts, keep=keep)  # fmt: skip
            return stored
        after = page.after


def _listing_ended(
    stream: ListingStream, sub: SubredditConfig, state: StreamState, counts: collections.Counter[str]
) -> None:
    if state.newest is not None:
        counts["gap_detected"] += 1
        log.warning(
            "r/%s %s: the listing ended (Reddit serves about %d items) before reaching the checkpoint "
            "%s: things in between are missed; schedule this subreddit more often",
            sub.name, stream.name, LISTING_CAP, state.newest.fullname,
        )  # fmt: skip
    else:
        counts[f"{stream.name}_history_truncated"] += 1
        log.info(
            "r/%s %s: first run reached the listing's end (about %d items)",
            sub.name,
            stream.name,
            LISTING_CAP,
        )


def walk_window(
    client: RedditClient,
    stream: ListingStream,
    sub: SubredditConfig,
    checkpoint: Checkpointer[RedditState],
    *,
    page_size: int,
    window: Window,
    now: dt.datetime,
    counts: collections.Counter[str],
    keep: Callable[[Any], bool] = lambda _item: True,
) -> list[Any]:
    """A bounded run (backfill): things created inside ``window``, written only once the walk
    reached ``window.since``. Listings end at about 1,000 items, so an older ``since`` is
    refused (:class:`BackfillTooDeepError`) before anything is written."""
    found: list[Any] = []
    oldest: Any = None
    for page in _pages(client, stream, sub, page_size, None):
        counts[f"{stream.name}_pages"] += 1
        for item in page.items:
            oldest = item
            if window.since is not None and item.created_at < window.since:
                break
            if window.holds(item.created_at) and keep(item):
                found.append(item)
        else:
            continue
        break
    else:
        if window.since is not None:
            reach = f"{oldest.created_at:%Y-%m-%d %H:%M}Z" if oldest is not None else "nothing"
            raise BackfillTooDeepError(
                f"reddit backfill of r/{sub.name} {stream.name} since {window.since:%Y-%m-%d %H:%M}Z refused: "
                f"Reddit listings end at about {LISTING_CAP} items and this one reaches back only to {reach}. "
                "Older things cannot be read through the Data API listings; pick a later since "
                "(nothing was written)"
            )
    checkpoint.commit(lambda conn: stream.write(conn, found, sub, now) if found else None)
    counts[stream.name] += len(found)
    return found
