"""The state to remember once the plan's writes have ended: the plan's own, corrected for the writes
that did not happen (healing does not advance, a rebake that did not start is counted or due again)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from lifecycle.actions import DEFERRED, FAILED, VERSION_UPDATES, ActionKind, ActionOutcome
from lifecycle.model import parse_version_id
from lifecycle.planning.healing import refused
from lifecycle.planning.types import ImagePlan
from lifecycle.state import ImageState


def _heal_refusal(outcomes: Sequence[ActionOutcome], name: str) -> ActionOutcome | None:
    """The outcome of `name`'s healing write when Azure refused it for good (a 4xx), else None."""
    return next(
        (
            o
            for o in outcomes
            if o.action.kind is ActionKind.REPLICATE
            and o.action.after.get("heal")
            and o.status == FAILED
            and not o.retryable
            and parse_version_id(o.action.target).name == name
        ),
        None,
    )


def state_after(plan: ImagePlan, outcomes: Sequence[ActionOutcome], *, before: ImageState) -> ImageState:
    """The state to remember: the plan's, except where a write did not happen. A version update that
    failed or was deferred leaves healing where it was (a heal Azure refused for good counts as an
    attempt); a rebake that could not start counts a failure, or (a request not delivered) is due again."""
    state = plan.state
    done: set[str] = set()
    for outcome in outcomes:
        if (
            outcome.action.kind in VERSION_UPDATES
            and outcome.action.kind is not ActionKind.TAG  # tags do not update the version itself
            and outcome.status in (FAILED, DEFERRED)
        ):
            name = parse_version_id(outcome.action.target).name
            if name in done:
                continue
            done.add(name)
            healing = dict(state.healing)
            refusal = _heal_refusal(outcomes, name)
            if refusal is not None and name in healing:
                # Refused for good: an attempt all the same, its back-off counted from the refusal, and
                # after the configured attempts healing gives up (ReplicationFailed, once).
                healing[name] = refused(healing[name], refusal.error or "refused")
            elif name in before.healing:
                # The update did not happen (deferred, or failed for now): healing did not advance.
                healing[name] = before.healing[name]
            else:
                healing.pop(name, None)
            state = replace(state, healing=healing)
        if outcome.action.kind is not ActionKind.REBAKE or outcome.status != FAILED:
            continue
        if outcome.action.after.get("publish_event"):
            # Nothing was requested: forget the trigger, so the rebake is due again next sweep.
            rebake = replace(before.rebake, last_outcome=f"request not delivered: {outcome.error}")
        else:
            rebake = replace(
                state.rebake,
                running=False,
                consecutive_failures=state.rebake.consecutive_failures + 1,
                last_outcome=f"start failed: {outcome.error}",
            )
        state = replace(state, rebake=rebake)
    return state
