"""Documents for the vector step: one per library, from its latest version."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from sqlalchemy import Engine, and_, select

from boost_library_tracker.tables import boost_libraries as libraries
from boost_library_tracker.tables import boost_library_versions as versions
from boost_library_tracker.tables import boost_releases as releases
from core.vectors.documents import Document

__all__ = ["SOURCE", "documentation_url", "documents"]

SOURCE = "boost_libraries"
DOCS_ROOT = "https://www.boost.org/doc/libs"


def documentation_url(version: str, submodule_path: str, documentation: str) -> str:
    """Where the release's documentation of the library lives on boost.org."""
    relative = documentation.lstrip("/")
    return f"{DOCS_ROOT}/{version.replace('.', '_')}/{submodule_path}/{relative}"


def _text(row: Mapping[Any, Any], url: str) -> str:
    maintainers = ", ".join(m["name"] for m in row["maintainers"])
    lines = [
        f"# {row['name']} (Boost library `{row['key']}`)",
        row["description"],
        f"Categories: {', '.join(row['categories'])}" if row["categories"] else "",
        f"C++ standard: {row['cxxstd']} or later" if row["cxxstd"] else "",
        f"Authors: {', '.join(row['authors'])}" if row["authors"] else "",
        f"Maintainers: {maintainers}" if maintainers else "",
        f"Documentation: {url}",
        f"Status: {row['status']}" if row["status"] else "",
    ]
    return "\n".join(line for line in lines if line)


def documents(engine: Engine, changed_since: int | None, doc_ids: Iterable[str]) -> Iterator[Document]:
    query = (
        select(versions, releases.c.released_at)
        .join(
            libraries, and_(libraries.c.key == versions.c.key, libraries.c.last_version == versions.c.version)
        )
        .join(releases, releases.c.version == versions.c.version)
        .order_by(versions.c.key)
    )
    if changed_since is not None:  # the library's latest version moved or changed, or asked for again
        query = query.where((libraries.c.change_seq >= changed_since) | libraries.c.key.in_(list(doc_ids)))
    with engine.connect() as conn:
        for row in conn.execute(query).mappings():
            url = documentation_url(row["version"], row["submodule_path"], row["documentation"])
            yield Document(
                source=SOURCE,
                doc_id=row["key"],
                title=row["name"],
                text=_text(row, url),
                updated_at=row["released_at"],
                metadata={
                    "library": row["key"],
                    "name": row["name"],
                    "version": row["version"],
                    "categories": list(row["categories"]),
                    "cxxstd": row["cxxstd"] or "",
                    "maintainers": [m["name"] for m in row["maintainers"]],
                    "repository": row["repo_full_name"],
                    "url": url,
                },
            )
