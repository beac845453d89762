"""Paper files (PDF, HTML, plain text) to plain text for the vector documents, within caps."""

from __future__ import annotations

import dataclasses
import io
import logging
import re
import warnings

from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning
from pypdf import PdfReader
from pypdf.errors import PyPdfError

from core.errors import DataValidationError

__all__ = ["PaperText", "file_format", "to_text"]

_BLANKS = re.compile(r"\n\s*\n\s*\n+")
_TEXT_FORMATS = frozenset({"txt", "md", "adoc"})


@dataclasses.dataclass(frozen=True)
class PaperText:
    text: str
    converter: str
    pages: int | None = None  # PDF: pages converted


def file_format(url: str, content_type: str | None = None) -> str:
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind == "application/pdf":
        return "pdf"
    if kind in ("text/html", "application/xhtml+xml"):
        return "html"
    ext = url.rsplit("/", 1)[-1].rsplit(".", 1)[-1].lower() if "." in url.rsplit("/", 1)[-1] else ""
    return "html" if ext == "htm" else ext or "unknown"


def _tidy(text: str, max_chars: int) -> str:
    lines = "\n".join(" ".join(line.split()) for line in text.splitlines())
    return _BLANKS.sub("\n\n", lines).strip()[:max_chars]


def _pdf(data: bytes, max_pages: int, max_chars: int, source: str) -> PaperText:
    logging.getLogger("pypdf").setLevel(logging.ERROR)  # its warnings on odd PDFs are not ours to log
    try:
        reader = PdfReader(io.BytesIO(data))
        parts: list[str] = []
        size = 0
        converted = 0
        for page in reader.pages[:max_pages]:
            chunk = page.extract_text() or ""
            parts.append(chunk)
            converted += 1
            size += len(chunk)
            if size >= max_chars:
                break
    except (PyPdfError, ValueError, KeyError, TypeError, IndexError, AttributeError) as exc:
        raise DataValidationError(
            f"unreadable PDF ({type(exc).__name__}: {str(exc)[:200]})", source=source
        ) from None
    return PaperText(_tidy("\n\n".join(parts), max_chars), "pypdf", converted)


def _html(data: bytes, max_chars: int) -> PaperText:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(data, "html.parser")
    for noise in soup(["script", "style", "nav", "head"]):
        noise.decompose()
    return PaperText(_tidy(soup.get_text("\n"), max_chars), "beautifulsoup4")


def to_text(data: bytes, fmt: str, *, max_pages: int, max_chars: int, source: str) -> PaperText:
    """Text of a paper file; ``DataValidationError`` naming ``source`` when it cannot be read."""
    if fmt == "pdf" or data.startswith(b"%PDF-"):
        return _pdf(data, max_pages, max_chars, source)
    if fmt == "html":
        return _html(data, max_chars)
    if fmt in _TEXT_FORMATS:
        return PaperText(_tidy(data.decode("utf-8", errors="replace"), max_chars), "text")
    raise DataValidationError(f"no converter for the {fmt!r} format", source=source)
