"""The tracker's protocol implementations: frozen, JSON-round-trippable (they travel as XCom)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, Self

from boost_library_tracker.versions import version_tuple
from core.protocols import Activity, Checkpoint, IncrementalState, RunResult
from core.store import as_utc

__all__ = ["BoostLibrariesResult", "BoostLibraryVersionActivity", "BoostReleasesState"]


@dataclasses.dataclass(frozen=True)
class BoostLibrariesResult(RunResult):
    """:class:`core.protocols.TrackerResult` of a collect run; ``news`` = ``{"versions": [...]}``."""

    step: str | None = "collect"


@dataclasses.dataclass(frozen=True)
class BoostLibraryVersionActivity(Activity):
    """:class:`core.protocols.ActivityRecord` for a library shipped in a release."""

    @classmethod
    def from_row(cls, row: Mapping[str, Any], released_at: Any, url: str | None = None) -> Self:
        """``row``: a ``boost_library_versions`` row; ``released_at``: its release's date."""
        return cls(
            source_system="boost_libraries",
            external_id=f"{row['key']}@{row['version']}",
            occurred_at=as_utc(released_at),
            activity_type="library_released",
            actor_external_id=None,
            source_url=url,
            summary=f"{row['name']} {row['version']}: {row['description']}"[:200],
        )


def _sorted(versions: Iterable[str]) -> list[str]:
    return sorted(set(versions), key=version_tuple)


@dataclasses.dataclass(frozen=True)
class BoostReleasesState(Checkpoint):
    """:class:`core.protocols.IncrementalState`: the releases stored, and those not yet announced.

    ``extras["versions"]``: every stored release. ``extras["unannounced"]``: stored by a run that
    did not finish; the next successful run reports them as news (a failed collect emits nothing).
    ``checkpoint_token``: a digest of both, the compare-and-set guard of every release's commit.
    """

    @classmethod
    def of(cls, versions: Iterable[str], unannounced: Iterable[str] = ()) -> Self:
        known, pending = _sorted(versions), _sorted(unannounced)
        digest = hashlib.sha256(repr((known, pending)).encode()).hexdigest()[:16]
        marker = f"{len(known)} releases, latest {known[-1]}" if known else "no release"
        return cls(checkpoint_token=digest, human_readable_marker=marker,
                   extras={"versions": known, "unannounced": pending})  # fmt: skip

    @classmethod
    def from_state(cls, state: IncrementalState | None) -> Self:
        if state is None:
            return cls.of(())
        extras = state.extras
        return cls(state.checkpoint_token, state.human_readable_marker, dict(extras))

    @property
    def versions(self) -> list[str]:
        return list(self.extras.get("versions") or [])

    @property
    def unannounced(self) -> list[str]:
        return list(self.extras.get("unannounced") or [])

    def with_release(self, version: str, *, new: bool) -> Self:
        pending = [*self.unannounced, version] if new else self.unannounced
        return type(self).of([*self.versions, version], pending)

    def announced(self) -> Self:
        return type(self).of(self.versions)
