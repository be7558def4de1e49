"""Pure decisions about what a write carries: property PATCHes without tags, tag changes merged by name,
and whether a version read again just before its delete is still as eligible as when it was planned."""

from __future__ import annotations

import pytest

from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind
from lifecycle.executor import tag_changes, version_change
from lifecycle.gateways.gallery import update_body
from lifecycle.model import ObservedVersion, ProvisioningState
from lifecycle.planning.retention import still_deletable
from tests.unit.builders import version

EXPIRED = {lt.STATE: lt.STATE_EXPIRED}


def test_a_property_patch_never_carries_tags_and_tag_changes_are_only_ours() -> None:
    v = version("1.0.0", tags={"owner": "ops", lt.HOLD: "true"})
    actions = [
        Action(ActionKind.TAG, v.ref.id, "t", after={"tags": {lt.STATE: lt.STATE_EXPIRED}}),
        Action(ActionKind.EXCLUDE_FROM_LATEST, v.ref.id, "x", after={"exclude_from_latest": True}),
        Action(ActionKind.TAG, v.ref.id, "t", after={"tags": {"team": "x"}}),
    ]
    patch = update_body(version_change(v.ref, actions))
    assert "tags" not in patch
    assert patch["properties"]["publishingProfile"] == {"excludeFromLatest": True}
    assert tag_changes(actions) == {lt.STATE: lt.STATE_EXPIRED, "team": "x"}
    assert update_body(version_change(v.ref, actions[:1])) == {}


PLANNED = version("1.0.0", tags=EXPIRED, excluded=True)


@pytest.mark.parametrize(
    ("current", "why"),
    [
        (version("1.0.0", tags=EXPIRED, excluded=True), None),
        (version("1.0.0", tags={**EXPIRED, "note": "x"}, excluded=True), None),
        (None, "no longer exists"),
        (version("1.0.0", tags={**EXPIRED, "Lifecycle.Hold": "TRUE"}, excluded=True), "held by tag"),
        (version("1.0.0", tags={**EXPIRED, lt.APPROVED_BY: "alice"}, excluded=True), "approved by alice"),
        (
            version("1.0.0", tags={lt.STATE: lt.STATE_REVOKED, lt.REVOKED_REASON: "cve"}, excluded=True),
            "revoked since",
        ),
        (version("1.0.0", tags=EXPIRED, excluded=False), "put back into latest"),
        (version("1.0.0", tags=EXPIRED, excluded=True, state=ProvisioningState.UPDATING), "busy"),
    ],
    ids=["unchanged", "unrelated-tag", "gone", "hold", "approved", "revoked", "back-in-latest", "busy"],
)
def test_a_delete_goes_ahead_only_if_the_version_is_still_eligible(
    current: ObservedVersion | None, why: str | None
) -> None:
    answer = still_deletable(PLANNED, current)
    if why is None:
        assert answer is None
    else:
        assert answer is not None and why in answer


def test_an_approval_or_revocation_already_there_when_planned_does_not_block() -> None:
    planned = version("1.0.0", tags={lt.STATE: lt.STATE_REVOKED, lt.APPROVED_BY: "bob"}, excluded=True)
    assert still_deletable(planned, planned) is None


class Gallery:
    """The executor's GalleryWriter, recording calls; `refuse` makes version updates fail."""

    def __init__(self, refuse: bool = False) -> None:
        self.calls: list[str] = []
        self.refuse = refuse

    def update_version(self, change: object) -> None:
        self.calls.append("update")
        if self.refuse:
            from lifecycle.gateways.errors import PermanentError

            raise PermanentError("refused", status=400)

    def merge_tags(self, ref: object, tags: object) -> None:
        self.calls.append("tags")

    def delete_version(self, ref: object) -> None:
        self.calls.append("delete")

    def get_version(self, ref: object) -> None:
        return None


def test_the_state_tag_never_runs_ahead_of_latest() -> None:
    from lifecycle.executor import DEFERRED, FAILED, Executor
    from lifecycle.notifications import Notification, NotificationType
    from tests.unit.builders import image

    v = version("1.0.0", tags={lt.STATE: lt.STATE_ACTIVE})
    expired = (Notification(NotificationType.VERSION_EXPIRED, v.ref.id, {}),)
    expire = [
        Action(
            ActionKind.EXCLUDE_FROM_LATEST,
            v.ref.id,
            "x",
            after={"exclude_from_latest": True},
            notifications=expired,
        ),
        Action(ActionKind.TAG, v.ref.id, "t", after={"tags": {lt.STATE: lt.STATE_EXPIRED}}),
    ]
    refused = Gallery(refuse=True)
    outcomes = {o.action.kind: o.status for o in Executor(refused).execute(expire, image(v))}  # type: ignore[arg-type]
    assert refused.calls == ["update"], "the update goes first; its refusal holds the tag back"
    assert outcomes == {ActionKind.EXCLUDE_FROM_LATEST: FAILED, ActionKind.TAG: DEFERRED}
    ok = Gallery()
    Executor(ok).execute(expire, image(v))  # type: ignore[arg-type]
    assert ok.calls == ["update", "tags"]

    replicate = [
        Action(
            ActionKind.REPLICATE, v.ref.id, "r", after={"regions": [{"name": "eastus", "replica_count": 2}]}
        ),
        Action(ActionKind.TAG, v.ref.id, "t", after={"tags": {"owner": "x"}}),
    ]
    other = Gallery()
    Executor(other).execute(replicate, image(v))  # type: ignore[arg-type]
    assert other.calls == ["tags", "update"], "otherwise tags first: an updating version takes no tags"
