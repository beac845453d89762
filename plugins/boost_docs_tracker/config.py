"""The ``config:`` block of the ``boost_docs`` entry in collectors.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from core.errors import config_error
from core.operations.http.config import normalize_base_url

__all__ = ["BoostDocsConfig"]


class BoostDocsConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    archive_url: str = Field(
        default="https://archives.boost.io/release",
        description="index of releases: <archive_url>/<version>/source/boost_<v>.<format>",
    )
    archive_format: Literal["tar.gz", "tar.bz2"] = "tar.gz"
    docs_url: str = Field(
        default="https://www.boost.org/doc/libs", description="page URLs: <docs_url>/1_86_0/<path>"
    )
    work_dir: str | None = Field(
        default=None, description="where the archive is downloaded (default: temp dir)"
    )
    initial_versions: int = Field(
        default=1, ge=1, description="releases indexed by the first run: the newest N"
    )
    max_page_bytes: int = Field(default=4 * 1024 * 1024, ge=1024, description="larger HTML files are skipped")
    batch_pages: int = Field(default=200, ge=1, le=5000, description="pages per transaction")
    max_rate_limit_wait: float = Field(default=300, ge=0)
    transient_max_retries: int = Field(default=4, ge=0)
    timeout_seconds: float = Field(default=60, gt=0)
    vectors: Any = None  # parsed by the framework (AbstractCollector.vector_settings)

    @classmethod
    def parse(cls, raw: Mapping[str, Any]) -> BoostDocsConfig:
        try:
            settings = cls.model_validate(raw)
        except ValidationError as exc:
            raise config_error(exc, "boost_docs config") from None
        normalize_base_url(settings.archive_url, api_name="boost_docs config: archive_url")
        return settings
