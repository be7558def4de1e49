"""An event delivery answered in seconds, when the fan-out queue runs the work: what the event carries (a
build's metadata, an approval) is recorded in its image's state, and the image is enqueued. No ARM call: the
queue function's run of the image reads ARM and applies what was recorded, as an inline event's run would.

Recording is an ETag-conditional read-modify-write of the image's state document: a run of the same image
that read the state before it fails its own write (and runs again) rather than losing the record.
"""

from __future__ import annotations

import logging
from datetime import datetime

from lifecycle.events import BuildCompleted
from lifecycle.gateways.errors import GatewayError, PreconditionFailed, RetryableError
from lifecycle.gateways.ports import StateStore
from lifecycle.model import ImageRef
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.notes import Note, kind_of
from lifecycle.reconcile.phases.unit import image_state_name
from lifecycle.reconcile.trigger import GateRequest
from lifecycle.state import ImageState, PendingBuild, RequestedGate

log = logging.getLogger(__name__)

_TRIES = 8


def record_event(frame: RunFrame, image: ImageRef) -> bool:
    """Record what the trigger's event carries in `image`'s state; False (an error of the run) when the
    state container could not take it."""
    trigger = frame.trigger
    try:
        record(
            frame.rt.store,
            image,
            now=frame.now,
            build=trigger.build,
            gate=trigger.gate,
            event_id=trigger.event_id,
        )
    except GatewayError as exc:
        frame.report.errors.append(Note(kind_of(exc), image.id, f"event not recorded: {exc}"))
        return False
    return True


def record(
    store: StateStore,
    image: ImageRef,
    *,
    now: datetime,
    build: BuildCompleted | None = None,
    gate: GateRequest | None = None,
    event_id: str | None = None,
) -> bool:
    """Record the build metadata and/or the gate request in the image's state; False when there was
    nothing new to record (a redelivery). Raises RetryableError when other writers keep winning."""
    name = image_state_name(image)
    for _ in range(_TRIES):
        saved, etag = store.read_json(name)
        before = ImageState.from_json(saved)
        state = before
        if build is not None:
            meta = build.metadata
            state = state.with_build(
                build.version.name,
                PendingBuild(tags=meta.tags(), lifetime_days=meta.lifetime_days, received=now),
            )
        if gate is not None:
            state = state.with_request(
                RequestedGate(
                    kind=gate.kind,
                    version=gate.version.name,
                    by=gate.by,
                    reason=gate.reason,
                    source=gate.source,
                    event_id=event_id,
                    at=now,
                )
            )
        if saved is not None and state.to_json() == before.to_json():
            return False
        try:
            store.write_json(name, state.to_json(), etag=etag)
            return True
        except PreconditionFailed:
            continue
    raise RetryableError(f"{image.id}: state changed by other runs {_TRIES} times while recording an event")
