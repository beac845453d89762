"""``Wg21Collector``: the wg21.link index, the open-std.org mailing pages, paper text, and a
GitHub dispatch per new paper through the framework's outbox.

One collect run: (1) the index, conditionally (a 304 costs nothing); (2) the mailings not yet
complete, one year page per year, conditionally; (3) optional paper downloads within caps;
(4) delivery of every pending dispatch. Rows and the outbox items they cause commit together,
so a crash anywhere neither loses nor doubles a dispatch (docs/wg21.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack

from core.collectors import AbstractCollector
from core.operations.http import HttpClient, HttpClientConfig
from core.store import StoreEtagCache
from core.store.checkpoints import load_checkpoint
from core.store.outbox import deliver
from core.vectors.documents import Document
from wg21_paper_tracker.config import Wg21Config, dispatch_token, origin_of, split_url
from wg21_paper_tracker.dispatch import OUTBOX_KIND, DispatchSender
from wg21_paper_tracker.downloads import download_papers
from wg21_paper_tracker.index_step import read_index
from wg21_paper_tracker.mailing_step import read_mailings
from wg21_paper_tracker.preprocess import documents
from wg21_paper_tracker.protocol_impl import Wg21CollectResult
from wg21_paper_tracker.run import Wg21Run
from wg21_paper_tracker.tables import MIGRATIONS

__all__ = ["Wg21Collector"]


class Wg21Collector(AbstractCollector):
    name = "wg21"
    vector_source = "wg21"
    migrations = MIGRATIONS

    settings: Wg21Config
    token: str = ""
    clock: Callable[[], float] = staticmethod(time.time)  # a test may set a fast clock
    sleep: Callable[[float], None] = staticmethod(time.sleep)

    def validate_config(self) -> None:
        self.settings = Wg21Config.parse(self.raw_config)
        if self.settings.dispatch.enabled:
            connection = self.context.connection(self.settings.dispatch.connection_id)
            self.token = dispatch_token(connection, self.settings.dispatch)

    def secrets(self) -> list[str]:
        return [self.token] if self.token else []

    def client(self, origin: str, api_name: str) -> HttpClient:
        config = HttpClientConfig(
            base_url=origin,
            api_name=api_name,
            logger="wg21_paper_tracker",
            max_rate_limit_wait=self.settings.max_rate_limit_wait,
        )
        cache = StoreEtagCache(self.store.engine)
        return HttpClient(config, etag_cache=cache, clock=self.clock, sleep=self.sleep)

    def collect(self) -> Wg21CollectResult:
        ctx = self.context
        with self.store.engine.connect() as conn:
            stored = load_checkpoint(conn, self.name)
        baseline = stored is not None or self.settings.notify_first_run  # the first run is the baseline
        run = Wg21Run(
            store=self.store,
            collector=self.name,
            settings=self.settings,
            clock=self.clock,
            conditional=not ctx.full_refresh and not ctx.bounded,
            keep_checkpoint=not ctx.bounded,
            notify=self.settings.dispatch.enabled and baseline,
            state=dict(stored.extras) if stored is not None else {},
            secrets=self.secrets(),
        )
        clients: dict[str, HttpClient] = {}
        with ExitStack() as stack:

            def client_for(origin: str) -> HttpClient:
                if origin not in clients:
                    clients[origin] = stack.enter_context(self.client(origin, origin.split("://", 1)[1]))
                return clients[origin]

            index_origin, index_path = split_url(self.settings.index_url)
            read_index(run, client_for(origin_of(index_origin)), index_path)
            site_origin, site_path = split_url(self.settings.site_url)
            if self.settings.mailings:
                read_mailings(run, client_for(origin_of(site_origin)), site_path)
            if self.settings.download.enabled:
                download_papers(run, client_for)
            for client in clients.values():
                run.counts.update(client.stats.counts("http_"))
        if self.settings.dispatch.enabled:
            self._dispatch(run)
        return run.result()

    def _dispatch(self, run: Wg21Run) -> None:
        """Every due dispatch (this run's and any a failure or a crash left), after the commits."""
        settings = self.settings.dispatch
        sender = DispatchSender(settings, self.token, clock=self.clock)
        try:
            report = deliver(
                self.store,
                OUTBOX_KIND,
                sender,
                limit=settings.max_papers_per_dispatch * 10,
                batch_size=settings.max_papers_per_dispatch,
                clock=run.now,
                extra_secrets=self.secrets(),
            )
        finally:
            sender.close()
        run.counts.update(report.counts)
        run.counts["dispatches"] += sender.dispatches
        for failure in sender.failures:  # the rows are stored; the items wait in the outbox
            run.fail("dispatch", failure)
        if report.parked_total and not report.parked_now:
            run.errors.append(
                f"{report.parked_total} dispatch(es) parked since an earlier run: fix the cause, then "
                "release them (docs/wg21.md)"
            )

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(self.store.engine, changed_since, doc_ids)

    def removed_document_ids(self, changed_since: int | None) -> Iterable[str]:
        return []  # papers are never withdrawn from the index; a revision is a new document
