"""The gate phases: an operator's approval or revocation of a version, judged by the planner's rule
(`planning.approvals`) and taken into the state the unit plans with, or refused and audited. Two ways in:
the request a trigger carries (an event run inline, the CLI), and requests an earlier delivery recorded
in the image's state while the queue runs the work (`intake.record`, after their trust check)."""

from __future__ import annotations

from dataclasses import replace

from lifecycle.model import VersionRef
from lifecycle.planning import approvals
from lifecycle.reconcile.audit import AuditRecord, append_audit
from lifecycle.reconcile.notes import Kind, Note
from lifecycle.reconcile.phases.unit import ImageUnit
from lifecycle.reconcile.trigger import GateRequest, Trigger
from lifecycle.state import GateRecord, ImageState


def take_gate(unit: ImageUnit) -> Note | None:
    """The approval or revocation the trigger carries for this image: taken into the state found, or
    refused. A refusal is returned (and noted in the result): nothing is written for it, and the unit does
    nothing else. The CLI shows its refusal to its operator; a refused event's is audited."""
    request = unit.trigger.gate
    if request is None or request.version.image_ref.key() != unit.image.key():
        return None
    refused = refusal(unit, request, state=unit.found.state)
    if refused is not None:
        unit.result.refused.append(refused)
        if unit.trigger.source != "cli":
            append_audit(
                unit.ctx.rt.store,
                [AuditRecord.gate_refused(unit.trigger, unit.ctx.now, refused)],
                unit.ctx.now.date(),
            )
        return refused
    unit.found = replace(unit.found, state=taken(unit, request, state=unit.found.state))
    return None


def take_requests(unit: ImageUnit) -> None:
    """Approvals and revocations events delivered while the queue runs the work: each is judged and applied
    here as an inline event's is, a refused one audited; none is left behind (the state this run writes
    drops them). A `plan` run writes nothing, so it leaves them for the next run."""
    found, ctx = unit.found, unit.ctx
    if not found.state.gate_requests or ctx.plan_only:
        return
    state = replace(found.state, gate_requests=())
    for requested in found.state.gate_requests:
        request = GateRequest(
            requested.kind,
            VersionRef(unit.image, requested.version),
            by=requested.by,
            reason=requested.reason,
            source=requested.source,
        )
        refused = refusal(unit, request, state=state)
        if refused is not None:
            unit.result.refused.append(refused)
            event = Trigger("event", scope=request.version.id, event_id=requested.event_id, gate=request)
            append_audit(ctx.rt.store, [AuditRecord.gate_refused(event, ctx.now, refused)], ctx.now.date())
            continue
        state = taken(unit, request, state=state)
    unit.found = replace(found, state=state)


def refusal(unit: ImageUnit, request: GateRequest, *, state: ImageState) -> Note | None:
    """Why an approval or revocation cannot be taken over `state`, naming the version; None when it can."""
    version_id = request.version.id
    version = unit.found.observed.version(request.version.name)
    if version is None:
        return Note(Kind.REFUSED, version_id, "no such version (unknown)")
    why = approvals.refusal(
        unit.target.image_policy, unit.found.observed, unit.ctx.now, state, request.kind, version.name
    )
    if why is None:
        return None
    return Note(Kind.REFUSED, version_id, why, text=f"{version_id} {why}")


def taken(unit: ImageUnit, request: GateRequest, *, state: ImageState) -> ImageState:
    """`state` once the request is taken, remembered with who made it, from where, and when."""
    record = GateRecord(by=request.by, reason=request.reason, source=request.source, at=unit.ctx.now)
    return approvals.with_gate(state, request.kind, request.version.name, record)
