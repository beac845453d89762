"""Issues and pull requests as Markdown files in a context repository (``publish:`` renderer).

Layout (as the original export)::

    <folder_prefix>/issues/YYYY/YYYY-MM/#<number> - <title>.md
    <folder_prefix>/pull_requests/YYYY/YYYY-MM/#<number> - <title>.md

by the month the item was opened. ``folder_prefix`` may name the repository with ``{owner}``
and ``{name}`` (``boost.{name}``), so several repositories can share one target. The content is
the markdown export's: its front matter and :func:`render_markdown` (the text the vector step
embeds), so the same rows give the same bytes. The title is made a safe file name
(:func:`core.operations.filenames.safe_component`: the original's forbidden characters and 100
characters, NFC, and a byte budget that keeps the whole path under ``max_path_bytes``).

``options``: ``repositories`` (``owner/name`` list; default every stored repository).
Source keys: ``github:<owner>/<name>#<number>``; the file name's ``#<number> - `` is the claim
by which a first publish to an existing repository finds the item's older names.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import Connection, select

from core.errors import ConfigError, sanitize_exception_message
from core.operations.filenames import join_path, safe_component
from core.publishing.settings import PublishSettings
from core.publishing.source import PublishedFile, RenderFailure
from core.store import as_utc
from github_activity_tracker.markdown_export import _front_matter  # pyright: ignore[reportPrivateUsage]
from github_activity_tracker.preprocess import IssueBundle, changed_issue_keys, load_bundles, render_markdown
from github_activity_tracker.tables import github_issues

__all__ = ["GitHubIssuesPublisher", "source_key"]

_BATCH = 200


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    repositories: list[str] | None = None


def source_key(repo_full_name: str, number: int) -> str:
    return f"github:{repo_full_name}#{number}"


class GitHubIssuesPublisher:
    """The :class:`~core.publishing.PublishSource` of the GitHub tracker."""

    name = "github_issues"

    def __init__(self, settings: PublishSettings) -> None:
        try:
            options = _Options.model_validate(settings.options)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ConfigError(f"publish.options.{where}: {first['msg']}") from None
        try:
            settings.folder_prefix.format(owner="owner", name="name")
        except (KeyError, IndexError, ValueError) as exc:
            raise ConfigError(
                f"publish.folder_prefix {settings.folder_prefix!r}: only {{owner}} and {{name}} may be used ({exc})"
            ) from None
        self.settings = settings
        self.repositories = {r.lower() for r in options.repositories} if options.repositories else None

    def _wanted(self, repo_full_name: str) -> bool:
        return self.repositories is None or repo_full_name.lower() in self.repositories

    def path_for(self, bundle: IssueBundle) -> tuple[str, str]:
        """(path, claim) of an item's file."""
        issue = bundle.issue
        owner, name = str(issue["repo_full_name"]).split("/", 1)
        created = as_utc(issue["created_at"])
        if created is None:
            raise ValueError("created_at is missing")
        prefix = self.settings.folder_prefix.format(owner=owner, name=name)
        kind = "pull_requests" if issue["is_pull_request"] else "issues"
        folder = join_path(prefix, kind, f"{created:%Y}", f"{created:%Y-%m}")
        claim = f"#{issue['number']} - "
        budget = self.settings.max_path_bytes - len(f"{folder}/{claim}.md".encode())
        if budget < 8:
            raise ValueError(f"folder {folder!r} leaves no room for a title under max_path_bytes")
        title = safe_component(str(issue.get("title") or ""), max_chars=100, max_bytes=min(200, budget))
        return f"{folder}/{claim}{title}.md", claim

    def file_for(self, bundle: IssueBundle) -> PublishedFile:
        path, claim = self.path_for(bundle)
        content = (_front_matter(bundle) + render_markdown(bundle)).encode("utf-8")
        issue = bundle.issue
        return PublishedFile(
            source_key(str(issue["repo_full_name"]), int(issue["number"])), path, content, claim
        )

    def render(self, conn: Connection, changed_since: int | None) -> Iterator[PublishedFile | RenderFailure]:
        keys = changed_issue_keys(conn, changed_since)
        for start in range(0, len(keys), _BATCH):
            for bundle in load_bundles(conn, keys[start : start + _BATCH]):
                repo = str(bundle.issue["repo_full_name"])
                if not self._wanted(repo):
                    continue
                try:
                    yield self.file_for(bundle)
                except Exception as exc:  # noqa: BLE001 - one bad row never stops the others
                    yield RenderFailure(
                        source_key(repo, int(bundle.issue["number"])), sanitize_exception_message(exc)
                    )

    def live_keys(self, conn: Connection) -> set[str]:
        rows = conn.execute(select(github_issues.c.repo_full_name, github_issues.c.number))
        return {source_key(str(repo), int(number)) for repo, number in rows if self._wanted(str(repo))}
