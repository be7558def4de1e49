"""An operator's approval or revocation of one version (from the CLI or an event): whether it can be taken,
and the remembered state once it is. Pure: the version's state is the planner's own view of it.

* An approval is refused for a version that is expired, revoked, failed or being deleted.
* A revocation is refused for a version that failed or is being deleted: there is nothing to revoke.
"""

from __future__ import annotations

from datetime import datetime

from lifecycle import tags as lt
from lifecycle.model import ObservedImage
from lifecycle.planning.image import plan_image
from lifecycle.policy import ImagePolicy
from lifecycle.state import GateRecord, ImageState

APPROVE = "approve"  # a GateRequest kind; the other is "revoke"


def refusal(
    policy: ImagePolicy, observed: ObservedImage, now: datetime, state: ImageState, kind: str, version: str
) -> str | None:
    """Why the approval (`kind` approve) or revocation (revoke) of the observed `version` cannot be taken;
    None when it can."""
    view = plan_image(policy, observed, now, state=state)
    planned = next((r.state for r in view.versions if r.version == version), None)
    if kind == APPROVE:
        if planned in (lt.STATE_EXPIRED, lt.STATE_REVOKED, "failed", "deleting"):
            return f"is {planned}: it cannot be approved"
        return None
    if planned in ("failed", "deleting"):
        return f"is {planned}: there is nothing to revoke"
    return None


def with_gate(state: ImageState, kind: str, version: str, record: GateRecord) -> ImageState:
    """The remembered state once an approval (`kind` approve) or revocation of `version` is taken."""
    if kind == APPROVE:
        return state.with_approval(version, record)
    return state.with_revocation(version, record)
