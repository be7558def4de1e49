"""One in-use inventory per subscription per sweep: the sweep lists every consumer subscription's VMs, scale
sets and instances once, keeps the answer in the state container with its time, and every fan-out message
of the sweep (and event runs until the next sweep) uses it; a delete needs one no older than one sweep
interval. Real SDKs against the ARM emulator (the app under exactly its policy's permissions) and Azurite,
messages through the queue function's handler."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from azure.storage.queue import QueueClient

from lifecycle.reconcile import Trigger, reconcile
from lifecycle.triggers import handle_queue_message
from tests.harness.builders import scale_set_body, vm_body
from tests.harness.host import drain_one_by_one, fanout_queue
from tests.integration.conftest import GALLERY_ID, RG, SUB, Env

pytestmark = pytest.mark.integration
SUB2 = "00000000-0000-0000-0000-0000000000c2"
IMAGES = tuple(f"img{i}" for i in range(6))


def policy() -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                # Older versions shrink: an event run needs the inventory too (it deletes nothing).
                "replication": {
                    "regions": {"eastus": 1},
                    "older": {"after_newest": 1, "regions": {"eastus": 1}},
                },
                "retention": {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 10},
            },
            "galleries": [{"id": GALLERY_ID, "consumer_subscriptions": [SUB2]}],
        }
    )


def vid(image: str, name: str) -> str:
    return f"{GALLERY_ID}/images/{image}/versions/{name}"


def exists(env: Env, image: str, name: str) -> bool:
    return env.find_version(image, name) is not None


def lists(env: Env) -> dict[str, int]:
    ops = env.emulator.stats()["by_operation"]
    return {
        "vms": ops.get("GET Microsoft.Compute/virtualMachines", 0),
        "scale_sets": ops.get("GET Microsoft.Compute/virtualMachineScaleSets", 0),
    }


@pytest.fixture()
def fleet(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Env, QueueClient]]:
    """Six images with 1.0.0 and 1.0.1 past end-of-life + grace and 1.0.2 the newest, published 45 days
    before real now (the queue function runs on the real clock); 1.0.0 of img0 runs on a VM in the
    gallery's subscription (eastus), 1.0.0 of img1 on a scale set in a consumer subscription
    (westeurope)."""
    name = f"inv-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    start = datetime.now(UTC) - timedelta(days=45)
    env.emulator.set_time(start.isoformat())
    env.put_policy(policy())
    for image in IMAGES:
        env.create_image(image)
        for version in ("1.0.0", "1.0.1", "1.0.2"):
            env.create_version(image, version)
    env.advance(hours=1)
    reconcile(Trigger("cli"), at=env.now())  # end-of-life written explicitly
    env.compute.virtual_machines.begin_create_or_update(RG, "pinned", vm_body(vid("img0", "1.0.0"))).result()
    consumer = env.emulator.compute(SUB2)
    web = scale_set_body(vid("img1", "1.0.0"), location="westeurope")
    consumer.virtual_machine_scale_sets.begin_create_or_update("rg-app", "web", web).result()
    env.emulator.set_time(datetime.now(UTC).isoformat())
    with fanout_queue(env.azurite.connection_string, name) as client:
        yield env, client


def handle_all(queue: QueueClient) -> list[Any]:
    return [report for _, report in drain_one_by_one(queue, handle_queue_message)]


def test_a_fanned_out_sweep_lists_each_subscription_once_and_its_messages_use_the_kept_inventory(
    fleet: tuple[Env, QueueClient],
) -> None:
    env, queue = fleet
    before = lists(env)

    sweep = reconcile(Trigger("sweep"), at=env.now())
    assert not sweep.errors, sweep.errors
    assert len(sweep.enqueued) == len(IMAGES)
    after_sweep = lists(env)
    reports = handle_all(queue)

    assert len(reports) == len(IMAGES) and all(r is not None and not r.errors for r in reports)
    # One VM list and one scale-set list per subscription (the gallery's and the consumer's), for the
    # sweep and its six messages together.
    assert {k: after_sweep[k] - before[k] for k in before} == {"vms": 2, "scale_sets": 2}
    assert lists(env) == after_sweep
    kept = env.state_container()
    names = {b.name for b in kept.list_blobs(name_starts_with="inventory/")}
    assert names == {f"inventory/{SUB}.json", f"inventory/{SUB2}.json"}
    # What the kept inventory says protected the versions in use, in both subscriptions.
    assert exists(env, "img0", "1.0.0") and exists(env, "img1", "1.0.0")
    assert not exists(env, "img0", "1.0.1") and not exists(env, "img2", "1.0.0")


def test_an_event_run_within_the_sweep_interval_reuses_the_kept_inventory(
    fleet: tuple[Env, QueueClient], monkeypatch: pytest.MonkeyPatch
) -> None:
    env, _ = fleet
    monkeypatch.delenv("LIFECYCLE_FANOUT_QUEUE")
    reconcile(Trigger("sweep"), at=env.now())
    before = lists(env)
    report = reconcile(Trigger("event", scope=vid("img0", "1.0.2")), at=env.now() + timedelta(minutes=5))
    assert not report.errors, report.errors
    assert lists(env) == before
    # Past one sweep interval (15 minutes by default) the event run lists afresh.
    reconcile(Trigger("event", scope=vid("img0", "1.0.2")), at=env.now() + timedelta(minutes=16))
    assert lists(env) == {"vms": before["vms"] + 2, "scale_sets": before["scale_sets"] + 2}


def test_a_message_whose_inventory_is_older_than_one_sweep_interval_deletes_nothing(
    fleet: tuple[Env, QueueClient],
) -> None:
    env, queue = fleet
    reconcile(Trigger("sweep"), at=env.now() - timedelta(minutes=20))
    before = lists(env)

    reports = handle_all(queue)

    assert lists(env) == before, "a message never lists the inventory itself"
    assert all(exists(env, image, "1.0.1") for image in IMAGES)
    # Not an error of the message (trying it again cannot help; the next sweep lists again): a note.
    assert all(r is not None and not r.errors for r in reports)
    notes = [
        note
        for r in reports
        if r is not None
        for version in r.to_json()["images"][0]["versions"]
        for note in version.get("notes", [])
    ]
    assert any("more than one sweep interval" in n for n in notes), notes
