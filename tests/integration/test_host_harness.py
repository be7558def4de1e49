"""The Functions-host stand-in the fleet chaos suite runs on (`tests/harness/host.py`) behaves as the host:
a failing queue message comes back with its dequeue count raised and ends in the poison queue after
maxDequeueCount tries, which the next sweep reports and enqueues again; an event whose function fails is
delivered again up to Event Grid's attempt limit; duplicates are delivered. Against the emulator and
Azurite, through the app's indexed functions."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.host import EVENT_GRID_MAX_ATTEMPTS, FunctionsHost, fanout_queue, queue_client
from tests.integration.conftest import GALLERY_ID, Env
from tests.integration.test_function_app import load_app

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"


@pytest.fixture()
def host(env: Env, policy_text: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[FunctionsHost]:
    name = f"host-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    monkeypatch.setenv("LIFECYCLE_QUEUE_MAX_DEQUEUE", "3")
    env.put_policy(policy_text())
    env.create_image(IMAGE)
    env.create_version(IMAGE, "1.0.0")
    env.advance(hours=1)
    with fanout_queue(env.azurite.connection_string, name, create=True) as queue:
        poison = queue_client(env.azurite.connection_string, f"{name}-poison")
        poison.create_queue()
        app = load_app(monkeypatch, None)
        yield FunctionsHost.for_app(app, queue, poison, queue_workers=2, max_dequeue=3)


def test_a_failing_message_is_retried_then_poisoned_and_the_next_sweep_enqueues_it_again(
    env: Env, host: FunctionsHost
) -> None:
    env.emulator.control("POST", "faults", "500=1.0")  # every ARM call fails
    host.fire_timer()  # the sweep itself fails to list: nothing enqueued
    host.queue.send_message(json.dumps({"image": f"{GALLERY_ID}/images/{IMAGE}", "sweep": "x"}))
    host.drain_queue(idle_seconds=1.5)
    env.emulator.control("POST", "faults", "")
    assert (host.counts["dequeues"], host.counts["message_failures"], host.counts["poisoned"]) == (3, 3, 1)
    [moved] = list(host.poison.peek_messages())
    assert json.loads(moved.content)["image"].endswith(IMAGE)

    host.fire_timer()  # ARM healthy: the sweep reports the poison message and enqueues the image again
    assert list(host.poison.peek_messages()) == []
    host.drain_queue(idle_seconds=1.5)
    assert host.counts["completed"] == 1 and not host.errors


def test_a_failing_event_is_redelivered_up_to_the_limit_and_duplicates_arrive(host: FunctionsHost) -> None:
    untyped = {
        "id": "no-type",
        "subject": "x",
        "data": {},
        "eventTime": "2026-11-23T10:00:00Z",
        "dataVersion": "1",
    }
    written = {
        "id": "write-1",
        "topic": "/subscriptions/x/resourceGroups/y",
        "subject": f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.0",
        "eventType": "Microsoft.Resources.ResourceWriteSuccess",
        "eventTime": "2026-11-23T10:00:00Z",
        "dataVersion": "2",
        "data": {
            "resourceUri": f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.0",
            "operationName": "Microsoft.Compute/galleries/images/versions/write",
            "status": "Succeeded",
        },
    }
    host.deliver_events([untyped, written], random.Random(3), duplicates=1.0)
    # Each twice (duplicates); the untyped one fails every time: redelivered until Event Grid gives up.
    assert host.counts["dead_lettered_events"] == 2
    assert host.counts["failed_deliveries"] == 2 * EVENT_GRID_MAX_ATTEMPTS
    assert host.counts["deliveries"] == 2 * EVENT_GRID_MAX_ATTEMPTS + 2
    host.drain_queue(idle_seconds=1.5)
    assert host.counts["completed"] == 2, "the write event, delivered twice, ran its image twice"
