"""The read phase: the image's remembered state, with the build the trigger carries folded in, and the image
as ARM has it now (an event only says what changed; the image is always read again)."""

from __future__ import annotations

from lifecycle.planning import needs_replication_status
from lifecycle.reconcile.phases.unit import ImageUnit, Read
from lifecycle.state import ImageState, PendingBuild


def read(unit: ImageUnit) -> None:
    """Read the image's remembered state, fold in the build the trigger carries, re-read ARM."""
    ctx, ref, build = unit.ctx, unit.image, unit.trigger.build
    saved, etag = ctx.rt.store.read_json(unit.state_name)
    state = ImageState.from_json(saved)
    if build is not None and build.version.image_ref.key() == ref.key():
        meta = build.metadata
        state = state.with_build(
            build.version.name,
            PendingBuild(tags=meta.tags(), lifetime_days=meta.lifetime_days, received=ctx.now),
        )
    observed = ctx.rt.gallery.read_image(
        ref, unit.target.location, unit.target.tags, wants_status=lambda v: needs_replication_status(v, state)
    )
    unit.found = Read(saved=saved, etag=etag, state=state, observed=observed)
