"""`restore VERSION_ID`: bring back a soft-deleted version of a gallery in the policy; say when it is back.

The version must be in a gallery the policy names and must not exist already (a version that is not deleted
needs no restore). The restore is the spec's update with `properties.restore: true`; the command waits for
it, then reads the version back. It is audited like any other write. The next reconcile treats the version
like any other: an operator who restores an expired version to keep it also tags it `lifecycle.hold=true`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from enum import StrEnum

from lifecycle.gateways.errors import GatewayError, NotFoundError
from lifecycle.gateways.storage import policy_source
from lifecycle.model import ObservedVersion, VersionRef
from lifecycle.policy_store import load_policy
from lifecycle.reconcile.audit import AuditRecord, append_audit
from lifecycle.reconcile.runtime import Runtime


class RestoreOutcome(StrEnum):
    RESTORED = "restored"
    REFUSED = "refused"  # out of scope, not deleted, or no policy: nothing was written
    FAILED = "failed"  # ARM refused or the restore did not complete


@dataclass(frozen=True)
class RestoreResult:
    outcome: RestoreOutcome
    message: str
    provisioning_state: str | None = None


def restore(runtime: Runtime, version: VersionRef) -> RestoreResult:
    now = runtime.clock()
    status = load_policy(policy_source(runtime.settings), runtime.store, now, remember=False)
    if status.policy is None:
        return RestoreResult(RestoreOutcome.REFUSED, f"no policy in force: {status.problem}")
    if status.policy.gallery(version.image_ref.gallery_ref) is None:
        return RestoreResult(
            RestoreOutcome.REFUSED, f"{version.id} is not in a gallery of the policy: nothing restored"
        )
    gallery = runtime.gallery
    try:
        if gallery.get_version(version) is not None:
            return RestoreResult(RestoreOutcome.REFUSED, f"{version.id} is not deleted: nothing to restore")
        gallery.restore_version(version)
        back = _wait(runtime, version)
    except NotFoundError as exc:
        result = RestoreResult(
            RestoreOutcome.FAILED, f"{version.id}: no soft-deleted version to restore ({exc})"
        )
    except GatewayError as exc:
        result = RestoreResult(RestoreOutcome.FAILED, f"{version.id}: restore failed: {exc}")
    else:
        state = back.provisioning_state.value if back is not None else None
        if back is not None and not back.provisioning_state.busy and back.healthy:
            result = RestoreResult(RestoreOutcome.RESTORED, f"{version.id} restored ({state})", state)
        else:
            result = RestoreResult(
                RestoreOutcome.FAILED, f"{version.id}: the restore did not complete (now {state})", state
            )
    record = AuditRecord.restored(
        version.id,
        result.message,
        result.provisioning_state,
        ok=result.outcome is RestoreOutcome.RESTORED,
        now=now,
    )
    append_audit(runtime.store, [record], now.date())
    return result


# How long `restore` waits for the version to be back, re-reading it every POLL_SECONDS.
WAIT_SECONDS = 600.0
POLL_SECONDS = 5.0


def _wait(runtime: Runtime, version: VersionRef) -> ObservedVersion | None:
    """Re-read the version until its restore is no longer in progress (or WAIT_SECONDS have passed)."""
    started = runtime.timer()
    while True:
        back = runtime.gallery.get_version(version)
        if back is None or not back.provisioning_state.busy or runtime.timer() - started > WAIT_SECONDS:
            return back
        time.sleep(POLL_SECONDS if runtime.timer() - started > POLL_SECONDS else 0.5)
