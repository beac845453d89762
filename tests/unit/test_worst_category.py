"""One step that failed for several files or partitions reports the most serious cause."""

from __future__ import annotations

from core.errors import CollectorFailureCategory as C
from core.errors import worst_category


def test_what_needs_an_operator_outranks_what_a_retry_may_fix():
    assert worst_category([C.RATE_LIMIT, C.NETWORK, C.VALIDATION]) is C.VALIDATION
    assert worst_category([C.TIMEOUT, C.CONFLICT]) is C.CONFLICT
    assert worst_category([C.AUTH, C.RESOURCE]) is C.RESOURCE


def test_a_bug_outranks_everything_and_nothing_is_unknown():
    assert worst_category(list(C)) is C.UNKNOWN
    assert worst_category([]) is C.UNKNOWN


def test_every_category_has_a_rank():
    for category in C:
        assert worst_category([category, C.RATE_LIMIT]) is category or category is C.RATE_LIMIT
