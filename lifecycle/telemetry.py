"""What the app tells Application Insights: one record per run, per action outcome and per event published,
with stable attribute names, and the app's metrics.

In Azure the Functions Python worker configures the Azure Monitor OpenTelemetry distro itself when the app
setting `PYTHON_APPLICATIONINSIGHTS_ENABLE_TELEMETRY` is `true` and `azure-monitor-opentelemetry` is in
requirements.txt (the worker's `worker_init_request` calls its `initialize_azure_monitor()`, which calls
`configure_azure_monitor()`; Azure/azure-functions-python-worker, `dispatcher.py`). From then on:
- every `logging` record of the loggers under `PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME` (`lifecycle`, set
  by the Bicep) is exported as an Application Insights trace, and the record's `extra` fields become its
  custom dimensions (`AppTraces.Properties` in the workspace). Only scalar values survive the export: the
  OpenTelemetry SDK drops an attribute whose value is a dict or a list of mixed types, so every attribute
  written here is a string, an int, a float or a bool;
- the OpenTelemetry metrics API (`opentelemetry.metrics`) reaches `AppMetrics` (`customMetrics`).
Without that setting (tests, the CLI, the emulator) the same records go to whatever logging handlers are
configured, and the metrics API is a no-op unless a meter provider is set (the tests set an in-memory one).

The attribute and metric names below are a contract: the alert queries (`infra/alerts/*.kql`) and the
workbook (`infra/workbook/fleet-health.json`) read them, and a test checks that every name they read is
one the app writes. Change a name here and there together.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lifecycle.reconcile.results import RunReport

log = logging.getLogger("lifecycle.telemetry")

# Custom dimensions (log record attributes).
RECORD = "lifecycle.record"  # which kind of record this is: one of the RECORD_* values
RECORD_RUN = "run"  # one per invocation (sweep, event, queue message, CLI run)
RECORD_ACTION = "action"  # one per action outcome
RECORD_EVENT = "event_published"  # one per lifecycle event handed to the topic
RECORD_POISON = "poison"  # a queue message given up on, or poison messages a sweep found
FUNCTION = "lifecycle.function"  # sweep | on_event | reconcile_image | cli
TRIGGER = "lifecycle.trigger"  # sweep | event | policy | queue | cli
MODE = "lifecycle.mode"  # enforce | dry-run
IMAGES = "lifecycle.images"
ACTIONS = "lifecycle.actions"
SUCCEEDED = "lifecycle.succeeded"
FAILED = "lifecycle.failed"
PLANNED = "lifecycle.planned"
DEFERRED = "lifecycle.deferred"  # writes deferred for lack of write budget
DEFERRED_IMAGES = "lifecycle.deferred_images"  # images left for the next run (time budget)
ERRORS = "lifecycle.errors"
ENQUEUED = "lifecycle.enqueued"
POISON = "lifecycle.poison"  # poison messages (images) found or given up on
DEAD_LETTERS = "lifecycle.dead_letters"  # lifecycle events the topic refused for good (or past the bounds)
UNDELIVERED = "lifecycle.undelivered"  # outbox deliveries kept for a later run (the topic was down)
THROTTLED = "lifecycle.throttled"  # 429s received
KIND = "lifecycle.kind"  # action kind: replicate, tag, end_of_life, exclude_from_latest, promote, ...
OUTCOME = "lifecycle.outcome"  # succeeded | failed | planned | deferred
TARGET = "lifecycle.target"  # resource id the action or event is about
IMAGE = "lifecycle.image"
EVENT_TYPE = "lifecycle.event_type"  # e.g. ImageLifecycle.ReplicationFailed
EVENT_ID = "lifecycle.event_id"
ERROR = "lifecycle.error"
DEQUEUE_COUNT = "lifecycle.dequeue_count"

# Metric names (AppMetrics.Name) and their dimensions.
METRIC_ACTIONS = "lifecycle.actions"  # counter; dimensions kind, outcome
METRIC_DEFERRED_WRITES = "lifecycle.deferred_writes"  # counter
METRIC_BUDGET_LEFT = "lifecycle.write_budget_left"  # gauge; dimensions subscription, operation
METRIC_VERSIONS = "lifecycle.versions"  # gauge per run; dimension state (of the versions a run planned)
METRIC_OUTBOX_DEPTH = "lifecycle.outbox_depth"  # gauge; events kept for a later run
METRIC_QUEUE_AGE = "lifecycle.queue_age_seconds"  # histogram; how long a fan-out message waited
METRIC_EVENTS = "lifecycle.events_published"  # counter; dimension type

# Loggers of the Azure SDKs: per-request INFO lines fill the workspace and its bill; warnings stay.
SDK_LOGGERS = ("azure", "azure.core.pipeline.policies.http_logging_policy", "azure.identity", "urllib3")


def quiet_sdk_logging() -> None:
    """Azure SDK loggers at WARNING (cheap: no SDK is imported). Called when the app is indexed."""
    for name in SDK_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _meter() -> Any:
    # Imported on first use, inside an invocation: indexing the app stays as cheap as before.
    from opentelemetry import metrics

    return metrics.get_meter("lifecycle")


_instruments: dict[str, Any] = {}


def _instrument(kind: str, name: str, unit: str = "1", description: str = "") -> Any:
    key = f"{kind}:{name}"
    if key not in _instruments:
        meter = _meter()
        create = {
            "counter": meter.create_counter,
            "gauge": meter.create_gauge,
            "histogram": meter.create_histogram,
        }[kind]
        _instruments[key] = create(name, unit=unit, description=description)
    return _instruments[key]


def run_attributes(function: str, report: RunReport, **fields: Any) -> dict[str, Any]:
    """The custom dimensions of a run's summary record (flat scalars only)."""
    summary = report.summary()
    budget = report.budget or {}
    attrs: dict[str, Any] = {
        RECORD: RECORD_RUN,
        FUNCTION: function,
        TRIGGER: report.trigger.source,
        MODE: report.mode,
        IMAGES: summary["images"],
        ACTIONS: summary["actions"],
        SUCCEEDED: summary["succeeded"],
        FAILED: summary["failed"],
        PLANNED: summary["planned"],
        DEFERRED: summary["deferred"],
        DEFERRED_IMAGES: summary["deferred_images"],
        ERRORS: summary["errors"],
        ENQUEUED: summary["enqueued"],
        POISON: len(report.poison),
        DEAD_LETTERS: summary["dead_letters"],
        UNDELIVERED: summary["undelivered"],
        THROTTLED: int(budget.get("throttled") or 0),
    }
    if report.errors:
        attrs[ERROR] = report.errors[0][:1000]
    for key, value in fields.items():
        if value is not None:
            attrs[key] = value
    return attrs


def record_run(function: str, report: RunReport, message: str, *args: Any, **fields: Any) -> None:
    """The run's one summary record, then one record per action outcome and per event published, and the
    run's metrics."""
    attrs = run_attributes(function, report, **fields)
    level = logging.ERROR if report.failed else logging.INFO
    log.log(level, message, *args, extra=attrs)
    for outcome in report.outcomes:
        action_attrs = {
            RECORD: RECORD_ACTION,
            FUNCTION: function,
            MODE: report.mode,
            KIND: outcome.action.kind.value,
            OUTCOME: outcome.status,
            TARGET: outcome.action.target,
        }
        if outcome.error:
            action_attrs[ERROR] = outcome.error[:1000]
        log.log(
            logging.WARNING if outcome.status == "failed" else logging.INFO,
            "action %s %s: %s",
            outcome.action.kind.value,
            outcome.status,
            outcome.action.target,
            extra=action_attrs,
        )
    for notification in report.notifications:
        log.info(
            "event %s: %s",
            notification.type.value,
            notification.subject,
            extra={
                RECORD: RECORD_EVENT,
                FUNCTION: function,
                EVENT_TYPE: notification.type.value,
                TARGET: notification.subject,
                EVENT_ID: notification.id or "",
            },
        )
    if report.poison:
        log.error(
            "%s poison message(s) found: %s",
            len(report.poison),
            ", ".join(report.poison[:5]),
            extra={RECORD: RECORD_POISON, FUNCTION: function, POISON: len(report.poison)},
        )
    _run_metrics(report)


def record_poison(function: str, image: str, tries: int, problem: str) -> None:
    """A queue message given up on: the host moves it to the poison queue after this try."""
    log.error(
        "queue message for %s gives up after %s tries; the next sweep enqueues the image again",
        image,
        tries,
        extra={
            RECORD: RECORD_POISON,
            FUNCTION: function,
            IMAGE: image,
            DEQUEUE_COUNT: tries,
            POISON: 1,
            ERROR: problem[:1000],
        },
    )


def record_queue_age(inserted: datetime | None, now: datetime | None = None) -> None:
    if inserted is None:
        return
    if inserted.tzinfo is None:
        inserted = inserted.replace(tzinfo=UTC)
    age = max(0.0, ((now or datetime.now(UTC)) - inserted).total_seconds())
    _instrument("histogram", METRIC_QUEUE_AGE, "s", "How long a fan-out message waited").record(age)


def _run_metrics(report: RunReport) -> None:
    counter = _instrument("counter", METRIC_ACTIONS, description="Actions by kind and outcome")
    for outcome in report.outcomes:
        counter.add(1, {"kind": outcome.action.kind.value, "outcome": outcome.status})
    deferred = sum(1 for o in report.outcomes if o.status == "deferred")
    _instrument("counter", METRIC_DEFERRED_WRITES, description="Writes deferred for lack of budget").add(
        deferred
    )
    events = _instrument("counter", METRIC_EVENTS, description="Lifecycle events published by type")
    for notification in report.notifications:
        events.add(1, {"type": notification.type.value})
    budget_gauge = _instrument("gauge", METRIC_BUDGET_LEFT, description="Compute write budget left")
    for subscription, operations in _remaining(report.budget).items():
        for operation, left in operations.items():
            if isinstance(left, int):
                budget_gauge.set(left, {"subscription": subscription, "operation": operation})
    states: dict[str, int] = {}
    for plan in report.plans:
        for version in plan.versions:
            states[version.state] = states.get(version.state, 0) + 1
    versions_gauge = _instrument("gauge", METRIC_VERSIONS, description="Versions by lifecycle state")
    for state, count in states.items():
        versions_gauge.set(count, {"state": state})
    _instrument("gauge", METRIC_OUTBOX_DEPTH, description="Events kept for a later run").set(
        report.outbox_depth
    )


def _remaining(budget: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    remaining = (budget or {}).get("remaining")
    return remaining if isinstance(remaining, dict) else {}


def names_written() -> Iterable[str]:
    """Every custom dimension and metric name defined here (for documentation and tests)."""
    return sorted(
        value
        for key, value in globals().items()
        if key.isupper() and isinstance(value, str) and value.startswith("lifecycle.")
    )
