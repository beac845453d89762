"""The mailing-list collector's config (the ``config:`` block of its collectors.yaml entry)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from core.errors import ConfigError
from core.vectors.settings import parse_vector_settings

__all__ = ["BOOST_LISTS", "MailingListConfig", "parse_config"]

BOOST_LISTS = ("boost@lists.boost.org", "boost-users@lists.boost.org", "boost-announce@lists.boost.org")


class MailingListConfig(BaseModel):
    """``base_url``: the HyperKitty root (``.../archives``); ``lists``: list fqdns, one partition
    each. See docs/mailinglist.md for every field."""

    model_config = ConfigDict(extra="forbid")

    base_url: str = "https://lists.boost.org/archives/"
    lists: list[str] = Field(default_factory=lambda: list(BOOST_LISTS), min_length=1)
    # Optional basic auth for private lists: an Airflow connection (login/password).
    connection_id: str | None = None
    page_size: int = Field(default=100, gt=0, le=1000)
    # The head walk stops after this many consecutive messages already stored.
    stop_after_known: int = Field(default=50, gt=0)
    # Threads active since the last refresh minus this are re-checked for moved messages.
    overlap_hours: float = Field(default=48, ge=0)
    # A full index walk (deleted and reattached messages) at least this often.
    reconcile_every_days: float = Field(default=7, gt=0)
    backfill: Literal["auto", "mbox", "rest"] = "auto"
    # First month a monthly mbox backfill asks for (HyperKitty cannot tell where a list starts).
    backfill_from: dt.date = dt.date(1998, 1, 1)
    # Politeness: at most this many requests per second (one session, keep-alive).
    requests_per_second: float = Field(default=2.0, gt=0)
    max_rate_limit_wait: float = Field(default=300, ge=0)
    # Message details retried per run (failed earlier or missing content).
    max_detail_fetches: int = Field(default=5000, gt=0)
    batch_size: int = Field(default=500, gt=0, le=10_000)  # mbox rows per transaction
    vectors: dict[str, Any] = Field(default_factory=dict)

    @field_validator("lists")
    @classmethod
    def _lists(cls, value: list[str]) -> list[str]:
        for name in value:
            if "@" not in name or "/" in name or name.strip() != name:
                raise ValueError(f"{name!r} is not a list address (name@host)")
        if len(set(value)) != len(value):
            raise ValueError("a list is named twice")
        return value

    @field_validator("vectors")
    @classmethod
    def _vectors(cls, value: dict[str, Any]) -> dict[str, Any]:
        parse_vector_settings(value)
        return value


def parse_config(raw: dict[str, Any]) -> MailingListConfig:
    try:
        return MailingListConfig.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(
            f"config.{'.'.join(str(p) for p in error['loc'])}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"mailinglist collector: {problems}") from None
