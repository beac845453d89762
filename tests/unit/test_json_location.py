"""``core.errors.json_location``: where a bad field sits, as the JSON path the errors report."""

from __future__ import annotations

from core.errors import json_location


def test_fields_are_dotted_and_list_indexes_bracketed() -> None:
    assert json_location(("items", 3, "user", "login")) == "$.items[3].user.login"
    assert json_location((0, "ts")) == "$[0].ts"


def test_the_root_may_be_a_path_already_reached_and_an_empty_location_is_the_root() -> None:
    assert json_location(("sender",), "$.emails[2]") == "$.emails[2].sender"
    assert json_location(()) == "$"
