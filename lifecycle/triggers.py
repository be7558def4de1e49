"""The Functions blueprint: each function parses its trigger, calls the one reconcile, logs one summary.

Heavy imports (Azure SDKs, the engine) happen inside the handlers: indexing the app is part of every
cold start.
"""

from __future__ import annotations

import logging
import os
from typing import TYPE_CHECKING, Any

import azure.functions as func

from lifecycle import telemetry

if TYPE_CHECKING:
    from datetime import datetime

    from lifecycle.reconcile import RunReport, Trigger

log = logging.getLogger(__name__)
bp = func.Blueprint()
telemetry.quiet_sdk_logging()

DEFAULT_SWEEP_SCHEDULE = "0 */15 * * * *"
# A binding expression needs the setting to exist; without it the sweep runs every 15 minutes.
SWEEP_SCHEDULE = (
    "%LIFECYCLE_SWEEP_SCHEDULE%" if os.environ.get("LIFECYCLE_SWEEP_SCHEDULE") else DEFAULT_SWEEP_SCHEDULE
)


DEFAULT_FANOUT_QUEUE = "lifecycle-images"
# The queue function listens on the fan-out queue; the binding expression needs the setting to exist.
FANOUT_QUEUE = (
    "%LIFECYCLE_FANOUT_QUEUE%" if os.environ.get("LIFECYCLE_FANOUT_QUEUE") else DEFAULT_FANOUT_QUEUE
)
# The queue lives in the app's data account (beside the policy, where the sweep sends to it), not in the
# host's AzureWebJobsStorage account: its own connection, identity-based in Azure
# (LIFECYCLE_QUEUE__queueServiceUri, __credential, __clientId), a connection string locally.
QUEUE_CONNECTION = "LIFECYCLE_QUEUE"


class MessageNotProcessed(RuntimeError):
    """Raised so the host tries a queue message again (and, after maxDequeueCount, moves it to poison)."""


class EventNotProcessed(RuntimeError):
    """Raised so Event Grid redelivers (and finally dead-letters) an event whose work was not done."""


def _summary(
    function: str,
    report: RunReport,
    *,
    event_id: str | None = None,
    event_type: str | None = None,
    image: str | None = None,
    dequeue_count: int | None = None,
) -> None:
    """The run's summary record, its action outcomes and events, and its metrics (lifecycle.telemetry)."""
    summary = report.summary()
    fields = {
        telemetry.EVENT_ID: event_id,
        telemetry.EVENT_TYPE: event_type,
        telemetry.IMAGE: image,
        telemetry.DEQUEUE_COUNT: dequeue_count,
    }
    telemetry.record_run(
        function,
        report,
        "%s: %s images, %s actions (%s succeeded, %s failed, %s planned, %s deferred), %s errors, "
        "%s images deferred, %s event deliveries kept for later, %s events dead-lettered",
        function,
        summary["images"],
        summary["actions"],
        summary["succeeded"],
        summary["failed"],
        summary["planned"],
        summary["deferred"],
        summary["errors"],
        summary["deferred_images"],
        summary["undelivered"],
        summary["dead_letters"],
        **fields,
    )


def _run(trigger: Trigger) -> RunReport:
    from lifecycle.reconcile import reconcile

    return reconcile(trigger)


def _accept(trigger: Trigger) -> RunReport:
    """With the fan-out queue: check, record, enqueue; no ARM call (`Reconciler.accept`)."""
    from lifecycle.reconcile import Reconciler, Runtime
    from lifecycle.settings import Settings

    return Reconciler(Runtime.from_settings(Settings.from_env())).accept(trigger)


def _queued() -> bool:
    """Whether the fan-out queue runs the work (LIFECYCLE_FANOUT_QUEUE): events are then only recorded."""
    from lifecycle.settings import Settings

    return Settings.from_env().fanout_queue is not None


def handle_event(event: object) -> RunReport | None:
    """Parse one Event Grid delivery (either schema) and reconcile what it points at.

    With the fan-out queue configured (LIFECYCLE_FANOUT_QUEUE) the delivery is answered in seconds: the
    event is checked (policy, trust), what it carries is recorded in the image's state, the image is
    enqueued, and no ARM call is made; the queue function does the work. Without a queue it is reconciled
    inline. Malformed and irrelevant events are logged and dropped without any ARM call; one whose type
    cannot be read raises EventNotProcessed (no ARM call either) so Event Grid redelivers and finally
    dead-letters it. Returns the run report, or None when nothing ran.
    """
    from lifecycle.events import (
        BuildCompleted,
        Ignored,
        MalformedEvent,
        PolicyChanged,
        VersionApproved,
        VersionWritten,
        from_trigger,
    )
    from lifecycle.reconcile import Trigger
    from lifecycle.reconcile.trigger import GateRequest
    from lifecycle.settings import Settings

    try:
        parsed = from_trigger(event)
    except MalformedEvent as exc:
        if exc.event_type is None:
            # Without its type nobody can tell what the event meant: never drop it silently. Failing the
            # invocation makes Event Grid redeliver it and finally dead-letter it, where it can be read.
            log.error(
                "event not processed: its type cannot be read: %s",
                exc,
                extra={"function": "on_event", "event_id": exc.event_id},
            )
            raise EventNotProcessed(
                f"event {exc.event_id or '(no id)'} not processed: its type cannot be read: {exc}"
            ) from exc
        log.error(
            "event dropped: malformed: %s",
            exc,
            extra={"function": "on_event", "event_id": exc.event_id, "event_type": exc.event_type},
        )
        return None
    if isinstance(parsed, Ignored):
        log.info(
            "event ignored: %s",
            parsed.reason,
            extra={"event_id": parsed.event_id, "event_type": parsed.event_type},
        )
        return None
    if isinstance(parsed, PolicyChanged):
        settings = Settings.from_env()
        if _same_blob(parsed.blob_url, settings.config_url):
            trigger = Trigger("policy", event_id=parsed.event_id)
            report = _accept(trigger) if settings.fanout_queue else _run(trigger)
            _summary("on_event", report, event_id=parsed.event_id, event_type="BlobCreated")
            return report
        log.info(
            "event ignored: blob %s is not the policy", parsed.blob_url, extra={"event_id": parsed.event_id}
        )
        return None
    queued = _queued()
    if isinstance(parsed, BuildCompleted):
        trigger = Trigger("event", scope=parsed.version.id, build=parsed, event_id=parsed.event_id)
        if queued:
            report = _accept(trigger)
            _summary("on_event", report, event_id=parsed.event_id, event_type="BuildCompleted")
            if report.errors:
                # Not recorded (or not enqueued): the metadata lives only in this event; deliver it again.
                raise EventNotProcessed(f"build event {parsed.event_id} not processed: {report.errors[0]}")
            return report
        report = _run(trigger)
        _summary("on_event", report, event_id=parsed.event_id, event_type="BuildCompleted")
        if report.needs_retry:
            # The build metadata lives only in this event: let Event Grid deliver it again.
            raise EventNotProcessed(f"build event {parsed.event_id} not processed: {report.problems()[0]}")
        return report
    if isinstance(parsed, VersionApproved):
        request = GateRequest(
            "approve", parsed.version, by=parsed.approver, source=parsed.source, schema=parsed.schema
        )
        trigger = Trigger("event", scope=parsed.version.id, event_id=parsed.event_id, gate=request)
        if queued:
            report = _accept(trigger)
            _summary("on_event", report, event_id=parsed.event_id, event_type="VersionApproved")
            if report.errors:
                raise EventNotProcessed(f"approval {parsed.event_id} not processed: {report.errors[0]}")
            return report
        report = _run(trigger)
        _summary("on_event", report, event_id=parsed.event_id, event_type="VersionApproved")
        for refused in report.refused:
            # Final: an expired, revoked or unknown version stays so; the refusal is audited.
            log.warning("approval refused: %s", refused, extra={"event_id": parsed.event_id})
        if report.errors:
            # Nothing refused it, but the run could not finish: let Event Grid deliver it again.
            raise EventNotProcessed(f"approval {parsed.event_id} not processed: {report.errors[0]}")
        return report
    assert isinstance(parsed, VersionWritten)
    trigger = Trigger("event", scope=parsed.version.id, event_id=parsed.event_id)
    # Queued or not, a lost write event is caught by the next sweep: no redelivery is asked for.
    report = _accept(trigger) if queued else _run(trigger)
    _summary("on_event", report, event_id=parsed.event_id, event_type="ResourceWriteSuccess")
    return report


def _same_blob(a: str, b: str) -> bool:
    from urllib.parse import unquote, urlparse

    pa, pb = urlparse(a), urlparse(b)
    return (pa.hostname or "").lower() == (pb.hostname or "").lower() and unquote(pa.path) == unquote(pb.path)


@bp.function_name("on_event")
@bp.event_grid_trigger(arg_name="event")
def on_event(event: func.EventGridEvent) -> None:
    handle_event(event)


@bp.function_name("sweep")
@bp.timer_trigger(arg_name="timer", schedule=SWEEP_SCHEDULE, run_on_startup=False, use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    from lifecycle.reconcile import Trigger

    if timer.past_due:
        log.warning("sweep is running late", extra={"function": "sweep"})
    report = _run(Trigger("sweep"))
    _summary("sweep", report)


def handle_queue_message(message: func.QueueMessage) -> RunReport | None:
    """Reconcile the one image a fan-out message names, with the same unit as every other trigger.

    A malformed message is logged and dropped (trying again cannot help). Work that failed or was skipped
    for a retryable reason raises, so the host tries again; at the last try (LIFECYCLE_QUEUE_MAX_DEQUEUE,
    host.json's maxDequeueCount) the give-up is logged as an error before the host moves the message to the
    poison queue, which the next sweep reports and enqueues again. Deferred work completes the message:
    the next sweep takes it up.
    """
    import json

    from lifecycle.model import ImageRef, InvalidResourceId, parse_resource_id
    from lifecycle.reconcile import Trigger
    from lifecycle.settings import Settings

    tries = int(getattr(message, "dequeue_count", None) or 1)
    try:
        body = json.loads(message.get_body())
        if isinstance(body, dict) and "fan_out" in body and "image" not in body:
            return _fan_out_message(message, tries)
        image = parse_resource_id(str(body["image"]))
        if not isinstance(image, ImageRef):
            raise InvalidResourceId(f"not an image definition id: {body['image']!r}")
    except (ValueError, TypeError, KeyError, InvalidResourceId) as exc:
        log.error(
            "queue message dropped: malformed: %s",
            exc,
            extra={"function": "reconcile_image", "id": message.id},
        )
        return None
    sweep = body.get("sweep") if isinstance(body.get("sweep"), str) else None
    report = _run(Trigger("queue", scope=image.id, event_id=message.id, sweep=sweep, wake=_wake_of(body)))
    telemetry.record_queue_age(getattr(message, "insertion_time", None))
    _summary("reconcile_image", report, image=image.id, dequeue_count=tries)
    problems = report.problems()
    if problems:
        last = Settings.from_env().queue_max_dequeue
        if tries >= last:
            telemetry.record_poison("reconcile_image", image.id, tries, "; ".join(problems[:5]))
        raise MessageNotProcessed(f"{image.id} not reconciled (try {tries} of {last}): {problems[0]}")
    return report


def _fan_out_message(message: func.QueueMessage, tries: int) -> RunReport:
    """A policy change recorded by `on_event`: fan the whole scope out, as the timer's sweep does."""
    from lifecycle.reconcile import Trigger

    report = _run(Trigger("sweep", event_id=message.id))
    _summary("reconcile_image", report, dequeue_count=tries)
    if report.errors:
        raise MessageNotProcessed(f"fan-out not done (try {tries}): {report.errors[0]}")
    return report


def _wake_of(body: dict[str, Any]) -> datetime | None:
    """The deadline a wake-up message was sent for; None for any other message (or an unreadable time:
    the image is reconciled all the same)."""
    from lifecycle.model import parse_time

    value = body.get("wake")
    try:
        return parse_time(value) if isinstance(value, str) else None
    except ValueError:
        return None


@bp.function_name("reconcile_image")
@bp.queue_trigger(arg_name="message", queue_name=FANOUT_QUEUE, connection=QUEUE_CONNECTION)
def reconcile_image(message: func.QueueMessage) -> None:
    handle_queue_message(message)
