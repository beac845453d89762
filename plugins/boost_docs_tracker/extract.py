"""One documentation page: its toolchain's navigation chrome removed, the rest as Markdown.

Boost's libraries document themselves with three toolchains, each with its own page frame:

* BoostBook/QuickBook (DocBook XSL): a header table with the Boost logo, ``div.spirit-nav``
  prev/up/home/next bars above and below, a footer table with ``div.copyright-footer``;
* Asciidoctor: ``div#header`` (title, author line, ``div#toc``), ``div#content``,
  ``div#footer``;
* Antora: a site frame (``header.header``, ``div.nav-container``, ``div.toolbar`` with
  breadcrumbs, ``aside.toc``, ``footer.footer``) around ``article.doc``.

The Markdown itself is markdownify's.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from bs4 import BeautifulSoup, Tag
from markdownify import MarkdownConverter

__all__ = ["Page", "extract_page", "is_redirect"]

MAX_HEADINGS = 60
MAX_HEADING_CHARS = 200

_LOGO = re.compile("Boost C\\+\\+ Libraries", re.IGNORECASE)
_REFRESH = re.compile(r"<meta[^>]+http-equiv\s*=\s*[\"']?refresh", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")


@dataclasses.dataclass(frozen=True)
class Page:
    toolchain: str  # boostbook | asciidoctor | antora | html
    title: str
    headings: list[str]
    markdown: str


def is_redirect(html: str) -> bool:
    """A stub that only forwards (``libs/x/doc/index.html`` -> ``html/index.html``): no content."""
    head = html[:4000]
    return bool(_REFRESH.search(head)) and len(BeautifulSoup(html, "html.parser").get_text(strip=True)) < 400


def _text(node: Tag | None) -> str:
    return " ".join(node.get_text(" ", strip=True).split()) if node is not None else ""


def _drop(root: Tag, *targets: tuple[str, dict[str, Any]]) -> None:
    """Remove every ``(tag name, attributes)`` match (``find_all``: cheaper than CSS selectors)."""
    for name, attrs in targets:
        for node in root.find_all(name, attrs=attrs):
            node.decompose()


def _find(root: Tag, tag: str, attrs: dict[str, Any] | None = None) -> Tag | None:
    found = root.find(tag, attrs=attrs or {})
    return found if isinstance(found, Tag) else None


def _boostbook(soup: BeautifulSoup) -> Tag:
    body = soup.body or soup
    logo = body.find("img", alt=_LOGO)
    if isinstance(logo, Tag):
        table = logo.find_parent("table")
        if table is not None:
            table.decompose()
    for footer in body.find_all("div", class_="copyright-footer"):
        table = footer.find_parent("table")
        (table or footer).decompose()
    _drop(body, ("div", {"class": "spirit-nav"}), ("hr", {}))
    return body


def _asciidoctor(soup: BeautifulSoup) -> Tag:
    header = _find(soup, "div", {"id": "header"})
    content = _find(soup, "div", {"id": "content"})
    title = _find(header, "h1") if header is not None else None
    page = soup.new_tag("div")
    if title is not None:
        page.append(title.extract())
    if content is not None:
        page.append(content.extract())
    _drop(page, ("div", {"id": "toc"}), ("div", {"id": "footer"}))
    return page


def _antora(soup: BeautifulSoup) -> Tag:
    article = _find(soup, "article", {"class": "doc"})
    assert article is not None
    _drop(
        article,
        ("aside", {"class": "toc"}),
        ("nav", {"class": "pagination"}),
        ("div", {"class": "toolbar"}),
        ("nav", {"class": "breadcrumbs"}),
        ("div", {"class": "edit-this-page"}),
    )
    return article


def _plain(soup: BeautifulSoup) -> Tag:
    body = soup.body or soup
    _drop(body, ("nav", {}), ("header", {}), ("footer", {}))
    return body


def _toolchain(soup: BeautifulSoup) -> str:
    if _find(soup, "article", {"class": "doc"}) is not None:
        return "antora"
    generator = _find(soup, "meta", {"name": "generator"})
    generated_by = str(generator.get("content", "")) if generator is not None else ""
    if generated_by.startswith("Asciidoctor") or (
        _find(soup, "div", {"id": "header"}) is not None and _find(soup, "div", {"id": "content"}) is not None
    ):
        return "asciidoctor"
    if generated_by.startswith("DocBook") or soup.find("div", class_=["spirit-nav", "titlepage"]) is not None:
        return "boostbook"
    return "html"


_CONTENT = {"antora": _antora, "asciidoctor": _asciidoctor, "boostbook": _boostbook, "html": _plain}


class _Converter(MarkdownConverter):
    """ATX headings, fenced code; in-page anchors are plain text; images keep only their alt text."""

    def convert_a(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        if str(el.get("href") or "").startswith("#"):
            return text
        return super().convert_a(el, text, parent_tags)  # pyright: ignore[reportAttributeAccessIssue] (untyped library)

    def convert_img(self, el: Tag, text: str, parent_tags: set[str]) -> str:
        alt = str(el.get("alt") or "").strip()
        return f"[{alt}]" if alt else ""


_CONVERTER = _Converter(heading_style="atx", code_language="cpp", bullets="-", escape_underscores=False)


def extract_page(html: str) -> Page:
    """The page's title, its headings (h1-h4, in order) and its content as Markdown."""
    soup = BeautifulSoup(html, "html.parser")
    _drop(soup, ("script", {}), ("style", {}), ("noscript", {}))
    toolchain = _toolchain(soup)
    title = _text(soup.title)
    content = _CONTENT[toolchain](soup)
    headings = [
        heading[:MAX_HEADING_CHARS]
        for heading in (_text(h) for h in content.find_all(["h1", "h2", "h3", "h4"]))
        if heading
    ][:MAX_HEADINGS]
    if toolchain == "antora" or not title:  # an Antora <title> also names the site
        title = headings[0] if headings else title
    markdown = _BLANK_LINES.sub("\n\n", _CONVERTER.convert_soup(content)).strip()
    return Page(toolchain=toolchain, title=title, headings=headings, markdown=markdown)
