"""The unit's last phases, once the lease is let go: what the run's report, the images reconciled later in
the run (through the lineage) and the audit learn from this one."""

from __future__ import annotations

from dataclasses import replace

from lifecycle.executor import notifications_of
from lifecycle.gateways.errors import GatewayError
from lifecycle.model import SoftDeleted
from lifecycle.reconcile.audit import AuditRecord, append_audit
from lifecycle.reconcile.phases.unit import ImageUnit
from lifecycle.reconcile.revocation import revoked_by


def fill_result(unit: ImageUnit) -> None:
    """The plan as run (the actions left after the claim, the soft-deleted versions listed), the outcomes
    and, when something was enforced, the notifications, in the image's result."""
    ctx, plan, claim, outcomes, result = unit.ctx, unit.plan, unit.claim, unit.outcomes, unit.result
    result.plan = replace(plan, actions=tuple(claim.actions), soft_deleted=soft_deleted(unit))
    result.outcomes.extend(outcomes)
    # Children reconciled later in this run see a revocation made (or, in a plan, planned) just now.
    ctx.bases.note_revoked(revoked_by(claim.actions, outcomes))
    if not unit.dry_run:
        result.notifications.extend(notifications_of(outcomes))
        result.notifications.extend(plan.notifications)


def soft_deleted(unit: ImageUnit) -> tuple[SoftDeleted, ...]:
    """The image's soft-deleted versions and when Azure purges them, in a gallery with soft delete on (one
    list per image per run); a failed list is an error of the run, and the plan goes on without it."""
    ctx = unit.ctx
    soft = ctx.soft_delete(unit.image.gallery_ref)
    if soft is None or not soft.enabled:
        return ()
    try:
        return tuple(ctx.rt.gallery.soft_deleted_versions(unit.image))
    except GatewayError as exc:
        ctx.problem(unit.image.id, "listing soft-deleted versions failed", exc)
        return ()


def audit(unit: ImageUnit) -> None:
    """One audit record per outcome, with the interval this run held the image; a `plan` run audits
    nothing."""
    ctx = unit.ctx
    if ctx.plan_only:
        return
    records = [AuditRecord.of_outcome(o, unit.trigger, ctx.now, lease=unit.held) for o in unit.outcomes]
    append_audit(ctx.rt.store, records, ctx.now.date())
