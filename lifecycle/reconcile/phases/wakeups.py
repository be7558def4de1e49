"""Wake-ups: a version that waits for its build event (`metadata.await_build_minutes`) is written when the
wait ends at the latest, by one delayed message to the fan-out queue that runs the image then."""

from __future__ import annotations

import logging

from lifecycle.gateways.errors import GatewayError
from lifecycle.model import iso
from lifecycle.reconcile.phases.unit import ImageUnit

log = logging.getLogger(__name__)

# Azure Storage caps a message's visibility timeout at 7 days (Put Message, `visibilitytimeout`).
MAX_QUEUE_DELAY = 7 * 24 * 3600


def wake(unit: ImageUnit) -> None:
    """One message per deadline (the state remembers it: `recheck_at` as found before this run, and as
    stored after it); without a queue, when the state could not be stored, or when sending fails, the next
    sweep does it instead. The message names its deadline, so the wake-up itself can tell it came early (the
    queue's clock ahead of ours) and schedule another."""
    ctx = unit.ctx
    when = unit.stored.recheck_at
    if when is None or ctx.rt.queue is None or unit.etag is None:
        return
    # The planner only waits while now < `when`: this run, if woken for `when`, came early.
    if when == unit.found.state.recheck_at and unit.trigger.wake != when:
        return  # already scheduled
    delay = min(MAX_QUEUE_DELAY, max(1, int((when - ctx.now).total_seconds()) + 1))
    try:
        ctx.rt.queue.send([{"image": unit.image.id, "wake": iso(when)}], delay_seconds=delay)
    except GatewayError as exc:
        log.warning(
            "wake-up for %s not scheduled (the next sweep runs it): %s",
            unit.image.id,
            exc,
            extra={"image": unit.image.id, "recheck_at": iso(when)},
        )
