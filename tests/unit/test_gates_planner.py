"""Release gates as decision tables: approval, revocation, inherited revocation, and rebakes when the base
image moves. Pure: the planner gets observed versions, remembered approvals and the revoked bases."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.actions import ActionKind, thaw
from lifecycle.model import ImageUsage, ProvisioningState, RegionStatus, ReplicationState
from lifecycle.notifications import NotificationType
from lifecycle.planning import plan_image
from lifecycle.planning.lineage import (
    BaseImageError,
    BaseObservation,
    MarketplaceImage,
    gallery_update,
    marketplace_update,
    newest_marketplace,
    parse_base_image,
)
from lifecycle.planning.rebake import plan_rebake
from lifecycle.policy import PolicyError, Rebake, parse_policy
from lifecycle.state import GateRecord, ImageState, RebakeState
from tests.unit.builders import GALLERY_ID, IMAGE, SUB, T0, days, image, kinds, policy, version

APPROVAL = {"approval": {"required": True}}
PARENT = f"{GALLERY_ID}/images/base/versions/1.0.0"


def tags_written(plan: Any) -> dict[str, str]:
    return next((thaw(a.after)["tags"] for a in plan.actions if a.kind is ActionKind.TAG), {})


def events(plan: Any) -> list[str]:
    return [n.type.value for a in plan.actions for n in a.notifications] + [
        n.type.value for n in plan.notifications
    ]


def only(plan: Any, kind: ActionKind) -> Any:
    (action,) = [a for a in plan.actions if a.kind is kind]
    return action


# --- approval -----------------------------------------------------------------------------------------------

APPROVAL_CASES = [
    # (tags, excluded, remembered approver, expected state, expected action kinds besides tag)
    pytest.param({}, True, None, lt.STATE_PENDING_APPROVAL, [], id="new-strict-publish-held"),
    pytest.param(
        {}, False, None, lt.STATE_PENDING_APPROVAL, ["exclude_from_latest"], id="published-into-latest"
    ),
    pytest.param(
        {lt.STATE: lt.STATE_PENDING_APPROVAL, lt.APPROVED_BY: "alice"},
        True,
        None,
        lt.STATE_ACTIVE,
        ["promote"],
        id="approved-by-tag",
    ),
    pytest.param(
        {lt.STATE: lt.STATE_PENDING_APPROVAL},
        True,
        "bob",
        lt.STATE_ACTIVE,
        ["promote"],
        id="approved-by-cli-or-event",
    ),
    pytest.param(
        {lt.STATE: lt.STATE_ACTIVE}, False, None, lt.STATE_ACTIVE, [], id="active-before-gate-stays"
    ),
    pytest.param(
        {lt.STATE: lt.STATE_REVOKED, lt.APPROVED_BY: "alice"},
        True,
        None,
        lt.STATE_REVOKED,
        [],
        id="revoked-never-promoted",
    ),
]


@pytest.mark.parametrize(("tags", "excluded", "remembered", "state", "expected"), APPROVAL_CASES)
def test_approval_gate(
    tags: dict[str, str], excluded: bool, remembered: str | None, state: str, expected: list[str]
) -> None:
    memory = ImageState(approvals={"1.0.0": GateRecord(by=remembered, source="cli")} if remembered else {})
    plan = plan_image(
        policy(APPROVAL), image(version("1.0.0", tags=tags, excluded=excluded)), T0, state=memory
    )
    assert plan.versions[0].state == state
    assert [k for k in kinds(plan) if k != "tag"] == expected


def test_approval_promotes_once_naming_the_approver() -> None:
    held = version(
        "1.0.0", tags={lt.STATE: lt.STATE_PENDING_APPROVAL, lt.APPROVED_BY: "alice"}, excluded=True
    )
    plan = plan_image(policy(APPROVAL), image(held), T0)
    promote = only(plan, ActionKind.PROMOTE)
    assert "approved by alice" in promote.reason
    assert thaw(promote.after) == {"exclude_from_latest": False, "approver": "alice"}
    assert [(n.type, dict(n.data)) for n in promote.notifications] == [
        (NotificationType.VERSION_PROMOTED, {"approver": "alice"})
    ]
    assert tags_written(plan) == {lt.STATE: lt.STATE_ACTIVE, lt.APPROVER: "alice"}
    assert sorted(events(plan)) == ["ImageLifecycle.VersionApproved", "ImageLifecycle.VersionPromoted"]
    # What the write leaves behind plans nothing more.
    done = version(
        "1.0.0",
        tags={lt.STATE: lt.STATE_ACTIVE, lt.APPROVED_BY: "alice", lt.APPROVER: "alice"},
        excluded=False,
    )
    assert plan_image(policy(APPROVAL), image(done), T0).actions == ()


def test_remembered_approval_is_tagged_and_forgotten_once_on_the_version() -> None:
    memory = ImageState(approvals={"1.0.0": GateRecord(by="bob", source="cli", at=T0)})
    held = version("1.0.0", tags={lt.STATE: lt.STATE_PENDING_APPROVAL}, excluded=True)
    plan = plan_image(policy(APPROVAL), image(held), T0, state=memory)
    assert tags_written(plan)[lt.APPROVED_BY] == "bob"
    assert "1.0.0" in plan.state.approvals  # until the tag is seen on the version
    landed = version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE, lt.APPROVED_BY: "bob", lt.APPROVER: "bob"})
    assert plan_image(policy(APPROVAL), image(landed), T0, state=memory).state.approvals == {}


def test_published_into_latest_is_reported() -> None:
    plan = plan_image(policy(APPROVAL), image(version("1.0.0")), T0)
    assert "taken out until approved" in only(plan, ActionKind.EXCLUDE_FROM_LATEST).reason
    assert any("published into latest while approval is required" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("replicated", "approved", "state", "promoted"),
    [
        pytest.param(False, False, lt.STATE_PENDING_APPROVAL, False, id="neither"),
        pytest.param(False, True, lt.STATE_PENDING, False, id="approved-not-replicated"),
        pytest.param(True, False, lt.STATE_PENDING_APPROVAL, False, id="replicated-not-approved"),
        pytest.param(True, True, lt.STATE_ACTIVE, True, id="both"),
    ],
)
def test_with_promote_when_replicated_both_must_hold(
    replicated: bool, approved: bool, state: str, promoted: bool
) -> None:
    sections = {
        **APPROVAL,
        "replication": {"regions": {"eastus": 1, "westeurope": 1}, "promote_when_replicated": True},
    }
    tags = {lt.STATE: lt.STATE_PENDING_APPROVAL, **({lt.APPROVED_BY: "alice"} if approved else {})}
    regions = {"eastus": 1, "westeurope": 1}
    held = version("1.0.0", tags=tags, excluded=True, regions=regions)
    west = ReplicationState.COMPLETED if replicated else ReplicationState.REPLICATING
    held = replace(
        held,
        region_status=(
            RegionStatus("eastus", ReplicationState.COMPLETED),
            RegionStatus("westeurope", west, 40),
        ),
    )
    plan = plan_image(policy(sections), image(held), T0)
    assert plan.versions[0].state == state
    assert ("promote" in kinds(plan)) is promoted


def test_turning_the_gate_off_releases_held_versions() -> None:
    held = version("1.0.0", tags={lt.STATE: lt.STATE_PENDING_APPROVAL}, excluded=True)
    plan = plan_image(policy(), image(held), T0)
    assert only(plan, ActionKind.PROMOTE).reason == "approval no longer required"
    assert plan.versions[0].state == lt.STATE_ACTIVE


def test_expired_version_is_not_promoted_by_an_approval() -> None:
    old = version(
        "1.0.0",
        tags={lt.STATE: lt.STATE_PENDING_APPROVAL, lt.APPROVED_BY: "alice"},
        excluded=True,
        eol=T0 - days(1),
    )
    newer = [version(f"1.0.{i}", tags={lt.STATE: lt.STATE_ACTIVE}) for i in range(1, 4)]
    plan = plan_image(policy(APPROVAL), image(old, *newer), T0)
    assert plan.versions[0].state == lt.STATE_EXPIRED
    assert "promote" not in kinds(plan)


# --- revocation ---------------------------------------------------------------------------------------------


def test_remembered_revocation_takes_the_version_out_and_announces_it_once() -> None:
    memory = ImageState(revocations={"1.0.0": GateRecord(reason="CVE-2026-0001", source="cli")})
    plan = plan_image(policy(), image(version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE})), T0, state=memory)
    exclude = only(plan, ActionKind.EXCLUDE_FROM_LATEST)
    assert exclude.reason == "revoked: CVE-2026-0001"
    assert [n.type for n in exclude.notifications] == [NotificationType.VERSION_REVOKED]
    assert tags_written(plan) == {lt.STATE: lt.STATE_REVOKED, lt.REVOKED_REASON: "CVE-2026-0001"}
    landed = version(
        "1.0.0", tags={lt.STATE: lt.STATE_REVOKED, lt.REVOKED_REASON: "CVE-2026-0001"}, excluded=True
    )
    again = plan_image(policy(), image(landed), T0, state=memory)
    assert again.actions == ()
    assert again.state.revocations == {}


def test_revoked_version_put_back_into_latest_is_taken_out_again_silently() -> None:
    revoked = version("1.0.0", tags={lt.STATE: lt.STATE_REVOKED, lt.REVOKED_REASON: "bad"}, excluded=False)
    plan = plan_image(policy(), image(revoked), T0)
    assert kinds(plan) == ["exclude_from_latest"]
    assert events(plan) == []


def test_revoked_versions_do_not_count_among_the_newest_kept_and_are_deleted_like_expired_ones() -> None:
    retention = {"retention": {"keep_latest": 1, "lifetime_days": 30, "delete_after_days": 0}}
    old = version("1.0.0", published=T0 - days(60), eol=T0 - days(30), tags={lt.STATE: lt.STATE_ACTIVE})
    revoked_newest = version(
        "1.0.1",
        published=T0 - days(40),
        eol=T0 - days(10),
        excluded=True,
        tags={lt.STATE: lt.STATE_REVOKED, lt.REVOKED_REASON: "bad"},
    )
    fresh_revoked = version(
        "1.0.2",
        published=T0 - days(1),
        eol=T0 + days(29),
        excluded=True,
        tags={lt.STATE: lt.STATE_REVOKED, lt.REVOKED_REASON: "bad"},
    )
    good = version("0.9.0", published=T0 - days(2), eol=T0 + days(28), tags={lt.STATE: lt.STATE_ACTIVE})
    plan = plan_image(
        policy(retention),
        image(old, revoked_newest, fresh_revoked, good),
        T0,
        usage=ImageUsage(),
        delete_budget=10,
    )
    deleted = sorted(a.target.rsplit("/", 1)[1] for a in plan.actions if a.kind is ActionKind.DELETE)
    # 1.0.1 is past its end-of-life: deleted; 1.0.2 is revoked but its delete is not brought forward; the
    # newest version not revoked (1.0.0) keeps the one slot of keep_latest.
    assert deleted == ["1.0.1"]
    reports = {r.version: r for r in plan.versions}
    assert reports["1.0.2"].state == lt.STATE_REVOKED
    assert reports["1.0.0"].protected == "newest 1"


# --- ancestry -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("inherit", "state", "revoked_event"),
    [
        pytest.param(True, lt.STATE_REVOKED, True, id="inherit"),
        pytest.param(False, lt.STATE_ACTIVE, False, id="tag-only"),
    ],
)
def test_child_of_a_revoked_version(inherit: bool, state: str, revoked_event: bool) -> None:
    child = version("2.0.0", tags={lt.STATE: lt.STATE_ACTIVE, lt.BASE_IMAGE: PARENT})
    sections = {"ancestry": {"inherit_revocation": inherit}}
    plan = plan_image(policy(sections), image(child), T0, revoked_bases=frozenset({PARENT.lower()}))
    assert plan.versions[0].state == state
    assert plan.versions[0].parent == PARENT
    assert tags_written(plan)[lt.PARENT_REVOKED] == PARENT
    assert (NotificationType.VERSION_REVOKED.value in events(plan)) is revoked_event
    if inherit:
        exclude = only(plan, ActionKind.EXCLUDE_FROM_LATEST)
        assert exclude.reason == f"revoked: built on revoked {PARENT}"


def test_child_of_a_healthy_version_is_untouched() -> None:
    child = version("2.0.0", tags={lt.STATE: lt.STATE_ACTIVE, lt.BASE_IMAGE: PARENT})
    plan = plan_image(policy({"ancestry": {"inherit_revocation": True}}), image(child), T0)
    assert plan.actions == ()
    assert plan.versions[0].parent == PARENT


# --- base images --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (
            "Canonical:ubuntu-24_04-lts:server:2024.10.1",
            MarketplaceImage("Canonical", "ubuntu-24_04-lts", "server", "2024.10.1"),
        ),
        (PARENT, "version"),
    ],
    ids=["marketplace", "gallery"],
)
def test_parse_base_image(value: str, expected: Any) -> None:
    parsed = parse_base_image(value)
    assert parsed == expected if expected != "version" else parsed.id == PARENT  # type: ignore[union-attr]


@pytest.mark.parametrize(
    "value",
    [
        "Canonical:ubuntu:server:latest",
        "Canonical:ubuntu:server",
        "not a base",
        "/subscriptions/x/resourceGroups",
    ],
    ids=["latest", "three-parts", "words", "bad-id"],
)
def test_unreadable_base_image_is_named(value: str) -> None:
    with pytest.raises(BaseImageError, match=repr(value).replace("[", r"\[").replace("(", r"\(")):
        parse_base_image(value)


def test_marketplace_versions_compare_numerically() -> None:
    assert newest_marketplace(["2024.10.1", "2024.10.10", "2024.10.9"]) == "2024.10.10"
    base = MarketplaceImage("Canonical", "ubuntu", "server", "2024.10.1")
    assert marketplace_update(base, ["2024.10.1", "2024.10.10", "2024.10.2"]).newer == (
        "Canonical:ubuntu:server:2024.10.10"
    )
    assert marketplace_update(base, ["2024.10.1"]).newer is None
    assert marketplace_update(base, []).problem


def test_gallery_base_newest_is_what_latest_resolves_to() -> None:
    from lifecycle.model import parse_version_id

    current = parse_version_id(f"{IMAGE.id}/versions/1.0.0")
    newer_excluded = version("1.0.2", excluded=True)
    assert gallery_update(current, image(version("1.0.0"), newer_excluded)).newer is None
    assert (
        gallery_update(current, image(version("1.0.0"), version("1.0.1"))).newer
        == f"{IMAGE.id}/versions/1.0.1"
    )


OLD = "Canonical:ubuntu:server:2024.10.1"
NEW = "Canonical:ubuntu:server:2024.10.10"
TEMPLATE = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.VirtualMachineImages/imageTemplates/t"


def test_base_update_rebakes_exactly_once() -> None:
    rebake = Rebake(on_base_update=True, publish_event=True)
    built = image(version("1.0.0", tags={lt.BASE_IMAGE: OLD}))
    moved = BaseObservation(OLD, newer=NEW)
    state = RebakeState()
    triggers = []
    for sweep in range(4):
        decision = plan_rebake(rebake, built, state, T0 + days(sweep), policy_digest="d", base=moved)
        triggers += [a.reason for a in decision.actions]
        state = RebakeState.from_json(json.loads(json.dumps(decision.state.to_json())))
    assert triggers == [f"base image updated: {OLD} -> {NEW}"]
    # The rebuilt version names the new base: nothing more is due, and plan says why.
    rebuilt = image(
        version("1.0.0", tags={lt.BASE_IMAGE: OLD}),
        version("1.0.1", published=T0 + days(1), tags={lt.BASE_IMAGE: NEW}),
    )
    decision = plan_rebake(rebake, rebuilt, state, T0 + days(5), policy_digest="d", base=BaseObservation(NEW))
    assert decision.actions == ()
    assert decision.report is not None and decision.report.reason == f"base image {NEW} is current"


def test_base_update_failed_run_backs_off_like_any_rebake() -> None:
    from lifecycle.planning.rebake import RETRY_DELAY, RunObservation

    rebake = Rebake(on_base_update=True, image_template=TEMPLATE)
    built = image(version("1.0.0", tags={lt.BASE_IMAGE: OLD}))
    moved = BaseObservation(OLD, newer=NEW)
    first = plan_rebake(
        rebake, built, RebakeState(), T0, policy_digest="d", base=moved, run=RunObservation(None)
    )
    assert [a.kind for a in first.actions] == [ActionKind.REBAKE]
    failed = RunObservation("Failed", started=T0, ended=T0 + days(0.01), message="boom")
    seen = T0 + days(0.02)
    after_failure = plan_rebake(rebake, built, first.state, seen, policy_digest="d", base=moved, run=failed)
    assert after_failure.actions == ()
    retry = plan_rebake(
        rebake, built, after_failure.state, seen + RETRY_DELAY, policy_digest="d", base=moved, run=failed
    )
    assert [a.kind for a in retry.actions] == [ActionKind.REBAKE]
    assert "retry after failed run 1" in retry.actions[0].reason


def test_base_problem_is_reported_and_triggers_nothing() -> None:
    rebake = Rebake(on_base_update=True, publish_event=True)
    built = image(version("1.0.0", tags={lt.BASE_IMAGE: "nonsense"}))
    decision = plan_rebake(
        rebake,
        built,
        RebakeState(),
        T0,
        policy_digest="d",
        base=BaseObservation("nonsense", problem="unreadable"),
    )
    assert decision.actions == ()
    assert decision.report is not None and "not checked: unreadable" in decision.report.reason


# --- policy keys --------------------------------------------------------------------------------------------


def test_policy_keys_resolve_per_image_and_validate() -> None:
    document = {
        "schema": 1,
        "defaults": {"approval": {"required": True}, "ancestry": {"inherit_revocation": True}},
        "galleries": [
            {"id": GALLERY_ID, "images": {"*": {}, "ubuntu-24.04": {"approval": {"required": False}}}}
        ],
    }
    resolved = parse_policy(json.dumps(document)).for_image(IMAGE)
    assert resolved is not None
    assert resolved.approval.required is False
    assert resolved.ancestry.inherit_revocation is True
    with pytest.raises(PolicyError, match="on_base_update or on_base_deprecation needs image_template"):
        parse_policy(json.dumps({**document, "defaults": {"rebake": {"on_base_update": True}}}))
    with pytest.raises(PolicyError, match=r"approval\.required"):
        parse_policy(json.dumps({**document, "defaults": {"approval": {"required": "maybe"}}}))


def test_digest_unchanged_unless_on_base_update_is_set() -> None:
    plain = policy({"rebake": {"max_age_days": 3, "publish_event": True}})
    explicit_off = policy({"rebake": {"max_age_days": 3, "publish_event": True, "on_base_update": False}})
    on = policy({"rebake": {"max_age_days": 3, "publish_event": True, "on_base_update": True}})
    assert plain.digest() == explicit_off.digest() != on.digest()


def test_busy_and_failed_versions_are_not_gated() -> None:
    creating = version("1.0.0", state=ProvisioningState.CREATING)
    plan = plan_image(policy(APPROVAL), image(creating), T0)
    assert plan.actions == ()


def test_permissions_grant_the_marketplace_read_at_the_subscription_only_when_needed() -> None:
    from lifecycle.permissions import derive

    marketplace = "Microsoft.Compute/locations/publishers/artifacttypes/offers/skus/versions/read"
    document: dict[str, Any] = {"schema": 1, "galleries": [{"id": GALLERY_ID}]}
    assert marketplace not in {
        a for x in derive(parse_policy(json.dumps(document))).assignments for a in x.actions
    }
    document["galleries"][0]["images"] = {
        "*": {},
        "ubuntu-*": {"rebake": {"on_base_update": True, "publish_event": True}},
    }
    permissions = derive(parse_policy(json.dumps(document)))
    assert marketplace in permissions.actions_at(f"/subscriptions/{SUB}")
    assert all(marketplace not in a.actions for a in permissions.assignments if "/resourceGroups/" in a.scope)
