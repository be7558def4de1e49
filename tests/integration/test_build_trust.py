"""What a trusted build may change, and the secrets it must not leave behind, end to end: BuildCompleted
events delivered through the function handler, against the ARM emulator and Azurite with the real SDKs.
Who is trusted at all is `test_event_trust.py`."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.reconcile import Trigger, reconcile
from lifecycle.triggers import handle_event
from tests.integration.conftest import GALLERY_ID, SUB, Env

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[1] / "events"
VERSION_ID = f"{GALLERY_ID}/images/ubuntu-24.04/versions/1.0.0"
BUILDS_TOPIC = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics/image-builds"
SAS = "sv=2024-05-04&sr=b&se=2027-01-01&sp=r&sig=c2VjcmV0LXNpZ25hdHVyZQ%3D%3D"


def policy(build_sources: list[str], lifetime_days: int = 90) -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                "replication": {"regions": {"eastus": 1}},
                "retention": {"lifetime_days": lifetime_days, "keep_latest": 1, "delete_after_days": 0},
            },
            "galleries": [{"id": GALLERY_ID, "build_sources": build_sources, "images": {"*": {}}}],
        }
    )


def eventgrid_build(topic: str, **data: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / "build_completed.eventgrid.json").read_text())
    event["topic"] = topic
    event["subject"] = VERSION_ID
    event["data"] = {"imageVersionId": VERSION_ID, **data}
    return event


def settled(env: Env, build_sources: list[str]) -> dict[str, Any]:
    """A replicated, tagged version in a gallery with the given trusted sources."""
    env.put_policy(policy(build_sources))
    env.create_image("ubuntu-24.04")
    env.create_version("ubuntu-24.04", "1.0.0")
    env.advance(hours=1)
    reconcile(Trigger("sweep"), at=env.now())
    env.advance(hours=1)
    return env.version("ubuntu-24.04", "1.0.0")


def test_a_trusted_build_can_lengthen_the_lifetime_but_not_shorten_it(env: Env) -> None:
    before = settled(env, [BUILDS_TOPIC])
    published = datetime.fromisoformat(before["properties"]["publishingProfile"]["publishedDate"])
    eol = before["properties"]["publishingProfile"]["endOfLifeDate"]
    assert round((datetime.fromisoformat(eol) - published).total_seconds() / 86400) == 90

    handle_event(eventgrid_build(BUILDS_TOPIC, lifetimeDays=1))
    env.advance(hours=1)
    reconcile(Trigger("sweep"), at=env.now())
    assert env.version("ubuntu-24.04", "1.0.0")["properties"]["publishingProfile"]["endOfLifeDate"] == eol

    handle_event(eventgrid_build(BUILDS_TOPIC, lifetimeDays=400))
    env.advance(hours=1)
    for _ in range(3):  # the longer lifetime lasts after the build metadata has been applied
        reconcile(Trigger("sweep"), at=env.now())
        env.advance(hours=1)
    body = env.version("ubuntu-24.04", "1.0.0")
    longer = datetime.fromisoformat(body["properties"]["publishingProfile"]["endOfLifeDate"])
    assert round((longer - published).total_seconds() / 86400) == 400
    assert body["tags"][lt.LIFETIME_DAYS] == "400"


def test_sas_tokens_never_reach_tags_state_or_the_audit_log(env: Env) -> None:
    settled(env, [BUILDS_TOPIC])
    sbom = "https://contosoartifacts.blob.core.windows.net/sbom/ubuntu-24.04-1.0.0.spdx.json"
    run = "https://dev.azure.com/contoso/images/_build/results"
    handle_event(
        eventgrid_build(BUILDS_TOPIC, sbomUri=f"{sbom}?{SAS}", pipelineRunUrl=f"{run}?buildId=4711#{SAS}")
    )
    env.advance(hours=1)
    reconcile(Trigger("sweep"), at=env.now())
    tags = env.version("ubuntu-24.04", "1.0.0")["tags"]
    assert tags[lt.SBOM] == sbom and tags[lt.PIPELINE_RUN] == run
    # Nothing the app stored anywhere carries the signature.
    container = env.state_container()
    for blob in container.list_blobs():
        text = container.download_blob(blob.name).readall().decode(errors="replace")
        assert "sig=" not in text and "c2VjcmV0" not in text, blob.name
    assert any(r["action"] == "tag" and sbom in json.dumps(r) for r in env.audit())
