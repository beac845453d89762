"""Publishing: Markdown renderings of stored rows to a GitHub repository, one commit per run.

``settings`` (the ``publish:`` section) · ``source`` (what a tracker implements) · ``ledger``
(which file holds which item, per target) · ``connection`` (the write-only token) · ``step``
(render -> plan -> commit -> ledger). The Git Data writer and safe file names live in
:mod:`core.operations.github.gitdata` and :mod:`core.operations.filenames`. No Airflow, no
tracker: a source is found by its ``renderer`` path. See docs/publishing.md.
"""

from __future__ import annotations

import importlib

from core.errors import ConfigError
from core.publishing.connection import publish_client, publish_token
from core.publishing.ledger import PUBLISH_MIGRATIONS, publish_files, publish_state
from core.publishing.settings import PublishSettings
from core.publishing.source import PublishedFile, PublishSource, RenderFailure
from core.publishing.step import publish_rows

__all__ = [
    "PUBLISH_MIGRATIONS",
    "PublishSettings",
    "PublishSource",
    "PublishedFile",
    "RenderFailure",
    "load_source",
    "publish_client",
    "publish_files",
    "publish_rows",
    "publish_state",
    "publish_token",
]


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
