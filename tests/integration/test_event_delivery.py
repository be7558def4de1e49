"""Lifecycle events leave through the outbox: kept in the state container until the topic takes them,
resent by a later run under the same id, and sent with the events endpoint's own credential. Real SDKs
against the ARM emulator's topic and Azurite."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest

from lifecycle.reconcile import Trigger, reconcile
from tests.integration.conftest import GALLERY_ID, Env

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
DOWN = "https://127.0.0.1:9/api/events"  # nothing listens there: the topic is down


def policy() -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                "replication": {"regions": {"eastus": 1, "westeurope": 1}},
                "retention": {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 5},
            },
            "galleries": [{"id": GALLERY_ID}],
        }
    )


def vid(name: str) -> str:
    return f"{GALLERY_ID}/images/{IMAGE}/versions/{name}"


def sweep(env: Env) -> Any:
    report = reconcile(Trigger("sweep"), at=env.now())
    env.advance(minutes=5)
    return report


def outbox(env: Env) -> list[dict[str, Any]]:
    container = env.state_container()
    entries: list[dict[str, Any]] = []
    for blob in container.list_blobs(name_starts_with="images/"):
        entries += json.loads(container.download_blob(blob.name).readall()).get("outbox", [])
    return entries


@pytest.fixture()
def events_token(env: Env, monkeypatch: pytest.MonkeyPatch) -> Env:
    """The topic reached with LIFECYCLE_EVENTS_TOKEN (no key), while LIFECYCLE_ARM_TOKEN is set too."""
    monkeypatch.delenv("LIFECYCLE_EVENTS_KEY")
    monkeypatch.setenv("LIFECYCLE_EVENTS_TOKEN", "events-only-token")
    return env


def test_with_the_topic_down_for_a_run_every_event_arrives_on_the_next_run_once_per_id(
    events_token: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = events_token
    env.put_policy(policy())
    env.create_image(IMAGE)
    for name in ("1.0.0", "1.0.1"):
        env.create_version(IMAGE, name)
    env.advance(hours=1)
    first = sweep(env)  # replicate both to westeurope, tag, set end-of-life: VersionReplicating x2
    assert not first.failed, first.to_json()
    assert outbox(env) == [], "delivered events leave the outbox"
    delivered_first = env.emulator.events()
    assert Counter(e["type"] for e in delivered_first) == {"ImageLifecycle.VersionReplicating": 2}

    # The topic goes down; 36 days on, 1.0.1 has replicated, 1.0.0 is due for deletion.
    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", DOWN)
    env.advance(days=36)
    down = sweep(env)
    assert any("not delivered, kept for a later run" in e for e in down.undelivered), down.to_json()
    assert not down.errors, "a topic that is down is not a failure of the run: its writes are done"
    assert [o.action.kind.value for o in down.outcomes if o.status == "succeeded"] == ["delete"]
    kept = outbox(env)
    assert sorted((e["type"], e["subject"]) for e in kept) == [
        ("ImageLifecycle.VersionDeleted", vid("1.0.0")),
        ("ImageLifecycle.VersionReplicated", vid("1.0.1")),
    ]
    assert all(e["status"] == "unsent" for e in kept)
    assert env.emulator.events() == delivered_first, "nothing reached the topic"

    # The topic is back: the next run sends exactly what was kept, under the ids it was kept with.
    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", f"{env.emulator.endpoint}/api/events")
    back = sweep(env)
    assert not back.failed, back.to_json()
    sweep(env)  # and a run after that sends nothing again
    received = env.emulator.events()[len(delivered_first) :]
    assert sorted(e["id"] for e in received) == sorted(e["id"] for e in kept)
    ids = [e["id"] for e in env.emulator.events()]
    assert len(ids) == len(set(ids)), "every event exactly once per id"
    assert outbox(env) == []

    # Every request to the topic carried the events token, never the ARM token.
    auth = {r["authorization"] for r in env.emulator.event_requests()}
    assert auth == {"Bearer events-only-token"}, auth


def test_a_failed_write_announces_nothing(env: Env) -> None:
    env.put_policy(policy())
    env.create_image(IMAGE)
    env.create_version(IMAGE, "1.0.0")
    env.create_version(IMAGE, "1.0.1")
    env.advance(hours=1)
    sweep(env)
    env.advance(hours=2)
    sweep(env)
    before = len(env.emulator.events())
    # Everything is allowed but deleting versions: the delete due in 36 days is refused (403), so its
    # VersionDeleted is never sent, nor kept.
    everything_but_delete = [
        "Microsoft.Compute/galleries/read",
        "Microsoft.Compute/galleries/images/read",
        "Microsoft.Compute/galleries/images/versions/read",
        "Microsoft.Compute/galleries/images/versions/write",
        "Microsoft.Compute/virtualMachines/read",
        "Microsoft.Compute/virtualMachineScaleSets/read",
        "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
    ]
    env.emulator.set_rbac([{"scope": "/", "actions": everything_but_delete}])
    try:
        env.advance(days=36)
        report = sweep(env)
    finally:
        env.emulator.set_rbac(None)
    assert [(o.action.kind.value, o.status) for o in report.outcomes] == [("delete", "failed")]
    assert env.emulator.events()[before:] == []
    assert outbox(env) == []


def test_a_policy_rejection_announced_while_the_topic_is_down_arrives_later_once(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env.put_policy(policy())
    sweep(env)
    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", DOWN)
    env.put_policy(policy().replace('"keep_latest": 1', '"keep_latest": -1'))
    down = sweep(env)
    assert any("kept for a later run" in e for e in down.undelivered), down.to_json()
    assert [e["type"] for e in env.emulator.events()] == []

    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", f"{env.emulator.endpoint}/api/events")
    sweep(env)
    sweep(env)
    received = env.emulator.events()
    assert [e["type"] for e in received] == ["ImageLifecycle.ConfigRejected"]
    assert "keep_latest" in json.dumps(received[0]["data"])
