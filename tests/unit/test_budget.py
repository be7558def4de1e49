"""The write budget (decisions from the rate-limit headers Compute answers with) and the priority lanes;
no I/O."""

from __future__ import annotations

import pytest

from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind
from lifecycle.budget import UPDATE_VERSION, Lane, WriteBudget
from lifecycle.executor import lane_of
from tests.unit import builders

SUB = "00000000-0000-0000-0000-0000000000aa"
URL = f"https://management.azure.com/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/x"


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def header(short: int, long: int) -> dict[str, str]:
    return {
        "x-ms-ratelimit-remaining-resource": (
            f"Microsoft.Compute/{UPDATE_VERSION}3Min;{short},Microsoft.Compute/{UPDATE_VERSION}30Min;{long}"
        )
    }


@pytest.mark.parametrize(
    ("short", "long", "lane", "admitted"),
    [
        pytest.param(100, 900, Lane.BULK, True, id="plenty-left"),
        pytest.param(15, 900, Lane.BULK, False, id="bulk-stops-at-reserve-plus-headroom"),
        pytest.param(15, 900, Lane.NEW_BUILD, True, id="new-build-uses-the-headroom"),
        pytest.param(5, 900, Lane.NEW_BUILD, False, id="nobody-eats-the-reserve"),
        pytest.param(100, 12, Lane.BULK, False, id="the-30-minute-window-binds-too"),
    ],
)
def test_admission_by_lane(short: int, long: int, lane: Lane, admitted: bool) -> None:
    budget = WriteBudget(reserve=5, bulk_headroom=10, clock=Clock())
    budget.observe(URL, 200, header(short, long))
    assert (budget.admit(SUB, UPDATE_VERSION, lane) is None) is admitted


def test_writes_spend_until_the_next_answer_and_windows_expire() -> None:
    clock = Clock()
    budget = WriteBudget(reserve=1, bulk_headroom=0, clock=clock)
    budget.observe(URL, 200, header(4, 900))
    assert [budget.admit(SUB, UPDATE_VERSION, Lane.BULK) is None for _ in range(4)] == [
        True,
        True,
        True,
        False,
    ]
    assert budget.remaining(SUB, UPDATE_VERSION) == 1
    clock.now += 181  # the 3-minute window has slid past what it counted
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK) is None


def test_a_429_blocks_the_operation_for_its_retry_after() -> None:
    clock = Clock()
    budget = WriteBudget(reserve=0, bulk_headroom=0, clock=clock)
    budget.observe(URL, 429, {**header(0, 500), "Retry-After": "120"})
    why = budget.admit(SUB, UPDATE_VERSION, Lane.NEW_BUILD)
    assert why is not None and "throttled" in why
    assert budget.throttled == 1
    clock.now += 181
    assert budget.admit(SUB, UPDATE_VERSION, Lane.NEW_BUILD) is None


def test_arm_subscription_throttling_blocks_every_write_of_the_subscription() -> None:
    clock = Clock()
    budget = WriteBudget(clock=clock)
    budget.observe(URL, 429, {"Retry-After": "7", "x-ms-ratelimit-remaining-subscription-writes": "0"})
    assert budget.admit(SUB, UPDATE_VERSION, Lane.NEW_BUILD) is not None
    assert budget.admit("other", UPDATE_VERSION, Lane.NEW_BUILD) is None
    clock.now += 8
    assert budget.admit(SUB, UPDATE_VERSION, Lane.NEW_BUILD) is None


def test_answers_without_a_subscription_are_ignored() -> None:
    budget = WriteBudget()
    budget.observe("https://example.com/api/events", 429, {"Retry-After": "100"})
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK) is None


def _action(kind: ActionKind) -> Action:
    return Action(kind, builders.IMAGE.version("1.0.0").id, "test")


@pytest.mark.parametrize(
    ("kinds", "tags", "lane"),
    [
        pytest.param([ActionKind.REPLICATE, ActionKind.TAG], {}, Lane.NEW_BUILD, id="first-replication"),
        pytest.param([ActionKind.REPLICATE], {lt.STATE: lt.STATE_PENDING}, Lane.NEW_BUILD, id="held-pending"),
        pytest.param([ActionKind.PROMOTE], {lt.STATE: lt.STATE_PENDING}, Lane.NEW_BUILD, id="promotion"),
        pytest.param([ActionKind.REPLICATE], {lt.STATE: lt.STATE_ACTIVE}, Lane.BULK, id="re-replication"),
        pytest.param([ActionKind.END_OF_LIFE, ActionKind.TAG], {}, Lane.BULK, id="eol-and-tags"),
        pytest.param([ActionKind.DELETE], {}, Lane.DELETE, id="deletion"),
    ],
)
def test_priority_lanes(kinds: list[ActionKind], tags: dict[str, str], lane: Lane) -> None:
    assert lane_of([_action(k) for k in kinds], builders.version("1.0.0", tags=tags)) is lane


def test_a_nearly_empty_arm_bucket_paces_writes_instead_of_meeting_a_429() -> None:
    clock = Clock()
    budget = WriteBudget(clock=clock)
    waits: list[float] = []
    budget.sleep = waits.append
    budget.observe(URL, 200, {**header(300, 1000), "x-ms-ratelimit-remaining-subscription-writes": "4"})
    assert [budget.admit(SUB, UPDATE_VERSION, Lane.BULK) for _ in range(4)] == [None] * 4
    # 4 tokens, 2 kept: two writes go at once, the next ones wait for the refill (10 per second).
    assert waits == pytest.approx([0.1, 0.2])


def test_a_sweep_releases_the_new_build_headroom_once_every_image_is_past_its_new_build_lane() -> None:
    clock = Clock()
    budget = WriteBudget(reserve=5, bulk_headroom=10, clock=clock)
    budget.observe(URL, 200, header(15, 900))
    # Unknown whether new-build work may still come (an event's run): the headroom is kept.
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK) is not None
    budget.expect_new_builds(SUB, ["image-a", "image-b"])
    budget.new_builds_done(SUB, "IMAGE-A")
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK) is not None  # image-b may still bring a new build
    budget.new_builds_done(SUB, "image-b")
    admitted = [budget.admit(SUB, UPDATE_VERSION, Lane.BULK) is None for _ in range(12)]
    # 15 left, only the reserve of 5 kept now: ten bulk writes, then nothing.
    assert admitted == [True] * 10 + [False] * 2
    assert budget.admit(SUB, UPDATE_VERSION, Lane.NEW_BUILD) is not None  # nobody eats the reserve


def test_the_30_minute_window_keeps_the_headroom_for_the_next_sweep() -> None:
    budget = WriteBudget(reserve=5, bulk_headroom=10, clock=Clock())
    budget.observe(URL, 200, header(300, 15))
    budget.expect_new_builds(SUB, ["image-a"])
    budget.new_builds_done(SUB, "image-a")
    assert budget.admit(SUB, UPDATE_VERSION, Lane.BULK) is not None
    assert budget.admit(SUB, UPDATE_VERSION, Lane.NEW_BUILD) is None


def test_the_executor_says_when_its_new_build_lane_is_passed() -> None:
    from lifecycle.executor import Executor

    seen: list[str] = []

    class Gallery:
        def update_version(self, change: object) -> None:
            seen.append("write")

        def delete_version(self, ref: object) -> None:
            seen.append("delete")

        def merge_tags(self, ref: object, tags: object) -> None:
            seen.append("tags")

    def permit(subscription: str, operation: str, lane: Lane, *, region: str = "") -> str | None:
        seen.append(lane.name)
        return None

    old, new = builders.version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE}), builders.version("2.0.0", tags={})
    image = builders.image(old, new)
    actions = [  # in the planner's order: the bulk write first
        Action(ActionKind.TAG, old.ref.id, "test", after={"tags": {"team": "x"}}),
        Action(ActionKind.PROMOTE, new.ref.id, "test", after={"exclude_from_latest": False}),
    ]
    executor = Executor(
        Gallery(),  # type: ignore[arg-type]
        may_write=permit,
        new_builds_done=lambda: seen.append("done"),
    )
    executor.execute(actions, image)
    assert seen == ["NEW_BUILD", "write", "done", "BULK", "tags"]
