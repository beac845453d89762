"""``BoostLibrariesCollector``: stable Boost releases and every library's metadata in each.

Checkpoint: the set of stored releases. A run lists the superproject's tags (a 304 when
nothing changed), then stores each selected release, oldest first, in one transaction (rows
and checkpoint together). Releases stored for the first time are the run's news, which the
DAG announces as the Asset ``boost://releases`` (``{"versions": [...]}``).
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import time
from collections.abc import Callable, Iterable

import requests
from sqlalchemy import select

from boost_library_tracker.config import (
    BoostLibrariesConfig,
    GitHubAccess,
    Releases,
    parse_releases,
    resolve_connection,
)
from boost_library_tracker.metadata import parse_libraries_json
from boost_library_tracker.preprocess import SOURCE, documents
from boost_library_tracker.protocol_impl import BoostLibrariesResult, BoostReleasesState
from boost_library_tracker.rows import LibraryFile, write_release
from boost_library_tracker.source import (
    ReleaseTag,
    ReleaseTree,
    Submodule,
    read_meta_file,
    read_release,
    read_tags,
)
from boost_library_tracker.tables import MIGRATIONS, boost_library_meta_files
from core.collectors import AbstractCollector
from core.errors import ConfigError, DataValidationError, sanitize_exception_message
from core.identity import ensure_identity
from core.operations.github_ops import GitHubClient, GitHubClientConfig
from core.store import StoreEtagCache, load_checkpoint, save_checkpoint
from core.vectors.documents import Document

__all__ = ["RELEASES_PARAM", "BoostLibrariesCollector"]

log = logging.getLogger(__name__)
RELEASES_PARAM = "releases"


def _as_text(raw: bytes | None) -> str | None:
    """The file as stored: UTF-8 (undecodable bytes and NULs replaced: PostgreSQL text refuses NUL)."""
    return None if raw is None else raw.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


class BoostLibrariesCollector(AbstractCollector):
    name = "boost_libraries"
    vector_source = SOURCE
    migrations = MIGRATIONS

    settings: BoostLibrariesConfig
    access: GitHubAccess
    clock: Callable[[], float] = staticmethod(time.time)  # a test may set a fast clock
    sleep: Callable[[float], None] = staticmethod(time.sleep)
    session: requests.Session | None = None

    # ------------------------------------------------------------------ lifecycle

    def validate_config(self) -> None:
        self.settings = BoostLibrariesConfig.parse(self.raw_config)
        self.access = resolve_connection(
            self.context.connection(self.settings.connection_id) or None, self.settings
        )
        self.releases = self._selected_releases()

    def _selected_releases(self) -> Releases:
        """The ``releases`` run param (a backfill: ``all`` or versions) wins over the config's."""
        value = self.context.params.get(RELEASES_PARAM)
        if value not in (None, "", []):
            return parse_releases(value, f"param {RELEASES_PARAM!r}")
        return "all" if self.context.full_refresh else self.settings.releases

    def secrets(self) -> list[str]:
        return list(self.access.tokens) if hasattr(self, "access") else []

    def migrate(self) -> list[int]:
        ensure_identity(self.store)  # person_profiles, written with every release
        return super().migrate()

    def client(self) -> GitHubClient:
        settings = self.settings
        config = GitHubClientConfig(
            base_url=self.access.base_url,
            tokens=self.access.tokens,
            per_page=settings.per_page,
            max_pages=settings.max_tag_pages,  # the tag listing is the only paged request
            min_remaining=settings.min_remaining,
            max_rate_limit_wait=settings.max_rate_limit_wait,
            read_timeout=settings.request_timeout,
            transient_max_retries=settings.transient_max_retries,
        )
        return GitHubClient(
            config,
            etag_cache=StoreEtagCache(self.store.engine),
            session=self.session,
            clock=self.clock,
            sleep=self.sleep,
        )

    def preflight(self) -> None:
        with self.client() as client:
            client.get(f"/repos/{self.settings.superproject}")  # reachable, the tokens accepted

    # ------------------------------------------------------------------ collect

    def collect(self) -> BoostLibrariesResult:
        counts: collections.Counter[str] = collections.Counter()
        errors: list[str] = []
        with self.store.engine.connect() as conn:
            loaded = load_checkpoint(conn, self.name)
        state = BoostReleasesState.from_state(loaded)
        token = loaded.checkpoint_token if loaded is not None else None
        bounded = self.context.bounded
        conditional = self.releases == "new" and not bounded
        with self.client() as client:
            listing = read_tags(
                client, self.settings.superproject, conditional=conditional, per_page=self.settings.per_page
            )
            if listing.tags is None:
                counts["tags_not_modified"] += 1
            todo = self._todo(listing.tags or [], set(state.versions))
            counts["releases_selected"] = len(todo)
            for tag in todo:
                tree = read_release(client, self.settings.superproject, tag, self._in_window)
                if tree is None:
                    counts["releases_outside_window"] += 1
                    continue
                files = self._library_files(client, tree, counts, errors)
                new = tag.version not in state.versions
                with self.store.transaction() as conn:
                    counts["library_versions"] += write_release(conn, tree, files, dt.datetime.now(dt.UTC))
                    if not bounded:  # a bounded run writes rows only
                        following = state.with_release(tag.version, new=new)
                        save_checkpoint(conn, self.name, following, expected=token)
                        state, token = following, following.checkpoint_token
                counts["releases_new" if new else "releases_reread"] += 1
            news = [] if bounded else state.unannounced  # a bounded run leaves the checkpoint alone
            if news:
                with self.store.transaction() as conn:  # reported below: the Asset event carries them
                    following = state.announced()
                    save_checkpoint(conn, self.name, following, expected=token)
            if listing.validators is not None:
                client.remember(listing.validators)  # every listed release is stored by now
            counts.update(client.stats.counts("http_"))
        return BoostLibrariesResult(
            success=True, counts=counts, errors=errors, news={"versions": news} if news else None
        )

    def _todo(self, tags: list[ReleaseTag], known: set[str]) -> list[ReleaseTag]:
        if self.releases == "new":  # a bounded run re-reads every release inside its window
            return tags if self.context.bounded else [tag for tag in tags if tag.version not in known]
        return tags if self.releases == "all" else self._listed(tags)

    def _listed(self, tags: list[ReleaseTag]) -> list[ReleaseTag]:
        by_version = {tag.version: tag for tag in tags}
        missing = [v for v in self.releases if v not in by_version]
        if missing:
            raise ConfigError(
                f"{RELEASES_PARAM}: no stable tag boost-{missing[0]} in {self.settings.superproject}"
                + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else "")
            )
        return sorted((by_version[v] for v in self.releases), key=lambda t: t.order)

    def _in_window(self, when: dt.datetime) -> bool:
        since, until = self.context.since, self.context.until
        return (since is None or when >= since) and (until is None or when < until)

    def _library_files(
        self, client: GitHubClient, tree: ReleaseTree, counts: collections.Counter[str], errors: list[str]
    ) -> list[LibraryFile]:
        """Each submodule's libraries.json: from the store when its commit was read before."""
        known = self._stored_meta_files(tree.submodules)
        files: list[LibraryFile] = []
        for module in tree.submodules:
            key = (module.repo, module.sha)
            fetched = key not in known
            try:
                raw = (
                    _as_text(read_meta_file(client, module, self.settings.max_meta_bytes))
                    if fetched
                    else known[key]
                )
            except DataValidationError as exc:  # this library's file is unusable at this commit
                self._problem(errors, counts, tree, module, sanitize_exception_message(exc, self.secrets()))
                continue
            counts["meta_files_fetched" if fetched else "meta_files_reused"] += 1
            if raw is None:
                counts["submodules_without_meta"] += 1
                files.append(LibraryFile(module, None, (), fetched))
                continue
            libraries, problems = parse_libraries_json(raw.encode())
            for problem in problems:
                self._problem(errors, counts, tree, module, str(problem))
            files.append(LibraryFile(module, raw, libraries, fetched))
        return files

    def _problem(
        self,
        errors: list[str],
        counts: collections.Counter[str],
        tree: ReleaseTree,
        module: Submodule,
        text: str,
    ) -> None:
        message = f"{tree.tag.version}: {module.repo}@{module.sha[:12]} meta/libraries.json: {text}"
        log.warning("skipped: %s", message)
        counts["libraries_invalid"] += 1
        if len(errors) < 50:
            errors.append(message)

    def _stored_meta_files(self, modules: Iterable[Submodule]) -> dict[tuple[str, str], str | None]:
        wanted = {(m.repo, m.sha) for m in modules}
        table = boost_library_meta_files
        with self.store.engine.connect() as conn:
            rows = conn.execute(
                select(table.c.repo_full_name, table.c.submodule_sha, table.c.content).where(
                    table.c.submodule_sha.in_([sha for _, sha in wanted])
                )
            )
            return {
                (r.repo_full_name, r.submodule_sha): r.content
                for r in rows
                if (r.repo_full_name, r.submodule_sha) in wanted
            }

    # ------------------------------------------------------------------ vectors

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(self.store.engine, changed_since, doc_ids)
