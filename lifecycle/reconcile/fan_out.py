"""The fan-out queue, seen from the run: a timer sweep (with the queue configured) reconciles nothing
itself but sends one message per image in scope, and the queue function runs each image's unit; an event
accepted in seconds sends its image's message (a policy change, one that fans the whole scope out).

Before its messages, a sweep lists the in-use inventory once (kept for the messages of this sweep) and
reports the messages the queue function gave up on (poison), whose images are in this sweep again; after
them, who runs what (for the fleet report the sweep assembles from its images' parts).
"""

from __future__ import annotations

import logging
from typing import Any

from lifecycle.gateways.errors import GatewayError
from lifecycle.model import ImageRef, iso
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.inventory import needed
from lifecycle.reconcile.notes import Note, failure_of_text, kind_of
from lifecycle.reconcile.runtime import RunContext, Target
from lifecycle.reconcile.who_runs import report_who_runs

log = logging.getLogger(__name__)


def fans_out(frame: RunFrame) -> bool:
    """Whether the run is a sweep that hands its images to the queue."""
    return frame.trigger.source == "sweep" and frame.rt.queue is not None and not frame.plan_only


def fan_out(frame: RunFrame, ctx: RunContext, targets: list[Target]) -> None:
    """The sweep's fan-out: the inventory listed once, poison reported, one message per image; then who
    runs what, for the fleet report."""
    if needed(ctx.policy):
        ctx.inventory()
        frame.report.errors.extend(ctx.problems.values())
    _report_poison(frame)
    _enqueue_images(frame, targets)
    report_who_runs(ctx, frame.report)


def enqueue_event(frame: RunFrame, image: ImageRef | None) -> bool:
    """An accepted event's message: its image, or (None, a policy change) the whole scope fanned out."""
    trigger = frame.trigger
    message: dict[str, Any] = {"fan_out": iso(frame.now)} if image is None else {"image": image.id}
    if trigger.event_id:
        message["event"] = trigger.event_id
    try:
        frame.rt.fanout().send([message])
    except GatewayError as exc:
        frame.report.errors.append(Note(kind_of(exc), "", f"event not enqueued: {exc}"))
        return False
    frame.report.enqueued.append(str(message.get("image") or "*"))
    return True


def _enqueue_images(frame: RunFrame, targets: list[Target]) -> None:
    report = frame.report
    messages = [{"image": t.image.id, "sweep": iso(report.at)} for t in targets]
    try:
        frame.rt.fanout().send(messages)
    except GatewayError as exc:
        report.errors.append(failure_of_text(exc))
        return
    report.enqueued.extend(t.image.id for t in targets)


def _report_poison(frame: RunFrame) -> None:
    """What the queue function gave up on (those images are in this sweep's messages again)."""
    report = frame.report
    try:
        for message in frame.rt.fanout().take_poison():
            image = str(message.get("image") or message.get("raw") or "?")
            line = f"{image}: gave up after {message.get('dequeue_count')} tries; enqueued again"
            report.poison.append(line)
            log.error("poison message: %s", line, extra={"image": image})
    except GatewayError as exc:
        report.errors.append(Note(kind_of(exc), "", f"reading the poison queue failed: {exc}"))
