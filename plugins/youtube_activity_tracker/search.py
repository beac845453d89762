"""Discovery by ``search.list``: every configured query over one publication window.

The window (``window_start`` .. a ``window_end`` fixed when it is opened) moves forward only
when every query has completed for it; queries done are remembered, so a run cut by the daily
call budget or by ``quotaExceeded`` resumes with the queries left, over the same window.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
from collections.abc import Callable

from pydantic import TypeAdapter

from core.store import Store
from youtube_activity_tracker.api import YouTubeApi, pacific_day
from youtube_activity_tracker.api_schemas import SearchResult
from youtube_activity_tracker.config import SearchConfig
from youtube_activity_tracker.rows import known_videos, write_videos
from youtube_activity_tracker.state import PartitionState
from youtube_activity_tracker.walk import fetch_videos, parse_items

__all__ = ["SearchDiscovery"]

_RESULTS = TypeAdapter(list[SearchResult])


@dataclasses.dataclass
class SearchDiscovery:
    api: YouTubeApi
    store: Store
    state: PartitionState
    config: SearchConfig
    now: Callable[[], dt.datetime]
    counts: collections.Counter[str]

    def run(self) -> None:
        extras = dict(self.state.extras)
        now = self.now()
        day = pacific_day(now)
        calls = int(extras.get("calls", 0)) if extras.get("day") == day else 0
        start = dt.datetime.fromisoformat(str(extras.get("window_start") or self.config.start))
        end = dt.datetime.fromisoformat(str(extras["window_end"])) if extras.get("window_end") else now
        done = list(extras.get("done") or [])
        base = {"window_start": start.isoformat(), "window_end": end.isoformat(), "day": day}
        for query in self.config.queries:
            if query in done:
                continue
            ids: list[str] = []
            token: str | None = None
            for _page in range(self.config.max_pages_per_query):
                if calls >= self.config.max_search_calls_per_day:
                    self.counts["search_budget_exhausted"] += 1
                    with self.store.transaction() as conn:  # the window stays; the queries done are kept
                        self.state.save(
                            conn, {**base, "done": done, "calls": calls}, marker=start.isoformat()
                        )
                    return
                calls += 1
                page = self.api.search_page(query, start, end, token)
                self.counts["search_calls"] += 1
                results: list[SearchResult] = parse_items(_RESULTS, page.get("items"), "/search")
                ids += [r.id.video_id for r in results if r.id.video_id]
                token = page.get("nextPageToken")
                if not token:
                    break
            else:
                self.counts["search_truncated"] += 1  # more results than max_pages_per_query
            with self.store.engine.connect() as conn:
                new = sorted(set(ids) - known_videos(conn, set(ids))) if ids else []
            videos = fetch_videos(self.api, new) if new else []
            done.append(query)
            with self.store.transaction() as conn:
                write_videos(conn, videos, self.now(), search_term=query)
                self.counts["videos_new"] += len(videos)  # only ids not stored before were read
                self.state.save(conn, {**base, "done": done, "calls": calls}, marker=start.isoformat())
        with self.store.transaction() as conn:  # every query completed: the window moves
            self.state.save(conn, {"window_start": end.isoformat(), "window_end": None, "done": [], "day": day,
                                   "calls": calls}, marker=end.isoformat())  # fmt: skip
        self.counts["search_windows_completed"] += 1
