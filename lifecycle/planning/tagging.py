"""A version's tags: the policy's, the build's (from BuildCompleted), the lifecycle state and the
gates' records, written as one tag action when they differ from what the version carries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind
from lifecycle.model import ObservedVersion
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning.gates import Gate
from lifecycle.planning.quarantine import Verdict
from lifecycle.planning.writes import set_tags
from lifecycle.policy import ImagePolicy
from lifecycle.state import PendingBuild


def event_tags(build: PendingBuild) -> dict[str, str]:
    """The build's tags an event may set: the documented build tags only, never `lifecycle.state`, a
    hold or any other tag the app or an operator owns (whatever the remembered state says)."""
    return {k: v for k, v in build.tags.items() if k.lower() in lt.EVENT_TAGS}


def build_written(version: ObservedVersion, build: PendingBuild, gate: Gate) -> bool:
    """Whether the version carries every tag of its build's metadata (which can then be forgotten)."""
    # The gates own the approver tag once someone approved: the build's value is not waited for.
    owned = {lt.APPROVER} if gate.approver else set()
    return all(
        version.tags.get(k) == v[: lt.MAX_VALUE] for k, v in event_tags(build).items() if k not in owned
    )


def desired_tags(
    policy: ImagePolicy,
    version: ObservedVersion,
    build: PendingBuild | None,
    lifecycle_state: str,
    gate: Gate,
    verdict: Verdict,
    actions: Sequence[Action],
) -> dict[str, str]:
    """The tags the version should carry; `actions`: the version's other writes (a promotion that clears
    region exclusions clears the tag naming them)."""
    desired = dict(policy.metadata.tags)
    if build is not None:
        desired.update(event_tags(build))
    desired[lt.STATE] = lifecycle_state
    if gate.approval_to_tag:
        desired[lt.APPROVED_BY] = gate.approval_to_tag
    if gate.approver:
        desired[lt.APPROVER] = gate.approver
    if gate.revoked:
        desired[lt.REVOKED_REASON] = gate.revoked
    if gate.parent_revoked:
        desired[lt.PARENT_REVOKED] = gate.parent_revoked
    if lt.get(version.tags, lt.EXCLUDED_REGIONS) and any(
        a.kind is ActionKind.PROMOTE and "region_excludes" in a.after for a in actions
    ):
        desired[lt.EXCLUDED_REGIONS] = ""  # cleared with the regions it named
    if verdict.quarantine:
        desired[lt.QUARANTINE_REASON] = verdict.quarantine
    elif verdict.cleared and lt.get(version.tags, lt.QUARANTINE_REASON):
        # Tag writes merge our keys, so the reason is overwritten rather than removed.
        desired[lt.QUARANTINE_REASON] = "cleared"
    return desired


def tag_action(
    version: ObservedVersion, desired: Mapping[str, str], gate: Gate
) -> tuple[Action | None, list[str]]:
    """The tag write that brings the version to `desired` (None: nothing differs), and the warnings
    about tags that cannot be written as they are."""
    changes, warnings = lt.tag_changes(version.tags, desired)
    if not changes:
        return None, warnings
    # The approval is announced once: when the app first records the approver on the version (a
    # repeated approval changes no tag, so it announces nothing, and cannot loop back as an event).
    approved = gate.approver is not None and changes.get(lt.APPROVER) == gate.approver and not gate.revoked
    action = set_tags(
        version,
        changes,
        "lifecycle and policy tags",
        notifications=(
            (Notification(NotificationType.VERSION_APPROVED, version.ref.id, {"approver": gate.approver}),)
            if approved
            else ()
        ),
    )
    return action, warnings
