"""The publish step: rows changed since the last publish -> Markdown -> one commit (or none).

1. Read, in one connection: the change horizon (before the rows), the files of the items
   changed since the stored horizon (all on the first run or a full refresh), the keys that
   still exist, and the ledger of the target.
2. Deletes come from the ledger: an item with a new path loses its old one (a retitle is one
   commit with the add and the delete), an item that no longer exists loses its file. On
   first adoption of a repository, files already there under an item's ``claim`` in the same
   folder are its stale names (deleted); identical files are simply adopted.
3. :meth:`GitDataWriter.publish` plans against the remote tree and commits only changes. The
   rendered files wait on disk (:mod:`core.publishing.spool`): memory holds paths and shas.
4. After the branch moved (or nothing had to), the ledger and the horizon are written in one
   transaction. A failure before that leaves both unmoved: the next run renders the same items
   again and converges (files already on the branch cost nothing).

An item that cannot be rendered (or whose path is unusable) is left out, the others are
published, the horizon is kept where it was (so the item is tried again), and the step then
fails with ``validation`` naming the items.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import posixpath
import time
from collections.abc import Callable, Iterable, Mapping

from core.errors import DataValidationError
from core.operations.filenames import check_path
from core.operations.github.gitdata import GitDataWriter, Plan
from core.protocols import RunResult
from core.publishing.ledger import (
    COMPONENT,
    PUBLISH_MIGRATIONS,
    LedgerEntry,
    forget_paths,
    load_entries,
    load_horizon,
    record_files,
    save_state,
)
from core.publishing.settings import PublishSettings
from core.publishing.source import PublishedFile, PublishSource, RenderFailure
from core.publishing.spool import Spool, SpooledFile
from core.store import Store
from core.store.changes import change_horizon

__all__ = ["publish_rows", "stale_paths"]

log = logging.getLogger("core.publishing")


@dataclasses.dataclass(frozen=True)
class _Item:
    """A rendered file, its content spooled to disk."""

    source_key: str
    claim: str | None
    blob: SpooledFile


def stale_paths(
    ledger: Mapping[str, list[LedgerEntry]], new_paths: Mapping[str, str], live: set[str]
) -> set[str]:
    """Ledger paths to delete: an item's old paths when it has a new one, every path of an item
    that no longer exists (``new_paths``: key -> its path this run)."""
    stale: set[str] = set()
    for key, entries in ledger.items():
        if key in new_paths:
            stale.update(e.path for e in entries if e.path != new_paths[key])
        elif key not in live:
            stale.update(e.path for e in entries)
    return stale


def _adoption(
    files: Mapping[str, _Item], ledger: Mapping[str, list[LedgerEntry]]
) -> Callable[[Mapping[str, str]], Iterable[str]] | None:
    """Remote files that are stale names of items the ledger does not know yet."""
    claims: dict[str, list[tuple[str, str]]] = {}
    for path, item in files.items():
        if item.claim and item.source_key not in ledger:
            claims.setdefault(posixpath.dirname(path), []).append((item.claim, path))
    if not claims:
        return None

    def adopt(remote: Mapping[str, str]) -> Iterable[str]:
        for remote_path in remote:
            folder, name = posixpath.split(remote_path)
            for claim, path in claims.get(folder, ()):
                if name.startswith(claim) and remote_path != path and remote_path not in files:
                    yield remote_path

    return adopt


def _collect(
    rendered: Iterable[PublishedFile | RenderFailure], max_path_bytes: int, spool: Spool
) -> tuple[dict[str, _Item], list[str]]:
    files: dict[str, _Item] = {}
    by_key: dict[str, str] = {}
    failures: list[str] = []
    for item in rendered:
        if isinstance(item, RenderFailure):
            failures.append(f"{item.source_key}: {item.message}")
            continue
        try:
            path = check_path(item.path, max_path_bytes=max_path_bytes)
        except DataValidationError as exc:
            failures.append(f"{item.source_key}: {exc}")
            continue
        other = files.get(path)
        if other is not None and other.source_key != item.source_key:
            failures.append(f"{item.source_key}: same path as {other.source_key} ({path!r})")
            continue
        if item.source_key in by_key and by_key[item.source_key] != path:
            failures.append(f"{item.source_key}: rendered twice, to {by_key[item.source_key]!r} and {path!r}")
            continue
        by_key[item.source_key] = path
        files[path] = _Item(item.source_key, item.claim, spool.put(item.content))
    return files, failures


def publish_rows(
    store: Store,
    source: PublishSource,
    settings: PublishSettings,
    writer: GitDataWriter,
    *,
    collector: str,
    run_id: str = "",
    dry_run: bool = False,
    full_refresh: bool = False,
    now: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
) -> RunResult:
    """Publish what changed; see the module docstring. Returns the step's counts.

    ``collector`` (the entry's name) owns its ledger rows and watermark in the target.
    """
    started = time.monotonic()
    dry_run = dry_run or settings.dry_run
    store.ensure_core()
    store.migrate(COMPONENT, PUBLISH_MIGRATIONS)
    target = settings.ledger_target
    with Spool() as spool:
        with store.engine.connect() as conn:
            horizon = change_horizon(conn)
            stored = load_horizon(conn, target, collector)
            since = None if full_refresh else stored
            files, failures = _collect(source.render(conn, since), settings.max_path_bytes, spool)
            live = source.live_keys(conn)
            ledger = load_entries(conn, target, collector)
        new_paths = {item.source_key: path for path, item in files.items()}
        deletes = stale_paths(ledger, new_paths, live) - files.keys()

        def message(plan: Plan) -> str:
            return settings.message.format(
                files=len(plan.writes),
                deletions=len(plan.deletes),
                collector=collector,
                run_id=run_id or "manual",
            )

        outcome = writer.publish(
            {path: item.blob for path, item in files.items()},
            deletes,
            message=message,
            adopt=_adoption(files, ledger),
            dry_run=dry_run,
        )
    if not dry_run:
        at = now()
        with store.transaction() as conn:
            forget_paths(conn, target, collector, deletes)
            record_files(
                conn,
                target,
                collector,
                {path: (item.source_key, item.blob.sha) for path, item in files.items()},
                outcome.head,
                at,
            )
            save_state(conn, target, collector, stored if failures else horizon, outcome.head, at)
    counts = {
        **outcome.counts(),
        "files_rendered": len(files),
        "render_failures": len(failures),
        "dry_run": int(dry_run),
    }
    log.info(
        "publish %s (%s) -> %s: %s%s",
        collector,
        source.name,
        target,
        ", ".join(f"{k}={v}" for k, v in sorted(counts.items())),
        f" (commit {outcome.commit})" if outcome.commit else "",
    )
    if failures:
        error = DataValidationError(
            f"{len(failures)} item(s) could not be published (the others were): " + "; ".join(failures[:10]),
            source=f"publish {collector}",
        )
        error.committed_counts = counts  # type: ignore[attr-defined]
        raise error
    return RunResult(success=True, counts=counts, duration_seconds=time.monotonic() - started, step="publish")
