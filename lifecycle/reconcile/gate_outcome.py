"""What an operator's approval or revocation came to once the run's units ran: one that reached no image
is refused, naming why (not in the policy, not found, an error) and audited; a revocation that took
effect flows down to the versions built on it (`descendants.walk`).
"""

from __future__ import annotations

from lifecycle.reconcile.audit import AuditRecord, append_audit
from lifecycle.reconcile.descendants import walk
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.notes import Kind, Note
from lifecycle.reconcile.revocation import revoked_in
from lifecycle.reconcile.runtime import RunContext


def gate_outcome(frame: RunFrame, ctx: RunContext) -> None:
    """Refuse the trigger's request if its image was not reconciled; walk down after a revocation."""
    report, trigger = frame.report, frame.trigger
    request = trigger.gate
    assert request is not None
    image_key = request.version.image_ref.key()
    if report.refused:
        return
    if not any(plan.image.key() == image_key for plan in report.plans):
        # Why its image was not reconciled (not in the policy, not found, an error), told of the version.
        why = next((n for n in [*report.skipped, *report.errors] if n.target.lower() == image_key), None)
        refused = (
            Note(Kind.REFUSED, request.version.id, why.detail)
            if why is not None
            else Note(Kind.REFUSED, request.version.id, "its image was not reconciled")
        )
        report.refused.append(refused)
        if trigger.source != "cli" and not frame.plan_only:
            record = AuditRecord.gate_refused(trigger, ctx.now, refused)
            append_audit(frame.rt.store, [record], ctx.now.date())
        return
    if request.kind == "revoke":
        walk(frame, ctx, revoked_in(report, request.version))
