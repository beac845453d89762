"""``GitHubCollector``: repositories, commits (with files), issues and pull requests, comments, reviews.

Partitions are repositories (``owner/name``): with ``partitioned: true`` the Airflow collect
step is mapped, one task per repository; otherwise one run walks them all. Per repository
and stream the checkpoint is the newest ``updated_at`` (committer date for commits) stored;
each page is written in ONE transaction with its checkpoint advance and the ETag of the
request that proves "nothing changed" next time, so a crash re-reads at most one page.
Bounded runs (``since``/``until``: params or an Airflow backfill) re-read their window by
upsert and never touch the forward checkpoints. See :mod:`github_activity_tracker.streams`
for how each stream is read and ``docs/github.md`` for the operator's view.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime as dt
import logging
import random
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import requests
from sqlalchemy import Connection, func, or_, select, text

from core.collectors import AbstractCollector, RunContext
from core.errors import CollectorError, PermissionDeniedError, sanitize_exception_message
from core.identity import ensure_identity
from core.operations.github_ops import (
    GitHubClient,
    GitHubClientConfig,
    GitHubConflictError,
    GitHubGoneError,
    GitHubNotFoundError,
    GitHubResponse,
    NotModified,
    Pages,
    PointBudget,
    require_same_origin,
)
from core.protocols import IncrementalState
from core.store import StoreEtagCache, as_utc
from core.streams import Checkpointer, Window, read_stream
from core.vectors.documents import Document
from github_activity_tracker.api_schemas import (
    Commit,
    PullRequest,
    Repository,
    Review,
    parse_list,
    parse_object,
)
from github_activity_tracker.commit_files import CommitFileFetcher, FileListResult, GitCommitCache
from github_activity_tracker.config import (
    GitHubConfig,
    GitHubConnection,
    html_host,
    normalize_repo,
    parse_config,
    resolve_connection,
)
from github_activity_tracker.discovery import RepositoryDiscovery
from github_activity_tracker.follow import Children, children_of, keep_children, keep_issues
from github_activity_tracker.http_validators import tracked
from github_activity_tracker.markdown_export import export_issues
from github_activity_tracker.preprocess import documents
from github_activity_tracker.protocol_impl import GitHubCollectResult, GitHubRepoState
from github_activity_tracker.pull_graphql import GraphQLUnavailable, fetch_pulls
from github_activity_tracker.rows import (
    CommitDetails,
    mark_pull_synced,
    write_commit_details,
    write_commits,
    write_issue_comments,
    write_new_commits_with_details,
    write_pull_details,
    write_repository,
    write_review_comments,
    write_reviews,
)
from github_activity_tracker.streams import (
    COMMITS,
    ISSUE_COMMENTS,
    ISSUES,
    PULL_LIST,
    REVIEW_COMMENTS,
    REVIEWS_PATH,
    Stream,
)
from github_activity_tracker.tables import (
    GITHUB_MIGRATIONS,
    github_commits,
    github_issues,
    github_repositories,
    github_reviews,
)

__all__ = ["GitHubCollector"]

log = logging.getLogger(__name__)

# Commit details are fetched one request each and written in batches: one transaction (one
# DELETE of replaced file lists, the files and the commits' sums) per this many commits, or
# sooner once this many files wait (memory stays bounded with 3,000-file commits).
COMMIT_DETAILS_BATCH = 100
COMMIT_DETAILS_BATCH_FILES = 20_000
# Which of a page's commits are stored, and with which details status (PostgreSQL: the shas
# as one array parameter, so one statement text, compiled once, whatever the page's size).
_PG_STORED_COMMITS = text(
    "SELECT sha, files_status FROM github_commits WHERE repo_id = :repo_id AND sha = ANY(CAST(:shas AS text[]))"
)


class GitHubCollector(AbstractCollector):
    """Collects GitHub activity into the store; see the module docstring.

    ``clock``/``sleep``/``rng`` go to the REST client (rate-limit waits and backoff), so
    tests and benchmarks can make waits instant; ``session`` replaces its HTTP session.
    """

    name = "github"
    vector_source = "github"
    migrations = GITHUB_MIGRATIONS

    settings: GitHubConfig

    def __init__(
        self,
        config: dict[str, Any] | None = None,
        *,
        context: RunContext | None = None,
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
        rng: Callable[[], float] | None = None,
        session: requests.Session | None = None,
    ) -> None:
        super().__init__(config, context=context)
        self._clock = clock or time.time
        self._sleep = sleep or time.sleep
        self._rng = rng or random.random
        self._session = session
        self._connection: GitHubConnection | None = None
        self._client: GitHubClient | None = None
        self._partitions: list[str] | None = None
        self.graphql_unavailable = False  # GraphQL failed as a whole once: REST for the rest of the run
        self._budget: PointBudget | None = None

    @property
    def budget(self) -> PointBudget:
        """GraphQL points, shared by every repository of the run (one token pool)."""
        if self._budget is None:
            self._budget = PointBudget(
                max_wait=self.settings.max_rate_limit_wait, clock=self._clock, sleep=self._sleep
            )
        return self._budget

    # ------------------------------------------------------------------ lifecycle

    def migrate(self) -> list[int]:
        ensure_identity(self.store)  # person_profiles, written with every page of users
        return super().migrate()

    def validate_config(self) -> None:
        self.settings = parse_config(self.raw_config)
        conn_id = self.settings.connection_id
        self._connection = resolve_connection(
            self.context.connection(conn_id) or None, conn_id=conn_id, api_url=self.settings.api_url
        )
        if self.context.partition is not None:
            try:
                normalize_repo(self.context.partition)
            except ValueError as exc:
                from core.errors import ConfigError

                raise ConfigError(f"github collector: partition {exc}") from None

    def secrets(self) -> list[str]:
        return list(self._connection.tokens) if self._connection else []

    @property
    def connection(self) -> GitHubConnection:
        if self._connection is None:
            self.validate_config()
        assert self._connection is not None
        return self._connection

    @property
    def client(self) -> GitHubClient:
        if self._client is None:
            settings = self.settings
            config = GitHubClientConfig(
                base_url=self.connection.base_url,
                tokens=self.connection.tokens,
                per_page=settings.per_page,
                min_remaining=settings.min_remaining,
                max_rate_limit_wait=settings.max_rate_limit_wait,
                read_timeout=settings.request_timeout,
                transient_max_retries=settings.transient_max_retries,
            )
            self._client = GitHubClient(
                config,
                etag_cache=StoreEtagCache(self.store.engine),
                session=self._session,
                clock=self._clock,
                sleep=self._sleep,
                rng=self._rng,
            )
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def on_error(self, exc: BaseException) -> None:
        self.close()

    def preflight(self) -> None:
        """``GET /rate_limit`` (free): the API answers and the token(s) work."""
        try:
            data = self.client.rate_limit()
        except GitHubNotFoundError:  # GitHub Enterprise Server with rate limiting disabled
            log.info("GitHub API %s has no /rate_limit (rate limiting disabled)", self.connection.base_url)
            if self.settings.repositories:  # still prove that the token is accepted
                self.client.get(f"/repos/{self.settings.repositories[0]}")
            return
        core = (data.get("resources") or {}).get("core") or {}
        log.info(
            "GitHub API %s reachable with %d token(s); core quota of the first: %s/%s",
            self.connection.base_url,
            len(self.connection.tokens),
            core.get("remaining", "?"),
            core.get("limit", "?"),
        )

    def list_partitions(self) -> list[str]:
        if self._partitions is None:
            discovery = RepositoryDiscovery(self.client, self.store, self.settings, clock=self._clock)
            self._partitions = discovery.resolve()
        return list(self._partitions)

    def load_incremental_state(self) -> IncrementalState | None:
        return None  # one checkpoint per repository, loaded by each repository's run

    # ------------------------------------------------------------------ collect

    def collect(self) -> GitHubCollectResult:
        started = time.monotonic()
        partition = self.context.partition
        repos = [normalize_repo(partition)] if partition else self.list_partitions()
        if not partition and self.context.partitions:  # the ``partitions`` param of an unpartitioned DAG
            wanted = {p.lower() for p in self.context.partitions}
            repos = [r for r in repos if r.lower() in wanted]
        totals: collections.Counter[str] = collections.Counter()
        failures: list[tuple[str, CollectorError]] = []
        done: list[str] = []
        disabled: list[str] = []  # "owner/name: stream" GitHub reports turned off (410)
        renamed: list[str] = []  # "configured -> current name"
        try:
            for number, repo in enumerate(repos, start=1):
                run = _RepoRun(self, repo)
                try:
                    run.run()
                except PermissionDeniedError as exc:  # 403/404 of one repo must not stop the others
                    if partition or len(repos) == 1:
                        raise
                    failures.append((repo, exc))
                    totals["repositories_failed"] += 1
                    log.error(
                        "[%d/%d] %s failed: %s",
                        number,
                        len(repos),
                        repo,
                        sanitize_exception_message(exc, self.secrets()),
                    )
                    continue
                finally:
                    totals.update(run.counts)
                    disabled += [f"{run.repo}: {stream}" for stream in run.disabled]
                    if run.repo != repo:
                        renamed.append(f"{repo} -> {run.repo}")
                done.append(repo)
                log.info("[%d/%d] %s: %s", number, len(repos), repo, _describe(run.counts))
        finally:
            stats = self.client.stats
            totals.update(stats.counts())
            self.close()
        if failures:
            first_repo, first = failures[0]
            raise PermissionDeniedError(
                f"{len(failures)} of {len(repos)} repositories failed (the others were collected); "
                f"first: {first_repo}: {sanitize_exception_message(first, self.secrets())}"
            )
        return GitHubCollectResult(
            success=True,
            counts=dict(totals),
            duration_seconds=time.monotonic() - started,
            repositories=done,
            disabled=disabled,
            renamed=renamed,
        )

    # ------------------------------------------------------------------ vector step

    def preprocess(self, changed_since: int | None, doc_ids: Iterable[str]) -> Iterable[Document]:
        return documents(self.store.engine, changed_since, doc_ids)


def _describe(counts: collections.Counter[str]) -> str:
    return ", ".join(f"{k}={v}" for k, v in sorted(counts.items()) if v) or "nothing new"


class _RepoRun:
    """Everything one repository's collection needs (one per repository per run)."""

    def __init__(self, collector: GitHubCollector, repo: str) -> None:
        self.collector = collector
        self.repo = repo
        self.settings = collector.settings
        self.context = collector.context
        self.client = collector.client
        self.store = collector.store
        self.counts: collections.Counter[str] = collections.Counter()
        self.partition = repo.lower()
        # Validators belong to the entry: two entries with different filters may read one repository.
        self.scope = f"{collector.name}:{self.partition}"
        self.per_page = self.settings.per_page
        self.overlap = dt.timedelta(minutes=self.settings.overlap_minutes)
        self.bounded = self.context.bounded
        self.full_refresh = self.context.full_refresh
        self.repo_id: int = 0
        self.full_name = repo
        self.clone_url: str | None = None
        self.touched: set[int] = set()
        self.disabled: list[str] = []  # streams GitHub answered 410 for (feature turned off)
        self._fetcher: CommitFileFetcher | None = None
        # Every page commits through the framework: rows + checkpoint (compare-and-set on the
        # token stored when this run began; never in a bounded run) + validators, one transaction.
        self.checkpoint: Checkpointer[GitHubRepoState] = Checkpointer.load(
            self.store,
            collector.name,
            self.partition,
            lambda stored: GitHubRepoState.from_state(self.partition, stored),
            full_refresh=self.full_refresh,
            bounded=self.bounded,
            counts=self.counts,
        )

    # ------------------------------------------------------------------ plumbing

    @staticmethod
    def now() -> dt.datetime:
        return dt.datetime.now(dt.UTC)

    @property
    def state(self) -> GitHubRepoState:
        return self.checkpoint.state

    def commit(
        self,
        work: Callable[[Connection], object],
        new_state: GitHubRepoState | None = None,
        remember: Sequence[GitHubResponse | None] = (),
    ) -> None:
        """One transaction: the rows, the checkpoint that describes them, the validators
        (:meth:`core.streams.Checkpointer.commit`; a bounded run writes rows only)."""
        self.checkpoint.commit(work, new_state, remember)

    def probe(self, path: str, params: dict[str, Any], *, trust: bool) -> Pages | NotModified:
        """The first page of a list; conditional when ``trust`` (a 304 then means "unchanged")."""
        if trust:
            return self.client.pages_if_changed(path, params, scope=self.scope)
        first = self.client.get(path, params)
        return Pages(self.client, tracked(first, scope=self.scope, path=path, params=params))

    def check_next(self, page: GitHubResponse) -> None:
        if page.next_url:
            require_same_origin(
                page.next_url, self.client.config.base_url, endpoint=page.endpoint, what='Link rel="next"'
            )

    def enabled(self, stream: str) -> bool:
        return self.settings.enabled(stream)  # type: ignore[arg-type]

    # ------------------------------------------------------------------ the run

    def run(self) -> None:
        self.sync_repository()
        if self.enabled("commits"):
            self.run_commits()
        if self.enabled("commit_files"):
            self.run_commit_files()
        if self.enabled("issues") and not self.optional("issues", lambda: self.run_updated(ISSUES)):
            # Issues disabled: pull requests are not listed under /issues, read them from /pulls.
            self.optional("pull_list", self.run_pull_list)
        if self.enabled("pull_requests"):
            self.run_pull_requests()
        if self.enabled("issue_comments"):
            self.optional("issue_comments", lambda: self.run_updated(ISSUE_COMMENTS))
        if self.enabled("review_comments"):
            self.run_updated(REVIEW_COMMENTS)
        export_root = self.settings.markdown_export_path
        if export_root is not None and self.touched:
            self.counts["markdown_files"] += export_issues(
                self.store.engine, export_root, [(self.repo_id, n) for n in sorted(self.touched)]
            )

    # ------------------------------------------------------------------ repository

    def _stored_repository(self, repo_id: int) -> dict[str, Any] | None:
        with self.store.engine.connect() as conn:
            row = (
                conn.execute(select(github_repositories).where(github_repositories.c.repo_id == repo_id))
                .mappings()
                .first()
            )
        return dict(row) if row else None

    def optional(self, stream: str, read: Callable[[], None]) -> bool:
        """Read one stream; if GitHub answers 410 (the feature is turned off for this
        repository, e.g. "Issues are disabled for this repo"), record it and go on."""
        try:
            read()
        except GitHubGoneError as exc:
            self.disabled.append(stream)
            self.counts[f"{stream}_disabled"] += 1
            log.warning(
                "%s: GitHub reports %s turned off; skipping it, the other streams go on (%s)",
                self.repo,
                stream,
                sanitize_exception_message(exc, self.collector.secrets()),
            )
            return False
        return True

    def follow_rename(self, name: str) -> None:
        """GitHub knows the repository by another name now (renamed or transferred; its
        old name answers 301): request it by the new name from here on. The new name is
        stored with the repository row, so later runs start with it (no 301 at all)."""
        if name.lower() == self.repo.lower():
            return
        log.warning(
            "%s was renamed to %s on GitHub; using the new name (update the collector config)",
            self.repo,
            name,
        )
        self.repo = name
        self.counts["repositories_renamed"] += 1

    def sync_repository(self) -> None:
        stored = self._stored_repository(self.state.repo_id) if self.state.repo_id else None
        if stored is not None:
            self.follow_rename(str(stored["full_name"]))  # a rename an earlier run found
        path = f"/repos/{self.repo}"
        if stored is not None and not self.full_refresh:
            response = self.client.get_if_changed(path, scope=self.scope)
            if isinstance(response, NotModified):
                self.counts["repositories_not_modified"] += 1
                self._use(stored)
                return
        else:
            response = tracked(self.client.get(path), scope=self.scope, path=path, params=None)
        repo = parse_object(Repository, response.data, endpoint=response.endpoint)
        now = self.now()
        self.commit(
            lambda conn: write_repository(conn, repo, now),
            self.state.with_repo_id(repo.id),
            remember=[response],
        )
        self.counts["repositories"] += 1
        self._use({"repo_id": repo.id, "full_name": repo.full_name, "clone_url": repo.clone_url})

    def _use(self, row: dict[str, Any]) -> None:
        self.repo_id = int(row["repo_id"])
        self.full_name = str(row["full_name"])
        self.clone_url = row.get("clone_url")
        self.follow_rename(self.full_name)

    # ------------------------------------------------------------------ updated-sorted lists

    def write(
        self,
        stream: Stream,
        conn: Connection,
        items: Sequence[Any],
        now: dt.datetime,
        children: Children | None = None,
    ) -> None:
        assert stream.write is not None
        stream.write(conn, self.repo_id, self.full_name, items, now)
        if children is not None:
            write_issue_comments(conn, self.repo_id, children.issue_comments, now)
            write_review_comments(conn, self.repo_id, children.review_comments, now)
        for item in items:
            if stream is ISSUES:
                self.touched.add(item.number)
            elif stream is ISSUE_COMMENTS:
                self.touched.add(item.issue_number)
            else:
                self.touched.add(item.pull_number)

    def select(self, stream: Stream, items: Sequence[Any]) -> tuple[list[Any], Children | None]:
        """What of a page the filters keep (:mod:`~github_activity_tracker.follow`), and the
        earlier comments of issues that just started to match (fetched now, stored with them)."""
        filters = self.settings.filters
        if not filters.labels_active:
            return list(items), None
        newly: list[Any] = []
        with self.store.engine.connect() as conn:
            if stream is ISSUES:
                kept, newly = keep_issues(conn, self.repo_id, filters, items)
            else:
                parent = "issue_number" if stream is ISSUE_COMMENTS else "pull_number"
                kept = keep_children(conn, self.repo_id, filters, items, parent)
        if len(kept) < len(items):
            self.counts[f"{stream.name}_filtered_out"] += len(items) - len(kept)
        if not newly:
            return kept, None
        # The comment lists of a first or full read list every comment anyway.
        behind = not self.full_refresh
        children = children_of(
            self.client,
            self.repo,
            newly,
            per_page=self.per_page,
            issue_comments=behind
            and self.enabled("issue_comments")
            and self.state.cursor(ISSUE_COMMENTS.name) is not None,
            review_comments=behind
            and self.enabled("review_comments")
            and self.state.cursor(REVIEW_COMMENTS.name) is not None,
        )
        if children.requests:
            self.counts["children_backfill_requests"] += children.requests
            self.counts["issue_comments"] += len(children.issue_comments)
            self.counts["review_comments"] += len(children.review_comments)
        return kept, children

    def store_page(
        self,
        stream: Stream,
        items: Sequence[Any],
        state: GitHubRepoState,
        remember: Sequence[GitHubResponse | None],
    ) -> None:
        """One page of an updated-sorted list: the kept rows, the checkpoint, the validators."""
        kept, children = self.select(stream, items)
        now = self.now()
        self.commit(lambda conn: self.write(stream, conn, kept, now, children), state, remember=remember)
        self.counts[stream.name] += len(kept)
        self.counts[f"{stream.name}_pages"] += 1

    def run_updated(self, stream: Stream) -> None:
        assert stream.model is not None and stream.cursor is not None
        key = stream.cursor
        if self.bounded:
            self.keyset(stream, since=self.context.since, until=self.context.until, probe=None)
            return
        cursor = self.state.cursor(stream.name)
        cutoff = cursor - self.overlap if cursor else None
        path = stream.url(self.repo)
        result = self.probe(path, stream.probe_params(self.per_page), trust=self.state.was_read(stream.name))
        if isinstance(result, NotModified):
            self.counts[f"{stream.name}_not_modified"] += 1
            return
        first = next(iter(result))  # also refuses a next link to another origin
        items = parse_list(stream.model, first.data, endpoint=first.endpoint)
        reaches_back = cutoff is not None and any(key(i) < cutoff for i in items)
        if first.next_url is None or reaches_back:
            wanted = [i for i in items if cutoff is None or key(i) >= cutoff]
            newest = max((key(i) for i in wanted), default=None)
            self.store_page(
                stream, wanted, self.state.with_cursor(stream.name, newest).with_read(stream.name), [first]
            )
            return
        self.keyset(stream, since=cutoff, until=None, probe=first)

    def keyset(
        self,
        stream: Stream,
        *,
        since: dt.datetime | None,
        until: dt.datetime | None,
        probe: GitHubResponse | None,
    ) -> None:
        """Oldest first from ``since``, each request restarting at the newest ``updated_at`` stored."""
        assert stream.model is not None and stream.cursor is not None
        key = stream.cursor
        path = stream.url(self.repo)
        page = self.client.get(path, stream.keyset_params(since, self.per_page))
        boundary: set[int] = set()  # ids stored with cursor == since: ``since`` is inclusive
        while True:
            self.check_next(page)
            items = parse_list(stream.model, page.data, endpoint=page.endpoint)
            fresh = [i for i in items if not (i.id in boundary and key(i) == since)]  # type: ignore[attr-defined]
            wanted = [i for i in fresh if until is None or key(i) <= until]
            done = page.next_url is None or len(wanted) < len(fresh) or len(items) < self.per_page
            newest = max((key(i) for i in items), default=None)
            state = self.state.with_cursor(stream.name, max((key(i) for i in wanted), default=None))
            self.store_page(
                stream,
                wanted,
                state.with_read(stream.name) if done and probe is not None else state,
                [probe] if done else [],
            )
            if done or newest is None:
                return
            if since is not None and newest <= since:
                # A whole page with one timestamp: keyset cannot move, take the next page.
                assert page.next_url is not None
                boundary |= {i.id for i in items}  # type: ignore[attr-defined]
                page = self.client.get(page.next_url)
                continue
            boundary = {i.id for i in items if key(i) == newest}  # type: ignore[attr-defined]
            since = newest
            page = self.client.get(path, stream.keyset_params(since, self.per_page))

    def run_pull_list(self) -> None:
        """Pull requests of a repository whose issues are disabled, from ``/pulls``: a declared
        newest-first stream (:data:`~github_activity_tracker.streams.PULL_LIST`) read by the
        framework down to the cursor minus the overlap (or a bounded run's window)."""
        read_stream(
            self.client,
            dataclasses.replace(PULL_LIST, params={**PULL_LIST.params, "per_page": self.per_page}),
            self.checkpoint,
            parts={"repo": self.repo},
            overlap=self.overlap,
            window=Window(self.context.since, self.context.until) if self.bounded else None,
            write=lambda conn, rows: self.write(
                ISSUES, conn, keep_issues(conn, self.repo_id, self.settings.filters, rows)[0], self.now()
            ),
            counts=self.counts,
        )

    # ------------------------------------------------------------------ commits

    def commit_streams(self) -> list[tuple[str, dict[str, str]]]:
        """(checkpoint name, extra list parameters) of each commit stream: the whole default
        branch, or one stream per ``filters.commit_paths`` entry (GitHub takes one ``path``)."""
        paths = self.settings.filters.commit_paths
        if not paths:
            return [(COMMITS.name, {})]
        return [(f"{COMMITS.name}:{path}", {"path": path}) for path in paths]

    def run_commits(self) -> None:
        try:
            for name, extra in self.commit_streams():
                if self.bounded:
                    self.commit_window(name, extra, self.context.since, self.context.until, top=None)
                    continue
                pending = self.state.pending_window(name)
                if pending is not None:
                    since, until, top = pending
                    log.info("%s: resuming the commit window %s .. %s of %s", self.repo, since, until, name)
                    self.commit_window(name, extra, since, until, top=top)
                self.newest_commits(name, extra)
        except GitHubConflictError:
            self.counts["commits_empty_repository"] += 1  # 409: "Git Repository is empty."

    def newest_commits(self, name: str, extra: dict[str, str]) -> None:
        cursor = self.state.cursor(name)
        cutoff = cursor - self.overlap if cursor else None
        path = COMMITS.url(self.repo)
        trust = self.state.was_read(name) and not self.state.pending_window(name)
        result = self.probe(path, {**COMMITS.probe_params(self.per_page), **extra}, trust=trust)
        if isinstance(result, NotModified):
            self.counts["commits_not_modified"] += 1
            return
        top: dt.datetime | None = None
        for page in result:
            commits = parse_list(Commit, page.data, endpoint=page.endpoint)
            wanted = [c for c in commits if cutoff is None or c.committed_at >= cutoff]
            dates = [c.committed_at for c in commits]
            top = max([*dates, *([top] if top else [])], default=None)
            done = page.next_url is None or len(wanted) < len(commits) or not commits
            if done or top is None:
                state = self.state.with_cursor(name, top).without_pending(name).with_read(name)
            else:
                state = self.state.with_pending(name, since=cutoff, until=min(dates), top=top)
            self.store_commit_page(wanted, state, remember=[result.first] if done else [])
            if done:
                return

    def commit_window(
        self,
        name: str,
        extra: dict[str, str],
        since: dt.datetime | None,
        until: dt.datetime | None,
        *,
        top: dt.datetime | None,
    ) -> None:
        """Every commit with ``since <= committer date <= until``, newest first (resume or bounded run)."""
        path = COMMITS.url(self.repo)
        for page in self.client.pages(path, {**COMMITS.window_params(since, until, self.per_page), **extra}):
            commits = parse_list(Commit, page.data, endpoint=page.endpoint)
            done = page.next_url is None or not commits
            state = None
            if top is not None:
                if done:
                    state = self.state.with_cursor(name, top).without_pending(name)
                else:
                    lowest = min(c.committed_at for c in commits)
                    state = self.state.with_pending(name, since=since, until=lowest, top=top)
            self.store_commit_page(commits, state)
            if done:
                return

    def store_commit_page(
        self,
        commits: Sequence[Commit],
        state: GitHubRepoState | None,
        remember: Sequence[GitHubResponse | None] = (),
    ) -> None:
        """A page of the commit list and the details (file lists) of its commits not detailed
        yet, in ONE transaction with the page's checkpoint and validators, set-based
        (:func:`~github_activity_tracker.rows.write_commit_details`). If fetching a detail
        fails, the page and the details fetched before are stored (the rest stay ``pending``
        for the work queue), then the failure goes on."""
        details: list[CommitDetails] = []
        failure: BaseException | None = None
        stored = self.stored_commits(commits)
        # A sha names immutable content: a stored commit is not written again (a full refresh does).
        new = list(commits) if self.full_refresh else [c for c in commits if c.sha not in stored]
        fetched = self.page_details([c for c in commits if stored.get(c.sha, "pending") == "pending"])
        while True:
            try:
                result = next(fetched, None)
            except BaseException as exc:  # noqa: BLE001 - re-raised below, after the page is stored
                failure = exc
                break
            if result is None:
                break
            status = "complete" if result.complete else "truncated"
            details.append(CommitDetails(result.commit, result.files, status, result.source))
            self.count_details(result)
        now = self.now()

        def work(conn: Connection) -> None:
            if (
                not self.full_refresh
                and {c.sha for c in new} == {d.commit.sha for d in details}
                and write_new_commits_with_details(
                    conn, self.repo_id, details, store_patches=self.settings.store_patches, now=now
                )
            ):
                return  # new commits, every one detailed (a first read): one statement after the profiles
            write_commits(conn, self.repo_id, new, now, expect_new=not self.full_refresh)
            write_commit_details(
                conn,
                self.repo_id,
                details,
                store_patches=self.settings.store_patches,
                now=now,
                without_files={c.sha for c in commits if c.sha not in stored},
            )

        self.commit(work, state, remember=remember)
        self.counts["commits"] += len(commits)
        self.counts["commits_pages"] += 1
        if failure is not None:
            raise failure

    def stored_commits(self, commits: Sequence[Commit]) -> dict[str, str]:
        """sha -> ``files_status`` of the page's commits already stored (one SELECT)."""
        if not commits:
            return {}
        shas = sorted({c.sha for c in commits})
        with self.store.engine.connect() as conn:
            if conn.dialect.name == "postgresql":  # one text whatever the page's size
                found = conn.execute(_PG_STORED_COMMITS, {"repo_id": self.repo_id, "shas": shas})
            else:
                t = github_commits
                found = conn.execute(
                    select(t.c.sha, t.c.files_status).where(t.c.repo_id == self.repo_id, t.c.sha.in_(shas))
                )
            return {sha: status for sha, status in found.all()}

    def page_details(self, commits: Sequence[Commit]) -> Iterator[FileListResult]:
        """Details of these commits (those without a file list), one request each; none when
        the ``commit_files`` stream is off or ``max_commit_details_per_run`` is reached."""
        if not self.enabled("commit_files"):
            return
        detailed: set[str] = set()
        for commit in commits:
            if commit.sha in detailed:
                continue
            if self.details_left() == 0:
                return
            detailed.add(commit.sha)
            yield self.fetch_commit(commit.sha)

    def details_left(self) -> int | None:
        cap = self.settings.max_commit_details_per_run
        return None if cap is None else max(0, cap - self.counts["commit_details"])

    def fetch_commit(self, sha: str) -> FileListResult:
        if self._fetcher is None:
            git = GitCommitCache(
                self.settings.clone_cache_path,
                tokens=self.collector.connection.tokens,
                auth_host=self.settings.web_host or html_host(self.client.config.base_url),
                timeout=self.settings.git_timeout,
            )
            self._fetcher = CommitFileFetcher(
                self.client,
                git,
                strategy=self.settings.commit_files_strategy,
                threshold_pages=self.settings.git_threshold_pages,
            )
        return self._fetcher.fetch(self.repo, sha, self.clone_url)

    def run_commit_files(self) -> None:
        query = (
            select(github_commits.c.sha)
            .where(github_commits.c.repo_id == self.repo_id, github_commits.c.files_status == "pending")
            .order_by(github_commits.c.committed_at.desc(), github_commits.c.sha)
        )
        left = self.details_left()
        if left is not None:
            query = query.limit(left)
        with self.store.engine.connect() as conn:
            shas = list(conn.execute(query).scalars()) if left != 0 else []
        if shas:
            self.store_details(self.fetch_commit(sha) for sha in shas)

    def store_details(self, results: Iterable[FileListResult]) -> None:
        """Write fetched commit details in batches (one transaction each, set-based:
        :func:`~github_activity_tracker.rows.write_commit_details`). When fetching fails,
        the details fetched before the failure are written, then the failure goes on."""
        batch: list[CommitDetails] = []
        files = 0

        def flush() -> None:
            if batch:
                rows, now = list(batch), self.now()
                self.commit(
                    lambda conn: write_commit_details(
                        conn, self.repo_id, rows, store_patches=self.settings.store_patches, now=now
                    )
                )
                batch.clear()

        fetched = iter(results)
        while True:
            try:
                result = next(fetched, None)
            except BaseException:
                flush()  # what was fetched before the failure is kept
                raise
            if result is None:
                break
            status = "complete" if result.complete else "truncated"
            batch.append(CommitDetails(result.commit, result.files, status, result.source))
            files += len(result.files)
            self.count_details(result)
            if len(batch) >= COMMIT_DETAILS_BATCH or files >= COMMIT_DETAILS_BATCH_FILES:
                flush()
                files = 0
        flush()

    def count_details(self, result: FileListResult) -> None:
        self.counts["commit_details"] += 1
        self.counts["commit_files"] += len(result.files)
        self.counts["commit_files_extra_requests"] += result.api_requests - 1
        if result.source == "git":
            self.counts["commit_files_via_git"] += 1
            self.counts["commit_files_git_ms"] += round(result.git_seconds * 1000)
        if result.git_failed:
            self.counts["commit_files_git_failures"] += 1
        if not result.complete:
            self.counts["commit_files_truncated"] += 1

    # ------------------------------------------------------------------ pull requests

    def run_pull_requests(self) -> None:
        t = github_issues
        query = (
            select(t.c.number, t.c.updated_at, t.c.head_sha)
            .where(
                t.c.repo_id == self.repo_id,
                t.c.is_pull_request.is_(True),
                or_(t.c.pull_synced_updated_at.is_(None), t.c.pull_synced_updated_at != t.c.updated_at),
            )
            .order_by(t.c.updated_at, t.c.number)
        )
        with self.store.engine.connect() as conn:
            queue = conn.execute(query).all()
            review_counts = dict(
                conn.execute(
                    select(github_reviews.c.pull_number, func.count())
                    .where(github_reviews.c.repo_id == self.repo_id)
                    .group_by(github_reviews.c.pull_number)
                ).all()
            )
        if self.settings.pull_details_via == "graphql" and not self.collector.graphql_unavailable:
            queue = self.pulls_via_graphql(queue)
        for number, updated_at, head_sha in queue:
            self.sync_pull(
                int(number), as_utc(updated_at), head_sha is not None, int(review_counts.get(number, 0))
            )

    def pulls_via_graphql(self, queue: Sequence[Any]) -> list[Any]:
        """Details and reviews through GraphQL, ``graphql_batch`` pull requests per query and
        per transaction; returns the part of the queue REST must still fetch (pull requests
        GraphQL could not give in full, or all that remain once GraphQL is unavailable)."""
        rest: list[Any] = []
        batch = self.settings.graphql_batch
        for start in range(0, len(queue), batch):
            chunk = list(queue[start : start + batch])
            try:
                found = fetch_pulls(
                    self.client, self.repo, [int(row[0]) for row in chunk], self.collector.budget
                )
            except GraphQLUnavailable as exc:
                log.warning(
                    "%s: GraphQL unavailable, pull requests through REST from here: %s",
                    self.repo,
                    sanitize_exception_message(exc, self.collector.secrets()),
                )
                self.collector.graphql_unavailable = True
                self.counts["graphql_fallbacks"] += 1
                return [*rest, *queue[start:]]
            self.counts["graphql_queries"] += 1
            now = self.now()
            done: list[tuple[Any, tuple[PullRequest, list[Review]]]] = []
            for row in chunk:
                got = found.get(int(row[0]))
                if got is None:
                    rest.append(row)
                else:
                    done.append((row, got))

            def work(
                conn: Connection,
                done: list[tuple[Any, tuple[PullRequest, list[Review]]]] = done,
                now: dt.datetime = now,
            ) -> None:
                for (number, updated_at, _), (pull, reviews) in done:
                    write_pull_details(conn, self.repo_id, pull, as_utc(updated_at), now)
                    write_reviews(conn, self.repo_id, int(number), reviews, now)

            self.commit(work)
            for (number, _, _), (_, reviews) in done:
                self.touched.add(int(number))
                self.counts["pull_requests"] += 1
                self.counts["pull_requests_via_graphql"] += 1
                self.counts["reviews"] += len(reviews)
        return rest

    def sync_pull(
        self, number: int, updated_at: dt.datetime | None, known: bool, stored_reviews: int
    ) -> None:
        assert updated_at is not None
        trust = known and not self.full_refresh
        path = f"/repos/{self.repo}/pulls/{number}"
        if trust:
            pull_response = self.client.get_if_changed(path, scope=self.scope)
        else:
            pull_response = tracked(self.client.get(path), scope=self.scope, path=path, params=None)
        pull = None
        if isinstance(pull_response, GitHubResponse):
            pull = parse_object(PullRequest, pull_response.data, endpoint=pull_response.endpoint)
        else:
            self.counts["pull_requests_not_modified"] += 1

        reviews_path = REVIEWS_PATH.format(repo=self.repo, number=number)
        # A 304 on page 1 proves "no new review" only while the reviews fit on one page.
        reviews_result = self.probe(
            reviews_path, {"per_page": self.per_page}, trust=trust and stored_reviews < self.per_page
        )
        reviews: list[Review] = []
        reviews_first = None
        if isinstance(reviews_result, NotModified):
            self.counts["reviews_not_modified"] += 1
        else:
            reviews_first = reviews_result.first
            for page in reviews_result:
                reviews += parse_list(Review, page.data, endpoint=page.endpoint)

        now = self.now()

        def work(conn: Connection) -> None:
            if pull is not None:
                write_pull_details(conn, self.repo_id, pull, updated_at, now)
            else:
                mark_pull_synced(conn, self.repo_id, number, updated_at)
            write_reviews(conn, self.repo_id, number, reviews, now)

        self.commit(
            work,
            remember=[pull_response if isinstance(pull_response, GitHubResponse) else None, reviews_first],
        )
        self.touched.add(number)
        self.counts["pull_requests"] += 1
        self.counts["reviews"] += len(reviews)
