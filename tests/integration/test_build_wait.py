"""`metadata.await_build_minutes` end to end: a version-write event that beats its build event leaves the
new version alone, the build event's run writes regions, end-of-life and build tags in one ARM write, and
without a build event a delayed fan-out message (Azurite's queue service) has the version written when the
wait ends. Events go through the function handler, against the ARM emulator with the real SDKs.

The handler runs on the real clock, so the emulator's clock is brought to it before versions are
published (their publish date is the emulator's)."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from lifecycle import tags as lt
from lifecycle.model import iso
from lifecycle.planning import STATE_AWAITING_BUILD
from lifecycle.triggers import handle_event, handle_queue_message
from tests.harness.host import fanout_queue, worker_message
from tests.integration.conftest import GALLERY_ID, Env

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[1] / "events"
IMAGE = "ubuntu-24.04"
VERSION_ID = f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.0"


def policy(minutes: int | None, mode: str = "enforce") -> str:
    metadata: dict[str, Any] = {"tags": {"owner": "platform"}}
    if minutes is not None:
        metadata["await_build_minutes"] = minutes
    return json.dumps(
        {
            "schema": 1,
            "mode": mode,
            "defaults": {
                "replication": {"regions": {"eastus": 1, "westeurope": 1}},
                "metadata": metadata,
                "retention": {"lifetime_days": 90, "keep_latest": 2},
            },
            "galleries": [{"id": GALLERY_ID}],
        }
    )


def write_event() -> dict[str, Any]:
    event = json.loads((EVENTS / "version_write_success.eventgrid.json").read_text())
    event["id"] = str(uuid.uuid4())
    event["subject"] = event["data"]["resourceUri"] = event["data"]["authorization"]["scope"] = VERSION_ID
    return event


def build_event() -> dict[str, Any]:
    event = json.loads((EVENTS / "build_completed.eventgrid.json").read_text())
    event["id"] = str(uuid.uuid4())
    event["subject"] = VERSION_ID
    event["data"] = {"imageVersionId": VERSION_ID, "buildId": "20261201.7", "commit": "c0ffee1"}
    return event


def publish(env: Env, minutes: int | None, age: timedelta = timedelta(minutes=2)) -> None:
    """A version published `age` ago, created by now (the emulator takes 60 s to create one)."""
    env.put_policy(policy(minutes))
    env.create_image(IMAGE)
    env.emulator.set_time(datetime.now(UTC) - age)
    env.create_version(IMAGE, "1.0.0")
    env.emulator.set_time(datetime.now(UTC))


def tag_writes(env: Env) -> int:
    """Tag changes through ARM's Tags API (`{version id}/providers/Microsoft.Resources/tags/default`)."""
    return int(env.emulator.stats()["by_operation"].get("PATCH Microsoft.Resources/tags", 0))


def version_writes(env: Env) -> int:
    """Writes to versions: updates of the version itself, and tag merges at its scope (the Tags API)."""
    operations = env.emulator.stats()["by_operation"]
    return operations.get("PATCH Microsoft.Compute/galleries/images/versions", 0) + tag_writes(env)


def test_a_write_event_before_the_build_event_leaves_one_write_with_the_build_tags(env: Env) -> None:
    publish(env, minutes=30)
    before = version_writes(env)

    waiting = handle_event(write_event())
    assert waiting is not None and not waiting.failed
    [plan] = waiting.plans
    [report] = [v for v in plan.versions if v.version == "1.0.0"]
    assert report.state == STATE_AWAITING_BUILD, report
    assert version_writes(env) == before, "nothing written while the build event may still come"
    assert lt.STATE not in (env.version(IMAGE, "1.0.0").get("tags") or {})

    built = handle_event(build_event())
    assert built is not None and not built.failed
    # Regions and end-of-life in one update, every tag in one merge.
    assert version_writes(env) == before + 2 and tag_writes(env) == 1
    version = env.version(IMAGE, "1.0.0")
    assert version["tags"][lt.BUILD_ID] == "20261201.7" and version["tags"][lt.STATE] == lt.STATE_ACTIVE
    assert version["tags"]["owner"] == "platform"
    regions = {r["name"] for r in version["properties"]["publishingProfile"]["targetRegions"]}
    assert regions == {"East US", "West Europe"}

    # The event our own write causes changes nothing.
    handle_event(write_event())
    assert version_writes(env) == before + 2


def test_without_the_wait_the_build_tags_take_a_second_write(env: Env) -> None:
    publish(env, minutes=None)
    before = version_writes(env)
    handle_event(write_event())
    assert version_writes(env) == before + 2  # the update, and the policy's tags
    env.advance(hours=1)  # replication to westeurope completes: the version can be written again
    env.emulator.set_time(datetime.now(UTC) + timedelta(hours=1))
    handle_event(build_event())
    assert version_writes(env) == before + 3, "the build tags: a second tag write"
    assert env.version(IMAGE, "1.0.0")["tags"][lt.BUILD_ID] == "20261201.7"


@pytest.fixture()
def queue(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[QueueClient]:
    name = f"wake-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    with fanout_queue(env.azurite.connection_string, name) as client:
        yield client


def test_with_no_build_event_a_delayed_message_has_the_version_written_when_the_wait_ends(
    env: Env, queue: QueueClient
) -> None:
    # Published 115 s ago with a two-minute wait: the wake-up is due in a few seconds.
    publish(env, minutes=2, age=timedelta(seconds=115))
    before = version_writes(env)
    for _ in range(3):  # duplicates schedule one wake-up, not one each
        delivered(queue, write_event())
    assert version_writes(env) == before
    assert queue.get_queue_properties().approximate_message_count == 1
    assert list(queue.receive_messages(visibility_timeout=1)) == [], "not visible before the wait ends"

    deadline = time.monotonic() + 60
    received: list[Any] = []
    while not received and time.monotonic() < deadline:
        time.sleep(1)
        received = list(queue.receive_messages(visibility_timeout=60))
    assert received, "the wake-up message never became visible"
    [message] = received
    body = json.loads(message.content)
    assert body["image"] == f"{GALLERY_ID}/images/{IMAGE}" and set(body) == {"image", "wake"}
    result = handle_queue_message(worker_message(message))
    assert result is not None and not result.failed
    queue.delete_message(message)

    assert version_writes(env) == before + 2  # the update, and the tags
    tags = env.version(IMAGE, "1.0.0")["tags"]
    assert tags[lt.STATE] == lt.STATE_ACTIVE and lt.BUILD_ID not in tags


def test_a_wake_up_that_comes_early_schedules_another(env: Env, queue: QueueClient) -> None:
    """The queue's clock ahead of the function's: the wake-up arrives while the version still waits. It
    must schedule the next one, or the version would wait for a sweep after the deadline."""
    publish(env, minutes=10)
    waiting = delivered(queue, write_event())
    assert waiting is not None and not waiting.failed
    [plan] = waiting.plans
    assert plan.state.recheck_at is not None
    assert queue.get_queue_properties().approximate_message_count == 1

    # The scheduled message as it would arrive minutes early (same body, delivered now).
    deadline = iso(plan.state.recheck_at)
    queue.send_message(json.dumps({"image": f"{GALLERY_ID}/images/{IMAGE}", "wake": deadline}))
    [early] = list(queue.receive_messages(visibility_timeout=60))
    before = version_writes(env)
    result = handle_queue_message(worker_message(early))
    assert result is not None and not result.failed
    queue.delete_message(early)
    assert version_writes(env) == before, "still within the wait: nothing written"
    assert queue.get_queue_properties().approximate_message_count == 2, "the early wake-up schedules another"
    assert list(queue.receive_messages(visibility_timeout=1)) == [], "neither is visible before the deadline"

    # A duplicate event is not a wake-up: it schedules nothing more.
    delivered(queue, write_event())
    assert queue.get_queue_properties().approximate_message_count == 2


def test_a_dry_run_schedules_no_wake_up_and_does_not_remember_one(env: Env, queue: QueueClient) -> None:
    """Dry-run sends nothing, so its state must not say a wake-up is on its way: once the policy is
    enforced, the next run within the wait schedules it."""
    publish(env, minutes=10)
    env.put_policy(policy(10, mode="dry-run"))
    delivered(queue, write_event())
    assert queued(queue) == 0

    env.put_policy(policy(10))
    delivered(queue, write_event())
    assert queued(queue) == 1, "the enforced run schedules the wake-up the dry run did not"


def delivered(queue: QueueClient, payload: dict[str, Any]) -> Any:
    """With the fan-out queue, an event delivery only enqueues its image: run what it enqueued through the
    queue function, as the host does (delayed wake-up messages are not visible yet and stay queued)."""
    accepted = handle_event(payload)
    assert accepted is not None and not accepted.errors, accepted.to_json()
    report = None
    for message in queue.receive_messages(messages_per_page=16, visibility_timeout=60):
        if "event" not in json.loads(message.content):
            continue  # a wake-up that has come due: left for the test to handle
        report = handle_queue_message(worker_message(message))
        queue.delete_message(message)
    return report


def queued(queue: QueueClient) -> int:
    try:
        return queue.get_queue_properties().approximate_message_count
    except ResourceNotFoundError:  # nothing was ever sent: the queue does not exist
        return 0
