"""The image's outbox (`lifecycle.outbox`) in one run: the events this run's writes announce are recorded
in the image's state before the writes start (`outbox_before`, `record`), settled with their outcomes by
`remember`, then sent and dropped (`deliver`); what a run cannot send, a later run sends."""

from __future__ import annotations

from dataclasses import replace

from lifecycle import outbox as ob
from lifecycle.actions import announced_by_executor
from lifecycle.gateways.errors import PreconditionFailed
from lifecycle.model import InvalidResourceId, ObservedImage, iso, parse_version_id
from lifecycle.outbox import OutboxEntry
from lifecycle.reconcile.delivery import deliver_and_drop
from lifecycle.reconcile.notes import Kind, Note
from lifecycle.reconcile.phases.unit import ImageUnit


def outbox_before(unit: ImageUnit) -> None:
    """The outbox before the writes: what earlier runs left (their intents resolved against this plan),
    plus an intent for each event an action of this run announces. Dry runs announce nothing."""
    found = unit.found
    if unit.dry_run:
        unit.entries = list(found.state.outbox)
        return
    entries = ob.resolve_intents(found.state.outbox, (a.key for a in unit.plan.actions))
    recorded = iso(unit.ctx.now)
    intents = []
    for action in unit.claim.actions:
        if announced_by_executor(action):
            continue
        etag = etag_of(found.observed, action.target)
        for notification in action.notifications:
            intents.append(ob.for_action(action.key, notification, etag=etag, recorded=recorded))
    unit.entries = ob.merge(entries, intents)


def etag_of(observed: ObservedImage, subject: str) -> str | None:
    """The ETag of the observed version an event is about (None for an image or an unknown version)."""
    try:
        version = observed.version(parse_version_id(subject).name)
    except InvalidResourceId:
        return None
    return version.etag if version is not None else None


def record(unit: ImageUnit) -> None:
    """Record this run's intents in the image's state before any write starts, so that no event for a
    write can be lost, whatever happens to the run. Without new intents nothing is written."""
    found, claim = unit.found, unit.claim
    known = {e.id for e in found.state.outbox}
    if unit.ctx.plan_only or not any(e.status == ob.INTENT and e.id not in known for e in unit.entries):
        return
    base = claim.written or found.state
    if claim.claimed_elsewhere is not None:
        base = replace(base, rebake=claim.claimed_elsewhere)
    document = replace(base, outbox=tuple(unit.entries))
    try:
        etag = unit.ctx.rt.store.write_json(unit.state_name, document.to_json(), etag=claim.etag)
    except PreconditionFailed:
        unit.result.skipped.append(
            Note(
                Kind.CONTENDED,
                unit.image.id,
                "state changed by another run; its writes are left to the next run",
            )
        )
        unit.claim = replace(claim, actions=[])
        return
    unit.claim = replace(claim, etag=etag, saved=document.to_json(), written=document)


def deliver(unit: ImageUnit) -> None:
    """Send what the outbox holds unsent (this run's events and any an earlier run could not send), then
    drop what was sent or dead-lettered (see `delivery`). A topic that is down keeps them for the next run:
    noted in the report, never an error of this run (its writes are done; running it again would only repeat
    ARM work). Nothing is sent while the state could not be stored (etag None): unrecorded, a sent event
    could not be marked sent."""
    ctx, state, etag, result = unit.ctx, unit.stored, unit.etag, unit.result
    result.outbox_depth = len(ob.unsent(state.outbox))
    if ctx.plan_only or not state.outbox or etag is None:
        return

    def rewrite(rest: list[OutboxEntry]) -> None:
        remaining = replace(state, outbox=tuple(rest))
        ctx.rt.store.write_json(unit.state_name, remaining.to_json(), etag=etag)

    rest = deliver_and_drop(
        ctx.rt.publisher,
        ctx.rt.store,
        state.outbox,
        now=ctx.now,
        settings=ctx.rt.settings,
        what=unit.image.id,
        into=result,
        rewrite=rewrite,
    )
    result.outbox_depth = len(ob.unsent(rest))
