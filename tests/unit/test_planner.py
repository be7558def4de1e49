"""The planner as decision tables: (policy, observed image, state, now) -> actions. Pure, no I/O."""

from __future__ import annotations

from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.actions import ActionKind
from lifecycle.model import ImageUsage, ProvisioningState
from lifecycle.notifications import NotificationType
from lifecycle.planning import plan_image
from lifecycle.state import ImageState, PendingBuild
from tests.unit.builders import IMAGE, T0, completed, days, image, kinds, policy, version

ACTIVE = {lt.STATE: lt.STATE_ACTIVE}
REGIONS = {"eastus": 2, "westeurope": 1, "japaneast": 1}


def after(plan: Any, kind: ActionKind) -> dict[str, Any]:
    from lifecycle.actions import thaw

    return thaw(next(a for a in plan.actions if a.kind is kind).after)


# --- replication -------------------------------------------------------------------------------------------

REPLICATION_CASES = [
    pytest.param(
        {"regions": REGIONS},
        {"eastus": 1},
        {"eastus": 2, "westeurope": 1, "japaneast": 1},
        id="adds-regions-and-counts",
    ),
    pytest.param(
        {"regions": REGIONS},
        {"eastus": 2, "westeurope": 1, "japaneast": 1},
        None,
        id="already-desired-no-action",
    ),
    pytest.param(
        {"regions": {"westeurope": 1}},
        {"eastus": 1},
        {"eastus": 1, "westeurope": 1},
        id="home-region-always-kept",
    ),
    pytest.param(
        {"regions": REGIONS},
        {"eastus": 2, "westeurope": 1, "japaneast": 1, "uksouth": 1},
        None,
        id="extra-region-kept-without-prune",
    ),
    pytest.param(
        {"regions": REGIONS, "prune_regions": True},
        {"eastus": 2, "westeurope": 1, "japaneast": 1, "uksouth": 1},
        None,
        id="prune-refused-without-allow-deletion",
    ),
    pytest.param({"regions": {}}, {"eastus": 1}, None, id="no-regions-means-unmanaged"),
]


@pytest.mark.parametrize(("replication", "current", "expected"), REPLICATION_CASES)
def test_replication(
    replication: dict[str, Any], current: dict[str, int], expected: dict[str, int] | None
) -> None:
    plan = plan_image(
        policy({"replication": replication}), image(version("1.0.0", regions=current, tags=ACTIVE)), T0
    )
    if expected is None:
        assert ActionKind.REPLICATE.value not in kinds(plan)
    else:
        assert after(plan, ActionKind.REPLICATE)["target_regions"] == expected


def test_prune_removes_region_when_azure_allows() -> None:
    v = version(
        "1.0.0", regions={"eastus": 2, "westeurope": 1, "uksouth": 1}, tags=ACTIVE, allow_region_delete=True
    )
    plan = plan_image(
        policy({"replication": {"regions": {"eastus": 2, "westeurope": 1}, "prune_regions": True}}),
        image(v),
        T0,
    )
    assert after(plan, ActionKind.REPLICATE)["target_regions"] == {"eastus": 2, "westeurope": 1}


def test_existing_region_keeps_its_storage_type_new_region_gets_policy_type() -> None:
    v = version("1.0.0", regions={"eastus": 1}, storage="Premium_LRS", tags=ACTIVE)
    plan = plan_image(
        policy(
            {
                "replication": {
                    "regions": {"eastus": 2, "westeurope": 1},
                    "storage_account_type": "Standard_ZRS",
                }
            }
        ),
        image(v),
        T0,
    )
    regions = {r["name"]: r for r in after(plan, ActionKind.REPLICATE)["regions"]}
    assert regions["eastus"]["storage_account_type"] == "Premium_LRS"
    assert regions["westeurope"]["storage_account_type"] == "Standard_ZRS"


@pytest.mark.parametrize(
    "state", [ProvisioningState.CREATING, ProvisioningState.UPDATING, ProvisioningState.DELETING], ids=str
)
def test_busy_versions_are_not_written(state: ProvisioningState) -> None:
    plan = plan_image(policy({"replication": {"regions": REGIONS}}), image(version("1.0.0", state=state)), T0)
    assert plan.actions == ()
    assert plan.versions[0].state == state.value.lower()


def test_replicated_event_once_every_region_completes() -> None:
    p = policy({"replication": {"regions": REGIONS}})
    first = plan_image(p, image(version("1.0.0", tags=ACTIVE)), T0)
    assert "1.0.0" in first.state.replicating
    assert [n.type for a in first.actions for n in a.notifications] == [NotificationType.VERSION_REPLICATING]
    all_regions = {"eastus": 2, "westeurope": 1, "japaneast": 1}
    # Succeeded, but replication status not read (or a region still Replicating): keep watching.
    unknown = version("1.0.0", regions=all_regions, tags=ACTIVE)
    assert plan_image(p, image(unknown), T0, state=first.state).notifications == ()
    lagging = version(
        "1.0.0",
        regions=all_regions,
        tags=ACTIVE,
        status={**completed(all_regions), "japaneast": "Replicating"},
    )
    waiting = plan_image(p, image(lagging), T0, state=first.state)
    assert waiting.notifications == () and "1.0.0" in waiting.state.replicating
    done = version("1.0.0", regions=all_regions, tags=ACTIVE, status=completed(all_regions))
    second = plan_image(p, image(done), T0, state=first.state)
    assert [n.type for n in second.notifications] == [NotificationType.VERSION_REPLICATED]
    assert second.actions == ()
    third = plan_image(p, image(done), T0, state=second.state)
    assert third.notifications == () and third.actions == ()


# --- tags --------------------------------------------------------------------------------------------------


def test_static_tags_and_state_tag_merge_only_changes() -> None:
    v = version("1.0.0", tags={"owner": "someone-else", "keep": "me"})
    plan = plan_image(policy({"metadata": {"tags": {"owner": "platform", "tier": "gold"}}}), image(v), T0)
    assert after(plan, ActionKind.TAG)["tags"] == {
        "owner": "platform",
        "tier": "gold",
        lt.STATE: lt.STATE_ACTIVE,
    }


def test_no_tag_write_when_tags_already_match() -> None:
    v = version("1.0.0", tags={"owner": "platform", **ACTIVE})
    assert plan_image(policy({"metadata": {"tags": {"owner": "platform"}}}), image(v), T0).actions == ()


def test_build_metadata_lands_as_tags_and_leaves_pending_once_seen() -> None:
    build = PendingBuild(tags={lt.BUILD_ID: "42", lt.COMMIT: "abc123"}, received=T0)
    state = ImageState(pending_builds={"1.0.0": build})
    plan = plan_image(policy(), image(version("1.0.0")), T0, state=state)
    assert after(plan, ActionKind.TAG)["tags"] == {lt.BUILD_ID: "42", lt.COMMIT: "abc123", **ACTIVE}
    assert "1.0.0" in plan.state.pending_builds
    tagged = version("1.0.0", tags={lt.BUILD_ID: "42", lt.COMMIT: "abc123", **ACTIVE})
    again = plan_image(policy(), image(tagged), T0, state=plan.state)
    assert again.actions == () and again.state.pending_builds == {}


def test_build_metadata_waits_while_version_is_busy() -> None:
    state = ImageState(pending_builds={"1.0.0": PendingBuild(tags={lt.BUILD_ID: "42"}, received=T0)})
    plan = plan_image(policy(), image(version("1.0.0", state=ProvisioningState.CREATING)), T0, state=state)
    assert plan.actions == () and "1.0.0" in plan.state.pending_builds


def test_overlong_tag_value_is_cut_with_warning() -> None:
    build = PendingBuild(tags={lt.SBOM: "x" * 300}, received=T0)
    plan = plan_image(
        policy(), image(version("1.0.0")), T0, state=ImageState(pending_builds={"1.0.0": build})
    )
    assert len(after(plan, ActionKind.TAG)["tags"][lt.SBOM]) == 256
    assert any("cut to 256" in n for n in plan.versions[0].notes)


def test_tag_limit_of_fifty() -> None:
    full = {f"t{i}": "v" for i in range(50)}
    plan = plan_image(
        policy({"metadata": {"tags": {"owner": "platform"}}}), image(version("1.0.0", tags=full)), T0
    )
    assert ActionKind.TAG.value not in kinds(plan)
    assert any("50 tags" in n for n in plan.versions[0].notes)


# --- promotion ---------------------------------------------------------------------------------------------


def test_new_version_held_out_of_latest_until_replicated_then_promoted() -> None:
    p = policy({"replication": {"regions": REGIONS, "promote_when_replicated": True}})
    held = plan_image(p, image(version("1.0.0")), T0)
    assert kinds(held) == ["exclude_from_latest", "replicate", "tag"]
    assert after(held, ActionKind.TAG)["tags"][lt.STATE] == lt.STATE_PENDING
    succeeded = {
        "regions": {"eastus": 2, "westeurope": 1, "japaneast": 1},
        "excluded": True,
        "tags": {lt.STATE: lt.STATE_PENDING},
    }
    # provisioningState Succeeded with a region still Replicating, or status not read: still held.
    lagging = version("1.0.0", **succeeded, status={"eastus": "Completed", "westeurope": "Replicating"})
    assert kinds(plan_image(p, image(lagging), T0, state=held.state)) == []
    assert kinds(plan_image(p, image(version("1.0.0", **succeeded)), T0, state=held.state)) == []
    replicated = version("1.0.0", **succeeded, status=completed(succeeded["regions"]))
    promoted = plan_image(p, image(replicated), T0, state=held.state)
    assert kinds(promoted) == ["promote", "tag"]
    assert after(promoted, ActionKind.PROMOTE) == {"exclude_from_latest": False}
    assert [n.type for a in promoted.actions for n in a.notifications] == [NotificationType.VERSION_PROMOTED]


# --- retention ---------------------------------------------------------------------------------------------

RETENTION = {"lifetime_days": 30, "keep_latest": 2, "delete_after_days": 10, "max_deletes_per_run": 3}


def test_end_of_life_is_set_explicitly() -> None:
    plan = plan_image(
        policy({"retention": RETENTION}), image(version("1.0.0", tags=ACTIVE, eol=T0 + days(182))), T0
    )
    assert after(plan, ActionKind.END_OF_LIFE) == {"end_of_life": "2026-01-31T00:00:00Z"}


LIFETIME_CASES = [
    # (policy lifetime, build lifetime, lifetime tag on the version, observed end-of-life, expected write)
    pytest.param(30, 60, None, None, "2026-03-02T00:00:00Z", id="build-lengthens"),
    pytest.param(30, 7, None, None, "2026-01-31T00:00:00Z", id="build-cannot-shorten"),
    pytest.param(30, 1, None, T0 + days(30), None, id="forged-one-day-changes-nothing"),
    pytest.param(30, None, "60", T0 + days(60), None, id="tag-remembers-the-longer-lifetime"),
    pytest.param(30, None, "7", None, "2026-01-31T00:00:00Z", id="tag-cannot-shorten-either"),
    pytest.param(None, 365, None, T0 + days(182), "2027-01-01T00:00:00Z", id="no-policy-pushes-azure-date"),
    pytest.param(None, 7, None, T0 + days(182), None, id="no-policy-never-earlier-than-azure"),
    pytest.param(None, 7, None, None, None, id="no-policy-no-date-none-set"),
]


@pytest.mark.parametrize(("policy_days", "build_days", "tag", "eol", "expected"), LIFETIME_CASES)
def test_a_build_lifetime_only_lengthens(
    policy_days: int | None, build_days: int | None, tag: str | None, eol: Any, expected: str | None
) -> None:
    retention = {**RETENTION, "lifetime_days": policy_days}
    tags = {**ACTIVE, **({lt.LIFETIME_DAYS: tag} if tag else {})}
    builds = {"1.0.0": PendingBuild(tags={}, lifetime_days=build_days, received=T0)} if build_days else {}
    plan = plan_image(
        policy({"retention": retention}),
        image(version("1.0.0", tags=tags, eol=eol)),
        T0,
        state=ImageState(pending_builds=builds),
    )
    eol_actions = [a for a in plan.actions if a.kind is ActionKind.END_OF_LIFE]
    if expected is None:
        assert eol_actions == []
    else:
        assert after(plan, ActionKind.END_OF_LIFE) == {"end_of_life": expected}


def test_event_data_sets_only_the_documented_build_tags() -> None:
    # A state document carrying other lifecycle tags (hand-edited, or from an older release) cannot
    # overwrite the app's own state tag nor set a hold.
    build = PendingBuild(
        tags={lt.BUILD_ID: "42", lt.STATE: "active", lt.HOLD: "true", "lifecycle.approved-by": "mallory"},
        received=T0,
    )
    expired = version(
        "1.0.0", published=T0 - days(60), tags={lt.STATE: lt.STATE_EXPIRED}, excluded=True, eol=T0 - days(30)
    )
    plan = plan_image(
        policy({"retention": {**RETENTION, "keep_latest": 1}}),
        image(expired, version("1.0.1", tags=ACTIVE)),
        T0,
        state=ImageState(pending_builds={"1.0.0": build}),
    )
    tag_writes = [thaw_tags(a) for a in plan.actions if a.kind is ActionKind.TAG]
    assert tag_writes == [{lt.BUILD_ID: "42"}]


def thaw_tags(action: Any) -> dict[str, str]:
    from lifecycle.actions import thaw

    return dict(thaw(action.after)["tags"])


def _versions(n: int, **kwargs: Any) -> list[Any]:
    return [version(f"1.0.{i}", published=T0 + days(i), eol=T0 + days(i + 30), **kwargs) for i in range(n)]


def test_expired_versions_leave_latest_but_the_newest_are_kept() -> None:
    plan = plan_image(policy({"retention": RETENTION}), image(*_versions(4, tags=ACTIVE)), T0 + days(40))
    excluded = sorted(
        a.target.rsplit("/", 1)[1] for a in plan.actions if a.kind is ActionKind.EXCLUDE_FROM_LATEST
    )
    assert excluded == ["1.0.0", "1.0.1"]
    expired_events = [
        n for a in plan.actions for n in a.notifications if n.type is NotificationType.VERSION_EXPIRED
    ]
    assert len(expired_events) == 2
    states = {v.version: (v.state, v.protected) for v in plan.versions}
    assert states["1.0.3"] == ("active", "newest 2") and states["1.0.0"][0] == "expired"


def expired(n: int) -> list[Any]:
    return _versions(n, tags={lt.STATE: lt.STATE_EXPIRED}, excluded=True)


DELETE_CASES = [
    pytest.param(T0 + days(39), ImageUsage(), 0, None, id="grace-not-over"),
    pytest.param(T0 + days(45), ImageUsage(), 3, None, id="oldest-first-up-to-cap"),
    pytest.param(T0 + days(45), None, 0, "in-use check unavailable", id="no-usage-no-delete"),
    pytest.param(
        T0 + days(45), ImageUsage(complete=False), 0, "in-use check unavailable", id="usage-incomplete"
    ),
    pytest.param(
        T0 + days(45),
        ImageUsage(version_ids=frozenset({IMAGE.version("1.0.0").key()})),
        3,
        "in use by a VM",
        id="in-use-version-kept",
    ),
]


@pytest.mark.parametrize(("now", "usage", "deleted", "blocked"), DELETE_CASES)
def test_deletion(now: Any, usage: ImageUsage | None, deleted: int, blocked: str | None) -> None:
    plan = plan_image(policy({"retention": RETENTION}), image(*expired(6)), now, usage=usage, delete_budget=3)
    assert plan.deletes == deleted
    names = [a.target.rsplit("/", 1)[1] for a in plan.actions if a.kind is ActionKind.DELETE]
    assert names == sorted(names, key=lambda n: tuple(map(int, n.split("."))))
    if blocked:
        assert any(blocked in (v.notes[0] if v.notes else "") for v in plan.versions)


def test_deletes_paused_while_policy_rejected() -> None:
    plan = plan_image(
        policy({"retention": RETENTION}),
        image(*expired(6)),
        T0 + days(60),
        usage=ImageUsage(),
        delete_budget=3,
        deletes_blocked="policy not in force",
    )
    assert plan.deletes == 0


def test_latest_reference_protects_what_latest_resolves_to() -> None:
    # 1.0.0 is past its grace period but still in latest (its exclusion has not landed), and the newer
    # 1.0.1 is held out of latest: a VM that follows `latest` runs 1.0.0, so it must stay.
    old = version("1.0.0", published=T0, eol=T0 + days(30), tags=ACTIVE)
    new = version(
        "1.0.1", published=T0 + days(1), eol=T0 + days(31), tags={lt.STATE: lt.STATE_PENDING}, excluded=True
    )
    retention = {**RETENTION, "keep_latest": 1}
    usage = ImageUsage(image_ids=frozenset({IMAGE.key()}))
    plan = plan_image(
        policy({"retention": retention}), image(old, new), T0 + days(45), usage=usage, delete_budget=3
    )
    assert plan.deletes == 0
    assert "latest" in plan.versions[0].notes[0]
    unused = plan_image(
        policy({"retention": retention}), image(old, new), T0 + days(45), usage=ImageUsage(), delete_budget=3
    )
    assert unused.deletes == 1


def test_failed_versions_deleted_after_their_delay() -> None:
    failed = version("1.0.1", state=ProvisioningState.FAILED, published=T0)
    p = policy({"retention": {**RETENTION, "delete_failed_after_days": 2}})
    assert (
        plan_image(
            p, image(version("1.0.0", tags=ACTIVE), failed), T0 + days(1), usage=ImageUsage(), delete_budget=3
        ).deletes
        == 0
    )
    plan = plan_image(
        p,
        image(version("1.0.0", tags=ACTIVE, eol=T0 + days(30)), failed),
        T0 + days(3),
        usage=ImageUsage(),
        delete_budget=3,
    )
    assert [a.target.rsplit("/", 1)[1] for a in plan.actions if a.kind is ActionKind.DELETE] == ["1.0.1"]


def test_dry_run_plans_the_same() -> None:
    enforce = plan_image(
        policy({"retention": RETENTION}),
        image(*expired(6)),
        T0 + days(45),
        usage=ImageUsage(),
        delete_budget=3,
    )
    dry = plan_image(
        policy({"retention": RETENTION}, mode="dry-run"),
        image(*expired(6)),
        T0 + days(45),
        usage=ImageUsage(),
        delete_budget=3,
    )
    assert [a.key for a in enforce.actions] == [a.key for a in dry.actions]


def test_hold_tag_keeps_a_version_whatever_the_policy() -> None:
    held = [v for v in expired(6)]
    held[0] = version(
        "1.0.0", published=T0, eol=T0 + days(30), excluded=True, tags={lt.HOLD: "true", lt.STATE: "expired"}
    )
    plan = plan_image(
        policy({"retention": RETENTION}), image(*held), T0 + days(45), usage=ImageUsage(), delete_budget=3
    )
    deleted = [a.target.rsplit("/", 1)[1] for a in plan.actions if a.kind is ActionKind.DELETE]
    assert "1.0.0" not in deleted and len(deleted) == 3
    report = next(v for v in plan.versions if v.version == "1.0.0")
    assert report.state == "expired" and f"held by tag {lt.HOLD}" in report.notes[0]


def test_version_published_excluded_from_latest_is_promoted_once_replicated() -> None:
    p = policy({"replication": {"regions": {"eastus": 1, "westeurope": 1}, "promote_when_replicated": True}})
    fresh = version(
        "1.0.0",
        regions={"eastus": 1, "westeurope": 1},
        excluded=True,
        status={"eastus": "Completed", "westeurope": "Completed"},
    )
    plan = plan_image(p, image(fresh), T0)
    assert kinds(plan) == ["promote", "tag"]
    assert after(plan, ActionKind.TAG)["tags"][lt.STATE] == lt.STATE_ACTIVE
    # Without the promotion policy, a version someone excluded by hand stays excluded.
    manual = plan_image(
        policy({"replication": {"regions": {"eastus": 1, "westeurope": 1}}}), image(fresh), T0
    )
    assert kinds(manual) == ["tag"]
