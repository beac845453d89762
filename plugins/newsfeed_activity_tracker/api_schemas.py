"""What the API sends: one pydantic model per item type (a page breaking them writes nothing)."""

from __future__ import annotations

from pydantic import AwareDatetime, BaseModel, ConfigDict

__all__ = ["Comment", "Item", "Story"]


class Item(BaseModel):
    """Fields every item has. ``by`` is absent on deleted items."""

    model_config = ConfigDict(frozen=True)  # unknown fields are ignored (the API may add some)

    id: int
    by: str | None = None
    time: AwareDatetime
    updated_at: AwareDatetime
    text: str = ""
    deleted: bool = False


class Story(Item):
    title: str = ""
    url: str | None = None
    score: int = 0


class Comment(Item):
    story_id: int
    parent_id: int
