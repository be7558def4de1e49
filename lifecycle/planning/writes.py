"""One constructor per kind of write the planner asks for on a version: tag, take out of `latest`
(also as the expiry's), set the end-of-life, delete. What the version says now is each action's `before`."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from lifecycle.actions import Action, ActionKind
from lifecycle.model import ObservedVersion, ProvisioningState, iso
from lifecycle.notifications import Notification, NotificationType
from lifecycle.planning.retention import Fate, SoftDelete


def shown_date(value: datetime | None) -> str:
    """A date as actions and notifications show it ("unknown" when there is none)."""
    return iso(value) if value else "unknown"


def set_tags(
    version: ObservedVersion,
    changes: Mapping[str, str],
    reason: str,
    notifications: tuple[Notification, ...] = (),
) -> Action:
    """Set these tags on the version (what it carries now is the action's `before`)."""
    return Action(
        kind=ActionKind.TAG,
        target=version.ref.id,
        reason=reason,
        before={"tags": {k: version.tags.get(k) for k in changes}},
        after={"tags": dict(changes)},
        notifications=notifications,
    )


def exclude_from_latest(
    version: ObservedVersion, reason: str, notifications: tuple[Notification, ...] = ()
) -> Action:
    """Take a version out of `latest` (what the version says now is the action's `before`)."""
    return Action(
        kind=ActionKind.EXCLUDE_FROM_LATEST,
        target=version.ref.id,
        reason=reason,
        before={"exclude_from_latest": version.exclude_from_latest},
        after={"exclude_from_latest": True},
        notifications=notifications,
    )


def expire(version: ObservedVersion, end_of_life: datetime | None, *, announce: bool) -> Action:
    """Take an expired version out of `latest`; `announce`: with its VersionExpired (once, when the
    version becomes expired)."""
    return exclude_from_latest(
        version,
        f"expired: end-of-life {shown_date(end_of_life)} has passed",
        notifications=(
            (
                Notification(
                    NotificationType.VERSION_EXPIRED,
                    version.ref.id,
                    {"endOfLifeDate": shown_date(end_of_life)},
                ),
            )
            if announce
            else ()
        ),
    )


def set_end_of_life(version: ObservedVersion, at: datetime, why: str | None = None) -> Action:
    """Set the version's end-of-life explicitly (Azure's 2026-03-03 default would otherwise apply)."""
    return Action(
        kind=ActionKind.END_OF_LIFE,
        target=version.ref.id,
        reason=f"end-of-life {iso(at)}: {why}" if why else f"end-of-life = published + lifetime ({iso(at)})",
        before={"end_of_life": iso(version.end_of_life) if version.end_of_life else None},
        after={"end_of_life": iso(at)},
    )


def delete_version(
    version: ObservedVersion, fate: Fate, soft_delete: SoftDelete | None, now: datetime
) -> Action:
    """Delete a failed version, or an expired one whose grace period is over (soft delete noted)."""
    if version.provisioning_state is ProvisioningState.FAILED:
        reason = "provisioning failed" + (
            f" (published {iso(version.published)})" if version.published else ""
        )
    else:
        reason = f"expired {shown_date(fate.end_of_life)}, grace period over"
    data: dict[str, object] = {"reason": reason}
    after: dict[str, object] = {"deleted": True}
    restorable = soft_delete.note(now) if soft_delete else None
    if soft_delete and restorable:
        reason = f"{reason}; {restorable}"
        after["soft_deleted"] = True
        data.update(reason=reason, softDeleted=True)
        if soft_delete.restorable_days is not None:
            until = iso(now + timedelta(days=soft_delete.restorable_days))
            after["restorable_until"] = until
            data["restorableUntil"] = until
    return Action(
        kind=ActionKind.DELETE,
        target=version.ref.id,
        reason=reason,
        before={"provisioning_state": version.provisioning_state.value},
        after=after,
        notifications=(Notification(NotificationType.VERSION_DELETED, version.ref.id, data),),
    )
