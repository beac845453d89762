"""Optional export of issues and pull requests to markdown files.

Layout under the configured folder (per repository, by the month the issue was opened)::

    <export_dir>/<owner>/<name>/YYYY/YYYY-MM/#<number> - <title>.md

Each file holds a small front matter block and the same markdown the vector step embeds.
A retitled issue moves to its new file name (the old file is removed); files are written
atomically (temporary file, then rename).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

from sqlalchemy import Engine

from core.store import as_utc
from github_activity_tracker.preprocess import IssueBundle, Key, load_bundles, render_markdown

__all__ = ["export_bundles", "export_issues", "issue_path", "safe_title"]

_UNSAFE = re.compile(r'[\\/:*?"<>|\x00-\x1f]+')
_MAX_TITLE = 120


def safe_title(title: str) -> str:
    cleaned = _UNSAFE.sub(" ", title)
    cleaned = " ".join(cleaned.split()).strip(". ")
    return cleaned[:_MAX_TITLE].rstrip(". ") or "untitled"


def issue_path(root: Path, bundle: IssueBundle) -> Path:
    issue = bundle.issue
    owner, name = str(issue["repo_full_name"]).split("/", 1)
    created = as_utc(issue["created_at"])
    assert created is not None
    folder = root / owner / name / f"{created:%Y}" / f"{created:%Y-%m}"
    return folder / f"#{issue['number']} - {safe_title(str(issue['title']))}.md"


def _front_matter(bundle: IssueBundle) -> str:
    issue = bundle.issue

    def quoted(value: object) -> str:
        return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'

    fields = {
        "repo": quoted(issue["repo_full_name"]),
        "number": str(issue["number"]),
        "type": "pull_request" if issue["is_pull_request"] else "issue",
        "state": "merged" if issue.get("merged_at") else str(issue["state"]),
        "author": quoted(issue.get("user_login") or ""),
        "url": quoted(issue["html_url"]),
        "created_at": quoted(as_utc(issue["created_at"]).isoformat()),
        "updated_at": quoted(as_utc(issue["updated_at"]).isoformat()),
        "labels": "[" + ", ".join(quoted(x) for x in issue.get("labels") or []) + "]",
    }
    return "---\n" + "".join(f"{k}: {v}\n" for k, v in fields.items()) + "---\n\n"


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".md")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_bundles(root: Path, bundles: Iterable[IssueBundle]) -> int:
    written = 0
    for bundle in bundles:
        target = issue_path(root, bundle)
        for stale in target.parent.glob(f"#{bundle.issue['number']} - *.md"):
            if stale != target:
                stale.unlink()
        text = _front_matter(bundle) + render_markdown(bundle)
        if target.exists() and target.read_text(encoding="utf-8") == text:
            continue
        _write_atomic(target, text)
        written += 1
    return written


def export_issues(engine: Engine, root: Path, keys: Iterable[Key], *, batch: int = 200) -> int:
    """Write (or rewrite) the files of these (repo_id, number) issues; returns files written."""
    ordered = list(dict.fromkeys(keys))
    written = 0
    for start in range(0, len(ordered), batch):
        with engine.connect() as conn:
            bundles = load_bundles(conn, ordered[start : start + batch])
        written += export_bundles(root, bundles)
    return written
