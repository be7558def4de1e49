"""The function handlers as the Functions host calls them (timer, queue, Event Grid), with real-shaped trigger
payloads, and versions published in the past on the emulator's clock (the handlers run on the real one)."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import azure.functions as func
import pytest
from azure.functions.timer import TimerRequest

from lifecycle.policy_store import clear_cache
from tests.harness.host import worker_event
from tests.integration.conftest import Env

EVENTS = Path(__file__).resolve().parents[1] / "events"


def handlers(monkeypatch: pytest.MonkeyPatch) -> dict[str, Callable[..., Any]]:
    """The user functions function_app.py registers, freshly imported (settings come from the env)."""
    clear_cache()
    for name in ("function_app", "lifecycle.triggers"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    app = importlib.import_module("function_app").app
    return {f.get_function_name(): f.get_user_function() for f in app.get_functions()}


def timer() -> func.TimerRequest:
    return TimerRequest(past_due=False)


def version_written(version_id: str, event_id: str) -> func.EventGridEvent:
    """A ResourceWriteSuccess for `version_id` (tests/events), decoded as the worker does."""
    payload = json.loads((EVENTS / "version_write_success.eventgrid.json").read_text())
    payload["subject"] = version_id
    payload["id"] = event_id
    payload["data"]["resourceUri"] = version_id
    payload["data"]["authorization"]["scope"] = version_id
    return worker_event(payload)


def publish_in_the_past(
    env: Env, image: str, names: tuple[str, ...], *, days: int = 60, lifetime_days: int = 30
) -> None:
    """Versions published `days` ago on the emulator's clock, their end-of-life already as a policy with
    `lifetime_days` sets it; then the clock is brought back to now."""
    now = datetime.now(UTC)
    env.emulator.set_time((now - timedelta(days=days)).isoformat())
    for name in names:
        eol = (env.now() + timedelta(days=lifetime_days)).isoformat()
        env.create_version(image, name, publishing={"endOfLifeDate": eol})
    env.advance(hours=1)
    env.emulator.set_time(now.isoformat())
