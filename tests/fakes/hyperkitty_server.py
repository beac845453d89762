"""A wire-level HyperKitty (Mailman 3 archiver) fake on the wire toolkit (``tests/fakes/wire.py``).

Serves, under ``/archives/``, what ``hyperkitty/urls.py`` and ``hyperkitty/api/*.py`` serve:
``api/lists/``, ``api/list/<fqdn>/``, ``api/list/<fqdn>/emails/`` (DRF LimitOffset pagination,
newest *archived* first), ``api/list/<fqdn>/email/<hash>/``, ``api/list/<fqdn>/threads/``
(``-date_active``), ``api/list/<fqdn>/thread/<id>/`` and ``.../thread/<id>/emails/``
(thread order), and ``list/<fqdn>/export/<name>.mbox.gz?start=&end=`` (filtered on the Date
header, gzip mbox; 400 "Archive download disabled." when ``mbox_export`` is off).

The dataset is loaded from raw RFC 822 messages. Like HyperKitty it computes
``message_id_hash`` (base32 SHA-1 of the bare Message-ID), threads by In-Reply-To (else the
last References id) when the parent is archived in the same list, and obfuscates sender
addresses (``user (a) host``). Its own body extraction (``email.policy.default``) stands in for
HyperKitty's, independent of the tracker's parser. Mutators: ``archive`` (with the archive
time under the test's control, any Date header), ``delete``, ``reattach``, ``cross_post``.
``auth=(user, password)`` makes every route private (HTTP basic auth, 401 without it, like a
HyperKitty behind a login-protected proxy).

Run standalone (e2e tests): ``python tests/fakes/hyperkitty_server.py --port N``.
"""

from __future__ import annotations

import argparse
import base64
import dataclasses
import datetime as dt
import email
import email.policy
import email.utils
import gzip
import hashlib
import re
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

if __package__ in (None, ""):  # standalone: make ``tests.fakes`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.wire import BASE_TIME, Dataset, Fault, Reply, Request, WireServer

__all__ = ["MAIL_DIR", "Archived", "HyperKittyData", "HyperKittyFake", "hk_hash"]

MAIL_DIR = Path(__file__).parent / "mail"
_PREFIX = "/archives"


def hk_hash(message_id: str) -> str:
    bare = email.utils.unquote(re.sub(r"\s", "", message_id)).strip("<>")
    return base64.b32encode(hashlib.sha1(bare.encode(), usedforsecurity=False).digest()).decode()


def _bare(value: str | None) -> str | None:
    if not value:
        return None
    found = re.findall(r"<([^<>\s]+)>", value)
    return found[0] if found else None


@dataclasses.dataclass
class Archived:
    """One email as HyperKitty keeps it in one list."""

    list_fqdn: str
    raw: bytes
    message_id: str
    hash: str
    thread_id: str
    parent: str | None
    subject: str
    sender_name: str
    address: str
    date: dt.datetime
    content: str
    attachments: list[dict[str, Any]]
    archived_at: dt.datetime
    order: int  # archive sequence (ties on archived_at)
    mailman_id: str


def _extract(raw: bytes) -> dict[str, Any]:
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    texts: list[str] = []
    attachments: list[dict[str, Any]] = []
    for part in msg.walk():
        if part.is_multipart():
            continue
        filename = part.get_filename()
        if (
            filename
            or part.get_content_disposition() == "attachment"
            or part.get_content_maintype() != "text"
        ):
            payload = part.get_payload(decode=True) or b""
            attachments.append(
                {
                    "counter": len(attachments) + 1,
                    "name": filename,
                    "content_type": part.get_content_type(),
                    "encoding": None,
                    "size": len(payload),
                }
            )
            continue
        if part.get_content_type() == "text/plain":
            try:
                texts.append(part.get_content())
            except LookupError:
                texts.append((part.get_payload(decode=True) or b"").decode("utf-8", "replace"))
    name, address = email.utils.parseaddr(str(msg.get("From", "")))
    parsed = email.utils.parsedate_tz(str(msg.get("Date", "")))
    date = None  # unreadable: HyperKitty dates it at archive time
    if parsed is not None:
        offset = parsed[9] if parsed[9] is not None and abs(parsed[9]) <= 14 * 3600 else 0
        date = dt.datetime(*parsed[:6], tzinfo=dt.UTC) - dt.timedelta(seconds=offset)
    refs = str(msg.get("References", "")).split()
    parent_id = _bare(str(msg.get("In-Reply-To", ""))) or (_bare(refs[-1]) if refs else None)
    return {
        "message_id": _bare(str(msg["Message-ID"])) or "",
        "subject": " ".join(str(msg.get("Subject", "")).split()),
        "sender_name": name,
        "address": address.lower(),
        "date": date,
        "content": "\n\n".join(t.replace("\r\n", "\n").strip("\n") for t in texts),
        "attachments": attachments,
        "parent_id": parent_id,
    }


class HyperKittyData(Dataset):
    """The archive: lists of emails, in archive order."""

    def __init__(self, lists: tuple[str, ...] = ("boost@lists.example.org",)) -> None:
        super().__init__(BASE_TIME)
        self.lists: dict[str, list[Archived]] = {name: [] for name in lists}
        self.created = {name: BASE_TIME for name in lists}
        self._order = 0
        # Indexes (benchmarks archive 100,000 messages): by hash kept up to date, the rest
        # rebuilt lazily after a mutation (``_version``).
        self._hashes: dict[str, dict[str, Archived]] = {name: {} for name in lists}
        self._version = 0
        self._derived: dict[str, tuple[int, dict[str, Any]]] = {}

    def archive(self, raw: bytes, list_fqdn: str | None = None, *, at: dt.datetime | None = None) -> Archived:
        """Archive ``raw`` in a list now (or ``at``): HyperKitty's threading, hash, obfuscation."""
        with self.lock:
            fqdn = list_fqdn or next(iter(self.lists))
            emails = self.lists.setdefault(fqdn, [])
            known = self._hashes.setdefault(fqdn, {})
            fields = _extract(raw)
            digest = hk_hash(fields["message_id"])
            if digest in known:
                raise ValueError(f"{fields['message_id']} is already archived in {fqdn}")
            parent_hash = hk_hash(fields["parent_id"]) if fields["parent_id"] else None
            parent = known.get(parent_hash) if parent_hash else None
            self._order += 1
            archived = Archived(
                list_fqdn=fqdn,
                raw=raw,
                message_id=fields["message_id"],
                hash=digest,
                thread_id=parent.thread_id if parent else digest,
                parent=parent.hash if parent else None,
                subject=fields["subject"],
                sender_name=fields["sender_name"],
                address=fields["address"],
                date=fields["date"] or at or self.clock,
                content=fields["content"],
                attachments=fields["attachments"],
                archived_at=at or self.tick(),
                order=self._order,
                mailman_id=hashlib.md5(fields["address"].encode()).hexdigest(),  # noqa: S324 - an id
            )
            emails.append(archived)
            known[digest] = archived
            self._version += 1
            return archived

    def cross_post(self, raw: bytes, lists: list[str]) -> list[Archived]:
        return [self.archive(raw, name) for name in lists]

    def delete(self, list_fqdn: str, digest: str) -> None:
        with self.lock:
            emails = self.lists[list_fqdn]
            self.lists[list_fqdn] = [e for e in emails if e.hash != digest]
            self._hashes[list_fqdn].pop(digest, None)
            self._version += 1

    def reattach(self, list_fqdn: str, thread_id: str, into: str) -> None:
        """A moderator moves every email of ``thread_id`` into the thread ``into``."""
        with self.lock:
            emails = self.lists[list_fqdn]
            target_start = next(e for e in emails if e.thread_id == into and e.parent is None)
            for e in emails:
                if e.thread_id == thread_id:
                    if e.hash == thread_id:
                        e.parent = target_start.hash
                    e.thread_id = into
            self._version += 1

    def by_hash(self, list_fqdn: str) -> dict[str, Archived]:
        return self._hashes.get(list_fqdn, {})

    def _index(self, list_fqdn: str, name: str, build: Any) -> Any:
        with self.lock:
            version, values = self._derived.get(list_fqdn, (-1, {}))
            if version != self._version:
                values = {}
                self._derived[list_fqdn] = (self._version, values)
            if name not in values:
                values[name] = build()
            return values[name]

    def children(self, list_fqdn: str) -> dict[str, list[str]]:
        """Parent hash -> the hashes of its replies, in archive order."""

        def build() -> dict[str, list[str]]:
            out: dict[str, list[str]] = {}
            for e in self.lists[list_fqdn]:
                if e.parent:
                    out.setdefault(e.parent, []).append(e.hash)
            return out

        return self._index(list_fqdn, "children", build)

    def archive_order(self, list_fqdn: str) -> list[Archived]:
        """Newest archived first (``-archived_date``)."""
        return self._index(
            list_fqdn,
            "order",
            lambda: sorted(self.lists[list_fqdn], key=lambda e: (e.archived_at, e.order), reverse=True),
        )

    def threads(self, list_fqdn: str) -> list[dict[str, Any]]:
        return self._index(list_fqdn, "threads", lambda: self._threads(list_fqdn))

    def _threads(self, list_fqdn: str) -> list[dict[str, Any]]:
        groups: dict[str, list[Archived]] = {}
        for e in self.lists[list_fqdn]:
            groups.setdefault(e.thread_id, []).append(e)
        out = []
        for thread_id, members in groups.items():
            start = next((e for e in members if e.hash == thread_id), members[0])
            out.append(
                {
                    "thread_id": thread_id,
                    "subject": start.subject,
                    "starting": start.hash,
                    "date_active": max(e.date for e in members),
                    "members": members,
                }
            )
        return sorted(out, key=lambda t: (t["date_active"], t["thread_id"]), reverse=True)


class HyperKittyFake(WireServer):
    """See the module doc. ``mbox_export``: False answers exports with 400 like HyperKitty."""

    methods = ("GET",)
    server_name = "gunicorn"
    thread_name = "hyperkitty-fake"

    def __init__(
        self,
        data: HyperKittyData | None = None,
        *,
        mbox_export: bool = True,
        auth: tuple[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.data = data or HyperKittyData()
        self.mbox_export = mbox_export
        self.auth = auth

    @property
    def base_url(self) -> str:
        return self.url(_PREFIX + "/")

    # ------------------------------------------------------------------ serializers

    def _api(self, path: str) -> str:
        return f"{self.root}{_PREFIX}/api/{path}"

    def _short(self, e: Archived) -> dict[str, Any]:
        children = self.data.children(e.list_fqdn).get(e.hash, [])
        return {
            "url": self._api(f"list/{e.list_fqdn}/email/{e.hash}/"),
            "mailinglist": self._api(f"list/{e.list_fqdn}/"),
            "message_id": e.message_id,
            "message_id_hash": e.hash,
            "thread": self._api(f"list/{e.list_fqdn}/thread/{e.thread_id}/"),
            "sender": {
                "address": e.address.replace("@", " (a) "),  # HyperKitty's obfuscation
                "mailman_id": e.mailman_id,
                "emails": self._api(f"sender/{e.mailman_id}/emails/"),
            },
            "sender_name": e.sender_name,
            "subject": e.subject,
            "date": e.date.isoformat(),
            "parent": self._api(f"list/{e.list_fqdn}/email/{e.parent}/") if e.parent else None,
            "children": [self._api(f"list/{e.list_fqdn}/email/{h}/") for h in children],
        }

    def _detail(self, e: Archived) -> dict[str, Any]:
        return {
            **self._short(e),
            "votes": {"likes": 0, "dislikes": 0},
            "content": e.content,
            "attachments": [
                {**a, "email": self._api(f"list/{e.list_fqdn}/email/{e.hash}/"), "download": "x"}
                for a in e.attachments
            ],
        }

    def _thread_json(self, fqdn: str, t: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": self._api(f"list/{fqdn}/thread/{t['thread_id']}/"),
            "mailinglist": self._api(f"list/{fqdn}/"),
            "thread_id": t["thread_id"],
            "subject": t["subject"],
            "date_active": t["date_active"].isoformat(),
            "starting_email": self._api(f"list/{fqdn}/email/{t['starting']}/"),
            "emails": self._api(f"list/{fqdn}/thread/{t['thread_id']}/emails/"),
            "votes_total": 0,
            "replies_count": len(t["members"]) - 1,
            "next_thread": None,
            "prev_thread": None,
        }

    def _list(self, fqdn: str) -> dict[str, Any]:
        return {
            "url": self._api(f"list/{fqdn}/"),
            "name": fqdn,
            "display_name": fqdn.split("@")[0],
            "description": f"The {fqdn} list",
            "subject_prefix": "",
            "archive_policy": "public",
            "created_at": self.data.created[fqdn].isoformat(),
            "threads": "",
            "emails": "",
        }

    def _page(self, request: Request, items: list[Any], serialize: Any) -> Reply:
        query = request.query
        try:
            limit = max(1, min(int(query.get("limit", "10")), 1000))
            offset = max(0, int(query.get("offset", "0")))
        except ValueError:
            return Reply.json(400, {"detail": "bad limit/offset"})
        base = f"{self.root}{_PREFIX}{request.path}"

        def link(at: int) -> str:
            return f"{base}?{urlencode({**query, 'limit': limit, 'offset': at})}"

        return Reply.json(
            200,
            {
                "count": len(items),
                "next": link(offset + limit) if offset + limit < len(items) else None,
                "previous": link(max(0, offset - limit)) if offset > 0 else None,
                "results": [serialize(i) for i in items[offset : offset + limit]],
            },
        )

    # ------------------------------------------------------------------ routes

    def handle(self, request: Request) -> Reply:
        if not request.path.startswith(_PREFIX + "/"):
            return Reply.text(404, "Not Found", content_type="text/html")
        if self.auth is not None:
            expected = "Basic " + base64.b64encode(":".join(self.auth).encode()).decode()
            given = request.headers.get("Authorization")
            if given != expected:
                detail = (
                    "Invalid username/password." if given else "Authentication credentials were not provided."
                )
                return Reply.json(401, {"detail": detail}, headers={"WWW-Authenticate": 'Basic realm="api"'})
        path = request.path[len(_PREFIX) :]
        request.path = path
        with self.data.lock:
            return self._route(request, path)

    def _route(self, request: Request, path: str) -> Reply:
        data = self.data
        if path == "/api/lists/":
            return self._page(request, sorted(data.lists), self._list)
        match = re.fullmatch(r"/list/([^/]+)/export/([^/]+)\.mbox\.gz", path)
        if match:
            return self._export(request, match.group(1))
        match = re.fullmatch(r"/api/list/([^/]+)/(.*)", path)
        if not match or match.group(1) not in data.lists:
            return Reply.json(404, {"detail": "Not found."})
        fqdn, rest = match.groups()
        if rest == "":
            return Reply.json(200, self._list(fqdn))
        if rest == "emails/":
            return self._page(request, data.archive_order(fqdn), self._short)
        by_hash = data.by_hash(fqdn)
        m = re.fullmatch(r"email/([A-Z2-7]+)/", rest)
        if m:
            found = by_hash.get(m.group(1))
            return (
                Reply.json(200, self._detail(found)) if found else Reply.json(404, {"detail": "Not found."})
            )
        if rest == "threads/":
            return self._page(request, data.threads(fqdn), lambda t: self._thread_json(fqdn, t))
        m = re.fullmatch(r"thread/([A-Z2-7]+)/(emails/)?", rest)
        if m:
            thread = next((t for t in data.threads(fqdn) if t["thread_id"] == m.group(1)), None)
            if thread is None:
                return Reply.json(404, {"detail": "Not found."})
            if m.group(2):
                members = sorted(thread["members"], key=lambda e: (e.date, e.order))
                return self._page(request, members, self._short)
            return Reply.json(200, self._thread_json(fqdn, thread))
        return Reply.json(404, {"detail": "Not found."})

    def _export(self, request: Request, fqdn: str) -> Reply:
        if fqdn not in self.data.lists:
            return Reply.text(404, "Not Found", content_type="text/html")
        if not self.mbox_export:
            return Reply.text(400, "Archive download disabled.", content_type="text/html")
        query = request.query
        try:
            start = dt.datetime.fromisoformat(query["start"]).replace(tzinfo=dt.UTC)
            end = dt.datetime.fromisoformat(query["end"]).replace(tzinfo=dt.UTC)
        except (KeyError, ValueError):
            return Reply.text(400, "Invalid start or end", content_type="text/html")
        chosen = [e for e in self.data.lists[fqdn] if start <= e.date < end]
        chosen.sort(key=lambda e: (e.archived_at, e.order))
        out = bytearray()
        for e in chosen:
            stamp = e.archived_at.strftime("%a %b %d %H:%M:%S %Y")
            out += f"From {e.address or 'MAILER-DAEMON'} {stamp}\n".encode()
            body = e.raw.replace(b"\r\n", b"\n")
            body = re.sub(rb"(?m)^(>*From )", rb">\1", body)
            out += body if body.endswith(b"\n") else body + b"\n"
            out += b"\n"
        return Reply(200, gzip.compress(bytes(out)), {"Content-Type": "application/gzip"})

    # ------------------------------------------------------------------ loading

    def load_dir(self, directory: Path = MAIL_DIR, list_fqdn: str | None = None) -> list[Archived]:
        """Archive every ``*.eml`` of ``directory`` (sorted by name) that has a Message-ID."""
        out = []
        for path in sorted(directory.glob("*.eml")):
            raw = path.read_bytes()
            if b"\nMessage-ID:" not in b"\n" + raw:
                continue
            out.append(self.data.archive(raw, list_fqdn))
        return out


def synthetic_message(
    number: int,
    *,
    reply_to: int | None = None,
    date: dt.datetime | None = None,
    domain: str = "bench.example.org",
) -> bytes:
    """A small well-formed message (benchmarks and bulk tests)."""
    date = date or BASE_TIME + dt.timedelta(minutes=number)
    headers = [
        f"From: Sender {number % 97} <sender{number % 97}@{domain}>",
        "To: list@lists.example.org",
        f"Subject: {'Re: ' if reply_to is not None else ''}Topic {reply_to if reply_to is not None else number}",
        f"Date: {email.utils.format_datetime(date)}",
        f"Message-ID: <msg-{number}@{domain}>",
    ]
    if reply_to is not None:
        headers.append(f"In-Reply-To: <msg-{reply_to}@{domain}>")
    body = f"Message number {number}.\n\n> quoted line\n\nSome text about Boost library {number % 150}.\n"
    return ("\n".join(headers) + "\nContent-Type: text/plain; charset=utf-8\n\n" + body).encode()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--list", action="append", help="a list (repeatable); the samples go to each")
    parser.add_argument("--no-mbox", action="store_true")
    parser.add_argument("--auth", default=None, help="user:password (basic auth on every route)")
    args = parser.parse_args(argv)
    lists = tuple(args.list or ["boost@lists.example.org"])
    user, _, password = (args.auth or "").partition(":")
    fake = HyperKittyFake(
        HyperKittyData(lists),
        mbox_export=not args.no_mbox,
        auth=(user, password) if args.auth else None,
        port=args.port,
    )
    for name in lists:
        fake.load_dir(MAIL_DIR, name)
    print(f"HyperKitty fake on {fake.base_url}", flush=True)
    fake.serve_forever()


if __name__ == "__main__":
    main()

_ = Fault  # re-exported for tests that script faults
