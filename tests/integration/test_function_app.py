"""The function app as the Functions host sees it: indexed functions and bindings, and the handlers
called with real-shaped trigger payloads decoded the way the Python worker decodes them."""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from azure.functions.timer import TimerRequest

from lifecycle import tags as lt
from tests.harness.host import worker_event
from tests.integration.conftest import GALLERY_ID, Env

EVENTS = Path(__file__).resolve().parents[1] / "events"
VERSION_ID = f"{GALLERY_ID}/images/ubuntu-24.04/versions/1.0.0"


def load_app(monkeypatch: pytest.MonkeyPatch, schedule: str | None) -> Any:
    if schedule is None:
        monkeypatch.delenv("LIFECYCLE_SWEEP_SCHEDULE", raising=False)
    else:
        monkeypatch.setenv("LIFECYCLE_SWEEP_SCHEDULE", schedule)
    for name in ("function_app", "lifecycle.triggers"):
        sys.modules.pop(name, None)
    return importlib.import_module("function_app").app


def functions(app: Any) -> dict[str, Any]:
    return {f.get_function_name(): f for f in app.get_functions()}


def test_indexed_functions_and_bindings(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_app(monkeypatch, "0 */5 * * * *")
    found = functions(app)
    assert set(found) == {"on_event", "sweep", "reconcile_image"}
    (queue_binding,) = found["reconcile_image"].get_bindings_dict()["bindings"]
    assert queue_binding["type"] == "queueTrigger" and queue_binding["connection"] == "LIFECYCLE_QUEUE"
    (event_binding,) = found["on_event"].get_bindings_dict()["bindings"]
    assert event_binding["type"] == "eventGridTrigger" and event_binding["name"] == "event"
    (timer_binding,) = found["sweep"].get_bindings_dict()["bindings"]
    assert timer_binding["type"] == "timerTrigger"
    assert timer_binding["schedule"] == "%LIFECYCLE_SWEEP_SCHEDULE%"


def test_sweep_schedule_defaults_to_every_15_minutes(monkeypatch: pytest.MonkeyPatch) -> None:
    app = load_app(monkeypatch, None)
    (timer_binding,) = functions(app)["sweep"].get_bindings_dict()["bindings"]
    assert timer_binding["schedule"] == "0 */15 * * * *"


def test_indexing_imports_no_azure_sdk() -> None:
    import subprocess

    code = (
        "import sys, function_app; function_app.app.get_functions(); "
        "print([m for m in sys.modules if m.startswith(('azure.mgmt', 'azure.storage', 'azure.identity', "
        "'azure.eventgrid', 'pydantic', 'yaml'))])"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.integration
def test_on_event_handler_with_worker_decoded_events(
    env: Env, policy_text: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    on_event = functions(load_app(monkeypatch, None))["on_event"].get_user_function()
    env.put_policy(policy_text(regions={"eastus": 1, "westeurope": 1}))
    env.create_image("ubuntu-24.04")
    env.create_version("ubuntu-24.04", "1.0.0")
    env.advance(hours=1)

    build = json.loads((EVENTS / "build_completed.cloudevent.json").read_text())
    build["subject"] = VERSION_ID
    build["data"] = {"imageVersionId": VERSION_ID, "buildId": "20261123.9", "commit": "c0ffee"}
    on_event(worker_event(build))

    write = json.loads((EVENTS / "version_write_success.eventgrid.json").read_text())
    write["subject"] = write["data"]["resourceUri"] = VERSION_ID
    on_event(worker_event(write))  # the version is now Updating: nothing more to do, and no error

    body = env.version("ubuntu-24.04", "1.0.0")
    assert body["tags"][lt.BUILD_ID] == "20261123.9" and body["tags"][lt.COMMIT] == "c0ffee"
    assert {t["name"] for t in body["properties"]["publishingProfile"]["targetRegions"]} == {
        "East US",
        "West Europe",
    }


@pytest.mark.integration
def test_sweep_handler_with_a_timer_request(
    env: Env, policy_text: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    sweep = functions(load_app(monkeypatch, None))["sweep"].get_user_function()
    env.put_policy(policy_text(regions={"eastus": 1, "japaneast": 1}))
    env.create_image("ubuntu-24.04")
    env.create_version("ubuntu-24.04", "1.0.0")
    env.advance(hours=1)
    sweep(TimerRequest(past_due=True))
    body = env.version("ubuntu-24.04", "1.0.0")
    assert {t["name"] for t in body["properties"]["publishingProfile"]["targetRegions"]} == {
        "East US",
        "Japan East",
    }


@pytest.mark.integration
def test_malformed_event_is_dropped_without_raising(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    on_event = functions(load_app(monkeypatch, None))["on_event"].get_user_function()
    before = sum(env.emulator.stats()["by_method"].values())
    bad = json.loads((EVENTS / "malformed_version_write_bad_version.eventgrid.json").read_text())
    on_event(worker_event(bad))
    assert sum(env.emulator.stats()["by_method"].values()) == before
