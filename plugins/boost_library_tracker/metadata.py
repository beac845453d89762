"""``meta/libraries.json``: one object or a list of them, normalized into :class:`LibraryMeta`.

Real files differ: ``cxxstd`` (``"11"``) or ``std`` (``["C++11"]``); ``category`` a list or a
string; ``authors`` a list or a string; maintainers as ``Name <user -at- domain>``, a plain
address or a bare name. Each entry is validated on its own: a bad entry is reported naming
its position and field, and the good entries of the same file are kept.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

__all__ = ["LibraryMeta", "MetaProblem", "Person", "parse_libraries_json", "parse_person"]

MAX_ENTRIES = 500  # a file listing more is not a library's metadata
_NAME_ADDRESS = re.compile(r"^(?P<name>[^<]*?)\s*<(?P<address>[^<>]*)>\s*$")
_AT = re.compile(r"\s*-at-\s*|\s*\(at\)\s*", re.IGNORECASE)
_DOT = re.compile(r"\s*-dot-\s*|\s*\(dot\)\s*", re.IGNORECASE)
_ADDRESS = re.compile(r"^[^@\s<>]+@[^@\s<>]+\.[^@\s<>]+$")
_STD = re.compile(r"^(?:c\+\+)?\s*(\d{2})$", re.IGNORECASE)


@dataclasses.dataclass(frozen=True)
class Person:
    name: str
    email: str | None = None


def _deobfuscate(text: str) -> str:
    return _DOT.sub(".", _AT.sub("@", text.strip()))


def parse_person(text: str) -> Person:
    """``Name <user -at- domain>``, ``user@domain`` or ``Name``; an unusable address is dropped."""
    text = " ".join(text.split())
    match = _NAME_ADDRESS.match(text)
    name, address = (match.group("name"), match.group("address")) if match else (text, "")
    if not match:
        candidate = _deobfuscate(text)
        if _ADDRESS.match(candidate):
            return Person(name=candidate.split("@")[0], email=candidate.lower())
    email = _deobfuscate(address) if address else ""
    return Person(
        name=name.strip() or email.split("@")[0], email=email.lower() if _ADDRESS.match(email) else None
    )


def _standard_year(value: str) -> int | None:
    match = _STD.match(value.strip())
    if match is None:
        return None
    two = int(match.group(1))
    return 1900 + two if two >= 90 else 2000 + two


def _without_nul(value: Any) -> Any:
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, list):
        return [_without_nul(item) for item in value]
    if isinstance(value, dict):
        return {key: _without_nul(item) for key, item in value.items()}
    return value


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class _Entry(BaseModel):
    """One library of the file, as the file says it (unknown fields are ignored)."""

    model_config = ConfigDict(frozen=True)

    key: str = Field(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9_.+-]+(/[A-Za-z0-9_.+-]+)*$")
    name: str = Field(min_length=1, max_length=300)
    description: str = Field(default="", max_length=5_000)
    authors: list[str] = Field(default_factory=list, max_length=100)
    maintainers: list[str] = Field(default_factory=list, max_length=100)
    category: list[str] = Field(default_factory=list, max_length=50)
    documentation: str = Field(default="", max_length=500)
    cxxstd: str | None = Field(default=None, max_length=20)
    std: list[str] = Field(default_factory=list, max_length=20)
    status: str | None = Field(default=None, max_length=50)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        return _without_nul(value)  # PostgreSQL text refuses NUL ("\\u0000" in the JSON)

    @field_validator("authors", "maintainers", "category", "std", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return _as_list(value)

    @field_validator("cxxstd", mode="before")
    @classmethod
    def _number_is_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("description", "documentation", mode="before")
    @classmethod
    def _null_is_empty(cls, value: Any) -> Any:
        return "" if value is None else value


@dataclasses.dataclass(frozen=True)
class LibraryMeta:
    """One library of a release, normalized."""

    key: str
    name: str
    description: str
    authors: tuple[Person, ...]
    maintainers: tuple[Person, ...]
    categories: tuple[str, ...]
    documentation: str
    cxxstd: str | None  # "C++11": the minimum standard, from ``cxxstd`` or ``std``
    status: str | None

    def content(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "authors": [p.name for p in self.authors],
            "maintainers": [dataclasses.asdict(p) for p in self.maintainers],
            "categories": list(self.categories),
            "documentation": self.documentation,
            "cxxstd": self.cxxstd,
            "status": self.status,
        }

    def content_hash(self) -> str:
        return hashlib.sha256(orjson.dumps(self.content(), option=orjson.OPT_SORT_KEYS)).hexdigest()


@dataclasses.dataclass(frozen=True)
class MetaProblem:
    """Why an entry (or the whole file) was not stored: ``location`` names the field."""

    location: str
    message: str

    def __str__(self) -> str:
        return f"{self.location}: {self.message}"


def _minimum_standard(entry: _Entry) -> str | None:
    values = [entry.cxxstd] if entry.cxxstd else list(entry.std)
    years = [(year, value) for value in values if (year := _standard_year(value)) is not None]
    if not years:
        return None
    year = min(years)[0]
    return f"C++{year % 100:02d}"


def _normalize(entry: _Entry) -> LibraryMeta:
    return LibraryMeta(
        key=entry.key,
        name=entry.name.strip(),
        description=" ".join(entry.description.split()),
        authors=tuple(Person(name=" ".join(a.split())) for a in entry.authors if a.strip()),
        maintainers=tuple(parse_person(m) for m in entry.maintainers if m.strip()),
        categories=tuple(dict.fromkeys(c.strip() for c in entry.category if c.strip())),
        documentation=entry.documentation.strip(),
        cxxstd=_minimum_standard(entry),
        status=entry.status,
    )


def parse_libraries_json(raw: bytes) -> tuple[list[LibraryMeta], list[MetaProblem]]:
    """The good entries of a file and a problem per bad entry (or one for an unreadable file)."""
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        return [], [MetaProblem("$", f"not JSON: {exc}")]
    items = [data] if isinstance(data, dict) else data
    if not isinstance(items, list):
        return [], [MetaProblem("$", f"expected an object or a list, got {type(data).__name__}")]
    if len(items) > MAX_ENTRIES:
        return [], [MetaProblem("$", f"{len(items)} entries (at most {MAX_ENTRIES})")]
    good: list[LibraryMeta] = []
    problems: list[MetaProblem] = []
    seen: set[str] = set()
    for index, item in enumerate(items):
        where = "$" if isinstance(data, dict) else f"$[{index}]"
        if not isinstance(item, dict):
            problems.append(MetaProblem(where, f"expected an object, got {type(item).__name__}"))
            continue
        try:
            entry = _Entry.model_validate(item)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(part) for part in first["loc"])
            problems.append(MetaProblem(f"{where}.{field}", first["msg"]))
            continue
        if entry.key in seen:
            problems.append(MetaProblem(f"{where}.key", f"duplicate key {entry.key!r}"))
            continue
        seen.add(entry.key)
        good.append(_normalize(entry))
    return good, problems
