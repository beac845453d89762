"""``BoostDocsCollector``: each new Boost release's documentation, from its source archive.

Which releases: the ``versions`` param when given (a manual run, a backfill), else the stable
releases on the archive server that are newer than the newest one indexed (the first run
takes the newest ``initial_versions``). The set of indexed releases (``boost_doc_releases``) is
the checkpoint: a release is recorded only after its whole archive was read, so a failed run
leaves it to the next one. Runs are triggered by the ``boost://releases`` asset; the asset's
extra is not needed (docs/boost.md, "Docs tracker").
"""

from __future__ import annotations

import collections
import datetime as dt
import logging
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from sqlalchemy import select

from boost_docs_tracker.archive import DocFile, doc_files
from boost_docs_tracker.config import BoostDocsConfig
from boost_docs_tracker.download import ArchiveDownloader, ArchiveNotFoundError
from boost_docs_tracker.extract import extract_page, is_redirect
from boost_docs_tracker.pages import ConvertedPage, finish_release, write_pages
from boost_docs_tracker.preprocess import SOURCE, documents, removed_doc_ids
from boost_docs_tracker.protocol_impl import BoostDocsCollectResult
from boost_docs_tracker.tables import MIGRATIONS, boost_doc_releases
from boost_docs_tracker.versions import archive_name, parse_version, sort_key, stable_versions_in
from core.collectors import AbstractCollector
from core.errors import sanitize_exception_message
from core.operations.http import HttpClient, HttpClientConfig
from core.vectors.documents import Document

__all__ = ["BoostDocsCollector"]

log = logging.getLogger(__name__)

MAX_ERRORS_REPORTED = 20


def _decode(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("latin-1")  # older BoostBook pages are ISO-8859-1


class BoostDocsCollector(AbstractCollector):
    name = "boost_docs"
    vector_source = SOURCE
    migrations = MIGRATIONS

    settings: BoostDocsConfig
    clock: Callable[[], float] = staticmethod(time.time)  # a test may set a fast clock
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def validate_config(self) -> None:
        self.settings = BoostDocsConfig.parse(self.raw_config)
        self.requested = [parse_version(v) for v in (self.context.params.get("versions") or [])]

    def listing_client(self) -> HttpClient:
        config = HttpClientConfig(
            base_url=self.settings.archive_url.rstrip("/"),
            api_name="Boost archive server",
            logger="boost_docs_tracker",
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
            transient_max_retries=self.settings.transient_max_retries,
        )
        return HttpClient(config, clock=self.clock, sleep=self.sleep)

    def downloader(self) -> ArchiveDownloader:
        return ArchiveDownloader(
            timeout=self.settings.timeout_seconds,
            max_retries=self.settings.transient_max_retries,
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
            clock=self.clock,
            sleep=self.sleep,
        )

    def preflight(self) -> None:
        if not self.requested:
            with self.listing_client() as client:
                client.get_raw("/")  # the release index is reachable

    def _indexed(self) -> dict[str, str | None]:
        with self.store.engine.connect() as conn:
            rows = conn.execute(select(boost_doc_releases.c.version, boost_doc_releases.c.etag))
            return {row.version: row.etag for row in rows}

    def _versions_to_index(
        self, indexed: dict[str, str | None], counts: collections.Counter[str]
    ) -> list[str]:
        if self.requested:
            return sorted(set(self.requested), key=sort_key)
        with self.listing_client() as client:
            listing = client.get_raw("/")
            counts.update(client.stats.counts("http_listing_"))
        published = stable_versions_in(_decode(listing.data or b""))
        counts["versions_published"] = len(published)
        if not indexed or self.context.full_refresh:  # a full refresh reads the newest ones again
            return published[-self.settings.initial_versions :]
        newest = max(indexed, key=sort_key)
        return [v for v in published if sort_key(v) > sort_key(newest)]

    def collect(self) -> BoostDocsCollectResult:
        counts: collections.Counter[str] = collections.Counter()
        errors: list[str] = []
        indexed = self._indexed()
        done: list[str] = []
        work = (
            Path(self.settings.work_dir)
            if self.settings.work_dir
            else Path(tempfile.gettempdir()) / "boost_docs"
        )
        work.mkdir(parents=True, exist_ok=True)
        downloader = self.downloader()
        try:
            for version in self._versions_to_index(indexed, counts):
                etag = None if self.context.full_refresh else indexed.get(version)
                if self._index_release(version, etag, downloader, work, counts, errors):
                    done.append(version)
        finally:
            downloader.close()
            counts["archive_requests"] += downloader.requests
            counts["archive_resumed"] += downloader.resumed
        counts["versions_indexed"] = len(done)
        return BoostDocsCollectResult(
            success=True,
            counts=counts,
            errors=errors[:MAX_ERRORS_REPORTED],
            news={"versions": done} if done else None,
        )

    def _index_release(
        self,
        version: str,
        etag: str | None,
        downloader: ArchiveDownloader,
        work: Path,
        counts: collections.Counter[str],
        errors: list[str],
    ) -> bool:
        name = archive_name(version, self.settings.archive_format)
        url = f"{self.settings.archive_url.rstrip('/')}/{version}/source/{name}"
        try:
            downloaded = downloader.fetch(url, work / name, etag=etag)
        except ArchiveNotFoundError:
            if version in self.requested:
                raise
            counts["versions_without_archive"] += 1  # listed but not uploaded yet: the next run retries
            log.warning("Boost %s is listed but has no %s archive yet; left for the next run", version, name)
            return False
        if downloaded is None:
            counts["versions_not_modified"] += 1
            return False
        try:
            seen, failed = self._store_pages(
                version, doc_files(downloaded.path, max_bytes=self.settings.max_page_bytes), counts, errors
            )
            with self.store.transaction() as conn:
                counts["pages_deleted"] += finish_release(
                    conn, version, seen,
                    archive_url=url, etag=downloaded.etag, archive_bytes=downloaded.bytes,
                    pages_failed=failed, now=dt.datetime.now(dt.UTC),
                )  # fmt: skip
        finally:
            downloaded.path.unlink(missing_ok=True)
        counts["archive_bytes"] += downloaded.bytes
        return True

    def _store_pages(
        self, version: str, files: Iterable[DocFile], counts: collections.Counter[str], errors: list[str]
    ) -> tuple[set[str], int]:
        seen: set[str] = set()
        failed = 0
        batch: list[ConvertedPage] = []
        for file in files:
            if file.data is None:
                counts["pages_too_large"] += 1
                errors.append(f"{version} {file.path}: {file.size} bytes, over max_page_bytes")
                continue
            html = _decode(file.data)
            if is_redirect(html):
                counts["pages_redirects"] += 1
                continue
            try:
                page = extract_page(html)
            except Exception as exc:  # noqa: BLE001 - one bad page never stops the others
                failed += 1
                counts["pages_failed"] += 1
                errors.append(f"{version} {file.path}: {sanitize_exception_message(exc)[:200]}")
                continue
            if not page.markdown:
                counts["pages_empty"] += 1
                continue
            batch.append(ConvertedPage(file, page))
            seen.add(file.path)
            if len(batch) >= self.settings.batch_pages:
                self._flush(version, batch, counts)
                batch = []
        if batch:
            self._flush(version, batch, counts)
        return seen, failed

    def _flush(self, version: str, batch: list[ConvertedPage], counts: collections.Counter[str]) -> None:
        with self.store.transaction() as conn:
            write_pages(conn, version, batch, self.settings.docs_url)
        counts["pages"] += len(batch)
        counts["transactions"] += 1

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(self.store.engine, changed_since, doc_ids)

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return removed_doc_ids(self.store.engine, changed_since)
