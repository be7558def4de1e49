"""Azure's own verdict on a version: the platform validations it ran (`validationsProfile`) and the policy
violations it reported (`safetyProfile.reportedForPolicyViolation`, `policyViolations`). Pure.

* Quarantined (always on): Azure reports a policy violation, or some platform validation Failed. The version
  leaves `latest` at once, is tagged `lifecycle.state=quarantined` with `lifecycle.quarantine-reason`, is
  never promoted, and `VersionQuarantined` is published once (when the tag is first written).
* Cleared: a version tagged quarantined that Azure no longer flags returns to the normal lifecycle. A
  quarantine for a failed validation is only lifted on a validations profile read this run (the version list
  does not carry it): without one, the version stays quarantined.
* Validation pending (`approval.require_platform_validation`): a version not yet admitted to `latest` is held
  (`lifecycle.state=pending-validation`) until every executed validation reads Succeeded. No validation run
  yet (an empty list, or none read) holds too: an empty list would otherwise let a version through before the
  platform looked at it.
"""

from __future__ import annotations

from dataclasses import dataclass

from lifecycle import tags as lt
from lifecycle.model import ObservedVersion


@dataclass(frozen=True)
class Verdict:
    """What Azure's signals say about one version."""

    quarantine: str | None = None  # why it is (to be) quarantined
    newly_quarantined: bool = False  # quarantined, but not tagged so yet: announce it
    cleared: str | None = None  # tagged quarantined, and Azure no longer flags it: why it returns
    validation_pending: str | None = None  # why the platform validation does not hold (None: all Succeeded)


# The quarantine reason tag (`lifecycle.quarantine-reason`) is the only record a version keeps of why it was
# quarantined; a validation failure's reason starts with this, which is how a later run tells it apart.
VALIDATION_FAILED = "platform validation failed: "


def flagged(version: ObservedVersion) -> str | None:
    """Why Azure's signals read this run quarantine the version, if they do."""
    if version.reported_for_policy_violation or version.policy_violations:
        found = ", ".join(v.describe() for v in version.policy_violations) or "no details given"
        return f"Azure reported a policy violation: {found}"
    failed = [v for v in version.validations or () if v.failed]
    if failed:
        return VALIDATION_FAILED + ", ".join(v.describe() for v in failed)
    return None


def validation_pending(version: ObservedVersion) -> str | None:
    """Why the version's platform validation does not hold yet; None when every validation Succeeded."""
    if version.validations is None:
        return "platform validation not read yet"
    if not version.validations:
        return "no platform validation has run yet"
    waiting = [v for v in version.validations if not v.succeeded]
    if waiting:
        return "platform validation " + ", ".join(v.describe() for v in waiting)
    return None


def assess(version: ObservedVersion) -> Verdict:
    tagged = (lt.get(version.tags, lt.STATE) or "").lower() == lt.STATE_QUARANTINED
    reason = flagged(version)
    pending = validation_pending(version)
    if reason is not None:
        return Verdict(quarantine=reason, newly_quarantined=not tagged, validation_pending=pending)
    if not tagged:
        return Verdict(validation_pending=pending)
    kept = lt.get(version.tags, lt.QUARANTINE_REASON) or "quarantined"
    if version.validations is None and kept.startswith(VALIDATION_FAILED):
        # The failed validation can only be seen cleared on a validations profile read this run.
        return Verdict(quarantine=kept, validation_pending=pending)
    return Verdict(cleared=f"Azure no longer flags it (was: {kept})", validation_pending=pending)
