"""What a tracker implements to be published: its rows as deterministic Markdown files.

A :class:`PublishSource` is built with the entry's :class:`PublishSettings` (its
``folder_prefix`` and ``options``) and answers three questions inside one read transaction:

* ``render(conn, changed_since)``: the files of the items whose rows changed at or after the
  change sequence ``changed_since`` (all items when ``None``; :mod:`core.store.changes`), as
  :class:`PublishedFile` (or :class:`RenderFailure` for an item that cannot be rendered: the
  others are still published);
* ``live_keys(conn)``: the source keys that still exist (a ledger key missing here is a
  deleted source: its file is removed);
* ``name``: the source's name in logs (the ledger belongs to the collector entry).

Same rows, same bytes: a renderer must not put the time of rendering in a file.
"""

from __future__ import annotations

import dataclasses
import importlib
from collections.abc import Iterable
from typing import Protocol, runtime_checkable

from sqlalchemy import Connection

from core.errors import ConfigError
from core.publishing.settings import PublishSettings

__all__ = ["PublishSource", "PublishedFile", "RenderFailure", "load_source"]


@dataclasses.dataclass(frozen=True)
class PublishedFile:
    """One item's file. ``claim``: a file-name prefix that every name of this item starts with
    (``"#123 - "``): on first adoption of a repository, other files in the same folder with
    that prefix are the item's stale names and are deleted."""

    source_key: str
    path: str
    content: bytes
    claim: str | None = None


@dataclasses.dataclass(frozen=True)
class RenderFailure:
    source_key: str
    message: str


@runtime_checkable
class PublishSource(Protocol):
    name: str

    def render(
        self, conn: Connection, changed_since: int | None
    ) -> Iterable[PublishedFile | RenderFailure]: ...

    def live_keys(self, conn: Connection) -> set[str]: ...


def load_source(settings: PublishSettings) -> PublishSource:
    """The entry's renderer, built with its settings; ``ConfigError`` naming it when unusable."""
    module_name, _, attr = settings.renderer.partition(":")
    try:
        klass = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise ConfigError(f"publish.renderer {settings.renderer!r} cannot be imported: {exc}") from None
    source = klass(settings)
    if not isinstance(source, PublishSource):
        raise ConfigError(
            f"publish.renderer {settings.renderer!r} is not a PublishSource (name, render, live_keys)"
        )
    return source
