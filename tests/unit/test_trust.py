"""Trusted senders (`lifecycle.trust.trust_decision`) as a decision table, and the policy keys it reads.
Pure, no I/O."""

from __future__ import annotations

import json

import pytest

from lifecycle.model import GalleryRef
from lifecycle.policy import GalleryPolicy, Policy, PolicyError, parse_policy
from lifecycle.trust import APPROVAL, BUILD, CLOUDEVENTS, EVENTGRID, EventKind, trust_decision

SUB = "00000000-0000-0000-0000-000000000001"
GALLERY = GalleryRef(SUB, "rg-images", "golden")
OTHER = GalleryRef(SUB, "rg-images", "other")
TOPICS = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics"
BUILDS = f"{TOPICS}/builds-ado"
PACKER = f"{TOPICS}/builds-packer"
APPROVALS = f"{TOPICS}/approvals"
ROGUE = f"/subscriptions/{SUB}/resourceGroups/rg-dev/providers/Microsoft.EventGrid/topics/scratch"
DOMAIN_TOPIC = (
    f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/domains/ci-all/topics/team-a"
)


def policy(build_sources: list[str] | None = None, approval_sources: list[str] | None = None) -> Policy:
    gallery: dict[str, object] = {"id": GALLERY.id}
    if build_sources is not None:
        gallery["build_sources"] = build_sources
    if approval_sources is not None:
        gallery["approval_sources"] = approval_sources
    return parse_policy(json.dumps({"schema": 1, "galleries": [gallery]}))


def gallery(
    build_sources: list[str] | None = None, approval_sources: list[str] | None = None
) -> GalleryPolicy:
    found = policy(build_sources, approval_sources).gallery(GALLERY)
    assert found is not None
    return found


LISTED = ([BUILDS, PACKER], [APPROVALS])
CASES = [
    # builds
    pytest.param(LISTED, BUILD, EVENTGRID, BUILDS, True, id="build-eg-listed-topic"),
    pytest.param(LISTED, BUILD, EVENTGRID, PACKER.upper() + "/", True, id="build-eg-case-and-trailing-slash"),
    pytest.param(LISTED, BUILD, EVENTGRID, ROGUE, False, id="build-eg-unlisted-topic"),
    pytest.param(LISTED, BUILD, EVENTGRID, APPROVALS, False, id="build-eg-from-the-approval-topic"),
    pytest.param(LISTED, BUILD, EVENTGRID, None, False, id="build-eg-no-topic"),
    pytest.param(LISTED, BUILD, CLOUDEVENTS, BUILDS, False, id="build-cloudevent-naming-a-listed-topic"),
    pytest.param(LISTED, BUILD, CLOUDEVENTS, "/pipelines/x", False, id="build-cloudevent"),
    pytest.param(([], []), BUILD, EVENTGRID, ROGUE, True, id="build-open-mode-eg"),
    pytest.param(([], []), BUILD, CLOUDEVENTS, "/anyone", True, id="build-open-mode-cloudevent"),
    pytest.param(([], []), BUILD, CLOUDEVENTS, None, True, id="build-open-mode-no-source"),
    # approvals
    pytest.param(LISTED, APPROVAL, EVENTGRID, APPROVALS, True, id="approval-eg-listed-topic"),
    pytest.param(LISTED, APPROVAL, EVENTGRID, APPROVALS.upper(), True, id="approval-eg-case"),
    pytest.param(LISTED, APPROVAL, EVENTGRID, BUILDS, False, id="approval-from-a-build-source"),
    pytest.param(LISTED, APPROVAL, EVENTGRID, ROGUE, False, id="approval-eg-unlisted-topic"),
    pytest.param(LISTED, APPROVAL, EVENTGRID, None, False, id="approval-eg-no-topic"),
    pytest.param(LISTED, APPROVAL, CLOUDEVENTS, APPROVALS, False, id="approval-cloudevent"),
    pytest.param(([BUILDS], []), APPROVAL, EVENTGRID, BUILDS, False, id="approval-none-listed"),
    pytest.param(([], []), APPROVAL, EVENTGRID, ROGUE, False, id="approval-open-build-mode-still-refused"),
    pytest.param(([], [APPROVALS]), APPROVAL, EVENTGRID, APPROVALS, True, id="approval-with-open-builds"),
    pytest.param(([], [APPROVALS]), APPROVAL, CLOUDEVENTS, APPROVALS, False, id="approval-ce-open-builds"),
]


@pytest.mark.parametrize(("lists", "kind", "schema", "sender", "trusted"), CASES)
def test_trust_decision(
    lists: tuple[list[str], list[str]], kind: EventKind, schema: str, sender: str | None, trusted: bool
) -> None:
    reason = trust_decision(gallery(*lists), kind, schema, sender)
    assert (reason is None) is trusted, reason


def test_a_gallery_out_of_the_policy_trusts_nobody() -> None:
    assert trust_decision(policy([BUILDS]).gallery(OTHER), BUILD, EVENTGRID, BUILDS) is not None


@pytest.mark.parametrize(
    ("lists", "kind", "schema", "sender", "expected"),
    [
        (LISTED, BUILD, EVENTGRID, ROGUE, f"topic {ROGUE!r} is not in build_sources of gallery golden"),
        (LISTED, APPROVAL, EVENTGRID, ROGUE, f"topic {ROGUE!r} is not in approval_sources of gallery golden"),
        (
            LISTED,
            APPROVAL,
            EVENTGRID,
            BUILDS,
            f"topic {BUILDS!r} is a build source of gallery golden: a builder never approves its own build",
        ),
        (
            LISTED,
            BUILD,
            CLOUDEVENTS,
            "/pipelines/x",
            "a CloudEvents build event vouches for nothing (its source '/pipelines/x' is written by the "
            "sender); gallery golden takes builds only in the Event Grid schema from a topic in its "
            "build_sources",
        ),
        (
            ([BUILDS], []),
            APPROVAL,
            EVENTGRID,
            APPROVALS,
            "gallery golden lists no approval_sources: approvals come only from the tag "
            "lifecycle.approved-by or `approve`",
        ),
    ],
    ids=["unlisted-build", "unlisted-approval", "builder-approves", "cloudevent", "no-approval-sources"],
)
def test_the_reason_names_the_sender_the_list_and_the_gallery(
    lists: tuple[list[str], list[str]], kind: EventKind, schema: str, sender: str, expected: str
) -> None:
    assert trust_decision(gallery(*lists), kind, schema, sender) == expected


@pytest.mark.parametrize("key", ["build_sources", "approval_sources"])
@pytest.mark.parametrize(
    ("sources", "problem"),
    [
        ([" "], "non-empty"),
        ([BUILDS, BUILDS.lower()], "listed twice"),
        (["/pipelines/platform-images"], "is not an Event Grid topic resource id"),
        ([f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/x"], "not an"),
        ([f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.EventGrid/systemTopics/x"], "not an"),
        (["/subscriptions/not-a-guid/resourceGroups/rg/providers/Microsoft.EventGrid/topics/abc"], "not an"),
        ([f"{TOPICS}/ab"], "not an"),  # topic names are 3 to 50 characters
        # Data Sender on a domain reaches every domain topic: the stamp names no single sender.
        ([DOMAIN_TOPIC], "not an"),
    ],
    ids=[
        "blank",
        "duplicate",
        "cloudevents-source",
        "storage-account",
        "system-topic",
        "bad-sub",
        "short",
        "domain-topic",
    ],
)
def test_bad_sources_are_rejected_with_the_key_path(key: str, sources: list[str], problem: str) -> None:
    lists: dict[str, list[str]] = {key: sources}
    with pytest.raises(PolicyError) as info:
        policy(**lists)
    assert f"galleries.0.{key}" in str(info.value) and problem in str(info.value)


def test_a_topic_in_both_lists_is_rejected() -> None:
    with pytest.raises(PolicyError) as info:
        policy([BUILDS, PACKER], [APPROVALS, PACKER.upper() + "/"])
    text = str(info.value)
    assert "galleries.0" in text and "in both build_sources and approval_sources" in text
    assert "a builder never approves its own build" in text


def test_sources_are_kept_as_written_without_a_trailing_slash() -> None:
    g = gallery([BUILDS + "/"], [APPROVALS.upper()])
    assert g.build_sources == [BUILDS] and g.approval_sources == [APPROVALS.upper()]
