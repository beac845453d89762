"""Fakes of the WG21 paper sources, on the wire-fakes toolkit (:mod:`tests.fakes.wire`).

:class:`Wg21Site` serves what the collector reads, with HTML written after the real layout of
open-std.org (no page is copied):

* ``/index.json``: the wg21.link index, one JSON object keyed by document id;
* ``/jtc1/sc22/wg21/docs/papers/``: the papers index, one ``YYYY/#mailingYYYY-MM`` link per mailing;
* ``/jtc1/sc22/wg21/docs/papers/YYYY/``: a year page, one section per mailing (an element with
  ``id`` or, on old pages, ``name`` = ``mailingYYYY-MM``, then an 8-column table with a header
  row; ``legacy`` mailings have 5 columns and no header; a mailing announced without papers has
  a paragraph and no table);
* ``/jtc1/sc22/wg21/docs/papers/YYYY/<file>``: paper files (PDF generated with real text
  objects, HTML, plain text).

Every page and file carries a content ``ETag`` and a ``Last-Modified`` and answers conditional
requests with 304. :class:`GitHubDispatchApi` is GitHub's ``POST /repos/{o}/{r}/dispatches``: it
checks the bearer token, ``event_type`` (1-100 characters), at most 10 top-level
``client_payload`` properties and a body under 64 KB (422 otherwise, like GitHub), answers 204
and records what it accepted. Faults (429, 5xx, cut bodies, drops) are the toolkit's.

Standalone (the e2e test and by hand)::

    python tests/fakes/wg21_server.py --port 8766 [--token TOKEN]
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import email.utils
import html
import json
import re
import sys
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: make ``tests.fakes`` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.fakes.wire import Dataset, Reply, Request, WireServer, etag, not_modified

__all__ = ["PAPERS_PATH", "GitHubDispatchApi", "Paper", "Wg21Data", "Wg21Site", "pdf_bytes", "sample_data"]

PAPERS_PATH = "/jtc1/sc22/wg21/docs/papers/"
_FILE = re.compile(r"^/jtc1/sc22/wg21/docs/papers/(\d{4})/([^/]+)$")
_YEAR = re.compile(r"^/jtc1/sc22/wg21/docs/papers/(\d{4})/$")
_DISPATCH = re.compile(r"^/repos/([^/]+)/([^/]+)/dispatches$")


def pdf_bytes(pages: list[str]) -> bytes:
    """A minimal valid PDF: one text line per page (Helvetica), with a correct xref table."""
    objects: list[bytes] = []
    page_ids = [4 + 2 * i for i in range(len(pages))]
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    kids = " ".join(f"{p} 0 R" for p in page_ids)
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {len(pages)} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, text in enumerate(pages):
        escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
        stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1")
        objects.append(
            f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 3 0 R >> >> "
            f"/Contents {page_ids[i] + 1} 0 R >>".encode()
        )
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


@dataclasses.dataclass
class Paper:
    doc_id: str  # P2300R10
    title: str
    author: str
    date: str  # YYYY-MM-DD
    subgroup: str = "LEWG"
    previous: str = ""
    disposition: str = ""
    formats: tuple[str, ...] = ("pdf",)
    text: str = ""  # what its file says (first page); a second page says "Section 2"


@dataclasses.dataclass
class Mailing:
    mailing_id: str
    title: str
    papers: list[Paper] = dataclasses.field(default_factory=list)
    legacy: bool = False  # 5 columns, no header row, a name= anchor
    announced_only: bool = False  # listed, no table yet


class Wg21Data(Dataset):
    """Mailings with their papers, the index entries, and raw files; each mutation ticks the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.mailings: dict[str, Mailing] = {}
        self.index: dict[str, dict[str, Any]] = {}  # "long_link" values are paths; rendered absolute
        self.files: dict[str, tuple[bytes, str]] = {}  # path -> (body, content type)
        self.header_override: list[str] | None = None  # HTML drift: the year pages' header row
        self.changed_at: dict[str, dt.datetime] = {}

    def mailing(self, mailing_id: str, title: str, **kwargs: Any) -> Mailing:
        with self.lock:
            found = self.mailings.setdefault(mailing_id, Mailing(mailing_id, title, **kwargs))
            self.changed_at[mailing_id[:4]] = self.changed_at["index"] = self.tick()
            return found

    def paper(
        self, mailing_id: str, paper: Paper, *, in_index: bool = True, body: bytes | None = None
    ) -> None:
        year = mailing_id[:4]
        with self.lock:
            mailing = self.mailings[mailing_id]
            mailing.papers.append(paper)
            mailing.announced_only = False  # its table appears with its first paper
            for fmt in paper.formats:
                path = f"{PAPERS_PATH}{year}/{paper.doc_id.lower()}.{fmt}"
                if body is not None:
                    self.files[path] = (body, "application/pdf" if fmt == "pdf" else "text/html")
                elif fmt == "pdf":
                    self.files[path] = (
                        pdf_bytes([f"{paper.doc_id} {paper.title}. {paper.text}", "Section 2"]),
                        "application/pdf",
                    )
                else:
                    page = f"<html><head><title>{html.escape(paper.title)}</title><style>p{{}}</style></head><body><h1>{html.escape(paper.title)}</h1><p>{html.escape(paper.text)}</p></body></html>"
                    self.files[path] = (page.encode(), "text/html")
            if in_index:
                self.index[paper.doc_id] = {
                    "type": "paper",
                    "title": paper.title,
                    "author": paper.author,
                    "date": paper.date,
                    "subgroup": paper.subgroup,
                    "link": f"https://wg21.link/{paper.doc_id.lower()}",
                    "long_link": f"{PAPERS_PATH}{year}/{paper.doc_id.lower()}.{paper.formats[0]}",
                    "github_url": f"https://github.com/cplusplus/papers/issues/{len(self.index) + 1}",
                }
            self.changed_at[year] = self.changed_at["index"] = self.tick()

    def touch(self, key: str) -> None:
        with self.lock:
            self.changed_at[key] = self.tick()

    # ------------------------------------------------------------------ rendering

    def papers_index(self) -> bytes:
        items = "\n".join(
            f'<li><a href="{m.mailing_id[:4]}/#mailing{m.mailing_id}">{html.escape(m.title)}</a></li>'
            for m in sorted(self.mailings.values(), key=lambda m: m.mailing_id, reverse=True)
        )
        page = (
            "<!DOCTYPE html>\n<html><head><title>JTC1/SC22/WG21 - Papers</title></head><body>\n"
            "<h1>JTC1/SC22/WG21 - Papers</h1>\n<p>Mailings, newest first:</p>\n"
            f'<ul>\n{items}\n</ul>\n<p><a href="../">Back to the documents page</a></p>\n</body></html>\n'
        )
        return page.encode()

    def year_page(self, year: str, root: str) -> bytes | None:
        mailings = sorted(
            (m for m in self.mailings.values() if m.mailing_id[:4] == year), key=lambda m: m.mailing_id
        )
        if not mailings:
            return None
        header = self.header_override or [
            "WG21 Number", "Title", "Author", "Document Date", "Mailing Date", "Previous Version", "Subgroup", "Disposition",
        ]  # fmt: skip
        parts = [
            f"<!DOCTYPE html>\n<html><head><title>WG21 Papers {year}</title></head><body>\n<h1>WG21 Papers {year}</h1>"
        ]
        for m in mailings:
            anchor = (
                f'<a name="mailing{m.mailing_id}"></a>' if m.legacy else f'<a id="mailing{m.mailing_id}"></a>'
            )
            parts.append(f"<h2>{anchor}{html.escape(m.title)}</h2>")
            if m.announced_only or not m.papers:
                parts.append("<p>The papers of this mailing are not available yet.</p>")
                continue
            rows = [] if m.legacy else ["<tr>" + "".join(f"<th>{h}</th>" for h in header) + "</tr>"]
            if not m.legacy:  # a caption row across the table, as section breaks are written
                rows.append(f'<tr><td colspan="{len(header)}"><b>{html.escape(m.title)}</b></td></tr>')
            for p in m.papers:
                links = " ".join(
                    f'<a href="{p.doc_id.lower()}.{fmt}">{p.doc_id if i == 0 else fmt}</a>'
                    for i, fmt in enumerate(p.formats)
                )
                cells = [links, html.escape(p.title), html.escape(p.author), p.date]
                if not m.legacy:
                    cells += [
                        p.date[:7] + "-15",
                        p.previous,
                        html.escape(p.subgroup),
                        html.escape(p.disposition),
                    ]
                else:
                    cells += [html.escape(p.subgroup)]
                rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
            parts.append('<table border="1">\n' + "\n".join(rows) + "\n</table>")
        parts.append("</body></html>\n")
        return "\n".join(parts).encode()

    def index_json(self, root: str) -> bytes:
        rendered = {
            k: {**v, "long_link": root + v["long_link"]} if str(v.get("long_link", "")).startswith("/") else v
            for k, v in self.index.items()
        }
        return json.dumps(rendered, indent=1).encode()


class Wg21Site(WireServer):
    """open-std.org's papers pages and files, plus the wg21.link ``index.json``."""

    methods = ("GET",)
    server_name = "wg21-fake"

    def __init__(self, data: Wg21Data | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data = data or Wg21Data()

    def handle(self, request: Request) -> Reply:
        with self.data.lock:
            if request.path == "/index.json":
                return self._conditional(
                    request, self.data.index_json(self.root), "application/json", "index"
                )
            if request.path == PAPERS_PATH:
                return self._conditional(request, self.data.papers_index(), "text/html", "index")
            year = _YEAR.match(request.path)
            if year:
                page = self.data.year_page(year[1], self.root)
                if page is not None:
                    return self._conditional(request, page, "text/html", year[1])
            if _FILE.match(request.path) and request.path in self.data.files:
                body, kind = self.data.files[request.path]
                return self._conditional(request, body, kind, None)
        return Reply.text(404, "<html><body>Not Found</body></html>", content_type="text/html")

    def _conditional(self, request: Request, body: bytes, kind: str, changed_key: str | None) -> Reply:
        tag = etag(body)
        changed = self.data.changed_at.get(changed_key or "", self.data.clock)
        headers = {"ETag": tag, "Last-Modified": email.utils.format_datetime(changed, usegmt=True)}
        if not_modified(request.headers, tag, changed):
            request.notes["not_modified"] = True
            return Reply(304, None, headers)
        return Reply(200, body, {**headers, "Content-Type": kind})


class GitHubDispatchApi(WireServer):
    """``POST /repos/{owner}/{repo}/dispatches`` with GitHub's checks; ``accepted`` holds the bodies."""

    methods = ("POST",)
    server_name = "github-fake"

    def __init__(self, token: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.token = token
        self.accepted: list[dict[str, Any]] = []

    def handle(self, request: Request) -> Reply:
        match = _DISPATCH.match(request.path)
        if match is None:
            return Reply.json(404, {"message": "Not Found"})
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return Reply.json(401, {"message": "Bad credentials"})
        if len(request.body) >= 64 * 1024:
            return Reply.json(422, {"message": "client_payload is too large"})
        try:
            body = json.loads(request.body)
        except ValueError:
            return Reply.json(400, {"message": "Problems parsing JSON"})
        event = body.get("event_type") if isinstance(body, dict) else None
        if not isinstance(event, str) or not 1 <= len(event) <= 100:
            return Reply.json(422, {"message": "event_type must be 1 to 100 characters"})
        payload = body.get("client_payload", {})
        if not isinstance(payload, dict) or len(payload) > 10:
            return Reply.json(422, {"message": "client_payload can have at most 10 top-level properties"})
        self.accepted.append({"repository": f"{match[1]}/{match[2]}", **body})
        return Reply(204, b"")

    def papers(self) -> list[str]:
        return [doc for body in self.accepted for doc in body["client_payload"]["ids"]]


def sample_data() -> Wg21Data:
    """Two mailings of 2025 (one with three papers, one announced without a table yet)."""
    data = Wg21Data()
    data.mailing("2025-01", "2025-01 mailing")
    data.paper("2025-01", Paper("P2300R10", "std::execution", "Ada Lovelace, Bob Smith", "2025-01-10", "LEWG",
                                text="Abstract: a framework for asynchrony.", formats=("html", "pdf")))  # fmt: skip
    data.paper("2025-01", Paper("P3000R1", "Contracts for C++", "Carol Jones and Dan Wu", "2025-01-12", "EWG, SG21",
                                previous="P3000R0", text="Abstract: pre and post conditions."))  # fmt: skip
    data.paper("2025-01", Paper("N5001", "Working Draft, Programming Languages -- C++", "Eve Editor", "2025-01-14",
                                "WG21", formats=("pdf",), text="Contents."))  # fmt: skip
    data.mailing("2025-02", "2025-02 pre-Hagenberg mailing", announced_only=True)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8766)
    parser.add_argument("--token", default="dispatch-token")
    args = parser.parse_args(argv)
    site = Wg21Site(sample_data(), host=args.host, port=args.port).start()
    github = GitHubDispatchApi(args.token, host=args.host, port=args.port + 1)
    print(f"WG21 fake on {site.root}, GitHub dispatch fake on {github.root}", flush=True)
    try:
        github.serve_forever()
    finally:
        site.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
