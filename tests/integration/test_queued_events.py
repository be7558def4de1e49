"""Events answered in seconds: with the fan-out queue configured, the Event Grid handler checks an event,
records what it carries in the image's state, enqueues the image and makes no ARM call; the queue
function's run applies what was recorded. Events from untrusted senders record nothing. Through the
function handlers, decoded as the Python worker decodes them, against the emulator and Azurite's queue."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from lifecycle import tags as lt
from lifecycle.triggers import EventNotProcessed, handle_event, handle_queue_message
from tests.harness.host import drain_one_by_one, fanout_queue, worker_event
from tests.integration.conftest import GALLERY, GALLERY_ID, RG, SUB, Env

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[1] / "events"
IMAGE = "app"
IMAGE_ID = f"{GALLERY_ID}/images/{IMAGE}"
BUILDS = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics/image-builds"
APPROVALS = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics/image-approvals"
ROGUE = f"/subscriptions/{SUB}/resourceGroups/rg-dev/providers/Microsoft.EventGrid/topics/scratch"


def vid(name: str) -> str:
    return f"{IMAGE_ID}/versions/{name}"


def policy(
    build_sources: list[str] | None = None, approval_sources: list[str] | None = None, **defaults: Any
) -> str:
    gallery: dict[str, Any] = {"id": GALLERY_ID}
    if build_sources is not None:
        gallery["build_sources"] = build_sources
    if approval_sources is not None:
        gallery["approval_sources"] = approval_sources
    sections = {"replication": {"regions": {"eastus": 1}}, **defaults}
    return json.dumps({"schema": 1, "defaults": sections, "galleries": [gallery]})


def eventgrid(event_type: str, version: str, topic: str, event_id: str, **data: Any) -> Any:
    return worker_event(
        {
            "id": event_id,
            "topic": topic,
            "subject": vid(version),
            "eventType": event_type,
            "eventTime": datetime.now(UTC).isoformat(),
            "dataVersion": "1",
            "data": {"imageVersionId": vid(version), **data},
        }
    )


def version_written(version: str, event_id: str) -> Any:
    return worker_event(
        {
            "id": event_id,
            "topic": f"/subscriptions/{SUB}/resourceGroups/{RG}",
            "subject": vid(version),
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "eventTime": datetime.now(UTC).isoformat(),
            "dataVersion": "2",
            "data": {
                "resourceUri": vid(version),
                "operationName": "Microsoft.Compute/galleries/images/versions/write",
                "status": "Succeeded",
            },
        }
    )


def arm_calls(env: Env) -> int:
    """Requests ARM answered (the topic's are not ARM's)."""
    stats = env.emulator.stats()["by_operation"]
    return sum(n for key, n in stats.items() if "Microsoft.EventGrid/events" not in key)


@pytest.fixture()
def queue(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[QueueClient]:
    name = f"events-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    with fanout_queue(env.azurite.connection_string, name, create=True) as client:
        yield client


def drain(queue: QueueClient) -> list[Any]:
    """Run every queued message through the queue function, as the host would; returns the bodies."""
    return [json.loads(message.content) for message, _ in drain_one_by_one(queue, handle_queue_message)]


def publish(env: Env, name: str, *, excluded: bool = False) -> None:
    env.create_version(IMAGE, name, publishing={"excludeFromLatest": excluded})
    env.advance(seconds=61)


def image_state(env: Env) -> dict[str, Any]:
    from lifecycle.gateways.storage import state_store
    from lifecycle.model import ImageRef
    from lifecycle.reconcile.phases.unit import image_state_name
    from lifecycle.settings import Settings

    saved, _ = state_store(Settings.from_env()).read_json(image_state_name(ImageRef(SUB, RG, GALLERY, IMAGE)))
    return saved or {}


def test_a_write_event_is_enqueued_without_an_arm_call(env: Env, queue: QueueClient) -> None:
    env.put_policy(policy())
    env.create_image(IMAGE)
    publish(env, "1.0.0")
    calls = arm_calls(env)
    report = handle_event(version_written("1.0.0", "write-1"))
    assert report is not None and report.enqueued == [IMAGE_ID] and not report.errors
    assert arm_calls(env) == calls, "the delivery made no ARM call"
    assert drain(queue) == [{"event": "write-1", "image": IMAGE_ID}]
    assert env.version(IMAGE, "1.0.0")["tags"][lt.STATE] == lt.STATE_ACTIVE, "the queue run did the work"


def test_a_trusted_build_is_recorded_then_applied_by_the_queue_run(env: Env, queue: QueueClient) -> None:
    env.put_policy(policy([BUILDS]))
    env.create_image(IMAGE)
    publish(env, "1.0.0")
    calls = arm_calls(env)
    build = eventgrid(
        "ImageLifecycle.BuildCompleted", "1.0.0", BUILDS, "build-1", buildId="b-42", commit="c0ffee"
    )
    report = handle_event(build)
    handle_event(build)  # Event Grid delivers at least once
    assert report is not None and report.enqueued == [IMAGE_ID]
    assert arm_calls(env) == calls, "no ARM call in the delivery"
    recorded = image_state(env)["pending_builds"]["1.0.0"]["tags"]
    assert recorded[lt.BUILD_ID] == "b-42"
    bodies = drain(queue)
    assert [b["image"] for b in bodies] == [IMAGE_ID, IMAGE_ID]
    tags = env.version(IMAGE, "1.0.0")["tags"]
    assert (tags[lt.BUILD_ID], tags[lt.COMMIT]) == ("b-42", "c0ffee")
    assert "1.0.0" not in image_state(env).get("pending_builds", {}), "applied, then forgotten"


def test_an_untrusted_build_records_and_enqueues_nothing(env: Env, queue: QueueClient) -> None:
    env.put_policy(policy([BUILDS]))
    env.create_image(IMAGE)
    publish(env, "1.0.0")
    calls = arm_calls(env)
    report = handle_event(
        eventgrid("ImageLifecycle.BuildCompleted", "1.0.0", ROGUE, "rogue-1", buildId="evil")
    )
    assert report is not None and report.rejected and report.enqueued == []
    assert arm_calls(env) == calls
    assert image_state(env).get("pending_builds", {}) == {}
    assert drain(queue) == []


def test_an_approval_is_recorded_then_judged_and_applied_by_the_queue_run(
    env: Env, queue: QueueClient
) -> None:
    env.put_policy(
        policy(
            [BUILDS],
            [APPROVALS],
            approval={"required": True},
            retention={"lifetime_days": 1, "keep_latest": 1},
        )
    )
    env.create_image(IMAGE)
    now = env.now()
    env.emulator.set_time(now - timedelta(days=3))
    publish(env, "1.0.0", excluded=True)  # expired by now: an approval of it is refused
    env.emulator.set_time(now)
    publish(env, "1.0.1", excluded=True)
    handle_event(version_written("1.0.1", "write-2"))
    drain(queue)
    assert env.version(IMAGE, "1.0.1")["tags"][lt.STATE] == lt.STATE_PENDING_APPROVAL

    calls = arm_calls(env)
    # The build topic never approves: that event records and enqueues nothing.
    rogue = handle_event(
        eventgrid("ImageLifecycle.VersionApproved", "1.0.1", BUILDS, "approve-x", approver="mallory")
    )
    assert rogue is not None and rogue.rejected and rogue.enqueued == []
    for version, event_id in (("1.0.1", "approve-1"), ("1.0.0", "approve-0")):
        report = handle_event(
            eventgrid("ImageLifecycle.VersionApproved", version, APPROVALS, event_id, approver="carol")
        )
        assert report is not None and report.enqueued == [IMAGE_ID], report.to_json()
    assert arm_calls(env) == calls
    assert [r["event_id"] for r in image_state(env)["gate_requests"]] == ["approve-1", "approve-0"]
    drain(queue)
    env.advance(seconds=61)
    approved = env.version(IMAGE, "1.0.1")
    assert approved["tags"][lt.APPROVED_BY] == "carol" and approved["tags"][lt.STATE] == lt.STATE_ACTIVE
    assert lt.APPROVED_BY not in (env.version(IMAGE, "1.0.0")["tags"] or {}), "an expired version stays so"
    assert "gate_requests" not in image_state(env)
    promoted = [e for e in env.emulator.events() if e["type"] == "ImageLifecycle.VersionPromoted"]
    assert [e["subject"] for e in promoted] == [vid("1.0.1")]


def test_a_policy_change_fans_out_through_the_queue(env: Env, queue: QueueClient) -> None:
    env.put_policy(policy())
    env.create_image(IMAGE)
    publish(env, "1.0.0")
    blob = json.loads((EVENTS / "policy_blob_created.eventgrid.json").read_text())
    blob["data"]["url"] = env.config_url
    blob["subject"] = (
        "/blobServices/default/containers/" + env.config_url.split("/")[-2] + "/blobs/policy.yaml"
    )
    calls = arm_calls(env)
    report = handle_event(worker_event(blob))
    assert report is not None and not report.errors, report.to_json()
    assert arm_calls(env) == calls
    bodies = drain(queue)
    assert "fan_out" in bodies[0] and [b.get("image") for b in bodies[1:]] == [IMAGE_ID]
    assert env.version(IMAGE, "1.0.0")["tags"][lt.STATE] == lt.STATE_ACTIVE


def test_without_a_queue_an_event_is_reconciled_inline(env: Env) -> None:
    env.put_policy(policy([BUILDS]))
    env.create_image(IMAGE)
    publish(env, "1.0.0")
    report = handle_event(
        eventgrid("ImageLifecycle.BuildCompleted", "1.0.0", BUILDS, "build-2", buildId="b-7")
    )
    assert report is not None and report.enqueued == [] and report.outcomes
    assert env.version(IMAGE, "1.0.0")["tags"][lt.BUILD_ID] == "b-7"


def test_a_build_that_cannot_be_recorded_is_reworker_event(
    env: Env, queue: QueueClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.put_policy(policy([BUILDS]))
    env.create_image(IMAGE)
    # The queue endpoint answers with something else (here: the blob service, which refuses queue calls):
    # the event is not enqueued, so Event Grid must deliver it again.
    monkeypatch.setenv(
        "LIFECYCLE_STORAGE_CONNECTION_STRING",
        env.azurite.connection_string.replace(f":{env.azurite.queue_port}/", f":{env.azurite.blob_port}/"),
    )
    with pytest.raises(EventNotProcessed, match="build-3"):
        handle_event(eventgrid("ImageLifecycle.BuildCompleted", "1.0.0", BUILDS, "build-3", buildId="b-8"))
