"""What the Reddit Data API sends: ``Listing`` pages of ``t3`` (submission) and ``t1``
(comment) things, and ``more`` stubs in comment trees. Unknown fields are ignored; a thing
breaking these models fails its page with the field named (nothing of the page is written)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from core.errors import DataValidationError
from core.streams import parse_items

__all__ = ["Comment", "Listing", "More", "Submission", "Thing", "parse_listing", "parse_things"]

M = TypeVar("M", bound=BaseModel)

DELETED = "[deleted]"
REMOVED = "[removed]"


class _Item(BaseModel):
    model_config = ConfigDict(frozen=True)

    id: str = Field(min_length=1, max_length=20, pattern=r"^[0-9a-z]+$")
    name: str  # the fullname: t3_<id> or t1_<id>
    subreddit: str = Field(min_length=1)
    author: str | None = None  # "[deleted]" once the account or the item is deleted
    author_fullname: str | None = None  # t2_...; absent for deleted accounts
    score: int = 0
    created_utc: float
    edited: float | bool | None = False  # a timestamp once edited, else false
    stickied: bool = False
    permalink: str = ""

    @property
    def created_at(self) -> dt.datetime:
        return dt.datetime.fromtimestamp(self.created_utc, dt.UTC)

    @property
    def edited_at(self) -> dt.datetime | None:
        if isinstance(self.edited, bool) or not self.edited:
            return None
        return dt.datetime.fromtimestamp(self.edited, dt.UTC)

    @property
    def author_name(self) -> str | None:
        return None if self.author in (None, "", DELETED) else self.author


class Submission(_Item):
    title: str = ""
    selftext: str | None = ""
    url: str | None = None
    domain: str | None = None
    is_self: bool = False
    link_flair_text: str | None = None
    upvote_ratio: float | None = None
    num_comments: int = 0
    removed_by_category: str | None = None
    over_18: bool = False
    locked: bool = False

    @property
    def is_deleted(self) -> bool:
        """Deleted by its author: Reddit keeps the thing, author and text become ``[deleted]``."""
        return self.author == DELETED and (self.selftext == DELETED or self.removed_by_category == "deleted")

    @property
    def is_removed(self) -> bool:
        """Removed by moderators, admins or spam filters (text ``[removed]`` or a removal category)."""
        return not self.is_deleted and (self.selftext == REMOVED or self.removed_by_category is not None)


class Comment(_Item):
    body: str = ""
    link_id: str = Field(pattern=r"^t3_[0-9a-z]+$")  # the submission
    parent_id: str = Field(pattern=r"^t[13]_[0-9a-z]+$")  # the submission or a comment
    distinguished: str | None = None
    replies: Any = None  # "" or a Listing of t1/more things (comment trees only)

    @property
    def submission_id(self) -> str:
        return self.link_id.removeprefix("t3_")

    @property
    def is_deleted(self) -> bool:
        return self.body == DELETED

    @property
    def is_removed(self) -> bool:
        return self.body == REMOVED


class More(BaseModel):
    """A stub for comments a tree left out: their ids (base36, no prefix) for ``/api/morechildren``."""

    model_config = ConfigDict(frozen=True)

    id: str = ""
    parent_id: str = ""
    count: int = 0
    children: list[str] = []


class Thing(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str
    data: dict[str, Any]


class ListingData(BaseModel):
    model_config = ConfigDict(frozen=True)

    after: str | None = None
    before: str | None = None
    dist: int | None = None
    children: list[Thing]


class Listing(BaseModel):
    model_config = ConfigDict(frozen=True)

    kind: str = Field(pattern="^Listing$")
    data: ListingData


def parse_listing(body: Any, *, endpoint: str) -> Listing:
    """A ``Listing`` page, or ``DataValidationError`` naming the endpoint and the field."""
    if not isinstance(body, dict):
        raise DataValidationError(
            f"Reddit answered {type(body).__name__} where a Listing was expected",
            source=endpoint,
            location="$",
        )
    return parse_items(Listing, [body], endpoint=endpoint, api_name="Reddit")[0]


def parse_things(
    things: list[Thing], kind: str, model: type[M], *, endpoint: str, path: str = "$.data.children"
) -> list[M]:
    """The ``data`` of every thing of ``kind`` as ``model`` (a wrong kind or field names its index)."""
    for index, thing in enumerate(things):
        if thing.kind != kind:
            raise DataValidationError(
                f"Reddit sent a {thing.kind!r} thing where {kind!r} was expected",
                source=endpoint,
                location=f"{path}[{index}].kind",
            )
    try:
        return TypeAdapter(list[model]).validate_python([t.data for t in things])  # type: ignore[valid-type]
    except ValidationError as exc:
        first = exc.errors()[0]
        index, *fields = first["loc"]
        raise DataValidationError(
            f"Reddit {kind} thing breaks the {model.__name__} schema: {first['msg']}",
            source=endpoint,
            location=f"{path}[{index}].data" + "".join(f".{f}" for f in fields),
        ) from None
