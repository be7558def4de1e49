"""A healing write Azure refuses for good counts as an attempt with its back-off from the refusal; after the
configured attempts ReplicationFailed is published once and healing stops; nothing else of the version
waits on healing. Pure: planner, healing records and the state a run keeps."""

from __future__ import annotations

from datetime import timedelta

from lifecycle.actions import ActionKind
from lifecycle.executor import FAILED, Outcome
from lifecycle.model import ProvisioningState
from lifecycle.notifications import NotificationType
from lifecycle.planning import ImagePlan, plan_image
from lifecycle.planning.after_writes import state_after
from lifecycle.planning.healing import REFUSED, refused
from lifecycle.state import ImageState, RegionHeal
from tests.unit.builders import T0, image, kinds, policy, version

REGIONS = {"eastus": 1, "westeurope": 1}
HEAL = policy(
    {
        "replication": {"regions": REGIONS, "retry_backoff_minutes": 30, "remove_readd_after": 2},
        "retention": {"lifetime_days": 90},
    }
)
ERROR = "ARM answered 403 LinkedAuthorizationFailed: ... diskEncryptionSets/read ..."


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def failed_west(eol: bool = True) -> object:
    """West Europe failed; the end-of-life already as the policy wants it (unless `eol` is False)."""
    return version(
        "1.0.0",
        regions=REGIONS,
        state=ProvisioningState.FAILED,
        status={"eastus": "Completed", "westeurope": "Failed"},
        eol=T0 + timedelta(days=90) if eol else None,
    )


def run(state: ImageState, at: timedelta, refuse: bool = True) -> tuple[ImagePlan, ImageState]:
    """Plan at T0 + `at`, then keep what a run keeps when every healing write is refused."""
    plan = plan_image(HEAL, image(failed_west()), T0 + at, state=state)  # type: ignore[arg-type]
    outcomes = [
        Outcome(a, FAILED, ERROR, retryable=False)
        if refuse and a.kind is ActionKind.REPLICATE
        else Outcome(a, "succeeded")
        for a in plan.actions
    ]
    return plan, state_after(plan, outcomes, before=state)


def test_refused_heals_count_back_off_from_the_refusal_and_give_up_once() -> None:
    first = ImageState(healing={"1.0.0": {"westeurope": RegionHeal(1, "", False, T0, None)}})
    plan, state = run(first, minutes(30))  # the first retry is due; refused
    assert "replicate" in kinds(plan)
    record = state.healing["1.0.0"]["westeurope"]
    assert (record.failures, record.step, record.pending) == (2, REFUSED, False)
    assert record.last_write == T0 + minutes(30) and "LinkedAuthorizationFailed" in (record.details or "")

    plan, same = run(state, minutes(30 + 59))  # back-off after 2 attempts: 60 minutes from the refusal
    assert "replicate" not in kinds(plan) and same.healing == state.healing

    plan, state = run(state, minutes(30 + 61))  # the removal is due (2 of 2): refused too
    assert "replicate" in kinds(plan) and "remove failed region" in plan.actions[0].reason
    assert state.healing["1.0.0"]["westeurope"].failures == 3

    plan, state = run(state, minutes(30 + 61 + 121))  # attempts spent: give up, once
    failed = [n for n in plan.notifications if n.type is NotificationType.REPLICATION_FAILED]
    assert len(failed) == 1 and "refused" in str(failed[0].data["details"])
    assert "replicate" not in kinds(plan)
    plan, _ = run(state, minutes(30 + 61 + 121 + 600))
    assert not [n for n in plan.notifications if n.type is NotificationType.REPLICATION_FAILED]
    assert "replicate" not in kinds(plan)


def test_a_throttled_heal_is_not_an_attempt() -> None:
    before = ImageState(healing={"1.0.0": {"westeurope": RegionHeal(1, "", False, T0, None)}})
    plan = plan_image(HEAL, image(failed_west()), T0 + minutes(30), state=before)  # type: ignore[arg-type]
    outcomes = [Outcome(a, FAILED, "429", retryable=True) for a in plan.actions]
    assert state_after(plan, outcomes, before=before).healing == before.healing


def test_the_end_of_life_does_not_wait_for_a_heal_in_its_back_off() -> None:
    waiting = ImageState(
        healing={"1.0.0": {"westeurope": RegionHeal(2, REFUSED, False, T0, T0 + minutes(10))}}
    )
    observed = image(failed_west(eol=False))  # type: ignore[arg-type]
    plan = plan_image(HEAL, observed, T0 + minutes(20), state=waiting)
    assert kinds(plan) == ["end_of_life"]


def test_refused_marks_only_the_records_the_write_carried() -> None:
    records = {
        "westeurope": RegionHeal(1, "retried", True, T0, T0),
        "japaneast": RegionHeal(3, "gave_up", False, T0, T0, reported=True),
    }
    out = refused(records, "403")
    assert out["westeurope"].step == REFUSED and out["westeurope"].failures == 2
    assert out["japaneast"] == records["japaneast"]
