"""Trusted build sources (`lifecycle.trust`) as a decision table. Pure, no I/O."""

from __future__ import annotations

import json

import pytest

from lifecycle.model import GalleryRef
from lifecycle.policy import Policy, PolicyError, parse_policy
from lifecycle.trust import is_trusted, untrusted_reason

SUB = "00000000-0000-0000-0000-000000000001"
GALLERY = GalleryRef(SUB, "rg-images", "golden")
OTHER = GalleryRef(SUB, "rg-images", "other")
TOPIC = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics/image-builds"


def policy(build_sources: list[str] | None) -> Policy:
    gallery: dict[str, object] = {"id": GALLERY.id}
    if build_sources is not None:
        gallery["build_sources"] = build_sources
    return parse_policy(json.dumps({"schema": 1, "galleries": [gallery]}))


CASES = [
    pytest.param([TOPIC], TOPIC, GALLERY, True, id="listed-topic"),
    pytest.param([TOPIC], TOPIC.upper() + "/", GALLERY, True, id="case-and-trailing-slash"),
    pytest.param([TOPIC], TOPIC.replace("image-builds", "attacker"), GALLERY, False, id="other-topic"),
    pytest.param([TOPIC], None, GALLERY, False, id="no-source"),
    pytest.param(["/pipelines/platform-images"], "/pipelines/platform-images", GALLERY, True, id="ce-source"),
    pytest.param([], "/anyone", GALLERY, True, id="empty-list-trusts-any"),
    pytest.param(None, None, GALLERY, True, id="default-empty"),
    pytest.param([TOPIC], TOPIC, OTHER, False, id="gallery-not-in-policy"),
]


@pytest.mark.parametrize(("sources", "source", "gallery", "trusted"), CASES)
def test_is_trusted(
    sources: list[str] | None, source: str | None, gallery: GalleryRef, trusted: bool
) -> None:
    p = policy(sources)
    assert is_trusted(p, gallery, source) is trusted
    reason = untrusted_reason(p, gallery, source)
    assert (reason is None) is trusted


def test_the_reason_names_the_source_and_the_gallery() -> None:
    reason = untrusted_reason(policy([TOPIC]), GALLERY, "/evil")
    assert reason == "source '/evil' is not in build_sources of gallery golden"


@pytest.mark.parametrize(
    ("sources", "problem"),
    [([" "], "non-empty"), ([TOPIC, TOPIC.lower()], "listed twice")],
    ids=["blank", "duplicate"],
)
def test_bad_build_sources_are_rejected_with_the_key_path(sources: list[str], problem: str) -> None:
    with pytest.raises(PolicyError) as info:
        policy(sources)
    assert "galleries.0.build_sources" in str(info.value) and problem in str(info.value)
