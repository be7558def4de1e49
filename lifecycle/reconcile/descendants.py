"""The walk down a family tree after a revocation: the images holding versions built on a revoked
version are reconciled, then theirs, generation by generation, across the galleries of the policy. Each
child's own plan tags it (and, with `inherit_revocation`, revokes it, which carries the walk on).
"""

from __future__ import annotations

from lifecycle.planning.gates import parent_key
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.image import reconcile_image
from lifecycle.reconcile.notes import Kind, Note, from_text
from lifecycle.reconcile.revocation import revoked_by
from lifecycle.reconcile.runtime import RunContext, Target
from lifecycle.reconcile.scope import targets
from lifecycle.reconcile.trigger import Trigger

# Bounds the walk down a family tree (a base-image cycle written by hand must not loop).
MAX_GENERATIONS = 20


def walk(frame: RunFrame, ctx: RunContext, revoked: set[str]) -> None:
    """Reconcile the images holding versions built on `revoked`, then theirs, down the tree. One read of
    every image in the policy finds who is built on what."""
    if not revoked:
        return
    report, trigger = frame.report, frame.trigger
    children = _children(frame, ctx)
    frontier = set(revoked)
    for _ in range(MAX_GENERATIONS):
        due = {key: t for parent in frontier for key, t in children.get(parent, {}).items()}
        if not due:
            return
        frontier = set()
        for target in due.values():
            result = reconcile_image(
                ctx, target, Trigger(trigger.source, scope=target.image.id, event_id=trigger.event_id)
            )
            report.add(result)
            frontier |= revoked_by(result.plan.actions if result.plan else (), result.outcomes)
    report.errors.append(
        Note(Kind.PERMANENT, "", f"revocation stopped after {MAX_GENERATIONS} generations of descendants")
    )


def _children(frame: RunFrame, ctx: RunContext) -> dict[str, dict[str, Target]]:
    """Every image of the policy holding a version built on another, by that parent (lower-cased id)."""
    children: dict[str, dict[str, Target]] = {}
    for target in targets(frame, ctx.policy, None):
        observed = ctx.bases.image(target.image)
        if isinstance(observed, str):
            frame.report.errors.append(from_text(Kind.PERMANENT, observed))
            continue
        for version in observed.versions:
            key = parent_key(version)
            if key is not None:
                children.setdefault(key, {})[target.image.key()] = target
    return children
