"""``publish:`` on a collector entry: where its Markdown goes and who renders it."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = ["PublishSettings"]

_REPOSITORY = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_BRANCH = re.compile(r"^(?!/)(?!.*//)(?!.*\.\.)(?!.*@\{)[^\x00-\x20~^:?*\[\\]+(?<![/.])$")


class PublishSettings(BaseModel):
    """Parsed once, with the collectors file (``collectors.<name>.publish``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    target: str = Field(description="owner/repo of the repository written to")
    branch: str = "main"
    folder_prefix: str = Field(default="", description="folder inside the repository ('' = its root)")
    connection_id: str = Field(
        default="github_publish", description="connection holding a contents:write token on the target only"
    )
    renderer: str = Field(description="'package.module:Class' of a PublishSource in the tracker")
    options: dict[str, Any] = Field(default_factory=dict, description="passed to the renderer")
    dry_run: bool = Field(default=False, description="plan and report, never write")
    max_attempts: int = Field(default=3, ge=1, le=10, description="tries when the branch moves meanwhile")
    write_interval_seconds: float = Field(default=1.0, ge=0, le=60, description="pause between writes")
    max_rate_limit_wait: float = Field(default=300, ge=0, description="longest secondary-limit wait")
    max_tree_request_bytes: int = Field(default=4_000_000, ge=10_000, le=50_000_000)
    max_path_bytes: int = Field(default=240, ge=32, le=4096)
    message: str = Field(
        default="chore(export): {files} files, {deletions} deletions ({collector} {run_id})",
        description="commit message; {files} {deletions} {collector} {run_id}",
    )

    @field_validator("target")
    @classmethod
    def _target(cls, value: str) -> str:
        if not _REPOSITORY.match(value):
            raise ValueError(f"must be 'owner/repo', got {value!r}")
        return value

    @field_validator("branch")
    @classmethod
    def _branch(cls, value: str) -> str:
        if not _BRANCH.match(value) or value.endswith(".lock"):
            raise ValueError(f"not a valid branch name: {value!r}")
        return value

    @field_validator("folder_prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        cleaned = value.strip().strip("/")
        if any(part in {"", ".", ".."} for part in cleaned.split("/")) and cleaned:
            raise ValueError(f"must be a relative folder without '.' or '..' parts, got {value!r}")
        return cleaned

    @field_validator("renderer")
    @classmethod
    def _renderer(cls, value: str) -> str:
        module, _, attr = value.partition(":")
        if not module or not attr or not all(p.isidentifier() for p in (*module.split("."), attr)):
            raise ValueError(f"must look like 'package.module:ClassName', got {value!r}")
        return value

    @property
    def ledger_target(self) -> str:
        """The ledger's name for the destination: ``owner/repo@branch``."""
        return f"{self.target}@{self.branch}"
