"""open-std.org's papers pages: the index of mailings and the year pages' mailing tables.

The index links ``YYYY/#mailingYYYY-MM`` with the mailing's title as text. A year page has one
section per mailing: an element with ``id`` (or ``name``) ``mailingYYYY-MM`` followed by a table
whose header names the columns (8 today; 5 on old pages). Columns are found by their header,
so a reordered table still parses; a table without a number column is drift and fails loudly.
"""

from __future__ import annotations

import dataclasses
import re
import warnings
from collections.abc import Iterable
from urllib.parse import urljoin, urlsplit

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning, Tag

from core.errors import DataValidationError
from wg21_paper_tracker.fields import DocId, parse_doc_id

__all__ = [
    "MailingLink",
    "MailingRow",
    "MailingSection",
    "mailing_links",
    "mailing_section",
    "mailing_sections",
]

_MAILING_HREF = re.compile(r"(?:^|/)(\d{4})/?#mailing(\d{4}-\d{2})$")
_MAILING_ANCHOR = re.compile(r"^mailing(\d{4}-\d{2})$")
_FILE_PREFERENCE = ("html", "htm", "pdf", "md", "txt", "adoc")

_COLUMNS = {
    "number": ("wg21 number", "number", "document number", "paper", "n number"),
    "title": ("title",),
    "author": ("author", "authors", "author(s)"),
    "date": ("document date", "date"),
    "mailing_date": ("mailing date",),
    "previous": ("previous version", "previous"),
    "subgroup": ("subgroup", "subgroups", "audience"),
    "disposition": ("disposition",),
}
_POSITIONAL = {
    8: ("number", "title", "author", "date", "mailing_date", "previous", "subgroup", "disposition"),
    5: ("number", "title", "author", "date", "subgroup"),
}


@dataclasses.dataclass(frozen=True)
class MailingLink:
    mailing_id: str  # YYYY-MM
    title: str
    year_page: str  # absolute URL of the year page


@dataclasses.dataclass(frozen=True)
class MailingRow:
    doc: DocId
    title: str
    author: str
    date: str
    mailing_date: str
    previous: str
    subgroup: str
    disposition: str
    files: tuple[str, ...]  # absolute URLs, preferred format first


@dataclasses.dataclass(frozen=True)
class MailingSection:
    mailing_id: str
    rows: list[MailingRow]
    rejected: list[str]


def _soup(html: bytes) -> BeautifulSoup:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        return BeautifulSoup(html, "html.parser")


def _text(node: Tag | None) -> str:
    return " ".join(node.get_text(" ").split()) if node is not None else ""


def mailing_links(html: bytes, page_url: str) -> list[MailingLink]:
    """Every mailing the papers index links, oldest first (one entry per mailing id)."""
    found: dict[str, MailingLink] = {}
    for anchor in _soup(html).find_all("a", href=True):
        href = str(anchor["href"]).strip()
        match = _MAILING_HREF.search(href)
        if match is None:
            continue
        mailing_id = match[2]
        target = urljoin(page_url, href.split("#", 1)[0])
        found.setdefault(mailing_id, MailingLink(mailing_id, _text(anchor) or mailing_id, target))
    return [found[k] for k in sorted(found)]


def _position(tag: Tag) -> tuple[int, int]:
    return (tag.sourceline or 0, tag.sourcepos or 0)


def _anchor_id(tag: Tag) -> str | None:
    for attribute in ("id", "name"):
        match = _MAILING_ANCHOR.match(str(tag.get(attribute) or ""))
        if match:
            return match[1]
    return None


def _section_tables(soup: BeautifulSoup) -> dict[str, Tag | None]:
    """Each mailing anchor of the page and its table: the first table after the anchor, unless
    the next mailing's anchor comes first (a mailing announced without papers). One pass."""
    anchors = [(tag, mailing) for tag in soup.find_all(True) if (mailing := _anchor_id(tag)) is not None]
    tables = list(soup.find_all("table"))
    found: dict[str, Tag | None] = {}
    following = 0
    for n, (anchor, mailing) in enumerate(anchors):
        start = _position(anchor)
        while following < len(tables) and _position(tables[following]) < start:
            following += 1
        table = tables[following] if following < len(tables) else None
        end = _position(anchors[n + 1][0]) if n + 1 < len(anchors) else None
        if table is not None and end is not None and _position(table) > end:
            table = None
        found.setdefault(mailing, table)
    return found


def _columns(header: list[str], mailing_id: str, width: int) -> tuple[str | None, ...]:
    if header:
        names = [" ".join(h.lower().split()) for h in header]
        mapped = tuple(
            next((column for column, spellings in _COLUMNS.items() if name in spellings), None)
            for name in names
        )
        if "number" not in mapped or "title" not in mapped:
            raise DataValidationError(
                f"mailing {mailing_id}: the table's header has no paper number or title column "
                f"(headers: {', '.join(header)[:300]}); the page layout changed",
                source="open-std.org year page",
                location=f"mailing{mailing_id}",
            )
        return mapped
    if width in _POSITIONAL:
        return _POSITIONAL[width]
    raise DataValidationError(
        f"mailing {mailing_id}: a table without a header has {width} columns (expected 5 or 8)",
        source="open-std.org year page",
        location=f"mailing{mailing_id}",
    )


def _files(cell: Tag, page_url: str) -> tuple[str, ...]:
    urls: list[str] = []
    for anchor in cell.find_all("a", href=True):
        url = urljoin(page_url, str(anchor["href"]).strip())
        if urlsplit(url).scheme in ("http", "https") and url not in urls:
            urls.append(url)

    def rank(url: str) -> int:
        ext = urlsplit(url).path.rsplit(".", 1)[-1].lower()
        return _FILE_PREFERENCE.index(ext) if ext in _FILE_PREFERENCE else len(_FILE_PREFERENCE)

    return tuple(sorted(urls, key=rank))


def mailing_sections(
    html: bytes | BeautifulSoup, page_url: str, mailing_ids: Iterable[str]
) -> dict[str, MailingSection | None]:
    """The papers of each mailing on its year page (parsed once); None for a mailing the page
    has no table for yet."""
    soup = html if isinstance(html, BeautifulSoup) else _soup(html)
    tables = _section_tables(soup)
    return {
        mailing_id: _section(table, page_url, mailing_id)
        if (table := tables.get(mailing_id)) is not None
        else None
        for mailing_id in mailing_ids
    }


def mailing_section(html: bytes | BeautifulSoup, page_url: str, mailing_id: str) -> MailingSection | None:
    return mailing_sections(html, page_url, [mailing_id])[mailing_id]


def _section(table: Tag, page_url: str, mailing_id: str) -> MailingSection:
    rows = [tr for tr in table.find_all("tr") if isinstance(tr, Tag)]
    header: list[str] = []
    if rows and rows[0].find("th") is not None:
        header = [_text(th) for th in rows[0].find_all(["th", "td"])]
        rows = rows[1:]
    # A cell spanning columns is a caption across the table, not a paper.
    rows = [tr for tr in rows if not any(cell.get("colspan") for cell in tr.find_all(["td", "th"]))]
    width = max((len(tr.find_all("td")) for tr in rows), default=0)
    columns = _columns(header, mailing_id, width)
    parsed: list[MailingRow] = []
    rejected: list[str] = []
    for line, tr in enumerate(rows, start=1):
        cells = tr.find_all("td")
        if not cells:
            continue
        values: dict[str, Tag] = {}
        for column, cell in zip(columns, cells, strict=False):
            if column is not None and isinstance(cell, Tag):
                values.setdefault(column, cell)
        number_cell = values.get("number")
        number_text = _text(number_cell)
        doc = next((d for d in map(parse_doc_id, number_text.split()) if d is not None), None)
        if doc is None or number_cell is None:
            rejected.append(f"mailing {mailing_id} row {line}: no document number in {number_text[:60]!r}")
            continue
        parsed.append(
            MailingRow(
                doc=doc,
                title=_text(values.get("title"))[:2000],
                author=_text(values.get("author"))[:2000],
                date=_text(values.get("date"))[:64],
                mailing_date=_text(values.get("mailing_date"))[:64],
                previous=_text(values.get("previous"))[:40],
                subgroup=_text(values.get("subgroup"))[:500],
                disposition=_text(values.get("disposition"))[:500],
                files=_files(number_cell, page_url),
            )
        )
    return MailingSection(mailing_id, parsed, rejected)
