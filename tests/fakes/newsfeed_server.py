"""A fake Newsfeed API (the Hacker News-style JSON API of docs/tutorial-new-source.md) on the
wire-fakes toolkit (:mod:`tests.fakes.wire`).

Routes (GET only), every list sorted oldest-updated first and filtered by ``updated_since``:

* ``/v1/stories?updated_since=&limit=&cursor=`` -> ``{"stories": [...], "next_cursor": "..."|null}``
* ``/v1/comments?updated_since=&per_page=&page=`` -> a JSON array, ``Link: <...>; rel="next"``

Every answer carries a content ``ETag`` and honours ``If-None-Match`` (304, empty body). With
``api_key`` set, requests without ``X-Api-Key: <key>`` get 401. Rate limits, 5xx, broken
bodies and dropped connections are the toolkit's faults (``server.inject(Fault(429, ...))``).

Standalone (the tutorial and the e2e test)::

    python tests/fakes/newsfeed_server.py --port 8765 [--api-key KEY]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``tests.fakes`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.wire import Dataset, Reply, Request, WireServer, etag, link_header, not_modified, number_page

__all__ = ["NewsfeedData", "NewsfeedServer", "sample_data"]


def _iso(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class NewsfeedData(Dataset):
    """Stories and comments; every mutation advances the logical clock one minute."""

    def __init__(self) -> None:
        super().__init__(first_id=100)
        self.stories: dict[int, dict[str, Any]] = {}
        self.comments: dict[int, dict[str, Any]] = {}

    def story(self, title: str, *, by: str = "ada", text: str = "", url: str | None = None) -> int:
        with self.lock:
            item_id, now = self.next_id(), self.tick()
            self.stories[item_id] = {
                "id": item_id, "type": "story", "by": by, "time": now, "updated_at": now,
                "title": title, "text": text, "url": url, "score": 1,
            }  # fmt: skip
            return item_id

    def comment(self, story_id: int, text: str, *, by: str = "bob", parent_id: int | None = None) -> int:
        with self.lock:
            item_id, now = self.next_id(), self.tick()
            self.comments[item_id] = {
                "id": item_id, "type": "comment", "by": by, "time": now, "updated_at": now,
                "text": text, "story_id": story_id, "parent_id": parent_id or story_id,
            }  # fmt: skip
            return item_id

    def _item(self, item_id: int) -> dict[str, Any]:
        return self.stories.get(item_id) or self.comments[item_id]

    def edit(self, item_id: int, **changes: Any) -> None:
        with self.lock:
            self._item(item_id).update(changes, updated_at=self.tick())

    def delete(self, item_id: int) -> None:
        """Like the real thing: a deleted item keeps its id and times, loses author and text."""
        with self.lock:
            item = self._item(item_id)
            for field in ("by", "text", "title", "url"):
                item.pop(field, None)
            item.update(deleted=True, updated_at=self.tick())

    def listing(self, kind: str, since: str | None) -> list[dict[str, Any]]:
        with self.lock:
            items = list((self.stories if kind == "stories" else self.comments).values())
        rows = sorted(items, key=lambda i: (i["updated_at"], i["id"]))
        rendered = [{k: _iso(v) if isinstance(v, dt.datetime) else v for k, v in i.items()} for i in rows]
        return [i for i in rendered if since is None or i["updated_at"] >= since]


class NewsfeedServer(WireServer):
    methods = ("GET",)
    server_name = "newsfeed-fake"

    def __init__(self, data: NewsfeedData | None = None, *, api_key: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data = data or NewsfeedData()
        self.api_key = api_key

    def handle(self, request: Request) -> Reply:
        if self.api_key is not None and request.headers.get("X-Api-Key") != self.api_key:
            return Reply.json(401, {"error": "invalid or missing API key"})
        query = request.query
        since = query.get("updated_since")
        if request.path == "/v1/stories":
            items = self.data.listing("stories", since)
            limit = min(max(int(query.get("limit", "30")), 1), 500)
            offset = int(query.get("cursor", "0") or 0)
            following = offset + limit if offset + limit < len(items) else None
            page = {"stories": items[offset : offset + limit], "next_cursor": str(following) if following else None}
            return self._conditional(request, Reply.json(200, page))
        if request.path == "/v1/comments":
            items, links = number_page(self.data.listing("comments", since), query, self.url("/v1/comments"))
            headers = {"Link": link_header(links)} if links else {}
            return self._conditional(request, Reply.json(200, items, headers))
        return Reply.json(404, {"error": f"no route {request.path}"})

    @staticmethod
    def _conditional(request: Request, reply: Reply) -> Reply:
        tag = etag(reply.body or b"")
        if not_modified(request.headers, tag):
            request.notes["not_modified"] = True
            return Reply(304, None, {"ETag": tag})
        reply.headers["ETag"] = tag
        return reply


def sample_data() -> NewsfeedData:
    """A small front page: three stories, a few comments, one edit, one deletion."""
    data = NewsfeedData()
    compilers = data.story("Modules in practice: build times with GCC 14", by="ada", url="https://example.org/modules")
    first = data.comment(compilers, "Header units cut our clean build by a third.", by="bob")
    data.comment(compilers, "Which build system did you use?", by="carol", parent_id=first)
    coroutines = data.story("Ask: coroutine frame allocation", by="dave", text="Can the frame live on the stack?")
    data.comment(coroutines, "HALO elides the allocation when the lifetime is nested.", by="erin")
    gone = data.story("Spam", by="mallory")
    data.delete(gone)
    data.edit(compilers, score=42)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--api-key", default=None)
    args = parser.parse_args(argv)
    server = NewsfeedServer(sample_data(), api_key=args.api_key, host=args.host, port=args.port)
    print(f"Newsfeed fake API on {server.root}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
