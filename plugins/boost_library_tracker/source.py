"""What the tracker asks GitHub, all through the GitHub client (token pool, limits, retries).

Per run: the superproject's tags (the first page conditional). Per new release: the tag
commit (its date and tree), the tree at the tag (recursive: submodules are ``type: commit``
entries carrying the exact pinned commit), ``.gitmodules`` at the tag (which repository each
submodule path is), then ``meta/libraries.json`` of each library at its pinned commit, unless
that commit was read for an earlier release.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable

from boost_library_tracker.api_schemas import ContentFile, GitCommit, GitTree, Tag, parse
from boost_library_tracker.gitmodules import parse_gitmodules
from boost_library_tracker.versions import parse_stable_tag, version_tuple
from core.errors import DataValidationError
from core.operations.github_ops import GitHubClient, GitHubNotFoundError, NotModified
from core.operations.http import HttpResponse, list_body

__all__ = [
    "ReleaseTag",
    "ReleaseTree",
    "Submodule",
    "TagListing",
    "read_meta_file",
    "read_release",
    "read_tags",
]

LIBS_PREFIX = "libs/"


@dataclasses.dataclass(frozen=True)
class ReleaseTag:
    version: str
    tag: str
    commit_sha: str

    @property
    def order(self) -> tuple[int, int, int]:
        return version_tuple(self.version)


@dataclasses.dataclass(frozen=True)
class TagListing:
    """Stable tags, oldest first. ``None``: the listing answered 304 (nothing new).
    ``validators``: the first page, to remember once what it listed is stored (whole listings only)."""

    tags: list[ReleaseTag] | None
    validators: HttpResponse | None = None


@dataclasses.dataclass(frozen=True)
class Submodule:
    path: str  # "libs/algorithm"
    repo: str  # "boostorg/algorithm"
    sha: str  # the commit the release pins


@dataclasses.dataclass(frozen=True)
class ReleaseTree:
    tag: ReleaseTag
    released_at: dt.datetime
    submodules: list[Submodule]


def read_tags(client: GitHubClient, superproject: str, *, conditional: bool, per_page: int) -> TagListing:
    path = f"/repos/{superproject}/tags"
    params = {"per_page": per_page}
    if conditional:
        pages = client.pages_if_changed(path, params, scope=f"boost_libraries:{superproject}:tags")
        if isinstance(pages, NotModified):
            return TagListing(None)
        listing = list(pages)
    else:
        listing = list(client.pages(path, params))
    found: dict[str, ReleaseTag] = {}
    for page in listing:
        for index, item in enumerate(list_body(page)):
            tag = parse(Tag, item, f"{page.endpoint}[{index}]")
            version = parse_stable_tag(tag.name)
            if version is not None:
                found[version] = ReleaseTag(version, tag.name, tag.commit.sha)
    whole = len(listing) == 1 and len(list_body(listing[0])) < per_page
    return TagListing(sorted(found.values(), key=lambda t: t.order), listing[0] if whole else None)


def read_release(
    client: GitHubClient,
    superproject: str,
    tag: ReleaseTag,
    wanted: Callable[[dt.datetime], bool] = lambda _: True,
) -> ReleaseTree | None:
    """The release's date and every library submodule under ``libs/`` with its pinned commit;
    ``None`` (after one request) when ``wanted`` refuses the release's date."""
    commit_path = f"/repos/{superproject}/git/commits/{tag.commit_sha}"
    commit = parse(GitCommit, client.get(commit_path).data, commit_path)
    if not wanted(commit.committer.date):
        return None
    tree_path = f"/repos/{superproject}/git/trees/{commit.tree.sha}"
    tree = parse(GitTree, client.get(tree_path, {"recursive": 1}).data, tree_path)
    if tree.truncated:
        raise DataValidationError(
            f"{tag.tag}: the tree listing is truncated, so submodules would be missed", source=tree_path
        )
    modules_path = f"/repos/{superproject}/contents/.gitmodules"
    gitmodules = parse(ContentFile, client.get(modules_path, {"ref": tag.commit_sha}).data, modules_path)
    repos = parse_gitmodules(gitmodules.decoded().decode("utf-8", "replace"), superproject)
    submodules = [
        Submodule(entry.path, repos[entry.path], entry.sha)
        for entry in tree.tree
        if entry.type == "commit" and entry.path.startswith(LIBS_PREFIX) and entry.path in repos
    ]
    return ReleaseTree(tag, commit.committer.date, sorted(submodules, key=lambda s: s.path))


def read_meta_file(client: GitHubClient, module: Submodule, max_bytes: int) -> bytes | None:
    """``meta/libraries.json`` at the pinned commit; ``None`` when the library has none (404)."""
    path = f"/repos/{module.repo}/contents/meta/libraries.json"
    try:
        response = client.get(path, {"ref": module.sha})
    except GitHubNotFoundError:
        return None
    content = parse(ContentFile, response.data, path)
    if content.size > max_bytes:
        raise DataValidationError(
            f"{content.size} bytes (at most {max_bytes})",
            source=f"{module.repo}@{module.sha}",
            location="size",
        )
    return content.decoded()
