"""One version's plan: its replication, its lifecycle state (and the decision behind it), the writes
that take it out of `latest` or bring it back, its end-of-life and its tags; and a failed version's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from lifecycle import tags as lt
from lifecycle.actions import Action, ActionKind
from lifecycle.model import ObservedVersion
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning.gates import NOT_ADMITTED, Gate, held_for_approval
from lifecycle.planning.healing import Healing, entry_region, region_entry
from lifecycle.planning.quarantine import Verdict
from lifecycle.planning.replication import plan_replication
from lifecycle.planning.retention import Fate
from lifecycle.planning.sizing import Sizing
from lifecycle.planning.tagging import desired_tags, tag_action
from lifecycle.planning.writes import exclude_from_latest, expire, set_end_of_life, set_tags
from lifecycle.policy import ImagePolicy
from lifecycle.state import PendingBuild


def progress(version: ObservedVersion) -> str:
    """A busy version's note: each region's replication state (and progress), as far as it was read."""
    if not version.region_status:
        return f"{version.provisioning_state.value}: waiting for the next sweep"
    parts = [
        f"{s.region} {s.state.value}"
        + (f" {s.progress}%" if s.progress is not None and s.progress < 100 else "")
        for s in version.region_status
    ]
    return "replication: " + ", ".join(parts)


def plan_version(
    policy: ImagePolicy,
    version: ObservedVersion,
    fate: Fate,
    pending: Mapping[str, PendingBuild],
    heal: Healing | None = None,
    gate: Gate | None = None,
    verdict: Verdict | None = None,
    sizing: Sizing | None = None,
) -> tuple[list[Action], list[str], str]:
    """A version that is neither busy nor failed: its writes, its notes and its lifecycle state."""
    gate = gate or Gate()
    verdict = verdict or Verdict()
    sizing = sizing or Sizing(policy.replication)
    # An expired (or revoked) version is on its way out: replicating it further would only cost storage;
    # shrinking it (replication.older) only saves.
    if fate.expired and not sizing.shrink:
        actions: list[Action] = []
        notes: list[str] = []
    else:
        actions, notes = plan_replication(
            sizing.replication,
            version,
            remove=heal.remove if heal else frozenset(),
            readd={k: entry_region(v) for k, v in heal.readd.items()} if heal else None,
            heal_reason=heal.reason if heal and heal.write else None,
            reason=sizing.reason,
        )
    notes = [*sizing.notes, *notes]
    current_state = state_before(policy, version)
    lifecycle_state = decide_state(
        policy, version, fate, gate, verdict, current_state, replicating=bool(actions)
    )

    if fate.set_end_of_life is not None:
        actions.append(set_end_of_life(version, fate.set_end_of_life, fate.eol_reason))

    if lifecycle_state == lt.STATE_REVOKED:
        if not version.exclude_from_latest or gate.newly_revoked:
            data: dict[str, object] = {"reason": gate.revoked}
            if gate.parent_revoked and policy.ancestry.inherit_revocation:
                data["parentRevoked"] = gate.parent_revoked
            actions.append(
                exclude_from_latest(
                    version,
                    f"revoked: {gate.revoked}",
                    notifications=(
                        (Notification(NotificationType.VERSION_REVOKED, version.ref.id, data),)
                        if gate.newly_revoked
                        else ()
                    ),
                )
            )
    elif lifecycle_state == lt.STATE_QUARANTINED:
        notes.append(f"quarantined: {verdict.quarantine}")
        if not version.exclude_from_latest or verdict.newly_quarantined:
            actions.append(
                exclude_from_latest(
                    version,
                    f"quarantined: {verdict.quarantine}",
                    notifications=(
                        (
                            Notification(
                                NotificationType.VERSION_QUARANTINED,
                                version.ref.id,
                                {"reason": verdict.quarantine},
                            ),
                        )
                        if verdict.newly_quarantined
                        else ()
                    ),
                )
            )
    elif lifecycle_state == lt.STATE_EXPIRED:
        if not version.exclude_from_latest or current_state != lt.STATE_EXPIRED:
            actions.append(expire(version, fate.end_of_life, announce=current_state != lt.STATE_EXPIRED))
    elif lifecycle_state == lt.STATE_PENDING_APPROVAL:
        notes.append("waiting for approval (tag lifecycle.approved-by, `approve`, or VersionApproved)")
        if not version.exclude_from_latest:
            actions.append(
                exclude_from_latest(
                    version,
                    "approval required: published into latest, taken out until approved",
                )
            )
    elif lifecycle_state == lt.STATE_PENDING_VALIDATION:
        notes.append(f"waiting for the platform's validation ({verdict.validation_pending})")
        if not version.exclude_from_latest:
            actions.append(
                exclude_from_latest(
                    version, "platform validation required: held out of latest until it succeeded"
                )
            )
    elif lifecycle_state == lt.STATE_PENDING:
        if not version.exclude_from_latest:
            actions.append(
                exclude_from_latest(
                    version,
                    "held out of latest until every region is replicated",
                )
            )
    elif current_state in _RETURNING and version.exclude_from_latest:
        # We excluded it (held for replication or approval, or expired and since kept): put it back.
        reasons = []
        if current_state == lt.STATE_PENDING:
            reasons.append("replicated to every region")
        if current_state == lt.STATE_EXPIRED:
            reasons.append("no longer expired")
        if current_state == lt.STATE_PENDING_VALIDATION:
            reasons.append("every platform validation succeeded")
        if current_state == lt.STATE_QUARANTINED:
            reasons.append(f"quarantine lifted: {verdict.cleared or 'Azure no longer flags it'}")
        after: dict[str, object] = {"exclude_from_latest": False}
        data = {}
        if gate.approver and (policy.approval.required or current_state == lt.STATE_PENDING_APPROVAL):
            reasons.append(f"approved by {gate.approver}")
            after["approver"] = gate.approver
            data["approver"] = gate.approver
        elif current_state == lt.STATE_PENDING_APPROVAL:
            reasons.append("approval no longer required")
        cleared, kept = region_excludes(version)
        if cleared:
            # Regions the app excluded come back with the version (an update sends every region).
            after["region_excludes"] = dict.fromkeys(cleared, False)
            after["regions"] = [
                region_entry(replace(r, exclude_from_latest=False) if r.name in cleared else r)
                for r in version.target_regions
            ]
            reasons.append(f"excludeFromLatest cleared in {', '.join(cleared)}")
        if kept:
            data["excludedIn"] = list(kept)
        actions.append(
            Action(
                kind=ActionKind.PROMOTE,
                target=version.ref.id,
                reason="; ".join(reasons) or "promoted",
                before={"exclude_from_latest": True},
                after=after,
                notifications=(Notification(NotificationType.VERSION_PROMOTED, version.ref.id, data),),
            )
        )
    kept_out = region_excludes(version)[1]
    if kept_out and lifecycle_state == lt.STATE_ACTIVE:
        notes.append(
            f"kept out of latest in {', '.join(kept_out)} by the region's own excludeFromLatest (not set by "
            "the app)"
        )
    if lifecycle_state == lt.STATE_ACTIVE and gate.approver is None and policy.approval.required:
        notes.append("in latest before approval was required")

    desired = desired_tags(
        policy, version, pending.get(version.name), lifecycle_state, gate, verdict, actions
    )
    tag_write, tag_warnings = tag_action(version, desired, gate)
    notes.extend(tag_warnings)
    if tag_write is not None:
        actions.append(tag_write)
    return actions, notes, lifecycle_state


def state_before(policy: ImagePolicy, version: ObservedVersion) -> str | None:
    """The lifecycle state the version is in now: its `lifecycle.state` tag, or, for a version the app
    never wrote that was published out of `latest`, the hold the policy implies."""
    current_state = version.tags.get(lt.STATE)
    if current_state is None and version.exclude_from_latest and policy.replication.promote_when_replicated:
        # A pipeline that publishes with excludeFromLatest (the strict way to hold a new version back)
        # hands the promotion to us: treat it as held.
        current_state = lt.STATE_PENDING
    if current_state is None and version.exclude_from_latest and policy.approval.required:
        current_state = lt.STATE_PENDING_APPROVAL
    if current_state is None and version.exclude_from_latest and policy.approval.require_platform_validation:
        current_state = lt.STATE_PENDING_VALIDATION
    return current_state


def decide_state(
    policy: ImagePolicy,
    version: ObservedVersion,
    fate: Fate,
    gate: Gate,
    verdict: Verdict,
    current_state: str | None,
    *,
    replicating: bool,
) -> str:
    """The version's lifecycle state, first rule that holds: revoked, quarantined, expired, held for
    approval, held for validation, held until replicated, else active. `replicating`: this plan writes
    replication to the version."""
    # "Replicated" means every region Completed. When that was not read this run (progress reads are
    # bounded), a version already held stays held; any other is taken as it is.
    replicating_now = (
        replicating
        or version.replicated is False
        or (
            version.replicated is None
            and current_state in (lt.STATE_PENDING, lt.STATE_PENDING_APPROVAL, lt.STATE_PENDING_VALIDATION)
        )
    )
    hold = policy.replication.promote_when_replicated and replicating_now and not fate.expired
    if gate.revoked:
        return lt.STATE_REVOKED
    if verdict.quarantine:
        return lt.STATE_QUARANTINED
    if fate.expired:
        return lt.STATE_EXPIRED
    if held_for_approval(policy, version, gate):
        return lt.STATE_PENDING_APPROVAL
    if held_for_validation(policy, version, verdict):
        return lt.STATE_PENDING_VALIDATION
    if hold:
        return lt.STATE_PENDING
    return lt.STATE_ACTIVE


# States the app excluded a version for, from which it is promoted back once they no longer hold.
_RETURNING = (
    lt.STATE_PENDING,
    lt.STATE_EXPIRED,
    lt.STATE_PENDING_APPROVAL,
    lt.STATE_PENDING_VALIDATION,
    lt.STATE_QUARANTINED,
)


def held_for_validation(policy: ImagePolicy, version: ObservedVersion, verdict: Verdict) -> bool:
    """`approval.require_platform_validation`: a version the app has not admitted to `latest` yet waits
    until every platform validation Succeeded (versions already active stay where they are)."""
    if not policy.approval.require_platform_validation or verdict.validation_pending is None:
        return False
    current = (lt.get(version.tags, lt.STATE) or "").lower() or None
    return current in (*NOT_ADMITTED, lt.STATE_PENDING_VALIDATION, lt.STATE_QUARANTINED)


def region_excludes(version: ObservedVersion) -> tuple[list[str], list[str]]:
    """The regions whose own excludeFromLatest is true: those the app set (named by
    `lifecycle.excluded-regions`), cleared on promotion, and those set by someone else, kept and shown."""
    named = {
        r.strip().lower() for r in (lt.get(version.tags, lt.EXCLUDED_REGIONS) or "").split(",") if r.strip()
    }
    excluded = [r.name for r in version.target_regions if r.exclude_from_latest is True]
    return [r for r in excluded if r in named], [r for r in excluded if r not in named]


def plan_failed(version: ObservedVersion, fate: Fate, heal: Healing | None) -> list[Action]:
    """Writes to a failed version: the healing update when one is due, and retention (end-of-life, out
    of `latest` once expired) like any other version, never held back by healing."""
    actions: list[Action] = []
    if heal is not None and heal.write:
        present = {r.name for r in version.target_regions}
        desired = [r for r in version.target_regions if r.name not in heal.remove]
        desired += [entry_region(e) for n, e in sorted(heal.readd.items()) if n not in present]
        counts = {r.name: r.replica_count for r in version.target_regions}
        actions.append(
            Action(
                kind=ActionKind.REPLICATE,
                target=version.ref.id,
                reason=heal.reason,
                before={"target_regions": counts},
                after={
                    "target_regions": {r.name: r.replica_count for r in desired},
                    "regions": [region_entry(r) for r in desired],
                    "heal": heal.reason,
                },
            )
        )
    # No other write waits on healing (its back-off, or a heal Azure keeps refusing): the end-of-life goes
    # out in its own right. (Any update of the version also retries its failed regions, as Azure does.)
    if fate.set_end_of_life is not None:
        actions.append(set_end_of_life(version, fate.set_end_of_life, fate.eol_reason))
    if fate.expired and not version.exclude_from_latest:
        actions.append(expire(version, fate.end_of_life, announce=True))
    if fate.expired:
        # Failed or not, an expired version says so on its state tag (found by the chaos suite: a version
        # whose replication failed kept `lifecycle.state=active` after it expired). It goes out in the same
        # update as the exclusion above.
        changes, _ = lt.tag_changes(version.tags, {lt.STATE: lt.STATE_EXPIRED})
        if changes:
            actions.append(set_tags(version, changes, "lifecycle tags: expired"))
    return actions
