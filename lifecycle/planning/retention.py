"""Retirement: end-of-life dates, expiry out of `latest`, and deletion after a grace period, with every
protection: the newest versions, versions in use, the per-run cap, and no deletes on doubt.

Pure functions of (policy, observed image, usage, now); no I/O, no clock.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from lifecycle import tags as lt
from lifecycle.model import ImageUsage, ObservedImage, ObservedVersion, ProvisioningState, version_key
from lifecycle.planning.latest import latest_version
from lifecycle.policy import Retention

# ARM stores endOfLifeDate with its own precision; closer than this counts as equal.
EOL_TOLERANCE = timedelta(minutes=1)


@dataclass(frozen=True)
class SoftDelete:
    """The gallery's soft delete: a deleted version stays restorable for `restorable_days` (when known)."""

    enabled: bool = False
    restorable_days: int | None = None

    def note(self, now: datetime) -> str | None:
        if not self.enabled:
            return None
        if self.restorable_days is None:
            return "soft delete: restorable for the gallery's retention period"
        until = _day(now + timedelta(days=self.restorable_days))
        return f"soft delete: restorable until {until} ({self.restorable_days} days)"


@dataclass(frozen=True)
class Fate:
    """What retention decides for one version at `now`."""

    end_of_life: datetime | None = None  # effective: the desired date, else what Azure has
    set_end_of_life: datetime | None = None  # a write is needed to set this date
    expired: bool = False
    kept: str | None = None  # why the version is protected from expiry and deletion
    eol_reason: str | None = None  # why `set_end_of_life` differs from published + lifetime
    delete_at: datetime | None = None
    delete_now: bool = False
    blocked: str | None = None  # why a due delete does not happen in this run


def _day(value: datetime) -> str:
    return value.date().isoformat()


def kept_versions(
    retention: Retention, image: ObservedImage, revoked: frozenset[str] = frozenset()
) -> dict[str, str]:
    """The newest `keep_latest` healthy versions (failed and revoked ones do not count), with the reason."""
    healthy = [
        v
        for v in image.versions
        if v.provisioning_state is not ProvisioningState.FAILED and v.name not in revoked
    ]
    newest = sorted(healthy, key=lambda v: version_key(v.name))[-retention.keep_latest :]
    return {v.name: f"newest {retention.keep_latest}" for v in newest}


def _held(version: ObservedVersion) -> str | None:
    """Operators keep any version from deletion by tagging it `lifecycle.hold=true` (say, after restoring
    it); it still expires out of `latest` on schedule."""
    value = next((v for k, v in version.tags.items() if k.lower() == lt.HOLD), "")
    return f"tag {lt.HOLD}" if value.strip().lower() in {"true", "yes", "1"} else None


def build_lifetime(version: ObservedVersion) -> int | None:
    """The lifetime a trusted build asked for, as remembered on the version (`lifecycle.lifetime-days`)."""
    value = next((v for k, v in version.tags.items() if k.lower() == lt.LIFETIME_DAYS), "")
    return int(value) if value.strip().isdigit() and int(value) > 0 else None


def desired_end_of_life(
    retention: Retention, version: ObservedVersion, lifetime_days: int | None
) -> datetime | None:
    """The end-of-life to write. A build's `lifetimeDays` only ever lengthens the policy's lifetime: a
    shorter one is ignored, so whoever can publish a build event cannot retire a version early. With no
    policy lifetime, the build may only push out the date the version already has (Azure's default),
    never set one on a version that has none."""
    if version.published is None:
        return None
    policy_eol = (
        version.published + timedelta(days=retention.lifetime_days) if retention.lifetime_days else None
    )
    if not lifetime_days:
        return policy_eol
    build_eol = version.published + timedelta(days=lifetime_days)
    if policy_eol is not None:
        return max(policy_eol, build_eol)
    if version.end_of_life is not None and build_eol >= version.end_of_life - EOL_TOLERANCE:
        return build_eol
    return None


def _due_delete(retention: Retention, version: ObservedVersion, eol: datetime | None) -> datetime | None:
    """When a version is due for deletion: end-of-life + grace, like any other version; a failed one also
    `delete_failed_after_days` after publish, whichever comes first."""
    candidates = []
    if retention.delete_after_days is not None and eol is not None:
        candidates.append(eol + timedelta(days=retention.delete_after_days))
    if (
        version.provisioning_state is ProvisioningState.FAILED
        and retention.delete_failed_after_days is not None
        and version.published is not None
    ):
        candidates.append(version.published + timedelta(days=retention.delete_failed_after_days))
    return min(candidates, default=None)


def assess(
    retention: Retention,
    image: ObservedImage,
    now: datetime,
    *,
    lifetimes: Mapping[str, int] | None = None,
    usage: ImageUsage | None = None,
    budget: int = 0,
    deletes_blocked: str | None = None,
    soft_delete: SoftDelete | None = None,
    revoked: frozenset[str] = frozenset(),
    caps: Mapping[str, tuple[datetime, str]] | None = None,
) -> dict[str, Fate]:
    """Decide every version's fate. `caps`: per version, the latest end-of-life allowed and why
    (`retention.cap_at_base_deprecation`). Deletes happen oldest first, at most `budget` of them.

    A revoked version counts as expired (out of `latest`, not kept among the newest) but is deleted no
    sooner than any other: at its end-of-life plus the grace period, with every protection.
    """
    lifetimes = lifetimes or {}
    kept = kept_versions(retention, image, revoked)
    latest = latest_version(image)
    fates: dict[str, Fate] = {}
    due: list[tuple[ObservedVersion, Fate]] = []
    for version in image.versions:
        lifetime = lifetimes.get(version.name) or build_lifetime(version)
        desired = desired_end_of_life(retention, version, lifetime)
        cap = (caps or {}).get(version.name)
        eol_reason = None
        current = desired or version.end_of_life
        if cap is not None and (current is None or current > cap[0] + EOL_TOLERANCE):
            desired, eol_reason = cap
        eol = desired or version.end_of_life
        set_eol = None
        # Failed versions follow retention like any other: end-of-life, expiry, delete after grace.
        if desired is not None and (
            version.end_of_life is None or abs(version.end_of_life - desired) > EOL_TOLERANCE
        ):
            set_eol = desired
        keep_reason = kept.get(version.name)
        expired = keep_reason is None and eol is not None and eol <= now
        delete_at = None if keep_reason else _due_delete(retention, version, eol)
        # Revoked counts as expired; its delete stays due at end-of-life + grace, never sooner.
        expired = expired or (
            version.name in revoked and version.provisioning_state is not ProvisioningState.FAILED
        )
        fate = Fate(
            end_of_life=eol,
            set_end_of_life=set_eol,
            expired=expired,
            kept=keep_reason,
            delete_at=delete_at,
            eol_reason=eol_reason if set_eol is not None else None,
        )
        if (
            delete_at is not None
            and delete_at <= now
            and (expired or version.provisioning_state is ProvisioningState.FAILED)
        ):
            due.append((version, fate))
        fates[version.name] = fate

    remaining = budget
    for version, fate in sorted(due, key=lambda item: version_key(item[0].name)):
        reason = _protection(version, fate, image, latest, usage, deletes_blocked, now, soft_delete)
        if reason is None and remaining <= 0:
            reason = f"deferred: max_deletes_per_run ({retention.max_deletes_per_run}) reached"
        if reason is None:
            remaining -= 1
            fates[version.name] = _with(fate, delete_now=True)
        else:
            fates[version.name] = _with(fate, blocked=reason)
    return fates


def _protection(
    version: ObservedVersion,
    fate: Fate,
    image: ObservedImage,
    latest: ObservedVersion | None,
    usage: ImageUsage | None,
    deletes_blocked: str | None,
    now: datetime,
    soft_delete: SoftDelete | None = None,
) -> str | None:
    if deletes_blocked:
        return deletes_blocked
    held = _held(version)
    if held:
        return f"held by {held}"
    if version.provisioning_state.busy:
        return f"busy: {version.provisioning_state.value}"
    if version.provisioning_state is ProvisioningState.FAILED and soft_delete and soft_delete.enabled:
        return "Azure cannot delete a failed version while the gallery has soft delete enabled"
    if usage is None or not usage.complete:
        why = f" ({usage.problem})" if usage is not None and usage.problem else ""
        return f"in-use check unavailable{why}: nothing is deleted on doubt"
    if usage.references(version.ref):
        return "in use by a VM or scale set"
    if latest is not None and latest.name == version.name and usage.references_latest_of(image.ref):
        return "in use: `latest` resolves to it"
    if fate.set_end_of_life is not None and version.provisioning_state is not ProvisioningState.FAILED:
        # (A failed version's end-of-life is written only with a healing write; its delete needs none.)
        return "end-of-life update pending"
    if (
        version.block_deletion_before_end_of_life
        and version.end_of_life is not None
        and version.end_of_life > now
    ):
        return f"Azure blocks deletion before its end-of-life {_day(version.end_of_life)}"
    return None


def _with(fate: Fate, **changes: object) -> Fate:
    from dataclasses import replace

    return replace(fate, **changes)  # type: ignore[arg-type]


def deletes_possible(
    retention: Retention,
    image: ObservedImage,
    now: datetime,
    lifetimes: Mapping[str, int],
    revoked: frozenset[str] = frozenset(),
    caps: Mapping[str, tuple[datetime, str]] | None = None,
) -> bool:
    """Whether any delete is due before protections: only then is the in-use check worth its ARM reads."""
    fates = assess(
        retention, image, now, lifetimes=lifetimes, usage=ImageUsage(), budget=1, revoked=revoked, caps=caps
    )
    return any(f.delete_now or f.blocked for f in fates.values())


def describe(fate: Fate) -> tuple[str | None, str | None]:
    """('expires YYYY-MM-DD' date, 'deleted YYYY-MM-DD' date) for reports."""
    expires = _day(fate.end_of_life) if fate.end_of_life and not fate.kept else None
    deleted = _day(fate.delete_at) if fate.delete_at else None
    return expires, deleted


def still_deletable(planned: ObservedVersion | None, current: ObservedVersion | None) -> str | None:
    """Read again just before its delete, is the version still as eligible as when the delete was planned?
    None, or why not: gone, busy, held (`lifecycle.hold`), approved or revoked since, or put back into
    `latest` by someone. Anything that changed a gate since the plan leaves the decision to the next run."""
    if current is None:
        return "the version no longer exists"
    if planned is None:
        return "the version was not in the plan"
    if current.provisioning_state.busy:
        return f"busy: {current.provisioning_state.value}"
    held = _held(current)
    if held:
        return f"held by {held} (set since the plan)"
    approver = lt.get(current.tags, lt.APPROVED_BY)
    if approver is not None and approver != lt.get(planned.tags, lt.APPROVED_BY):
        return f"approved by {approver} since the plan"
    if _revoked_tag(current) and not _revoked_tag(planned):
        return "revoked since the plan"
    if planned.exclude_from_latest and not current.exclude_from_latest:
        return "put back into latest since the plan"
    return None


def _revoked_tag(version: ObservedVersion) -> bool:
    return (
        lt.get(version.tags, lt.STATE) == lt.STATE_REVOKED
        or lt.get(version.tags, lt.REVOKED_REASON) is not None
    )
