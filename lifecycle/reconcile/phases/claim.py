"""The claim phase: a rebake is claimed in the image's state with a conditional (ETag) write before it is
started, so that of two instances planning the same rebake only one starts it."""

from __future__ import annotations

from lifecycle.actions import ActionKind
from lifecycle.gateways.errors import PreconditionFailed
from lifecycle.reconcile.notes import Kind, Note
from lifecycle.reconcile.phases.unit import Claim, ImageUnit
from lifecycle.state import ImageState


def claim(unit: ImageUnit) -> None:
    """Claim the rebake before starting it: of two instances, only one ETag write wins."""
    found, plan, store = unit.found, unit.plan, unit.ctx.rt.store
    actions = list(plan.actions)
    if unit.dry_run or not any(a.kind is ActionKind.REBAKE for a in actions):
        unit.claim = Claim(actions=actions, etag=found.etag, saved=found.saved)
        return
    try:
        claimed = store.write_json(unit.state_name, plan.state.to_json(), etag=found.etag)
        unit.claim = Claim(actions=actions, etag=claimed, saved=plan.state.to_json(), written=plan.state)
    except PreconditionFailed:
        unit.result.skipped.append(
            Note(Kind.CONTENDED, unit.image.id, "rebake already triggered by another run")
        )
        # Standing down is not a failure: the winner's rebake memory is kept, and the rest of this plan
        # is written over the document the winner left.
        saved, etag = store.read_json(unit.state_name)
        unit.claim = Claim(
            actions=[a for a in actions if a.kind is not ActionKind.REBAKE],
            etag=etag,
            saved=saved,
            claimed_elsewhere=ImageState.from_json(saved).rebake,
        )
