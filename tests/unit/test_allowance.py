"""The delete allowance's pure decisions: what a claim is granted, and when a sweep opens a new interval."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from lifecycle.reconcile.allowance import Interval, grant, in_force, lapsed, opens

T = datetime(2026, 12, 1, 4, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("used", "cap", "wanted", "granted"),
    [(0, 5, 3, 3), (3, 5, 3, 2), (5, 5, 1, 0), (7, 5, 1, 0), (0, 0, 2, 0), (2, 10, 0, 0)],
    ids=["fits", "partly", "spent", "cap-lowered", "zero-cap", "nothing-wanted"],
)
def test_a_claim_gets_what_is_left_under_the_cap(used: int, cap: int, wanted: int, granted: int) -> None:
    assert grant(used, cap, wanted) == granted


def test_only_a_later_sweep_opens_a_new_interval() -> None:
    assert opens(Interval(), T)
    assert opens(Interval(opened=T, used=4), T + timedelta(minutes=15))
    assert not opens(Interval(opened=T, used=4), T)
    assert not opens(Interval(opened=T, used=4), T - timedelta(minutes=15))  # a late sweep reopens nothing


@pytest.mark.parametrize(
    "saved",
    [None, {}, {"opened": None, "used": -3}, {"opened": "", "used": "x"}],
    ids=["absent", "empty", "negative", "garbage"],
)
def test_a_missing_or_odd_document_reads_as_nothing_claimed(saved: dict[str, object] | None) -> None:
    assert Interval.from_json(saved) == Interval()


def test_the_document_round_trips() -> None:
    interval = Interval(opened=T, used=3)
    assert Interval.from_json(interval.to_json()) == interval


HOUR = timedelta(hours=1)


@pytest.mark.parametrize(
    ("opened", "at", "over"),
    [
        (None, datetime(2027, 1, 1, tzinfo=UTC), True),
        (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, 0, 59, tzinfo=UTC), False),
        (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, 1, 0, tzinfo=UTC), True),
        (datetime(2027, 1, 1, tzinfo=UTC), datetime(2027, 1, 9, tzinfo=UTC), True),
    ],
    ids=["never-opened", "within-the-interval", "one-interval-later", "no-sweep-for-days"],
)
def test_an_interval_lapses_one_sweep_interval_after_it_opened(
    opened: datetime | None, at: datetime, over: bool
) -> None:
    current = Interval(opened=opened, used=3)
    assert lapsed(current, at, HOUR) is over
    assert in_force(current, at, HOUR) == (Interval(opened=at, used=0) if over else current)
