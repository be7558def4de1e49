"""The run's own events (ConfigRejected) and their outbox, `outbox/run.json` in the state container:
recorded first, sent, then dropped; what the topic refuses is sent again by a later run under the same id,
like an image's events (`delivery.deliver_and_drop` decides what a refusal means).
"""

from __future__ import annotations

import logging
from typing import Any

from lifecycle import outbox as ob
from lifecycle.gateways.errors import GatewayError
from lifecycle.model import iso
from lifecycle.notifications import Notification
from lifecycle.reconcile.delivery import deliver_and_drop
from lifecycle.reconcile.frame import RunFrame

log = logging.getLogger(__name__)

RUN_OUTBOX = "outbox/run.json"


def publish(frame: RunFrame, notifications: list[Notification]) -> None:
    """Record the run's events with those kept from earlier runs, and deliver them all."""
    if frame.plan_only:
        return
    store = frame.rt.store
    try:
        saved, etag = store.read_json(RUN_OUTBOX)
        entries = [ob.OutboxEntry.from_json(e) for e in (saved or {}).get("outbox", [])]
        recorded = iso(frame.clock())
        new = [ob.for_observation(n, etag=None, recorded=recorded) for n in notifications]
        merged = ob.merge(entries, new)
        if len(merged) != len(entries):
            etag = store.write_json(RUN_OUTBOX, _document(merged), etag=etag)
    except GatewayError as exc:
        # Without its record the event can still go out now; it is only not kept for a retry.
        log.warning("run outbox unavailable", extra={"error": str(exc)})
        merged, etag = [ob.for_observation(n, etag=None) for n in notifications], None
    if not merged:
        return

    def rewrite(rest: list[ob.OutboxEntry]) -> None:
        store.write_json(RUN_OUTBOX, _document(rest), etag=etag)

    deliver_and_drop(
        frame.rt.publisher,
        store,
        merged,
        now=frame.clock(),
        settings=frame.rt.settings,
        what="run",
        into=frame.report,
        rewrite=rewrite if etag is not None else None,
    )


def _document(entries: list[ob.OutboxEntry]) -> dict[str, Any]:
    return {"outbox": [e.to_json() for e in entries]}
