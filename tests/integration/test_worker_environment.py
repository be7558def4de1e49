"""What the worker environment means for the app: indexing checks the loaded azure-functions, and an event
whose type cannot be read fails the invocation (Event Grid redelivers, then dead-letters it)."""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import pytest

from lifecycle.triggers import EventNotProcessed, handle_event
from tests.harness.host import worker_event
from tests.integration.conftest import Env
from tests.integration.test_function_app import functions, load_app

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[1] / "events"


def test_indexing_the_app_with_the_pinned_library_logs_no_worker_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="lifecycle.worker"):
        load_app(monkeypatch, None)
    assert not [r for r in caplog.records if r.name == "lifecycle.worker"]


@pytest.mark.parametrize(
    "payload",
    [
        {"id": "e1", "subject": "/x", "data": {}, "dataVersion": "1", "eventTime": "2026-11-23T10:00:00Z"},
        {"id": "e2", "eventType": 7, "subject": "/x", "data": {}},
        {"specVersion": "1.0", "id": "e3", "source": "/pipelines", "type": "ImageLifecycle.BuildCompleted"},
    ],
    ids=["no-eventType", "eventType-not-a-string", "cloudevent-spelt-specVersion-through-the-worker"],
)
def test_an_event_without_a_readable_type_fails_the_invocation(
    env: Env, monkeypatch: pytest.MonkeyPatch, payload: dict[str, Any]
) -> None:
    on_event = functions(load_app(monkeypatch, None))["on_event"].get_user_function()
    reloaded = sys.modules["lifecycle.triggers"].EventNotProcessed  # load_app imports the module afresh
    before = sum(env.emulator.stats()["by_method"].values())
    with pytest.raises(reloaded, match="type cannot be read"):
        on_event(worker_event(payload))
    assert sum(env.emulator.stats()["by_method"].values()) == before


@pytest.mark.parametrize(
    "body", ["not json", b"\xff\xfe", "[1, 2]", "42"], ids=["text", "bytes", "array", "number"]
)
def test_a_body_that_is_not_one_event_fails_too(body: Any) -> None:
    with pytest.raises(EventNotProcessed):
        handle_event(body)


def test_a_readable_type_with_a_bad_field_is_still_dropped_with_a_log_line(env: Env) -> None:
    bad = json.loads((EVENTS / "malformed_version_write_bad_version.eventgrid.json").read_text())
    assert handle_event(bad) is None
