"""The sweep fanned out over a Storage queue (Azurite's queue service): one message per image in scope, the
queue function reconciles each with the same unit as every trigger, and a poison message is reported and
its image enqueued again by the next sweep. Messages reach the handler decoded as the Python worker
decodes a queueTrigger payload."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient

from lifecycle import tags as lt
from lifecycle.reconcile import Trigger, reconcile
from lifecycle.triggers import MessageNotProcessed, handle_queue_message
from tests.harness.host import delivered_message, drain_one_by_one, fanout_queue, queue_client, worker_message
from tests.integration.conftest import GALLERY_ID, Env

pytestmark = pytest.mark.integration
IMAGES = ("alpha", "beta", "gamma")


@pytest.fixture()
def fanout(env: Env, policy_text: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Env, QueueClient]]:
    name = f"fanout-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    monkeypatch.setenv("LIFECYCLE_QUEUE_MAX_DEQUEUE", "3")
    env.put_policy(policy_text(regions={"eastus": 1, "westeurope": 1}))
    for image in IMAGES:
        env.create_image(image)
        env.create_version(image, "1.0.0")
    env.advance(hours=1)
    with fanout_queue(env.azurite.connection_string, name) as client:
        yield env, client


def test_the_sweep_enqueues_one_message_per_image_and_the_queue_function_reconciles_each(
    fanout: tuple[Env, QueueClient],
) -> None:
    env, queue = fanout
    writes = env.writes()
    report = reconcile(Trigger("sweep"), at=env.now())
    assert not report.errors, report.errors
    assert sorted(report.enqueued) == sorted(f"{GALLERY_ID}/images/{i}" for i in IMAGES)
    assert report.to_json()["summary"]["enqueued"] == 3
    assert env.writes() == writes, "a fanned-out sweep writes nothing itself"

    ran = drain_one_by_one(queue, handle_queue_message)
    assert len(ran) == 3
    for message, result in ran:
        assert set(json.loads(message.content)) == {"image", "sweep"}
        assert result is not None and result.trigger.source == "queue"
        assert result.summary()["failed"] == 0 and result.summary()["succeeded"] >= 1
    for image in IMAGES:
        version = env.version(image, "1.0.0")
        assert version["tags"][lt.STATE] == lt.STATE_ACTIVE
    # Converged: an in-process apply of the same policy finds nothing left to do.
    env.advance(minutes=10)
    assert reconcile(Trigger("cli"), at=env.now()).summary()["actions"] == 0


def test_a_poison_message_is_reported_and_its_image_enqueued_again(fanout: tuple[Env, QueueClient]) -> None:
    env, queue = fanout
    reconcile(Trigger("sweep"), at=env.now())
    received = list(queue.receive_messages(messages_per_page=10, visibility_timeout=60))
    message = received[0]
    image = json.loads(message.content)["image"]
    # ARM fails every call: the function raises so the host tries again, and at the last try says it
    # gives up before the host moves the message to `<queue>-poison`.
    env.emulator.control("POST", "faults", "500=1.0")
    for tries in (1, 3):
        with pytest.raises(MessageNotProcessed, match=f"try {tries} of 3"):
            handle_queue_message(worker_message(message, dequeue_count=tries))
    env.emulator.control("POST", "faults", "")
    # The host's move to the poison queue: the same body, in `<queue>-poison`.
    poison = queue_client(env.azurite.connection_string, f"{queue.queue_name}-poison")
    poison.create_queue()
    poison.send_message(message.content)
    queue.delete_message(message)
    for other in received[1:]:
        queue.delete_message(other)

    report = reconcile(Trigger("sweep"), at=env.now())
    assert len(report.poison) == 1 and report.poison[0].startswith(f"{image}: gave up after")
    assert image in report.enqueued
    assert list(poison.peek_messages()) == [], "the sweep takes the poison message off its queue"
    again = [
        m for m in queue.receive_messages(messages_per_page=10) if json.loads(m.content)["image"] == image
    ]
    assert len(again) == 1
    assert handle_queue_message(worker_message(again[0])) is not None


def test_a_malformed_message_is_dropped_without_a_retry(fanout: tuple[Env, QueueClient]) -> None:
    env, _ = fanout
    writes = env.writes()
    for body in ("not json", json.dumps({"image": f"{GALLERY_ID}/images/alpha/versions/1.0.0"}), "{}"):
        assert handle_queue_message(delivered_message(body)) is None
    assert env.writes() == writes


def test_apply_still_runs_every_image_in_one_process(fanout: tuple[Env, QueueClient]) -> None:
    env, queue = fanout
    report = reconcile(Trigger("cli"), at=env.now())
    assert report.enqueued == [] and len(report.plans) == 3
    assert report.summary()["failed"] == 0
    try:
        peeked = list(queue.peek_messages())
    except ResourceNotFoundError:  # nothing was ever enqueued
        peeked = []
    assert peeked == []
