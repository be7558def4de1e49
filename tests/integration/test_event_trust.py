"""Senders Event Grid vouches for, end to end: build and approval events delivered to the `on_event` function
as the Functions host hands them over and decoded by the worker's own converter, against the ARM emulator
and Azurite with the real SDKs.

Event Grid POSTs a JSON array; the host's Event Grid extension invokes the function once per element and
passes it to the Python worker as `json` typed data, which `EventGridEventInConverter` turns into an
`EventGridEvent` (Event Grid schema) or, with a lower-case `specversion`, a `CloudEvent`. The trust rule is
`lifecycle.trust.trust_decision`: builds only in the Event Grid schema from a topic in `build_sources`
(anyone when it is empty), approvals only in the Event Grid schema from a topic in `approval_sources`, and
never from a build source.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.reconcile import Trigger, reconcile
from tests.harness.host import worker_event
from tests.integration.conftest import GALLERY_ID, SUB, Env
from tests.integration.test_function_app import functions, load_app

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[1] / "events"
IMAGE = "ubuntu-24.04"
VERSION_ID = f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.0"
TOPICS = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics"
ADO = f"{TOPICS}/builds-ado"
PACKER = f"{TOPICS}/builds-packer"
APPROVERS = f"{TOPICS}/approvals"
ROGUE = f"/subscriptions/{SUB}/resourceGroups/rg-dev/providers/Microsoft.EventGrid/topics/scratch"

OnEvent = Callable[[Any], None]


# --- deliveries ---------------------------------------------------------------------------------------------


def deliver(on_event: OnEvent, *events: dict[str, Any]) -> None:
    """POST body -> one invocation per element, each decoded exactly as the Python worker decodes it."""
    body = json.dumps(list(events))  # what Event Grid sends to the host's webhook
    for element in json.loads(body):
        on_event(worker_event(element))


def eventgrid(event_type: str, topic: str | None, data: dict[str, Any]) -> dict[str, Any]:
    """An Event Grid-schema event as delivered: `topic` is what Event Grid stamped (the topic it went to)."""
    fixture = "build_completed" if event_type.endswith("BuildCompleted") else "version_approved"
    event = json.loads((EVENTS / f"{fixture}.eventgrid.json").read_text())
    event.update(id=str(uuid.uuid4()), subject=VERSION_ID, data={"imageVersionId": VERSION_ID, **data})
    if topic is None:
        event.pop("topic")
    else:
        event["topic"] = topic
    return event


def cloudevent(event_type: str, source: str, data: dict[str, Any], **extensions: Any) -> dict[str, Any]:
    fixture = "build_completed" if event_type.endswith("BuildCompleted") else "version_approved"
    event = json.loads((EVENTS / f"{fixture}.cloudevent.json").read_text())
    event.update(id=str(uuid.uuid4()), source=source, subject=VERSION_ID, **extensions)
    event["data"] = {"imageVersionId": VERSION_ID, **data}
    return event


def build_eg(topic: str | None, **data: Any) -> dict[str, Any]:
    return eventgrid("ImageLifecycle.BuildCompleted", topic, {"buildId": "b-1", **data})


def build_ce(source: str, **extensions: Any) -> dict[str, Any]:
    return cloudevent("ImageLifecycle.BuildCompleted", source, {"buildId": "b-1"}, **extensions)


def approval_eg(topic: str | None, approver: str = "carol") -> dict[str, Any]:
    return eventgrid("ImageLifecycle.VersionApproved", topic, {"approver": approver})


def approval_ce(source: str, approver: str = "carol", **extensions: Any) -> dict[str, Any]:
    return cloudevent("ImageLifecycle.VersionApproved", source, {"approver": approver}, **extensions)


# --- the gallery --------------------------------------------------------------------------------------------


def policy(builds: list[str], approvals: list[str] | None = None, *, approval: bool = False) -> str:
    gallery: dict[str, Any] = {"id": GALLERY_ID, "build_sources": builds, "images": {"*": {}}}
    if approvals is not None:
        gallery["approval_sources"] = approvals
    defaults: dict[str, Any] = {"replication": {"regions": {"eastus": 1}}}
    if approval:
        defaults["approval"] = {"required": True}
    return json.dumps({"schema": 1, "defaults": defaults, "galleries": [gallery]})


@pytest.fixture()
def on_event(env: Env, monkeypatch: pytest.MonkeyPatch) -> OnEvent:
    handler: OnEvent = functions(load_app(monkeypatch, None))["on_event"].get_user_function()
    return handler


def settled(env: Env, text: str, *, held: bool = False) -> None:
    """A replicated version the app has reconciled (held out of `latest` when approval is required)."""
    env.put_policy(text)
    env.create_image(IMAGE)
    env.create_version(IMAGE, "1.0.0", publishing={"excludeFromLatest": held})
    env.advance(hours=1)
    reconcile(Trigger("sweep"), at=env.now())
    env.advance(hours=1)


def state_blobs(env: Env) -> dict[str, bytes]:
    container = env.state_container()
    return {
        b.name: container.download_blob(b.name).readall()
        for b in container.list_blobs()
        if b.name.startswith("images/")
    }


class Untouched:
    """Proof that a delivery changed nothing: no ARM call at all (by the emulator's stats), the same image
    state, the same version body."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.version = env.version(IMAGE, "1.0.0")  # read before the count: the test's own GET
        self.calls = sum(env.emulator.stats()["by_method"].values())
        self.writes = env.writes()
        self.state = state_blobs(env)

    def check(self) -> None:
        # Counted before the check's own GET below.
        assert sum(self.env.emulator.stats()["by_method"].values()) == self.calls, "an ARM call was made"
        assert self.env.writes() == self.writes, "an ARM write was made"
        assert state_blobs(self.env) == self.state, "the image state changed"
        after = self.env.version(IMAGE, "1.0.0")
        assert after["tags"] == self.version["tags"]
        assert after["properties"]["publishingProfile"] == self.version["properties"]["publishingProfile"]


def rejected(env: Env, event: dict[str, Any], action: str) -> dict[str, Any]:
    [record] = [r for r in env.audit() if r.get("event_id") == event["id"]]
    assert record["action"] == action and record["outcome"] == "rejected", record
    assert record["target"] == VERSION_ID
    return record


# --- builds -------------------------------------------------------------------------------------------------


def test_an_eventgrid_build_from_a_listed_topic_is_applied(env: Env, on_event: OnEvent) -> None:
    settled(env, policy([ADO, PACKER]))
    deliver(on_event, build_eg(PACKER.upper(), buildId="20261206.1", commit="c0ffee"))
    tags = env.version(IMAGE, "1.0.0")["tags"]
    assert tags[lt.BUILD_ID] == "20261206.1" and tags[lt.COMMIT] == "c0ffee"
    assert not [r for r in env.audit() if r["outcome"] == "rejected"]


def test_an_eventgrid_build_from_an_unlisted_topic_changes_nothing(env: Env, on_event: OnEvent) -> None:
    settled(env, policy([ADO]))
    untouched = Untouched(env)
    forged = build_eg(ROGUE, buildId="evil", lifetimeDays=3650, approver="mallory")
    deliver(on_event, forged)  # no exception: a rejected event is not redelivered
    untouched.check()
    record = rejected(env, forged, "build_rejected")
    assert record["reason"] == f"topic {ROGUE!r} is not in build_sources of gallery golden"
    assert record["after"] == {"source": ROGUE, "schema": "eventgrid"}
    # A later sweep picks nothing of it up either.
    reconcile(Trigger("sweep"), at=env.now())
    assert lt.BUILD_ID not in env.version(IMAGE, "1.0.0")["tags"]


def test_an_eventgrid_build_without_a_topic_changes_nothing(env: Env, on_event: OnEvent) -> None:
    # Event Grid always stamps `topic`; a delivery without one did not come through a topic we listed.
    settled(env, policy([ADO]))
    untouched = Untouched(env)
    event = build_eg(None)
    deliver(on_event, event)
    untouched.check()
    assert "carries no topic" in rejected(env, event, "build_rejected")["reason"]


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: build_ce(ADO), id="source-names-a-listed-topic"),
        pytest.param(lambda: build_ce("/pipelines/platform-images"), id="any-source"),
        # A CloudEvent carrying a `topic` attribute: the worker keeps it as an extension, nobody stamped it.
        pytest.param(lambda: build_ce("/pipelines/x", topic=ADO), id="spoofed-topic-extension"),
        pytest.param(
            lambda: build_ce(ADO, topic=ADO, eventType="ImageLifecycle.BuildCompleted"), id="hybrid"
        ),
    ],
)
def test_a_cloudevents_build_for_a_gallery_that_lists_sources_changes_nothing(
    env: Env, on_event: OnEvent, make: Callable[[], dict[str, Any]]
) -> None:
    settled(env, policy([ADO]))
    untouched = Untouched(env)
    event = make()
    deliver(on_event, event)
    untouched.check()
    record = rejected(env, event, "build_rejected")
    assert record["reason"].startswith("a CloudEvents build event vouches for nothing")
    assert "written by the sender" in record["reason"] and record["after"]["schema"] == "cloudevents"


def test_open_mode_takes_builds_from_any_sender_in_either_schema(env: Env, on_event: OnEvent) -> None:
    settled(env, policy([]))
    deliver(on_event, build_eg(ROGUE, buildId="from-eventgrid"))
    assert env.version(IMAGE, "1.0.0")["tags"][lt.BUILD_ID] == "from-eventgrid"
    env.advance(minutes=5)
    deliver(on_event, cloudevent("ImageLifecycle.BuildCompleted", "/anyone", {"commit": "abc123"}))
    assert env.version(IMAGE, "1.0.0")["tags"][lt.COMMIT] == "abc123"
    assert not [r for r in env.audit() if r["outcome"] == "rejected"]


# --- approvals ----------------------------------------------------------------------------------------------


def held(env: Env) -> tuple[str | None, bool]:
    body = env.version(IMAGE, "1.0.0")
    return (body.get("tags") or {}).get(lt.STATE), bool(
        body["properties"]["publishingProfile"]["excludeFromLatest"]
    )


def test_an_approval_from_an_approval_source_promotes_the_version(env: Env, on_event: OnEvent) -> None:
    settled(env, policy([ADO], [APPROVERS], approval=True), held=True)
    assert held(env) == (lt.STATE_PENDING_APPROVAL, True)
    deliver(on_event, approval_eg(APPROVERS, "carol"))
    env.advance(seconds=61)
    assert held(env) == (lt.STATE_ACTIVE, False)
    assert env.version(IMAGE, "1.0.0")["tags"][lt.APPROVER] == "carol"
    promote = next(r for r in env.audit() if r["action"] == "promote")
    assert "approved by carol" in promote["reason"]


@pytest.mark.parametrize(
    ("builds", "approvals", "make", "reason"),
    [
        pytest.param(
            [ADO],
            [APPROVERS],
            lambda: approval_eg(ADO),
            f"topic {ADO!r} is a build source of gallery golden: a builder never approves its own build",
            id="from-a-build-source",
        ),
        pytest.param(
            [ADO],
            [APPROVERS],
            lambda: approval_eg(ROGUE),
            f"topic {ROGUE!r} is not in approval_sources of gallery golden",
            id="from-an-unlisted-topic",
        ),
        pytest.param(
            [ADO],
            [],
            lambda: approval_eg(APPROVERS),
            "gallery golden lists no approval_sources: approvals come only from the tag "
            "lifecycle.approved-by or `approve`",
            id="approval-sources-empty",
        ),
        pytest.param(
            [],
            [],
            lambda: approval_eg(ROGUE),
            "gallery golden lists no approval_sources",
            id="open-build-mode-does-not-open-approvals",
        ),
        pytest.param(
            [ADO],
            [APPROVERS],
            lambda: approval_ce(APPROVERS),
            "a CloudEvents approval event vouches for nothing",
            id="cloudevents",
        ),
        pytest.param(
            [],
            [APPROVERS],
            lambda: approval_ce("/pipelines/x", topic=APPROVERS),
            "a CloudEvents approval event vouches for nothing",
            id="cloudevents-spoofed-topic",
        ),
        pytest.param(
            [ADO],
            [APPROVERS],
            lambda: approval_eg(None),
            "the event carries no topic",
            id="no-topic",
        ),
    ],
)
def test_an_approval_from_anyone_else_is_refused_and_changes_nothing(
    env: Env,
    on_event: OnEvent,
    builds: list[str],
    approvals: list[str],
    make: Callable[[], dict[str, Any]],
    reason: str,
) -> None:
    settled(env, policy(builds, approvals, approval=True), held=True)
    untouched = Untouched(env)
    event = make()
    deliver(on_event, event)
    untouched.check()
    record = rejected(env, event, "approve")
    assert record["reason"].startswith(reason), record["reason"]
    assert record["after"]["by"] == "carol"
    # The version stays held through the next sweeps: the refused approval was not recorded anywhere.
    reconcile(Trigger("sweep"), at=env.now())
    env.advance(seconds=61)
    assert held(env) == (lt.STATE_PENDING_APPROVAL, True)


# --- the policy keys ----------------------------------------------------------------------------------------


def test_a_topic_in_both_lists_is_rejected_and_the_last_accepted_policy_stays(
    env: Env, on_event: OnEvent
) -> None:
    settled(env, policy([ADO], [APPROVERS]))
    env.put_policy(policy([ADO, APPROVERS], [APPROVERS]))
    blob = json.loads((EVENTS / "policy_blob_created.eventgrid.json").read_text())
    blob["data"]["url"] = env.config_url
    deliver(on_event, blob)  # the policy blob changed: validated through the handler
    [record] = [r for r in env.audit() if r["action"] == "policy_rejected"]
    assert "in both build_sources and approval_sources" in json.dumps(record)
    [announced] = [e for e in env.emulator.events() if e["type"] == "ImageLifecycle.ConfigRejected"]
    assert "a builder never approves its own build" in json.dumps(announced["data"])
    # The last accepted policy is in force: a build from the approvers' topic is still refused.
    untouched = Untouched(env)
    event = build_eg(APPROVERS)
    deliver(on_event, event)
    untouched.check()
    assert rejected(env, event, "build_rejected")["reason"].startswith(f"topic {APPROVERS!r} is not in")
