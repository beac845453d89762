"""``core.errors.config_error``: a tracker's bad config fails naming the tracker and the field."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from boost_docs_tracker.config import BoostDocsConfig
from boost_library_tracker.config import BoostLibrariesConfig
from core.errors import CollectorFailureCategory, ConfigError, config_error
from newsfeed_activity_tracker.config import NewsfeedConfig
from reddit_activity_tracker.config import RedditConfig
from wg21_paper_tracker.config import Wg21Config
from youtube_activity_tracker.config import YouTubeConfig


class _Item(pydantic.BaseModel):
    size: int


class _Settings(pydantic.BaseModel):
    items: list[_Item] = []
    low: int = 0
    high: int = 0

    @pydantic.model_validator(mode="after")
    def _ordered(self) -> _Settings:
        if self.low > self.high:
            raise ValueError("low above high")
        return self


def _error_of(raw: dict[str, Any]) -> ConfigError:
    with pytest.raises(pydantic.ValidationError) as caught:
        _Settings.model_validate(raw)
    return config_error(caught.value, "toy config")


def test_the_message_names_the_config_and_the_nested_field() -> None:
    error = _error_of({"items": [{"size": 1}, {"size": "big"}]})
    assert str(error).startswith("toy config: items.1.size: ")
    assert error.category is CollectorFailureCategory.VALIDATION


def test_an_error_about_the_whole_model_is_placed_at_config() -> None:
    assert str(_error_of({"low": 2, "high": 1})) == "toy config: config: Value error, low above high"


@pytest.mark.parametrize(
    ("model", "what"),
    [
        (RedditConfig, "reddit config"),
        (BoostDocsConfig, "boost_docs config"),
        (Wg21Config, "wg21 config"),
        (BoostLibrariesConfig, "boost_libraries config"),
        (NewsfeedConfig, "newsfeed config"),
        (YouTubeConfig, "youtube config"),
    ],
)
def test_each_tracker_config_names_itself_and_the_unknown_field(model: Any, what: str) -> None:
    with pytest.raises(ConfigError) as caught:
        model.parse({"not_a_setting": 1})
    message = str(caught.value)
    assert message.startswith(f"{what}: ") and message.count(": ") >= 2, message
