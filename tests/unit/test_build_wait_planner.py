"""`metadata.await_build_minutes`: a new version's first write waits for its build event (pure planner)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.actions import ActionKind
from lifecycle.planning import STATE_AWAITING_BUILD, plan_image
from lifecycle.policy import PolicyError, parse_policy
from lifecycle.state import GateRecord, ImageState, PendingBuild
from tests.unit.builders import GALLERY_ID, IMAGE, T0, image, policy, version

WAIT = {"metadata": {"await_build_minutes": 30}}
BUILD = PendingBuild(tags={lt.BUILD_ID: "42", lt.COMMIT: "abc123"}, received=T0)


def minutes(n: float) -> timedelta:
    return timedelta(minutes=n)


@pytest.mark.parametrize(
    ("defaults", "observed", "state", "now", "waits"),
    [
        pytest.param(WAIT, {}, None, T0 + minutes(5), True, id="new-version-within-the-wait"),
        pytest.param(WAIT, {}, None, T0 + minutes(30), False, id="wait-over"),
        pytest.param({}, {}, None, T0 + minutes(5), False, id="key-unset"),
        pytest.param(
            {"metadata": {"await_build_minutes": 0}}, {}, None, T0 + minutes(5), False, id="zero-is-off"
        ),
        pytest.param(
            WAIT, {}, ImageState(pending_builds={"1.0.0": BUILD}), T0 + minutes(5), False, id="build-kept"
        ),
        pytest.param(
            WAIT, {"tags": {lt.BUILD_ID: "7"}}, None, T0 + minutes(5), False, id="build-tag-set-at-publish"
        ),
        pytest.param(
            WAIT, {"tags": {lt.STATE: lt.STATE_ACTIVE}}, None, T0 + minutes(5), False, id="written-before"
        ),
        pytest.param(
            {**WAIT, "approval": {"required": True}},
            {},
            None,
            T0 + minutes(5),
            False,
            id="approval-required-and-in-latest",
        ),
        pytest.param(
            {**WAIT, "approval": {"required": True}},
            {"excluded": True},
            None,
            T0 + minutes(5),
            True,
            id="approval-required-published-out-of-latest",
        ),
        pytest.param(
            {**WAIT, "approval": {"required": True}},
            {"excluded": True},
            ImageState(approvals={"1.0.0": GateRecord(by="alice", source="cli", at=T0)}),
            T0 + minutes(5),
            False,
            id="approved-by-an-operator-already",
        ),
        pytest.param(
            {**WAIT, "replication": {"promote_when_replicated": True}},
            {},
            None,
            T0 + minutes(5),
            False,
            id="held-until-replicated-and-in-latest",
        ),
        pytest.param(
            {**WAIT, "retention": {"lifetime_days": 1, "keep_latest": 1}},
            {"name": "0.9.0", "published": T0 - timedelta(days=3)},
            None,
            T0 + minutes(5),
            False,
            id="expired-never-waits",
        ),
    ],
)
def test_when_a_new_version_waits_for_its_build_event(
    defaults: dict[str, Any], observed: dict[str, Any], state: ImageState | None, now: Any, waits: bool
) -> None:
    name = observed.pop("name", "1.0.0")
    versions = [version(name, **observed)]
    if name != "1.0.0":
        versions.append(version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE, lt.BUILD_ID: "1"}))
    plan = plan_image(policy(defaults), image(*versions), now, state=state)
    report = next(r for r in plan.versions if r.version == name)
    touched = [a for a in plan.actions if a.target.endswith(f"/versions/{name}")]
    if waits:
        assert report.state == STATE_AWAITING_BUILD and touched == []
        assert plan.state.recheck_at == T0 + minutes(30)
        assert "waiting for its build event until" in " ".join(report.notes)
    else:
        assert report.state != STATE_AWAITING_BUILD
        assert plan.state.recheck_at is None


def test_the_build_event_then_writes_everything_in_one_write() -> None:
    waiting = plan_image(policy(WAIT), image(version("1.0.0")), T0 + minutes(1))
    assert waiting.actions == ()
    state = waiting.state.with_build("1.0.0", BUILD)
    plan = plan_image(policy(WAIT), image(version("1.0.0")), T0 + minutes(2), state=state)
    kinds = {a.kind for a in plan.actions}
    assert {ActionKind.TAG} <= kinds and all(a.target == IMAGE.version("1.0.0").id for a in plan.actions)
    tags = next(a for a in plan.actions if a.kind is ActionKind.TAG).after["tags"]
    assert tags[lt.BUILD_ID] == "42" and tags[lt.STATE] == lt.STATE_ACTIVE
    assert plan.state.recheck_at is None


def test_other_versions_of_the_image_are_not_held_back() -> None:
    old = version("0.9.0", published=T0 - timedelta(days=400))
    plan = plan_image(
        policy({**WAIT, "retention": {"lifetime_days": 90, "keep_latest": 1}}),
        image(old, version("1.0.0")),
        T0 + minutes(1),
    )
    assert {a.target for a in plan.actions} == {IMAGE.version("0.9.0").id}


@pytest.mark.parametrize("value", [-1, 1441, "ten", 1.5])
def test_an_invalid_wait_is_rejected_with_its_key_path(value: object) -> None:
    document = {"schema": 1, "defaults": {"metadata": {"await_build_minutes": value}}, "galleries": []}
    document["galleries"] = [{"id": GALLERY_ID}]
    import json

    with pytest.raises(PolicyError, match=r"defaults\.metadata\.await_build_minutes"):
        parse_policy(json.dumps(document))


def test_an_image_overrides_the_default_wait_and_keeps_the_default_tags() -> None:
    resolved = policy(
        {"metadata": {"tags": {"owner": "platform"}, "await_build_minutes": 30}},
        images={"*": {"metadata": {"await_build_minutes": 0, "tags": {"tier": "gold"}}}},
    )
    assert resolved.metadata.await_build_minutes == 0
    assert resolved.metadata.tags == {"owner": "platform", "tier": "gold"}
    inherited = policy({"metadata": {"await_build_minutes": 30}}, images={"*": {"metadata": {"tags": {}}}})
    assert inherited.metadata.await_build_minutes == 30
