"""Decision tables for replication healing, lossless target regions and encryption of added regions: the
pure planner only (no I/O)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifecycle.actions import ActionKind, thaw
from lifecycle.executor import version_change
from lifecycle.gateways.gallery import update_body
from lifecycle.model import ProvisioningState
from lifecycle.notifications import NotificationType
from lifecycle.planning import ImagePlan, plan_image
from lifecycle.policy import PolicyError, parse_policy
from lifecycle.state import ImageState, RegionHeal
from tests.unit.builders import GALLERY_ID, T0, completed, image, policy, version

FAILED = ProvisioningState.FAILED
REGIONS = {"eastus": 1, "westeurope": 1}
HEAL = policy({"replication": {"regions": REGIONS, "retry_backoff_minutes": 30, "remove_readd_after": 2}})
DES = "/subscriptions/s/resourceGroups/rg/providers/Microsoft.Compute/diskEncryptionSets/{}"
EAST_ENCRYPTION = {
    "osDiskImage": {"diskEncryptionSetId": DES.format("east")},
    "dataDiskImages": [{"lun": 0, "diskEncryptionSetId": DES.format("east-data")}],
}


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


def replicate(plan: ImagePlan) -> dict[str, Any] | None:
    found = [a for a in plan.actions if a.kind is ActionKind.REPLICATE]
    return None if not found else thaw(found[0].after)


def regions_of(plan: ImagePlan) -> list[str]:
    after = replicate(plan)
    assert after is not None
    return [r["name"] for r in after["regions"]]


def heal_of(plan: ImagePlan, region: str = "westeurope", name: str = "1.0.0") -> RegionHeal:
    return plan.state.healing[name][region]


def failed_west(**kw: Any) -> Any:
    return version(
        "1.0.0", regions=REGIONS, state=FAILED, status={"eastus": "Completed", "westeurope": "Failed"}, **kw
    )


def notes(plan: ImagePlan) -> list[str]:
    return [n for v in plan.versions for n in v.notes]


# --- the healing sequence: retry, retry, remove, add back, then heal or give up ---------------------------


def test_first_failure_waits_out_the_back_off_then_retries_by_an_update() -> None:
    first = plan_image(HEAL, image(failed_west()), T0)
    assert first.actions == ()
    assert heal_of(first).failures == 1 and heal_of(first).since == T0
    assert any("next healing write after 2026-01-01T00:30:00Z" in n for n in notes(first))
    assert first.versions[0].state == "failed"

    early = plan_image(HEAL, image(failed_west()), T0 + minutes(29), state=first.state)
    assert early.actions == ()
    retry = plan_image(HEAL, image(failed_west()), T0 + minutes(30), state=first.state)
    assert regions_of(retry) == ["eastus", "westeurope"]  # the same regions: an update is the retry
    assert "retry failed region westeurope" in (replicate(retry) or {})["heal"]
    record = heal_of(retry)
    assert (record.step, record.pending, record.last_write) == ("retried", True, T0 + minutes(30))
    assert "1.0.0" in retry.state.replicating


def test_second_failure_removes_the_region_then_adds_it_back_as_it_was() -> None:
    state = ImageState(
        healing={"1.0.0": {"westeurope": RegionHeal(1, "retried", True, T0, T0 + minutes(30))}}
    )
    extra = {
        "westeurope": {
            "additionalReplicaSets": [{"storageAccountType": "PremiumV2_LRS", "regionalReplicaCount": 1}]
        }
    }
    failing = failed_west(extra=extra)
    counted = plan_image(HEAL, image(failing), T0 + minutes(31), state=state)
    assert counted.actions == ()  # the back-off doubles: 60 minutes after the last write
    assert heal_of(counted).failures == 2 and not heal_of(counted).pending
    removal = plan_image(HEAL, image(failing), T0 + minutes(90), state=counted.state)
    assert regions_of(removal) == ["eastus"]
    assert heal_of(removal).step == "removed"
    assert heal_of(removal).entry is not None

    # Next run: the update went through, the region is gone; it is added back with every field it had.
    without = version("1.0.0", regions={"eastus": 1}, status={"eastus": "Completed"})
    readd = plan_image(HEAL, image(without), T0 + minutes(91), state=removal.state)
    after = replicate(readd)
    assert after is not None and [r["name"] for r in after["regions"]] == ["eastus", "westeurope"]
    west = after["regions"][1]
    assert west["extra"]["additionalReplicaSets"] == [
        {"storageAccountType": "PremiumV2_LRS", "regionalReplicaCount": 1}
    ]
    assert heal_of(readd).step == "readded" and heal_of(readd).pending

    healed = version("1.0.0", regions=REGIONS, status=completed(REGIONS), tags={"lifecycle.state": "active"})
    done = plan_image(HEAL, image(healed), T0 + minutes(120), state=readd.state)
    assert "1.0.0" not in done.state.healing
    assert any("healed after 2 failure(s)" in n for n in notes(done))
    assert [n.type for n in done.notifications] == [NotificationType.VERSION_REPLICATED]


def test_failing_after_being_added_back_gives_up_once() -> None:
    record = RegionHeal(2, "readded", True, T0, T0 + minutes(90), {"name": "westeurope", "replica_count": 1})
    state = ImageState(healing={"1.0.0": {"westeurope": record}})
    gave_up = plan_image(HEAL, image(failed_west()), T0 + minutes(120), state=state)
    assert gave_up.actions == ()
    assert [n.type for n in gave_up.notifications] == [NotificationType.REPLICATION_FAILED]
    assert dict(gave_up.notifications[0].data) == {
        "region": "westeurope",
        "failures": 3,
        "details": "Failed with internal server error.",
    }
    assert any("healing stopped (ImageLifecycle.ReplicationFailed)" in n for n in notes(gave_up))
    again = plan_image(HEAL, image(failed_west()), T0 + days_(3), state=gave_up.state)
    assert again.notifications == () and again.actions == ()
    assert any("healing stopped" in n for n in notes(again))


def days_(n: float) -> timedelta:
    return timedelta(days=n)


@pytest.mark.parametrize(
    ("failures", "expected"),
    [(1, "retry"), (2, "retry"), (3, "give up")],
    ids=["first", "second", "third"],
)
def test_the_home_region_cannot_be_removed_so_it_is_retried_then_given_up(
    failures: int, expected: str
) -> None:
    failing = version(
        "1.0.0", regions=REGIONS, state=FAILED, status={"eastus": "Failed", "westeurope": "Completed"}
    )
    record = (
        RegionHeal(failures - 1, "retried", True, T0, T0) if failures > 1 else RegionHeal(1, "", False, T0)
    )
    plan = plan_image(
        HEAL, image(failing), T0 + days_(1), state=ImageState(healing={"1.0.0": {"eastus": record}})
    )
    if expected == "retry":
        assert regions_of(plan) == ["eastus", "westeurope"]
    else:
        assert plan.actions == ()
        assert [n.type for n in plan.notifications] == [NotificationType.REPLICATION_FAILED]


def test_a_version_failed_with_no_failed_region_is_retried_as_a_whole() -> None:
    failing = version("1.0.0", regions=REGIONS, state=FAILED, status=completed(REGIONS))
    first = plan_image(HEAL, image(failing), T0)
    assert "*" in first.state.healing["1.0.0"]
    retry = plan_image(HEAL, image(failing), T0 + minutes(30), state=first.state)
    assert "retry failed the version" in (replicate(retry) or {})["heal"]


def test_without_its_replication_status_a_failed_version_waits() -> None:
    plan = plan_image(HEAL, image(version("1.0.0", regions=REGIONS, state=FAILED)), T0)
    assert plan.actions == () and plan.state.healing == {}
    assert any("waiting for its replication status" in n for n in notes(plan))


def test_an_expired_failed_version_is_not_healed_but_retired() -> None:
    p = policy(
        {
            "replication": {"regions": REGIONS},
            "retention": {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 10},
        }
    )
    newer = version(
        "2.0.0",
        regions=REGIONS,
        status=completed(REGIONS),
        tags={"lifecycle.state": "active"},
        eol=T0 + days_(30),
    )
    old = failed_west(eol=T0 + days_(30))
    expired = plan_image(p, image(old, newer), T0 + days_(31))
    kinds = sorted(a.kind.value for a in expired.actions if a.target.endswith("1.0.0"))
    assert kinds == ["exclude_from_latest", "tag"]  # out of latest, and tagged expired, in one update
    assert "1.0.0" not in expired.state.healing
    assert any("not healed" in n for n in expired.versions[0].notes)


def test_a_failed_version_gets_its_end_of_life_with_the_healing_write() -> None:
    p = policy(
        {"replication": {"regions": REGIONS, "retry_backoff_minutes": 0}, "retention": {"lifetime_days": 30}}
    )
    plan = plan_image(p, image(failed_west()), T0)
    assert sorted(a.kind.value for a in plan.actions) == ["end_of_life", "replicate"]


def test_dry_run_records_nothing_for_healing_is_left_to_the_reconcile() -> None:
    # The planner reports the same decision in dry-run; the reconcile keeps the previous healing records.
    plan = plan_image(
        policy({"replication": {"regions": REGIONS, "retry_backoff_minutes": 0}}, mode="dry-run"),
        image(failed_west()),
        T0,
    )
    assert regions_of(plan) == ["eastus", "westeurope"]


# --- replicated means every region Completed ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "announced"),
    [
        (None, False),
        ({"eastus": "Completed", "westeurope": "Replicating"}, False),
        ({"eastus": "Completed", "westeurope": "Failed"}, False),
        ({"eastus": "Completed"}, False),
        ({"eastus": "Completed", "westeurope": "Completed"}, True),
    ],
    ids=["not-read", "lagging", "failed", "region-missing", "all-completed"],
)
def test_version_replicated_only_when_every_region_is_completed(
    status: dict[str, str] | None, announced: bool
) -> None:
    v = version("1.0.0", regions=REGIONS, status=status, tags={"lifecycle.state": "active"})
    plan = plan_image(
        policy({"replication": {"regions": REGIONS}}),
        image(v),
        T0,
        state=ImageState(replicating=frozenset({"1.0.0"})),
    )
    replicated = [n for n in plan.notifications if n.type is NotificationType.VERSION_REPLICATED]
    assert bool(replicated) is announced
    assert ("1.0.0" in plan.state.replicating) is (not announced)


# --- lossless updates and encryption ------------------------------------------------------------------------


def test_fields_the_app_does_not_own_survive_an_update() -> None:
    extra = {
        "eastus": {"encryption": EAST_ENCRYPTION},
        "westeurope": {
            "excludeFromLatest": True,
            "additionalReplicaSets": [{"storageAccountType": "PremiumV2_LRS", "regionalReplicaCount": 2}],
            "futureField": {"kept": True},
        },
    }
    v = version(
        "1.0.0", regions={"eastus": 1, "westeurope": 1}, extra=extra, tags={"lifecycle.state": "active"}
    )
    # westeurope's excludeFromLatest came in through `extra` in the builder: read it like the gateway does.
    p = policy({"replication": {"regions": {"eastus": 2, "westeurope": 1}}})
    plan = plan_image(p, image(v), T0)
    patch = update_body(version_change(v.ref, [a for a in plan.actions if a.kind is ActionKind.REPLICATE]))
    assert patch["properties"]["storageProfile"] == {}
    east, west = patch["properties"]["publishingProfile"]["targetRegions"]
    assert east == {"name": "East US", "regionalReplicaCount": 2, "encryption": EAST_ENCRYPTION}
    assert west["additionalReplicaSets"] == [
        {"storageAccountType": "PremiumV2_LRS", "regionalReplicaCount": 2}
    ]
    assert west["futureField"] == {"kept": True}


def test_a_tag_only_update_sends_no_properties() -> None:
    v = version("1.0.0")
    plan = plan_image(policy({"metadata": {"tags": {"owner": "me"}}}), image(v), T0)
    assert "properties" not in update_body(version_change(v.ref, plan.actions))


def test_an_added_region_of_an_encrypted_version_gets_the_policy_disk_encryption_set() -> None:
    v = version("1.0.0", regions={"eastus": 1}, extra={"eastus": {"encryption": EAST_ENCRYPTION}})
    p = policy(
        {"replication": {"regions": REGIONS, "disk_encryption_sets": {"westeurope": DES.format("west")}}}
    )
    after = replicate(plan_image(p, image(v), T0))
    assert after is not None
    east, west = after["regions"]
    assert east["extra"]["encryption"] == EAST_ENCRYPTION
    assert west["extra"]["encryption"] == {
        "osDiskImage": {"diskEncryptionSetId": DES.format("west")},
        "dataDiskImages": [{"lun": 0, "diskEncryptionSetId": DES.format("west")}],
    }


@pytest.mark.parametrize(
    "encryption",
    [
        None,
        {
            "osDiskImage": {
                "diskEncryptionSetId": DES.format("east"),
                "securityProfile": {
                    "confidentialVMEncryptionType": "EncryptedWithCmk",
                    "secureVMDiskEncryptionSetId": DES.format("cvm"),
                },
            }
        },
    ],
    ids=["no-set-named", "confidential-vm"],
)
def test_an_encrypted_version_is_never_replicated_unencrypted(encryption: dict[str, Any] | None) -> None:
    v = version(
        "1.0.0", regions={"eastus": 1}, extra={"eastus": {"encryption": encryption or EAST_ENCRYPTION}}
    )
    sets = {"westeurope": DES.format("west")} if encryption else {}
    p = policy({"replication": {"regions": {**REGIONS, "japaneast": 1}, "disk_encryption_sets": sets}})
    plan = plan_image(p, image(v), T0)
    after = replicate(plan)
    assert after is None or "westeurope" not in [r["name"] for r in after["regions"]]
    assert any("region westeurope not added" in n for n in notes(plan))


def test_an_unencrypted_version_needs_no_disk_encryption_set() -> None:
    after = replicate(plan_image(policy({"replication": {"regions": REGIONS}}), image(version("1.0.0")), T0))
    assert after is not None and all("encryption" not in r["extra"] for r in after["regions"])


@pytest.mark.parametrize(
    ("sets", "problem"),
    [
        ({"westeurpe": DES.format("w")}, "unknown region 'westeurpe' (did you mean 'westeurope'?)"),
        (
            {"westeurope": "/subscriptions/s/resourceGroups/rg/providers/Microsoft.KeyVault/vaults/v"},
            "is not a disk encryption set resource id",
        ),
    ],
)
def test_policy_rejects_bad_disk_encryption_sets(sets: dict[str, str], problem: str) -> None:
    import json

    doc = {
        "schema": 1,
        "defaults": {"replication": {"disk_encryption_sets": sets}},
        "galleries": [{"id": GALLERY_ID, "images": {"*": {}}}],
    }
    with pytest.raises(PolicyError) as err:
        parse_policy(json.dumps(doc))
    assert problem in str(err.value) and "disk_encryption_sets" in str(err.value)


@pytest.mark.parametrize("value", [0, 11])
def test_policy_bounds_remove_readd_after(value: int) -> None:
    import json

    doc = {
        "schema": 1,
        "defaults": {"replication": {"remove_readd_after": value}},
        "galleries": [{"id": GALLERY_ID, "images": {"*": {}}}],
    }
    with pytest.raises(PolicyError):
        parse_policy(json.dumps(doc))


def test_healing_records_round_trip_through_the_state_document() -> None:
    record = RegionHeal(
        2,
        "removed",
        True,
        T0,
        T0 + minutes(5),
        {"name": "westeurope", "extra": {"encryption": EAST_ENCRYPTION}},
        False,
        "x",
    )
    state = ImageState(healing={"1.0.0": {"westeurope": record}})
    assert ImageState.from_json(state.to_json()) == state


# --- a healing write that did not run does not count; one Azure refused for good does -------------------


@pytest.mark.parametrize("status", ["failed", "deferred", "succeeded"])
def test_a_healing_write_not_made_leaves_the_records_as_they_were(status: str) -> None:
    from lifecycle.executor import Outcome
    from lifecycle.planning.after_writes import state_after

    before = ImageState(
        healing={"1.0.0": {"westeurope": RegionHeal(1, "retried", True, T0, T0 + minutes(30))}}
    )
    plan = plan_image(HEAL, image(failed_west()), T0 + minutes(120), state=before)
    [action] = plan.actions
    assert heal_of(plan).failures == 2 and heal_of(plan).step == "removed" and heal_of(plan).pending
    error = "throttled" if status != "succeeded" else None
    after = state_after(plan, [Outcome(action, status, error, retryable=error is not None)], before=before)
    if status != "succeeded":
        assert after.healing == before.healing
    else:
        assert after.healing == plan.state.healing
