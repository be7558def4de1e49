"""The engine end to end: the real SDKs against the ARM emulator and Azurite, through the function
handlers and the reconcile."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.reconcile import Trigger, reconcile
from lifecycle.triggers import EventNotProcessed, handle_event
from tests.integration.conftest import GALLERY_ID, Env

pytestmark = pytest.mark.integration
EVENTS = Path(__file__).resolve().parents[1] / "events"
REGIONS = {"eastus": 2, "westeurope": 1, "japaneast": 1}
VERSION_ID = f"{GALLERY_ID}/images/ubuntu-24.04/versions/1.0.0"


def write_event(version_id: str = VERSION_ID) -> dict[str, Any]:
    event = json.loads((EVENTS / "version_write_success.eventgrid.json").read_text())
    event["subject"] = version_id
    event["data"]["resourceUri"] = version_id
    return event


def build_event(version_id: str = VERSION_ID, **data: Any) -> dict[str, Any]:
    event = json.loads((EVENTS / "build_completed.cloudevent.json").read_text())
    event["subject"] = version_id
    event["data"] = {"imageVersionId": version_id, **data}
    return event


def regions_of(body: dict[str, Any]) -> dict[str, int]:
    targets = body["properties"]["publishingProfile"]["targetRegions"]
    return {t["name"].replace(" ", "").lower(): t.get("regionalReplicaCount") for t in targets}


def published(env: Env, policy_text: Callable[..., str], **policy: Any) -> None:
    env.put_policy(policy_text(**policy))
    env.create_image("ubuntu-24.04")
    env.create_version("ubuntu-24.04", "1.0.0")
    env.advance(hours=1)


def test_event_replicates_to_policy_regions_and_second_apply_writes_nothing(
    env: Env, policy_text: Callable[..., str]
) -> None:
    published(env, policy_text, regions=REGIONS)
    report = handle_event(write_event())
    assert report is not None and not report.failed, report and report.to_json()
    assert [a.kind.value for a in report.plans[0].actions] == ["replicate", "tag"]
    body = env.version("ubuntu-24.04", "1.0.0")
    assert body["properties"]["provisioningState"] in ("Updating", "Succeeded")
    # An immediate second apply (the CLI's `apply`) makes no ARM write.
    writes = env.writes()
    assert reconcile(Trigger("cli"), at=env.now()).plans[0].actions == ()
    assert env.writes() == writes
    env.advance(hours=2)
    body = env.version("ubuntu-24.04", "1.0.0")
    assert regions_of(body) == REGIONS
    assert body["properties"]["provisioningState"] == "Succeeded"
    assert body["tags"][lt.STATE] == lt.STATE_ACTIVE

    # The next sweep only observes: it publishes VersionReplicated and writes nothing to ARM.
    before = env.writes()
    sweep = reconcile(Trigger("sweep"), at=env.now())
    assert sweep.plans[0].actions == ()
    assert env.writes() == before
    assert [e["type"] for e in env.emulator.events()][-1] == "ImageLifecycle.VersionReplicated"
    again = reconcile(Trigger("sweep"), at=env.now())
    assert again.plans[0].actions == () and env.writes() == before


def test_build_metadata_lands_as_tags(env: Env, policy_text: Callable[..., str]) -> None:
    published(env, policy_text)
    meta = {
        "buildId": "20261123.4",
        "commit": "9f2c1e7",
        "pipelineRunUrl": "https://dev.azure.com/contoso/images/_build/results?buildId=4711",
        "sbomUri": "https://contosoartifacts.blob.core.windows.net/sbom/ubuntu-24.04-1.0.0.spdx.json",
        "approver": "alice@contoso.com",
        "baseImage": "Canonical:ubuntu-24_04-lts:server:24.04.202611010",
    }
    report = handle_event(build_event(**meta))
    assert report is not None and not report.failed
    tags = env.version("ubuntu-24.04", "1.0.0")["tags"]
    assert tags[lt.BUILD_ID] == meta["buildId"]
    assert tags[lt.COMMIT] == meta["commit"]
    assert tags[lt.PIPELINE_RUN] == meta["pipelineRunUrl"].split("?")[0]  # no query string in a tag
    assert tags[lt.SBOM] == meta["sbomUri"]
    assert tags[lt.APPROVER] == meta["approver"]
    assert tags[lt.BASE_IMAGE] == meta["baseImage"]


def test_build_event_for_a_busy_version_is_kept_until_it_can_be_tagged(
    env: Env, policy_text: Callable[..., str]
) -> None:
    env.put_policy(policy_text())
    env.create_image("ubuntu-24.04")
    env.create_version("ubuntu-24.04", "1.0.0")  # still Creating: cannot be written yet
    report = handle_event(build_event(buildId="77"))
    assert report is not None and report.plans[0].actions == ()
    env.advance(hours=1)
    reconcile(Trigger("sweep"), at=env.now())
    assert env.version("ubuntu-24.04", "1.0.0")["tags"][lt.BUILD_ID] == "77"


def test_dry_run_writes_nothing_and_reports_the_whole_plan(env: Env, policy_text: Callable[..., str]) -> None:
    published(env, policy_text, regions=REGIONS, mode="dry-run")
    before = env.writes()
    report = reconcile(Trigger("sweep"), at=env.now())
    assert sorted(a.kind.value for a in report.plans[0].actions) == ["replicate", "tag"]
    assert {o.status for o in report.outcomes} == {"planned"}
    assert env.writes() == before
    from lifecycle.gateways.storage import state_store
    from lifecycle.settings import Settings

    audit = state_store(Settings.from_env()).read_audit(env.now().date())
    assert {r["outcome"] for r in audit} == {"planned"}


def test_broken_policy_is_rejected_previous_stays_and_event_published(
    env: Env, policy_text: Callable[..., str]
) -> None:
    published(env, policy_text, regions={"eastus": 1})
    assert not reconcile(Trigger("sweep"), at=env.now()).failed
    env.put_policy(policy_text(regions={"westeurpoe": 1}))
    blob_event = json.loads((EVENTS / "policy_blob_created.eventgrid.json").read_text())
    blob_event["data"]["url"] = env.config_url
    report = handle_event(blob_event)
    assert report is not None
    assert report.policy_problem and "defaults.replication.regions" in report.policy_problem
    assert "westeurpoe" in report.policy_problem and "westeurope" in report.policy_problem
    assert report.plans, "the last accepted policy stays in force"
    rejected = [e for e in env.emulator.events() if e["type"] == "ImageLifecycle.ConfigRejected"]
    assert len(rejected) == 1
    # Rejection is published once per rejected document, not on every sweep.
    reconcile(Trigger("sweep"), at=env.now())
    assert len([e for e in env.emulator.events() if e["type"] == "ImageLifecycle.ConfigRejected"]) == 1


def test_duplicated_and_reordered_events_end_in_the_same_state(
    env: Env, policy_text: Callable[..., str]
) -> None:
    published(env, policy_text, regions=REGIONS)
    events = [build_event(buildId="1"), write_event(), write_event(), build_event(buildId="1")]
    for event in reversed(events):
        handle_event(event)
    env.advance(hours=2)
    first = env.version("ubuntu-24.04", "1.0.0")
    writes = env.writes()
    for event in events:
        handle_event(event)
    assert env.writes() == writes
    assert env.version("ubuntu-24.04", "1.0.0")["tags"] == first["tags"]
    assert regions_of(first) == REGIONS


def test_events_outside_the_galleries_make_no_arm_call(env: Env, policy_text: Callable[..., str]) -> None:
    env.put_policy(policy_text())
    before = sum(env.emulator.stats()["by_method"].values())
    other = VERSION_ID.replace("rg-images", "rg-elsewhere")
    report = handle_event(write_event(other))
    assert report is not None and report.plans == [] and report.skipped
    with pytest.raises(EventNotProcessed, match="type cannot be read"):
        handle_event({"id": "x"})  # no type: Event Grid must redeliver, then dead-letter it
    storage_write = json.loads((EVENTS / "version_write_success.eventgrid.json").read_text())
    storage_write["data"]["operationName"] = "Microsoft.Storage/storageAccounts/write"
    assert handle_event(storage_write) is None
    assert sum(env.emulator.stats()["by_method"].values()) == before


def test_concurrent_runs_on_one_image_are_serialised_by_the_lease(
    env: Env, policy_text: Callable[..., str]
) -> None:
    published(env, policy_text, regions=REGIONS)
    from lifecycle.gateways.storage import state_store
    from lifecycle.settings import Settings

    store = state_store(Settings.from_env())
    image_key = f"{GALLERY_ID}/images/ubuntu-24.04".lower()
    with store.lease(image_key, 30):
        report = reconcile(Trigger("sweep"), at=env.now())
    assert report.plans == [] and "lease held" in report.skipped[0]
    assert not reconcile(Trigger("sweep"), at=env.now()).skipped


def test_plan_writes_nothing_anywhere(env: Env, policy_text: Callable[..., str]) -> None:
    published(env, policy_text, regions=REGIONS)
    before = env.writes()
    report = reconcile(Trigger("cli"), at=env.now(), plan_only=True)
    assert report.mode == "plan" and sorted(a.kind.value for a in report.plans[0].actions) == [
        "replicate",
        "tag",
    ]
    assert env.writes() == before
    state_container = env.state_container()
    assert not state_container.exists(), "plan must not create state, leases or audit records"


def test_a_broken_first_policy_is_rejected_and_published(env: Env) -> None:
    env.put_policy("schema: 1\ndefaults: {retention: {keep_latest: -2}}\ngalleries: []\n")
    report = reconcile(Trigger("policy"), at=env.now())
    assert report.no_policy and report.failed
    assert "defaults.retention.keep_latest" in report.errors[0]
    assert [e["type"] for e in env.emulator.events()] == ["ImageLifecycle.ConfigRejected"]
