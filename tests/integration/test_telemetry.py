"""Telemetry that reaches Application Insights: the handlers run against the emulator and Azurite with an
in-memory OpenTelemetry log exporter and metric reader in place of Azure Monitor's (the same SDK path the
distro configures: `logging` records through the OpenTelemetry LoggingHandler, metrics through the API).

Every custom dimension, record kind, event type and metric the alert queries (`infra/alerts/*.kql`) and
the workbook (`infra/workbook/fleet-health.json`) read must be one the app actually exported here."""

from __future__ import annotations

import contextlib
import functools
import importlib
import json
import logging
import re
import sys
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest
from opentelemetry import metrics
from opentelemetry.sdk._logs import LoggerProvider, LoggingHandler
from opentelemetry.sdk._logs.export import InMemoryLogExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from lifecycle.notifications import NotificationType
from lifecycle.triggers import MessageNotProcessed, handle_event, handle_queue_message
from tests.conftest import EVENTS_DIR
from tests.harness.host import queue_client, worker_message
from tests.harness.services import Azurite, start_emulator
from tests.integration.conftest import Env, build_env, make_policy_text

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
QUERIES = sorted((ROOT / "infra" / "alerts").glob("*.kql"))
WORKBOOK = ROOT / "infra" / "workbook" / "fleet-health.json"
IMAGES = ("alpha", "beta")


@dataclass
class Exported:
    """What the app exported: log records' attributes, and metrics with their attribute names."""

    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: dict[str, set[str]] = field(default_factory=dict)

    def dimensions(self) -> set[str]:
        return {key for attrs in self.logs for key in attrs}

    def values(self, key: str) -> set[str]:
        return {str(attrs[key]) for attrs in self.logs if key in attrs}


@dataclass(frozen=True)
class Reads:
    """What one query reads: its table, the custom dimensions, the values it compares them with, and the
    metric names."""

    table: str
    dimensions: set[str]
    compared: dict[str, set[str]]
    metrics: set[str]


def reads(query: str) -> Reads:
    text = re.sub(r"^\s*//.*$", "", query, flags=re.MULTILINE)
    table = text.strip().split()[0]
    dimensions = set(re.findall(r'Properties\["([^"]+)"\]', text))
    compared: dict[str, set[str]] = {}
    for key, _op, rhs in re.findall(r'Properties\["([^"]+)"\]\)?\s*(==|in)\s*(\([^)]*\)|"[^"]*")', text):
        compared.setdefault(key, set()).update(re.findall(r'"([^"]*)"', rhs))
    names = set()
    for rhs in re.findall(r"\bName\s*(?:==|in)\s*(\([^)]*\)|\"[^\"]*\")", text):
        names.update(re.findall(r'"([^"]*)"', rhs))
    return Reads(table, dimensions, compared, names)


def all_queries() -> dict[str, str]:
    found = {path.name: path.read_text(encoding="utf-8") for path in QUERIES}
    workbook = json.loads(WORKBOOK.read_text(encoding="utf-8"))
    for item in workbook["items"]:
        if item.get("type") == 3:
            found[f"workbook: {item['content']['title']}"] = item["content"]["query"]
    return found


@pytest.fixture(scope="module")
def otel() -> Iterator[tuple[InMemoryLogExporter, InMemoryMetricReader]]:
    exporter = InMemoryLogExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = LoggingHandler(level=logging.INFO, logger_provider=provider)
    app_logger = logging.getLogger("lifecycle")  # PYTHON_APPLICATIONINSIGHTS_LOGGER_NAME in the Bicep
    previous = app_logger.level
    app_logger.addHandler(handler)
    app_logger.setLevel(logging.INFO)
    reader = InMemoryMetricReader()
    # The global meter provider can be set once per process; no other test sets one.
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    try:
        yield exporter, reader
    finally:
        app_logger.removeHandler(handler)
        app_logger.setLevel(previous)
        provider.shutdown()


def exported(exporter: InMemoryLogExporter, reader: InMemoryMetricReader) -> Exported:
    out = Exported(logs=[dict(d.log_record.attributes or {}) for d in exporter.get_finished_logs()])
    data = reader.get_metrics_data()
    for resource in data.resource_metrics if data else ():
        for scope in resource.scope_metrics:
            for metric in scope.metrics:
                names = out.metrics.setdefault(metric.name, set())
                for point in metric.data.data_points:
                    names.update((point.attributes or {}).keys())
    return out


@functools.cache
def _sweep_function() -> Any:
    """The timer function as the host indexes it from function_app.py: a fresh import, since an app object
    can be indexed only once and other tests index theirs."""
    for name in ("function_app", "lifecycle.triggers"):
        sys.modules.pop(name, None)
    app = importlib.import_module("function_app").app
    (found,) = [f for f in app.get_functions() if f.get_function_name() == "sweep"]
    return found.get_user_function()


def sweep(timer: TimerRequest) -> None:
    _sweep_function()(timer)


@pytest.fixture(scope="module")
def run_everything(
    otel: tuple[InMemoryLogExporter, InMemoryMetricReader], env_for_telemetry: Env
) -> Exported:
    """A fanned-out sweep, its queue messages, a message given up on, the sweep that finds it in the poison
    queue, a rejected policy, and a throttled emulator's budget headers: every record kind there is."""
    mp = pytest.MonkeyPatch()
    env = env_for_telemetry
    name = f"telemetry-{uuid.uuid4().hex[:10]}"
    mp.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    mp.setenv("LIFECYCLE_QUEUE_MAX_DEQUEUE", "2")
    queue = queue_client(env.azurite.connection_string, name)
    poison = queue_client(env.azurite.connection_string, f"{name}-poison")
    try:
        env.put_policy(make_policy_text(regions={"eastus": 1, "westeurope": 1}))
        for image in IMAGES:
            env.create_image(image)
            env.create_version(image, "1.0.0")
        env.advance(hours=1)
        sweep(TimerRequest())
        received = list(queue.receive_messages(messages_per_page=10, visibility_timeout=60))
        assert len(received) == len(IMAGES)
        first, *others = received
        for message in others:
            handle_queue_message(worker_message(message))
            queue.delete_message(message)
        env.emulator.control("POST", "faults", "500=1.0")
        with pytest.raises(MessageNotProcessed):
            handle_queue_message(worker_message(first, dequeue_count=2))
        env.emulator.control("POST", "faults", "")
        poison.create_queue()
        poison.send_message(first.content)
        queue.delete_message(first)
        sweep(TimerRequest())
        mp.delenv("LIFECYCLE_FANOUT_QUEUE")
        env.put_policy(make_policy_text(regions={"westeurpoe": 1}))
        blob_event = json.loads((EVENTS_DIR / "policy_blob_created.eventgrid.json").read_text())
        blob_event["data"]["url"] = env.config_url
        handle_event(blob_event)
    finally:
        for client in (queue, poison):
            with contextlib.suppress(Exception):
                client.delete_queue()
        mp.undo()
    return exported(*otel)


@pytest.fixture(scope="module")
def env_for_telemetry(azurite: Azurite) -> Iterator[Env]:
    """The integration `env`, at module scope, on an emulator that sends Compute's rate-limit headers."""
    emulator = start_emulator("--replication-seconds", "60", "--throttle")
    mp = pytest.MonkeyPatch()
    try:
        with build_env(emulator, azurite, mp) as env:
            yield env
    finally:
        mp.undo()
        emulator.stop()


def test_every_query_reads_dimensions_the_app_writes(run_everything: Exported) -> None:
    written = run_everything.dimensions()
    missing = {
        name: sorted(q.dimensions - written)
        for name, query in all_queries().items()
        if (q := reads(query)).table == "AppTraces" and q.dimensions - written
    }
    assert not missing, f"dimensions read but never written: {missing}"


def test_every_value_a_query_compares_with_is_one_the_app_writes(run_everything: Exported) -> None:
    from lifecycle.actions import ActionKind
    from lifecycle.executor import DEFERRED, FAILED, PLANNED, SUCCEEDED

    # Values from a closed set are checked against the set; others against what this run exported.
    closed = {
        "lifecycle.event_type": {t.value for t in NotificationType},
        "lifecycle.outcome": {SUCCEEDED, FAILED, PLANNED, DEFERRED},
        "lifecycle.kind": {k.value for k in ActionKind},
    }
    problems = []
    for name, query in all_queries().items():
        q = reads(query)
        if q.table != "AppTraces":
            continue
        for key, values in q.compared.items():
            known = closed.get(key) or run_everything.values(key)
            problems += [f"{name}: {key} == {v!r}" for v in values - known]
    assert not problems, problems


def test_every_metric_a_query_reads_is_exported_with_its_dimensions(run_everything: Exported) -> None:
    problems = []
    for name, query in all_queries().items():
        q = reads(query)
        if q.table != "AppMetrics":
            continue
        assert q.metrics, f"{name} reads AppMetrics but names no metric"
        for metric in q.metrics:
            if metric not in run_everything.metrics:
                problems.append(f"{name}: metric {metric} never exported")
            elif q.dimensions - run_everything.metrics[metric] and len(q.metrics) == 1:
                problems.append(
                    f"{name}: {metric} lacks {sorted(q.dimensions - run_everything.metrics[metric])}"
                )
    assert not problems, problems


def test_the_records_carry_what_operators_read(run_everything: Exported) -> None:
    records = run_everything.values("lifecycle.record")
    assert {"run", "action", "event_published", "poison"} <= records
    runs = [a for a in run_everything.logs if a.get("lifecycle.record") == "run"]
    functions = {a["lifecycle.function"] for a in runs}
    assert {"sweep", "reconcile_image", "on_event"} <= functions
    assert any(a.get("lifecycle.poison", 0) > 0 for a in runs if a["lifecycle.function"] == "sweep")
    assert "ImageLifecycle.ConfigRejected" in run_everything.values("lifecycle.event_type")
    actions = [a for a in run_everything.logs if a.get("lifecycle.record") == "action"]
    assert {a["lifecycle.kind"] for a in actions} >= {"replicate"}
    for attrs in run_everything.logs:  # only scalars survive the export
        if "lifecycle.record" in attrs:
            assert all(isinstance(v, str | int | float | bool) for v in attrs.values()), attrs


def test_metrics_cover_actions_budget_versions_outbox_and_queue_age(run_everything: Exported) -> None:
    from lifecycle import telemetry as t

    expected = {
        t.METRIC_ACTIONS,
        t.METRIC_DEFERRED_WRITES,
        t.METRIC_BUDGET_LEFT,
        t.METRIC_VERSIONS,
        t.METRIC_OUTBOX_DEPTH,
        t.METRIC_QUEUE_AGE,
        t.METRIC_EVENTS,
    }
    assert expected <= set(run_everything.metrics)
    assert {"kind", "outcome"} <= run_everything.metrics[t.METRIC_ACTIONS]


def test_sdk_request_logging_is_kept_at_warning() -> None:
    import lifecycle.triggers  # noqa: F401  (importing the blueprint quiets the SDK loggers)

    for name in ("azure", "azure.core.pipeline.policies.http_logging_policy", "azure.identity"):
        assert logging.getLogger(name).getEffectiveLevel() >= logging.WARNING, name
