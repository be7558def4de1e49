"""Trust at the run's door: a build or an approval event from a sender the gallery does not trust changes
nothing. No ARM call and no state: it is logged, audited as rejected and reported under `rejected`.

The decision itself is `lifecycle.trust.trust_decision`, on what Event Grid stamped (the topic), the same
for an inline run and a queued delivery. A revocation never comes through an event (only the command
line), and an event for a gallery out of scope is left to the scope step.
"""

from __future__ import annotations

import logging

from lifecycle.events import BuildCompleted
from lifecycle.policy import Policy
from lifecycle.reconcile.audit import AuditRecord, append_audit
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.notes import Kind, Note
from lifecycle.reconcile.trigger import GateRequest
from lifecycle.trust import APPROVAL, BUILD, trust_decision

log = logging.getLogger(__name__)


def turned_away(frame: RunFrame, policy: Policy) -> bool:
    """Whether the trigger's build or approval event is rejected (then the run ends here)."""
    trigger = frame.trigger
    if trigger.build is not None and _build_rejected(frame, policy, trigger.build):
        return True
    return (
        trigger.gate is not None and trigger.source == "event" and _gate_rejected(frame, policy, trigger.gate)
    )


def _build_rejected(frame: RunFrame, policy: Policy, build: BuildCompleted) -> bool:
    gallery = policy.gallery(build.version.image_ref.gallery_ref)
    if gallery is None:
        return False
    reason = trust_decision(gallery, BUILD, build.schema, build.source)
    if reason is None:
        return False
    frame.report.rejected.append(Note(Kind.REJECTED, build.version.id, f"build event rejected: {reason}"))
    log.warning(
        "build event rejected: %s",
        reason,
        extra={
            "event_id": build.event_id,
            "version": build.version.id,
            "source": build.source,
            "schema": build.schema,
        },
    )
    if not frame.plan_only:
        record = AuditRecord.build_rejected(
            frame.trigger,
            event_id=build.event_id,
            version_id=build.version.id,
            source=build.source,
            schema=build.schema,
            now=frame.now,
            reason=reason,
        )
        append_audit(frame.rt.store, [record], frame.now.date())
    return True


def _gate_rejected(frame: RunFrame, policy: Policy, request: GateRequest) -> bool:
    gallery = policy.gallery(request.version.image_ref.gallery_ref)
    if request.kind == "approve":
        reason = trust_decision(gallery, APPROVAL, request.schema or "", request.source)
    else:
        reason = f"no event may {request.kind} a version (only the command line)"
    if reason is None:
        return False
    frame.report.rejected.append(
        Note(Kind.REJECTED, request.version.id, f"{request.kind} event rejected: {reason}")
    )
    log.warning("%s event rejected: %s", request.kind, reason, extra={"event_id": frame.trigger.event_id})
    if not frame.plan_only:
        record = AuditRecord.gate_rejected(frame.trigger, request, frame.now, reason)
        append_audit(frame.rt.store, [record], frame.now.date())
    return True
