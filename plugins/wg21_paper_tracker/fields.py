"""Normalising what the index and the mailing pages write freely: ids, authors, dates, subgroups."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

__all__ = ["DocId", "parse_date", "parse_doc_id", "split_authors", "subgroups_of"]

_DOC_ID = re.compile(r"^(?P<prefix>[A-Z]{1,12}(?:-(?=\d))?)(?P<number>\d{1,6})(?:R(?P<revision>\d{1,3}))?$")
PAPER_PREFIXES = frozenset({"P", "N", "D"})


@dataclasses.dataclass(frozen=True)
class DocId:
    """``P2300R10`` -> prefix ``P``, number ``2300`` (digits as written), revision 10."""

    prefix: str
    digits: str
    revision: int | None

    @property
    def number(self) -> int:
        return int(self.digits)

    @property
    def paper(self) -> str:
        """The paper across its revisions: ``P2300``."""
        return f"{self.prefix}{self.digits}"

    @property
    def doc_id(self) -> str:
        return self.paper + (f"R{self.revision}" if self.revision is not None else "")

    @property
    def is_paper(self) -> bool:
        return self.prefix in PAPER_PREFIXES


def parse_doc_id(text: str) -> DocId | None:
    """The id of ``P2300R10``, ``p2300r10``, ``N4981``, ``CWG1234``, ``SD-1``; None otherwise."""
    match = _DOC_ID.match(text.strip().upper())
    if match is None:
        return None
    revision = match["revision"]
    return DocId(match["prefix"], match["number"], int(revision) if revision is not None else None)


_AUTHOR_SEPARATORS = re.compile(r"\s*(?:,|;|\n|&|\band\b)\s*", re.IGNORECASE)


def split_authors(text: str | None) -> list[str]:
    """``"Ada Lovelace, Bob and Carol"`` -> three names (order kept, duplicates dropped)."""
    names: list[str] = []
    for part in _AUTHOR_SEPARATORS.split(text or ""):
        name = " ".join(part.split())
        if name and name not in names:
            names.append(name)
    return names


_DATE_FORMATS = ("%Y-%m-%d", "%d %b %Y", "%d %B %Y", "%Y/%m/%d", "%B %d, %Y", "%b %d, %Y")


def parse_date(text: str | None) -> dt.date | None:
    """ISO, ``dd Mon yyyy`` and a few more; ``unknown``, empty or unparsable -> None."""
    value = " ".join((text or "").split())
    if not value:
        return None
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    match = re.match(r"^(\d{4})-(\d{2})-(\d{2})", value)  # "2024-06-28T..." and the like
    if match:
        try:
            return dt.date(int(match[1]), int(match[2]), int(match[3]))
        except ValueError:
            return None
    return None


_SUBGROUP_ALIASES = {
    "EVOLUTION": "EWG",
    "EVOLUTION INCUBATOR": "EWGI",
    "LIBRARY EVOLUTION": "LEWG",
    "LIBRARY EVOLUTION INCUBATOR": "LEWGI",
    "LEWG INCUBATOR": "LEWGI",
    "EWG INCUBATOR": "EWGI",
    "CORE": "CWG",
    "LIBRARY": "LWG",
    "DIRECTION GROUP": "DG",
    "ADMINISTRATIVE": "AG",
}
_SUBGROUP_TOKEN = re.compile(r"\b(SG\d{1,2}|L?EWGI?|CWG|LWG|DG|AG|WG21|ARG|ALL|PL22\.16)\b")


def subgroups_of(text: str | None) -> list[str]:
    """Canonical subgroup names in free text: ``"LEWGI SG18: LEWG Incubator"`` -> ``["LEWGI", "SG18"]``
    (what follows a colon only describes the names before it), ``"Evolution"`` -> ``["EWG"]``."""
    raw = " ".join((text or "").upper().split())
    head = raw.split(":", 1)[0]
    found: list[str] = []
    for token in _SUBGROUP_TOKEN.findall(head) or _SUBGROUP_TOKEN.findall(raw):
        if token not in found:
            found.append(token)
    if not found:
        for name, canonical in sorted(_SUBGROUP_ALIASES.items(), key=lambda item: -len(item[0])):
            if re.search(rf"\b{name}\b", raw):
                found.append(canonical)
                break
    return found
