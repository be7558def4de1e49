"""Decision tables: Azure's signals in the planner (platform validation hold, quarantine and its lifting)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind
from lifecycle.model import (
    ImageDeprecation,
    ImageUsage,
    ObservedVersion,
    PlatformValidation,
    PolicyViolation,
    ProvisioningState,
    iso,
)
from lifecycle.notifications import NotificationType
from lifecycle.planning import plan_image
from lifecycle.planning.deprecation import caps as caps_of
from lifecycle.planning.latest import guard, resolve
from lifecycle.planning.quarantine import assess
from lifecycle.state import GateRecord, ImageState, RebakeState
from tests.unit.builders import IMAGE, T0, completed, days, image, policy, version

OK = (PlatformValidation("TrustedLaunch", "Succeeded", "1"),)
FAILED = (PlatformValidation("TrustedLaunch", "Failed", "1"),)
UNKNOWN = (PlatformValidation("TrustedLaunch", "Unknown", "1"),)
UNSAFE = (PolicyViolation("ImageFlaggedUnsafe", "malware"),)


def flagged(v: ObservedVersion, **signals: Any) -> ObservedVersion:
    return replace(v, **signals)


def _plan(p: Any, *versions: ObservedVersion) -> Any:
    return plan_image(p, image(*versions), T0 + days(1))


def _state(plan: Any, name: str) -> str:
    return next(r.state for r in plan.versions if r.version == name)


def _kinds(plan: Any) -> set[ActionKind]:
    return {a.kind for a in plan.actions}


def _events(plan: Any) -> list[NotificationType]:
    return [n.type for a in plan.actions for n in a.notifications] + [n.type for n in plan.notifications]


@pytest.mark.parametrize(
    ("signals", "tags", "quarantine", "newly", "cleared", "pending"),
    [
        ({}, {}, False, False, False, True),
        ({"validations": ()}, {}, False, False, False, True),
        ({"validations": OK}, {}, False, False, False, False),
        ({"validations": UNKNOWN}, {}, False, False, False, True),
        ({"validations": FAILED}, {}, True, True, False, True),
        ({"reported_for_policy_violation": True}, {}, True, True, False, True),
        ({"policy_violations": UNSAFE}, {lt.STATE: lt.STATE_QUARANTINED}, True, False, False, True),
        (
            {"validations": OK},
            {lt.STATE: lt.STATE_QUARANTINED, lt.QUARANTINE_REASON: "x"},
            False,
            False,
            True,
            False,
        ),
        (
            {},
            {lt.STATE: lt.STATE_QUARANTINED, lt.QUARANTINE_REASON: "platform validation failed: X"},
            True,
            False,
            False,
            True,
        ),
        (
            {},
            {lt.STATE: lt.STATE_QUARANTINED, lt.QUARANTINE_REASON: "Azure reported"},
            False,
            False,
            True,
            True,
        ),
    ],
    ids=[
        "not-read",
        "none-run",
        "all-succeeded",
        "unknown",
        "validation-failed",
        "reported",
        "still-flagged",
        "cleared-validation-read",
        "failed-validation-not-read-stays",
        "violation-cleared-from-list",
    ],
)
def test_verdict(
    signals: dict[str, Any],
    tags: dict[str, str],
    quarantine: bool,
    newly: bool,
    cleared: bool,
    pending: bool,
) -> None:
    verdict = assess(flagged(version("1.0.0", tags=tags), **signals))
    assert (verdict.quarantine is not None, verdict.newly_quarantined) == (quarantine, newly)
    assert (verdict.cleared is not None, verdict.validation_pending is not None) == (cleared, pending)


@pytest.mark.parametrize(
    ("validations", "approved", "state", "promoted"),
    [
        (None, False, lt.STATE_PENDING_VALIDATION, False),
        ((), False, lt.STATE_PENDING_VALIDATION, False),
        (UNKNOWN, False, lt.STATE_PENDING_VALIDATION, False),
        (OK, False, lt.STATE_ACTIVE, True),
        (OK, True, lt.STATE_ACTIVE, True),
    ],
    ids=["not-read", "none-run", "unknown", "succeeded", "succeeded-and-approved"],
)
def test_require_platform_validation_holds_a_new_version_until_every_validation_succeeded(
    validations: Any, approved: bool, state: str, promoted: bool
) -> None:
    p = policy({"approval": {"require_platform_validation": True}})
    tags = {lt.STATE: lt.STATE_PENDING_VALIDATION}
    if approved:
        tags[lt.APPROVED_BY] = "alice"
    v = flagged(version("1.0.0", tags=tags, excluded=True), validations=validations)
    plan = _plan(p, v)
    assert _state(plan, "1.0.0") == state
    assert (ActionKind.PROMOTE in _kinds(plan)) is promoted
    if promoted:
        promote = next(a for a in plan.actions if a.kind is ActionKind.PROMOTE)
        assert "every platform validation succeeded" in promote.reason


def test_a_new_version_published_into_latest_is_taken_out_until_validated() -> None:
    p = policy({"approval": {"require_platform_validation": True}})
    plan = _plan(p, flagged(version("1.0.0"), validations=()))
    assert _state(plan, "1.0.0") == lt.STATE_PENDING_VALIDATION
    assert ActionKind.EXCLUDE_FROM_LATEST in _kinds(plan)


@pytest.mark.parametrize(
    ("required", "approved", "validated", "state"),
    [
        (True, False, True, lt.STATE_PENDING_APPROVAL),
        (True, True, False, lt.STATE_PENDING_VALIDATION),
        (True, True, True, lt.STATE_ACTIVE),
        (False, False, False, lt.STATE_PENDING_VALIDATION),
    ],
    ids=["validated-not-approved", "approved-not-validated", "both", "validation-only"],
)
def test_validation_combines_with_the_approval_gate(
    required: bool, approved: bool, validated: bool, state: str
) -> None:
    p = policy({"approval": {"required": required, "require_platform_validation": True}})
    tags = {lt.APPROVED_BY: "alice"} if approved else {}
    v = flagged(version("1.0.0", tags=tags, excluded=True), validations=OK if validated else ())
    assert _state(_plan(p, v), "1.0.0") == state


def test_validation_combines_with_promote_when_replicated() -> None:
    regions = {"eastus": 1, "westeurope": 1}
    p = policy(
        {
            "replication": {"regions": regions, "promote_when_replicated": True},
            "approval": {"require_platform_validation": True},
        }
    )
    v = flagged(
        version(
            "1.0.0",
            regions=regions,
            excluded=True,
            status={"eastus": "Completed", "westeurope": "Replicating"},
        ),
        validations=OK,
    )
    assert _state(_plan(p, v), "1.0.0") == lt.STATE_PENDING
    done = replace(v, region_status=version("1.0.0", status=completed(regions)).region_status)
    assert _state(_plan(p, done), "1.0.0") == lt.STATE_ACTIVE


def test_an_active_version_is_not_held_when_the_key_is_turned_on() -> None:
    p = policy({"approval": {"require_platform_validation": True}})
    v = flagged(version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE}), validations=None)
    plan = _plan(p, v)
    assert _state(plan, "1.0.0") == lt.STATE_ACTIVE and not plan.actions


@pytest.mark.parametrize(
    ("signals", "tags", "excluded", "announce", "kinds"),
    [
        (
            {"reported_for_policy_violation": True, "policy_violations": UNSAFE},
            {lt.STATE: "active"},
            False,
            True,
            {ActionKind.EXCLUDE_FROM_LATEST, ActionKind.TAG},
        ),
        (
            {"validations": FAILED},
            {lt.STATE: "active"},
            False,
            True,
            {ActionKind.EXCLUDE_FROM_LATEST, ActionKind.TAG},
        ),
        ({"validations": FAILED}, {}, True, True, {ActionKind.EXCLUDE_FROM_LATEST, ActionKind.TAG}),
        (
            {"policy_violations": UNSAFE},
            {
                lt.STATE: lt.STATE_QUARANTINED,
                lt.QUARANTINE_REASON: "Azure reported a policy violation: ImageFlaggedUnsafe (malware)",
            },
            True,
            False,
            set(),
        ),
    ],
    ids=["flagged-active", "validation-failed-active", "flagged-before-admitted", "already-quarantined"],
)
def test_quarantine_takes_the_version_out_of_latest_and_announces_it_once(
    signals: dict[str, Any], tags: dict[str, str], excluded: bool, announce: bool, kinds: set[ActionKind]
) -> None:
    p = policy({"approval": {"required": True}})
    v = flagged(version("1.0.0", tags=tags, excluded=excluded), **signals)
    plan = _plan(p, v)
    assert _state(plan, "1.0.0") == lt.STATE_QUARANTINED
    assert _kinds(plan) == kinds
    assert (NotificationType.VERSION_QUARANTINED in _events(plan)) is announce
    if kinds:
        tag = next(a for a in plan.actions if a.kind is ActionKind.TAG)
        assert tag.after["tags"][lt.STATE] == lt.STATE_QUARANTINED
        assert tag.after["tags"][lt.QUARANTINE_REASON].startswith(
            ("Azure reported", "platform validation failed")
        )


def test_a_quarantined_version_is_never_promoted_even_when_approved() -> None:
    p = policy({"approval": {"required": True}})
    tags = {lt.STATE: lt.STATE_QUARANTINED, lt.APPROVED_BY: "alice", lt.QUARANTINE_REASON: "x"}
    v = flagged(version("1.0.0", tags=tags, excluded=True), reported_for_policy_violation=True)
    plan = _plan(p, v)
    assert ActionKind.PROMOTE not in _kinds(plan)


def test_a_cleared_version_returns_to_latest_saying_why() -> None:
    p = policy()
    tags = {
        lt.STATE: lt.STATE_QUARANTINED,
        lt.QUARANTINE_REASON: "Azure reported a policy violation: IpTheft",
    }
    plan = _plan(p, flagged(version("1.0.0", tags=tags, excluded=True), validations=OK))
    assert _state(plan, "1.0.0") == lt.STATE_ACTIVE
    promote = next(a for a in plan.actions if a.kind is ActionKind.PROMOTE)
    assert "quarantine lifted" in promote.reason and "IpTheft" in promote.reason
    tag = next(a for a in plan.actions if a.kind is ActionKind.TAG)
    assert tag.after["tags"] == {lt.STATE: lt.STATE_ACTIVE, lt.QUARANTINE_REASON: "cleared"}


def test_a_revoked_version_stays_revoked_when_also_flagged() -> None:
    tags = {lt.STATE: lt.STATE_REVOKED, lt.REVOKED_REASON: "cve"}
    plan = _plan(
        policy(), flagged(version("1.0.0", tags=tags, excluded=True), reported_for_policy_violation=True)
    )
    assert _state(plan, "1.0.0") == lt.STATE_REVOKED


# --- bases being deprecated ---------------------------------------------------------------------------------

URN = "Canonical:ubuntu-24_04-lts:server:2024.10.1"
SCHEDULED = ImageDeprecation(URN, "ScheduledForDeprecation", T0 + days(60), "Offer ubuntu-26_04-lts")
DEPRECATED = replace(SCHEDULED, state="Deprecated")
ACTIVE = ImageDeprecation(URN)
REBAKE = {"rebake": {"publish_event": True, "on_base_deprecation": True}}


def _rebake(status: ImageDeprecation | None, rebake_state: RebakeState | None = None, **rebake: Any) -> Any:
    p = policy({"rebake": {"publish_event": True, "on_base_deprecation": True, **rebake}})
    v = version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE, lt.BASE_IMAGE: URN})
    state = ImageState(rebake=rebake_state or RebakeState(policy_digest=p.digest()))
    return plan_image(p, image(v), T0 + days(1), state=state, deprecation=status)


@pytest.mark.parametrize(
    ("status", "seen", "due", "announced"),
    [
        (None, None, False, False),
        (ACTIVE, None, False, False),
        (SCHEDULED, None, True, True),
        (SCHEDULED, SCHEDULED.key, False, False),
        (DEPRECATED, SCHEDULED.key, True, True),
        (DEPRECATED, DEPRECATED.key, False, False),
    ],
    ids=["not-read", "active", "scheduled", "scheduled-seen", "now-deprecated", "deprecated-seen"],
)
def test_a_deprecating_base_rebakes_and_is_announced_once_per_base_and_state(
    status: ImageDeprecation | None, seen: str | None, due: bool, announced: bool
) -> None:
    p = policy(REBAKE)
    memory = RebakeState(policy_digest=p.digest(), deprecation_seen=seen, deprecation_announced=seen)
    plan = _rebake(status, memory)
    rebakes = [a for a in plan.actions if a.kind is ActionKind.REBAKE]
    assert bool(rebakes) is due
    assert (NotificationType.BASE_IMAGE_DEPRECATED in _events(plan)) is announced
    if due:
        assert status is not None
        assert f"is {status.state}" in rebakes[0].reason and "ubuntu-26_04-lts" in rebakes[0].reason
        assert "2026-03-02" in rebakes[0].reason  # the deprecation date
        assert plan.state.rebake.deprecation_seen == status.key
    if announced:
        event = next(n for n in plan.notifications if n.type is NotificationType.BASE_IMAGE_DEPRECATED)
        assert event.data["imageState"] == status.state and event.data["baseImage"] == URN  # type: ignore[union-attr]


def test_deprecation_is_ignored_without_the_key() -> None:
    p = policy({"rebake": {"publish_event": True, "max_age_days": 90}})
    v = version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE, lt.BASE_IMAGE: URN})
    plan = plan_image(p, image(v), T0 + days(1), deprecation=SCHEDULED)
    assert not plan.actions and not plan.notifications


@pytest.mark.parametrize(
    ("lifetime", "eol", "cap", "written"),
    [
        (90, None, T0 + days(60), T0 + days(60)),
        (30, None, T0 + days(60), T0 + days(30)),
        (None, T0 + days(180), T0 + days(60), T0 + days(60)),
        (None, None, T0 + days(60), T0 + days(60)),
        (90, T0 + days(60), T0 + days(60), None),
        (90, None, None, T0 + days(90)),
    ],
    ids=["capped", "earlier-than-cap", "azure-default-capped", "no-eol-capped", "already-capped", "no-cap"],
)
def test_cap_at_base_deprecation(lifetime: int | None, eol: Any, cap: Any, written: Any) -> None:
    p = policy({"retention": {"lifetime_days": lifetime, "cap_at_base_deprecation": True}})
    v = version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE, lt.BASE_IMAGE: URN}, eol=eol)
    caps = caps_of(image(v), {URN.lower(): replace(SCHEDULED, scheduled=cap)}) if cap else {}
    plan = plan_image(p, image(v), T0 + days(1), eol_caps=caps)
    action = next((a for a in plan.actions if a.kind is ActionKind.END_OF_LIFE), None)
    assert (action.after["end_of_life"] if action else None) == (iso(written) if written else None)
    if action is not None and cap is not None and written == cap:
        assert "capped at the base's deprecation" in action.reason


def test_only_a_deprecating_base_with_a_date_caps() -> None:
    v = version("1.0.0", tags={lt.BASE_IMAGE: URN})
    assert caps_of(image(v), {URN.lower(): ACTIVE}) == {}
    assert caps_of(image(v), {URN.lower(): replace(SCHEDULED, scheduled=None)}) == {}
    other = version("1.0.1", tags={lt.BASE_IMAGE: "/subscriptions/x"})
    assert caps_of(image(other), {URN.lower(): SCHEDULED}) == {}


# --- latest per region ------------------------------------------------------------------------------------


def _regions(v: ObservedVersion, **excludes: bool | None) -> ObservedVersion:
    return replace(
        v,
        target_regions=tuple(replace(r, exclude_from_latest=excludes.get(r.name)) for r in v.target_regions),
    )


TWO = {"eastus": 1, "westeurope": 1}


@pytest.mark.parametrize(
    ("versions", "expected"),
    [
        (
            [version("1.0.0", regions=TWO), version("1.1.0", regions=TWO)],
            {"eastus": "1.1.0", "westeurope": "1.1.0"},
        ),
        (
            [version("1.0.0", regions=TWO), version("1.1.0", regions={"eastus": 1})],
            {"eastus": "1.1.0", "westeurope": "1.0.0"},
        ),
        (
            [version("1.0.0", regions=TWO), version("1.1.0", regions=TWO, excluded=True)],
            {"eastus": "1.0.0", "westeurope": "1.0.0"},
        ),
        (
            [
                version("1.0.0", regions=TWO),
                _regions(version("1.1.0", regions=TWO, excluded=True), westeurope=False),
            ],
            {"eastus": "1.0.0", "westeurope": "1.0.0"},
        ),
        (
            [version("1.0.0", regions=TWO), _regions(version("1.1.0", regions=TWO), eastus=True)],
            {"eastus": "1.0.0", "westeurope": "1.1.0"},
        ),
        ([version("1.0.0", regions={"eastus": 1}, excluded=True)], {"eastus": None}),
        (
            [version("1.0.0"), version("2.0.0", state=ProvisioningState.FAILED), version("10.0.0")],
            {"eastus": "10.0.0"},
        ),
    ],
    ids=[
        "newest",
        "per-region-replication",
        "excluded-version",
        "region-false-does-not-put-back",
        "region-true-wins",
        "none-eligible",
        "numeric-order-skips-failed",
    ],
)
def test_latest_resolves_per_region(versions: list[ObservedVersion], expected: dict[str, str | None]) -> None:
    assert resolve(versions) == expected


def test_an_expiry_that_would_leave_a_region_without_latest_is_refused_and_reported() -> None:
    p = policy({"retention": {"lifetime_days": 30, "keep_latest": 1}})
    old = version("1.0.0", regions=TWO, tags={lt.STATE: lt.STATE_ACTIVE})
    new = version("1.1.0", regions={"eastus": 1}, published=T0 + days(40), tags={lt.STATE: lt.STATE_ACTIVE})
    plan = plan_image(p, image(old, new), T0 + days(45))
    assert not [
        a for a in plan.actions if a.target.endswith("1.0.0") and a.kind is not ActionKind.END_OF_LIFE
    ]
    assert plan.refusals and "westeurope: 1.0.0 -> none" in plan.refusals[0]
    assert plan.latest == {"eastus": "1.1.0", "westeurope": "1.0.0"}
    # Where another version covers the region, the expiry goes ahead.
    covered = replace(new, target_regions=version("1.1.0", regions=TWO).target_regions)
    plan = plan_image(p, image(old, covered), T0 + days(45))
    assert not plan.refusals and ActionKind.EXCLUDE_FROM_LATEST in _kinds(plan)
    assert plan.latest == {"eastus": "1.1.0", "westeurope": "1.1.0"}


def test_a_revocation_may_empty_a_region_and_its_event_says_where_latest_went() -> None:
    p = policy()
    old = version("1.0.0", regions=TWO, tags={lt.STATE: lt.STATE_ACTIVE})
    new = version("1.1.0", regions={"eastus": 1}, tags={lt.STATE: lt.STATE_ACTIVE})
    state = ImageState().with_revocation("1.1.0", GateRecord(by="ops", reason="cve", source="cli", at=T0))
    plan = plan_image(p, image(old, new), T0 + days(1), state=state)
    assert not plan.refusals
    revoked = next(
        n for a in plan.actions for n in a.notifications if n.type is NotificationType.VERSION_REVOKED
    )
    assert revoked.data["latest"] == {"eastus": "1.0.0", "westeurope": "1.0.0"}
    plan = plan_image(p, image(new), T0 + days(1), state=state)
    revoked = next(
        n for a in plan.actions for n in a.notifications if n.type is NotificationType.VERSION_REVOKED
    )
    assert revoked.data["latest"] == {"eastus": None}


def test_a_quarantine_moves_latest_back_in_every_region_and_says_so() -> None:
    old = version("1.0.0", regions=TWO, tags={lt.STATE: lt.STATE_ACTIVE})
    new = flagged(
        version("1.1.0", regions=TWO, tags={lt.STATE: lt.STATE_ACTIVE}), reported_for_policy_violation=True
    )
    plan = plan_image(policy(), image(old, new), T0 + days(1))
    event = next(
        n for a in plan.actions for n in a.notifications if n.type is NotificationType.VERSION_QUARANTINED
    )
    assert event.data["latest"] == {"eastus": "1.0.0", "westeurope": "1.0.0"}
    assert plan.latest_ids()["westeurope"] == IMAGE.version("1.0.0").id


def test_a_delete_that_would_point_latest_at_a_revoked_version_is_refused() -> None:
    actions = [
        Action(ActionKind.DELETE, IMAGE.version("1.1.0").id, "expired"),
    ]
    revoked = version("1.0.0", tags={lt.STATE: lt.STATE_REVOKED})  # put back into latest by someone
    newest = version("1.1.0")
    guarded = guard(image(revoked, newest), actions, {"1.0.0": lt.STATE_REVOKED, "1.1.0": lt.STATE_EXPIRED})
    assert guarded.actions == () and "revoked or quarantined" in guarded.refusals[0]


def test_promotion_clears_the_regions_the_app_excluded_and_keeps_and_shows_the_others() -> None:
    tags = {lt.STATE: lt.STATE_PENDING_APPROVAL, lt.APPROVED_BY: "alice", lt.EXCLUDED_REGIONS: "eastus"}
    v = _regions(version("1.0.0", regions=TWO, excluded=True, tags=tags), eastus=True, westeurope=True)
    plan = plan_image(policy({"approval": {"required": True}}), image(v), T0 + days(1))
    promote = next(a for a in plan.actions if a.kind is ActionKind.PROMOTE)
    assert promote.after["region_excludes"] == {"eastus": False}
    assert "excludeFromLatest cleared in eastus" in promote.reason
    assert promote.notifications[0].data["excludedIn"] == ["westeurope"]
    tag = next(a for a in plan.actions if a.kind is ActionKind.TAG)
    assert tag.after["tags"][lt.EXCLUDED_REGIONS] == ""
    assert plan.latest == {"eastus": "1.0.0", "westeurope": None}
    again = plan_image(
        policy({"approval": {"required": True}}),
        image(_regions(version("1.0.0", regions=TWO, tags={lt.STATE: "active"}), westeurope=True)),
        T0 + days(1),
    )
    assert any("kept out of latest in westeurope" in n for r in again.versions for n in r.notes)
    assert not again.actions


def test_the_patch_sends_the_cleared_regions_with_a_replicate_of_the_same_version() -> None:
    from lifecycle.executor import version_change
    from lifecycle.gateways.gallery import update_body

    tags = {lt.STATE: lt.STATE_PENDING_APPROVAL, lt.APPROVED_BY: "alice", lt.EXCLUDED_REGIONS: "eastus"}
    v = _regions(version("1.0.0", regions={"eastus": 1}, excluded=True, tags=tags), eastus=True)
    p = policy({"approval": {"required": True}, "replication": {"regions": TWO}})
    plan = plan_image(p, image(v), T0 + days(1))
    assert {ActionKind.REPLICATE, ActionKind.PROMOTE} <= _kinds(plan)
    body = update_body(version_change(v.ref, plan.actions))
    regions = body["properties"]["publishingProfile"]["targetRegions"]
    assert {r["name"]: r.get("excludeFromLatest") for r in regions} == {"East US": False, "West Europe": None}


def test_the_refusal_keeps_what_latest_resolved_to_and_lets_an_older_delete_go() -> None:
    """1.0.2 excluded by its publisher, 1.0.0 and 1.0.1 past end-of-life + grace: 1.0.0 is deleted, the
    delete of 1.0.1 (what latest resolves to) is refused."""
    p = policy({"retention": {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 5}})
    tags = {lt.STATE: lt.STATE_ACTIVE}
    versions = (
        version("1.0.0", tags=tags, eol=T0 + days(30)),
        version("1.0.1", tags=tags, eol=T0 + days(30)),
        version("1.0.2", tags=tags, excluded=True, published=T0 + days(40), eol=T0 + days(70)),
    )
    plan = plan_image(p, image(*versions), T0 + days(45), usage=ImageUsage(), delete_budget=5)
    kinds = {(a.kind, a.target.rsplit("/", 1)[-1]) for a in plan.actions}
    assert (ActionKind.DELETE, "1.0.0") in kinds
    assert (ActionKind.DELETE, "1.0.1") not in kinds
    assert plan.latest == {"eastus": "1.0.1"}
    assert len(plan.refusals) == 1 and "delete of 1.0.1 refused" in plan.refusals[0]
    assert "eastus: 1.0.1 -> none" in plan.refusals[0]
