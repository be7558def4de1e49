"""Publishing never multiplies ARM work: a topic that is down keeps the events for a later run without
failing the queue message; a topic that refuses for good (a 4xx) sends them to the dead letters in the state
container, with why, counted in the run report and the fleet report; the outbox is bounded by count and age.
Through the queue function's handler, against the emulator's topic and Azurite's queue and blobs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from lifecycle.reconcile import Trigger, reconcile
from lifecycle.triggers import handle_queue_message
from tests.harness.host import delivered_message
from tests.integration.conftest import GALLERY_ID, Env
from tests.integration.test_event_delivery import DOWN, outbox, policy

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
IMAGE_ID = f"{GALLERY_ID}/images/{IMAGE}"


def run_queue(env: Env) -> Any:
    return handle_queue_message(
        delivered_message(json.dumps({"image": IMAGE_ID, "sweep": env.now().isoformat()}))
    )


def state_blob(env: Env, name: str) -> Any:
    container = env.state_container()
    try:
        return json.loads(container.download_blob(name).readall())
    except Exception:
        return None


@pytest.fixture()
def gallery(env: Env) -> Iterator[Env]:
    """Two versions published 40 days ago, only in eastus: the first run takes 1.0.0 (past its end-of-life)
    out of `latest` and replicates 1.0.1 to westeurope: VersionExpired and VersionReplicating to send."""
    env.put_policy(policy())
    env.create_image(IMAGE)
    now = env.now()
    env.emulator.set_time(now - timedelta(days=40))
    for name in ("1.0.0", "1.0.1"):
        env.create_version(IMAGE, name)
    env.emulator.set_time(now)
    yield env
    env.emulator.control("POST", "topic", {"refuse": None})


SENT = ["ImageLifecycle.VersionExpired", "ImageLifecycle.VersionReplicating"]


def test_a_topic_that_is_down_fails_no_queue_message_and_the_events_go_out_later(
    gallery: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = gallery
    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", DOWN)
    writes = env.writes()
    down = run_queue(env)  # returns: the host deletes the message, no retry re-runs the image's writes
    assert down is not None and not down.errors, down.to_json()
    done = sorted(o.action.kind.value for o in down.outcomes if o.status == "succeeded")
    assert "exclude_from_latest" in done and "replicate" in done, done
    assert down.summary()["undelivered"] == 1 and "kept for a later run" in down.undelivered[0]
    assert env.writes() > writes
    kept = outbox(env)
    assert sorted(e["type"] for e in kept) == SENT
    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", f"{env.emulator.endpoint}/api/events")
    back = run_queue(env)
    assert back is not None and back.summary()["undelivered"] == 0
    assert outbox(env) == []
    received = {e["id"]: e["type"] for e in env.emulator.events()}
    assert all(received.get(e["id"]) == e["type"] for e in kept), "sent under the ids they were kept with"


def test_a_permanent_refusal_dead_letters_the_events_and_blocks_none_after_them(gallery: Env) -> None:
    env = gallery
    env.emulator.control("POST", "topic", {"refuse": 403})
    refused = run_queue(env)
    assert refused is not None and not refused.errors, refused.to_json()
    assert refused.summary()["dead_letters"] == 2
    assert all("403" in line for line in refused.dead_letters), refused.dead_letters
    assert outbox(env) == [], "dead letters leave the outbox: later events are not held up behind them"
    letters = state_blob(env, "outbox/dead-letters.json")
    assert letters["total"] == 2
    assert sorted(e["event"]["type"] for e in letters["entries"]) == SENT
    assert {e["status"] for e in letters["entries"]} == {403}
    assert all("Microsoft.EventGrid/events/send/action" in e["reason"] for e in letters["entries"])

    # The role is granted again: the next events go out; the fleet report counts the dead letters.
    env.emulator.control("POST", "topic", {"refuse": None})
    env.create_version(IMAGE, "1.0.2")
    # 1.0.2 is created, so the next run replicates it (a queue message deletes nothing without its sweep's
    # in-use inventory, so 1.0.0's delete is not what makes the events here).
    env.advance(hours=1)
    run_queue(env)
    assert env.emulator.events(), "the events after the dead letters go out"
    report = reconcile(Trigger("sweep"))
    assert report.summary()["dead_letters"] == 0
    fleet = state_blob(env, "reports/latest.json")
    assert fleet["dead_letters"]["total"] == 2
    assert sorted(d["type"] for d in fleet["dead_letters"]["recent"]) == SENT
    html = env.state_container()
    assert b"dead-lettered events" in html.download_blob("reports/latest.html").readall()


def test_a_bad_request_for_one_event_dead_letters_that_event_only(gallery: Env) -> None:
    env = gallery
    env.emulator.control("POST", "topic", {"refuse": 400, "types": ["ImageLifecycle.VersionExpired"]})
    report = run_queue(env)
    assert report is not None and not report.errors
    letters = state_blob(env, "outbox/dead-letters.json")
    assert [e["event"]["type"] for e in letters["entries"]] == ["ImageLifecycle.VersionExpired"]
    assert len(report.dead_letters) == 1 and "VersionExpired" in report.dead_letters[0]
    assert [e["type"] for e in env.emulator.events()] == ["ImageLifecycle.VersionReplicating"]
    assert outbox(env) == []


def test_the_outbox_is_bounded_by_count_and_by_age(gallery: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    env = gallery
    monkeypatch.setenv("LIFECYCLE_EVENTS_ENDPOINT", DOWN)
    monkeypatch.setenv("LIFECYCLE_OUTBOX_MAX_EVENTS", "1")
    monkeypatch.setenv("LIFECYCLE_OUTBOX_MAX_AGE_HOURS", "24")
    report = run_queue(env)
    assert report is not None and not report.errors
    assert len(report.dead_letters) == 1 and "count bound" in report.dead_letters[0]
    (left,) = outbox(env)
    # Two days on, the topic still down: the one left is past the age bound.
    later = reconcile(Trigger("queue", scope=IMAGE_ID), at=env.now() + timedelta(days=2))
    assert len(later.dead_letters) == 1 and "age bound" in later.dead_letters[0], later.to_json()
    assert left["id"] in later.dead_letters[0]
    assert left["id"] not in [e["id"] for e in outbox(env)], "only that run's own events are left"
    assert state_blob(env, "outbox/dead-letters.json")["total"] == 2
