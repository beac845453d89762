"""A fake Reddit Data API on the wire-fakes toolkit (:mod:`tests.fakes.wire`).

Routes, as Reddit serves them to an app-only OAuth client:

* ``POST /api/v1/access_token`` -- HTTP Basic ``client_id:secret``, form
  ``grant_type=client_credentials`` -> ``{"access_token", "token_type": "bearer", "expires_in",
  "scope": "*"}``; wrong credentials or a revoked client -> 401.
* Every other route needs ``Authorization: bearer <token>``; an unknown or expired token -> 401
  (tokens expire ``expires_in`` seconds after minting, on the server's clock).
* ``GET /r/{sub}/new`` and ``/r/{sub}/comments`` -- ``Listing`` newest first, ``limit`` (<= 100),
  ``after=<fullname>``; only the newest ``cap`` things are reachable (then ``after`` is null).
  Moderator-removed things leave the listings; deleted ones stay, as ``[deleted]``.
* ``GET /r/{sub}/about`` -- the ``t5`` thing (404 for an unknown subreddit).
* ``GET /api/info?id=t3_a,t1_b`` (<= 100 fullnames) -- the things, current state.
* ``GET /comments/{id}`` -- ``[Listing(t3), Listing(tree)]``; the first ``tree_limit`` comments
  nested by ``replies``, the others in ``more`` stubs.
* ``GET /api/morechildren?link_id=&children=a,b&api_type=json`` (<= 100 ids) -- ``{"json":
  {"errors": [], "data": {"things": [...]}}}``.

Every API answer carries ``X-Ratelimit-Used``, ``-Remaining`` (a float) and ``-Reset`` (seconds
to the end of the 600-second window) from a budget of ``budget`` queries per window; an empty
budget answers 429. Mutators: :meth:`RedditData.post`, ``comment``, ``edit``, ``delete``
(author and text become ``[deleted]``), ``delete_account``, ``remove`` (``[removed]``, ``removed_by_category``),
``score``.

Standalone::

    python tests/fakes/reddit_server.py --port 8766 --client-id ID --client-secret SECRET
"""

from __future__ import annotations

import argparse
import base64
import itertools
import re
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

if __package__ in (None, ""):  # run as a script: make ``tests.fakes`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.wire import Reply, Request, WireServer

__all__ = ["RedditData", "RedditServer", "sample_data"]

WINDOW = 600.0
_LISTING = re.compile(r"^/r/(?P<sub>\w+)/(?P<what>new|comments|about)$")


def base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


class RedditData:
    """Subreddits' submissions and comments; creation times advance ``step`` seconds per thing."""

    def __init__(self, start: float = 1_750_000_000.0 - 2 * 86400, *, step: float = 60.0) -> None:
        self.lock = threading.RLock()
        self.now = start
        self.step = step
        self._ids = itertools.count(36**4)
        self.things: dict[str, dict[str, Any]] = {}  # fullname -> data
        self.removed: set[str] = set()

    def _stamp(self, at: float | None) -> float:
        self.now = at if at is not None else self.now + self.step
        return self.now

    def post(self, sub: str, title: str, *, author: str = "ada", selftext: str = "", url: str | None = None,
             score: int = 1, flair: str | None = None, at: float | None = None) -> str:  # fmt: skip
        with self.lock:
            thing_id = base36(next(self._ids))
            created = self._stamp(at)
            slug = re.sub(r"\W+", "_", title.lower())[:40]
            permalink = f"/r/{sub}/comments/{thing_id}/{slug}/"
            self.things[f"t3_{thing_id}"] = {
                "id": thing_id, "name": f"t3_{thing_id}", "subreddit": sub, "subreddit_name_prefixed": f"r/{sub}",
                "author": author, "author_fullname": f"t2_{author}0", "title": title, "selftext": selftext,
                "url": url or f"https://www.reddit.com{permalink}", "permalink": permalink,
                "domain": "self." + sub if url is None else url.split("/")[2], "is_self": url is None,
                "link_flair_text": flair, "score": score, "ups": score, "upvote_ratio": 1.0, "num_comments": 0,
                "created_utc": created, "created": created, "edited": False, "removed_by_category": None,
                "over_18": False, "locked": False, "stickied": False, "thumbnail": "self",
            }  # fmt: skip
            return thing_id

    def comment(self, post_id: str, body: str, *, author: str = "bob", parent: str | None = None,
                score: int = 1, at: float | None = None) -> str:  # fmt: skip
        with self.lock:
            post = self.things[f"t3_{post_id}"]
            thing_id = base36(next(self._ids))
            created = self._stamp(at)
            self.things[f"t1_{thing_id}"] = {
                "id": thing_id, "name": f"t1_{thing_id}", "subreddit": post["subreddit"],
                "author": author, "author_fullname": f"t2_{author}0", "body": body,
                "link_id": f"t3_{post_id}", "parent_id": f"t1_{parent}" if parent else f"t3_{post_id}",
                "score": score, "created_utc": created, "created": created, "edited": False,
                "distinguished": None, "stickied": False, "replies": "",
                "permalink": f"{post['permalink']}{thing_id}/",
            }  # fmt: skip
            post["num_comments"] += 1
            return thing_id

    def thing(self, thing_id: str) -> dict[str, Any]:
        return self.things.get(f"t3_{thing_id}") or self.things[f"t1_{thing_id}"]

    def edit(self, thing_id: str, text: str) -> None:
        with self.lock:
            item = self.thing(thing_id)
            item["body" if "body" in item else "selftext"] = text
            item["edited"] = self._stamp(None)

    def score(self, thing_id: str, score: int) -> None:
        with self.lock:
            self.thing(thing_id).update(score=score, ups=score)

    def delete(self, thing_id: str) -> None:
        """Deleted by its author: the thing stays, its author and text become ``[deleted]``."""
        with self.lock:
            item = self.thing(thing_id)
            item.pop("author_fullname", None)
            item["author"] = "[deleted]"
            if "body" in item:
                item["body"] = "[deleted]"
            else:
                item.update(selftext="[deleted]", removed_by_category="deleted")

    def delete_account(self, author: str) -> None:
        """The account is deleted: its things keep their text, their author becomes ``[deleted]``."""
        with self.lock:
            for item in self.things.values():
                if item.get("author") == author:
                    item.pop("author_fullname", None)
                    item["author"] = "[deleted]"

    def remove(self, thing_id: str) -> None:
        """Removed by a moderator: ``[removed]``, gone from the listings, still in /api/info."""
        with self.lock:
            item = self.thing(thing_id)
            if "body" in item:
                item.update(body="[removed]", author="[deleted]")
                item.pop("author_fullname", None)
            else:
                item.update(selftext="[removed]", removed_by_category="moderator")
            self.removed.add(item["name"])

    def listing(self, sub: str, kind: str) -> list[dict[str, Any]]:
        with self.lock:
            found = [t for name, t in self.things.items() if name.startswith(kind)
                     and t["subreddit"].lower() == sub.lower() and name not in self.removed]  # fmt: skip
        return sorted(found, key=lambda t: (t["created_utc"], t["id"]), reverse=True)

    def tree(self, post_id: str) -> list[dict[str, Any]]:
        """The submission's comments, depth-first (each followed by its replies), newest first."""
        with self.lock:
            comments = [
                t for n, t in self.things.items() if n.startswith("t1_") and t["link_id"] == f"t3_{post_id}"
            ]
        children: dict[str, list[dict[str, Any]]] = {}
        for c in sorted(comments, key=lambda t: (t["created_utc"], t["id"]), reverse=True):
            children.setdefault(c["parent_id"], []).append(c)
        ordered: list[dict[str, Any]] = []

        def visit(parent: str) -> None:
            for c in children.get(parent, []):
                ordered.append(c)
                visit(c["name"])

        visit(f"t3_{post_id}")
        return ordered


def _thing(data: dict[str, Any]) -> dict[str, Any]:
    return {"kind": data["name"][:2], "data": dict(data)}


def _listing(children: list[dict[str, Any]], after: str | None = None) -> dict[str, Any]:
    return {"kind": "Listing", "data": {"after": after, "before": None, "dist": len(children),
                                        "modhash": None, "children": children}}  # fmt: skip


class RedditServer(WireServer):
    methods = ("GET", "POST")
    server_name = "snooserv"

    def __init__(
        self,
        data: RedditData | None = None,
        *,
        client_id: str = "fake-client-id",
        client_secret: str = "fake-client-secret",  # noqa: S107 - a fake
        expires_in: int = 3600,
        budget: int = 1000,
        cap: int = 1000,
        tree_limit: int = 200,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data = data or RedditData()
        self.client_id, self.client_secret = client_id, client_secret
        self.expires_in = expires_in
        self.budget, self.cap, self.tree_limit = budget, cap, tree_limit
        self.revoked = False
        self.tokens: dict[str, float] = {}  # token -> expiry (server clock)
        self._minted = itertools.count(1)
        self._window_start: float | None = None
        self._used = 0
        self.user_agents: set[str] = set()

    @property
    def token_url(self) -> str:
        return self.url("/api/v1/access_token")

    def expire_tokens(self) -> None:
        """Every token minted so far answers 401 from now on (as after ``expires_in``)."""
        for token in self.tokens:
            self.tokens[token] = 0.0

    # ---------------------------------------------------------------- routes

    def handle(self, request: Request) -> Reply:
        self.user_agents.add(request.headers.get("User-Agent") or "")
        if request.path == "/api/v1/access_token":
            return self._token(request)
        auth = request.headers.get("Authorization") or ""
        token = auth[7:] if auth.lower().startswith("bearer ") else ""
        if self.tokens.get(token, 0.0) <= self.clock():
            request.notes["token"] = "expired" if token in self.tokens else "unknown"
            return Reply.json(401, {"message": "Unauthorized", "error": 401},
                              {"WWW-Authenticate": 'Bearer realm="reddit", error="invalid_token"'})  # fmt: skip
        request.notes["token"] = token
        limits = self._spend()
        if limits is None:
            return Reply.json(429, {"message": "Too Many Requests", "error": 429}, self._headers())
        reply = self._route(request)
        reply.headers.update(limits)
        return reply

    def _token(self, request: Request) -> Reply:
        if request.method != "POST":
            return Reply.json(405, {"message": "Method Not Allowed", "error": 405})
        auth = request.headers.get("Authorization") or ""
        try:
            user, _, secret = base64.b64decode(auth.removeprefix("Basic ")).decode().partition(":")
        except ValueError:
            user, secret = "", ""
        form = dict(parse_qsl(request.body.decode()))
        if self.revoked or (user, secret) != (self.client_id, self.client_secret):
            return Reply.json(401, {"message": "Unauthorized", "error": 401})
        if form.get("grant_type") != "client_credentials":
            return Reply.json(200, {"error": "unsupported_grant_type"})
        token = f"fake-access-{next(self._minted)}-{'x' * 24}"
        self.tokens[token] = self.clock() + self.expires_in
        return Reply.json(200, {"access_token": token, "token_type": "bearer", "expires_in": self.expires_in,
                                "scope": "*"})  # fmt: skip

    def _spend(self) -> dict[str, str] | None:
        now = self.clock()
        if self._window_start is None or now >= self._window_start + WINDOW:
            self._window_start, self._used = now - now % WINDOW, 0
        if self._used >= self.budget:
            return None
        self._used += 1
        return self._headers()

    def _headers(self) -> dict[str, str]:
        start = self._window_start or self.clock()
        return {
            "X-Ratelimit-Used": str(self._used),
            "X-Ratelimit-Remaining": f"{float(self.budget - self._used):.1f}",
            "X-Ratelimit-Reset": str(max(int(start + WINDOW - self.clock()), 0)),
        }

    def _route(self, request: Request) -> Reply:
        query = request.query
        match = _LISTING.match(request.path)
        if match and match["what"] == "about":
            sub = match["sub"]
            if not any(t["subreddit"].lower() == sub.lower() for t in self.data.things.values()):
                return Reply.json(404, {"message": "Not Found", "error": 404})
            return Reply.json(200, {"kind": "t5", "data": {"display_name": sub, "name": f"t5_{sub}"}})
        if match:
            kind = "t3_" if match["what"] == "new" else "t1_"
            items = self.data.listing(match["sub"], kind)[: self.cap]
            limit = min(max(int(query.get("limit") or 25), 1), 100)
            start = 0
            if after := query.get("after"):
                names = [t["name"] for t in items]
                if after not in names:
                    return Reply.json(200, _listing([]))
                start = names.index(after) + 1
            page = items[start : start + limit]
            following = page[-1]["name"] if page and start + limit < len(items) else None
            return Reply.json(200, _listing([_thing(t) for t in page], following))
        if request.path == "/api/info":
            names = [n for n in (query.get("id") or "").split(",") if n]
            if len(names) > 100:
                return Reply.json(400, {"message": "Bad Request", "error": 400})
            with self.data.lock:
                found = [_thing(self.data.things[n]) for n in names if n in self.data.things]
            return Reply.json(200, _listing(found))
        if request.path.startswith("/comments/"):
            return self._tree(request.path.split("/")[2])
        if request.path == "/api/morechildren":
            ids = [i for i in (query.get("children") or "").split(",") if i]
            if len(ids) > 100 or query.get("api_type") != "json":
                return Reply.json(400, {"message": "Bad Request", "error": 400})
            with self.data.lock:
                things = [_thing(self.data.things[f"t1_{i}"]) for i in ids if f"t1_{i}" in self.data.things]
            return Reply.json(200, {"json": {"errors": [], "data": {"things": things}}})
        return Reply.json(404, {"message": "Not Found", "error": 404})

    def _tree(self, post_id: str) -> Reply:
        post = self.data.things.get(f"t3_{post_id}")
        if post is None:
            return Reply.json(404, {"message": "Not Found", "error": 404})
        ordered = self.data.tree(post_id)
        shown, rest = ordered[: self.tree_limit], ordered[self.tree_limit :]
        nodes = {c["name"]: {**c, "replies": ""} for c in shown}
        roots: list[dict[str, Any]] = []
        for c in shown:
            thing = {"kind": "t1", "data": nodes[c["name"]]}
            parent = nodes.get(c["parent_id"])
            if parent is None:
                roots.append(thing)
            else:
                if parent["replies"] == "":
                    parent["replies"] = _listing([])
                parent["replies"]["data"]["children"].append(thing)
        if rest:
            roots.append({"kind": "more", "data": {"count": len(rest), "name": f"t1_{rest[0]['id']}",
                                                   "id": rest[0]["id"], "parent_id": f"t3_{post_id}", "depth": 0,
                                                   "children": [c["id"] for c in rest]}})  # fmt: skip
        return Reply.json(200, [_listing([_thing(post)]), _listing(roots)])


def sample_data(start: float = 1_750_000_000.0 - 2 * 86400) -> RedditData:
    """r/cpp in small: three submissions, a comment tree, an edit, a deletion, a removal."""
    data = RedditData(start)
    modules = data.post("cpp", "C++20 modules in production: build times", author="ada", score=42,
                        selftext="We moved 2M lines to modules. Clean builds got 30% faster.", flair="Discussion")  # fmt: skip
    first = data.comment(
        modules, "Which compiler? MSVC's BMI format differs from Clang's.", author="bob", score=7
    )
    data.comment(modules, "MSVC 17.10, CMake 3.30 with import std.", author="ada", parent=first, score=5)
    data.comment(modules, "Header units were the hard part for us.", author="carol", score=3)
    question = data.post("cpp", "Coroutine frame allocation elision (HALO) in practice?", author="dave", score=12,
                         selftext="When does the compiler put the coroutine frame on the stack?")  # fmt: skip
    data.comment(question, "HALO needs the coroutine lifetime nested in the caller.", author="erin", score=9)
    spam = data.post("cpp", "Buy cheap followers", author="mallory", url="https://spam.example/x")
    data.remove(spam)
    regret = data.comment(question, "I posted my company's code by mistake", author="frank")
    data.delete(regret)
    data.edit(first, "Which compiler? MSVC's BMI format differs from Clang's and GCC's.")
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--client-id", default="fake-client-id")
    parser.add_argument("--client-secret", default="fake-client-secret")
    args = parser.parse_args(argv)
    import time

    server = RedditServer(sample_data(time.time() - 86400), client_id=args.client_id,
                          client_secret=args.client_secret, host=args.host, port=args.port)  # fmt: skip
    print(f"Reddit fake API on {server.root}", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
