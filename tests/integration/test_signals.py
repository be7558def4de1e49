"""Azure's own signals end to end, through the real SDKs against the ARM emulator and Azurite, under exactly
the RBAC `permissions` derives for each policy: a version held for the platform's validation then promoted, a
flagged version quarantined and returned when cleared, a base being deprecated."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from lifecycle import tags as lt
from lifecycle.cli import main as cli_main
from lifecycle.model import parse_time
from tests.integration.conftest import GALLERY, RG, Env
from tests.integration.test_gates import APP, APP_ID, audit, policy, publish, settle, state_of, vid

pytestmark = pytest.mark.integration


def signal(env: Env, version_id: str, **body: Any) -> None:
    env.emulator.control("POST", "validation", {"version_id": version_id, **body})


def test_a_version_is_held_for_the_platforms_validation_then_promoted(env: Env) -> None:
    env.put_policy(policy(approval={"require_platform_validation": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", excluded=True)
    settle(env)
    assert state_of(env, APP, "1.0.0")[:2] == (lt.STATE_PENDING_VALIDATION, True)

    signal(env, vid(APP, "1.0.0"), executedValidations=[{"type": "TrustedLaunch", "status": "Unknown"}])
    settle(env)
    assert state_of(env, APP, "1.0.0")[:2] == (lt.STATE_PENDING_VALIDATION, True)
    assert not env.lifecycle_events("VersionPromoted")

    signal(env, vid(APP, "1.0.0"), executedValidations=[{"type": "TrustedLaunch", "status": "Succeeded"}])
    settle(env)
    assert state_of(env, APP, "1.0.0")[:2] == (lt.STATE_ACTIVE, False)
    promoted = env.lifecycle_events("VersionPromoted")
    assert [e["subject"] for e in promoted] == [vid(APP, "1.0.0")]
    assert any("every platform validation succeeded" in r["reason"] for r in audit(env))


def test_a_flagged_version_is_quarantined_once_and_returns_when_azure_clears_it(env: Env) -> None:
    env.put_policy(policy())
    env.create_image(APP)
    publish(env, APP, "1.0.0")
    publish(env, APP, "1.1.0")
    settle(env)
    assert state_of(env, APP, "1.1.0")[:2] == (lt.STATE_ACTIVE, False)

    signal(
        env,
        vid(APP, "1.1.0"),
        reportedForPolicyViolation=True,
        policyViolations=[{"category": "ImageFlaggedUnsafe", "details": "malware found"}],
    )
    settle(env)
    settle(env)  # nothing new: announced once
    state, excluded, tags = state_of(env, APP, "1.1.0")
    assert (state, excluded) == (lt.STATE_QUARANTINED, True)
    assert "ImageFlaggedUnsafe (malware found)" in tags[lt.QUARANTINE_REASON]
    quarantined = env.lifecycle_events("VersionQuarantined")
    assert len(quarantined) == 1 and quarantined[0]["subject"] == vid(APP, "1.1.0")
    assert "ImageFlaggedUnsafe" in quarantined[0]["data"]["reason"]

    signal(env, vid(APP, "1.1.0"), reportedForPolicyViolation=False, policyViolations=[])
    settle(env)
    state, excluded, tags = state_of(env, APP, "1.1.0")
    assert (state, excluded, tags[lt.QUARANTINE_REASON]) == (lt.STATE_ACTIVE, False, "cleared")
    assert any("quarantine lifted" in r["reason"] for r in audit(env))


def test_a_failed_validation_quarantines_a_version_held_for_it(env: Env) -> None:
    env.put_policy(policy(approval={"require_platform_validation": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", excluded=True)
    signal(
        env,
        vid(APP, "1.0.0"),
        executedValidations=[{"type": "TrustedLaunch", "status": "Failed", "version": "2"}],
    )
    settle(env)
    state, excluded, tags = state_of(env, APP, "1.0.0")
    assert (state, excluded) == (lt.STATE_QUARANTINED, True)
    assert tags[lt.QUARANTINE_REASON] == "platform validation failed: TrustedLaunch 2: Failed"
    assert len(env.lifecycle_events("VersionQuarantined")) == 1


MARKET = {"location": "eastus", "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"}
BASE = "Canonical:ubuntu-24_04-lts:server:2024.10.1"


def deprecate(env: Env, state: str, when: str | None = None) -> None:
    status: dict[str, Any] = {
        "imageState": state,
        "alternativeOption": {"type": "Offer", "value": "ubuntu-26_04-lts"},
    }
    if when:
        status["scheduledDeprecationTime"] = when
    env.emulator.control(
        "POST", "marketplace", {**MARKET, "version": "2024.10.1", "imageDeprecationStatus": status}
    )


def test_a_base_scheduled_for_deprecation_triggers_one_rebake_and_one_event_per_state(env: Env) -> None:
    env.emulator.control("POST", "marketplace", {**MARKET, "version": "2024.10.1"})
    env.put_policy(policy(rebake={"on_base_deprecation": True, "publish_event": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", tags={lt.BASE_IMAGE: BASE})
    settle(env)
    assert not env.lifecycle_events("RebakeRequested") and not env.lifecycle_events("BaseImageDeprecated")

    when = (env.now() + timedelta(days=30)).strftime("%Y-%m-%dT00:00:00Z")
    deprecate(env, "ScheduledForDeprecation", when)
    for _ in range(3):
        settle(env)
    requested = env.lifecycle_events("RebakeRequested")
    assert len(requested) == 1
    reason = requested[0]["data"]["reason"]
    assert f"base image {BASE} is ScheduledForDeprecation" in reason
    assert when in reason and "alternative: Offer ubuntu-26_04-lts" in reason
    announced = env.lifecycle_events("BaseImageDeprecated")
    assert len(announced) == 1 and announced[0]["data"]["scheduledDeprecationTime"] == when

    deprecate(env, "Deprecated", when)
    settle(env)
    settle(env)
    assert len(env.lifecycle_events("RebakeRequested")) == 2
    assert [e["data"]["imageState"] for e in env.lifecycle_events("BaseImageDeprecated")] == [
        "ScheduledForDeprecation",
        "Deprecated",
    ]


def test_end_of_life_is_capped_at_the_bases_deprecation(env: Env) -> None:
    env.emulator.control("POST", "marketplace", {**MARKET, "version": "2024.10.1"})
    env.put_policy(policy(retention={"lifetime_days": 365, "cap_at_base_deprecation": True}))
    env.create_image(APP)
    publish(env, APP, "1.0.0", tags={lt.BASE_IMAGE: BASE})
    settle(env)
    eol = parse_time(env.version(APP, "1.0.0")["properties"]["publishingProfile"]["endOfLifeDate"])
    assert eol > env.now() + timedelta(days=360)  # published + lifetime: the base is Active

    when = env.now() + timedelta(days=45)
    deprecate(env, "ScheduledForDeprecation", when.strftime("%Y-%m-%dT%H:%M:%SZ"))
    settle(env)
    eol = parse_time(env.version(APP, "1.0.0")["properties"]["publishingProfile"]["endOfLifeDate"])
    assert abs((eol - when).total_seconds()) < 2
    assert any("capped at the base's deprecation" in r["reason"] for r in audit(env))


def test_plan_lists_soft_deleted_versions_and_restore_brings_one_back(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.compute.galleries.begin_update(
        RG, GALLERY, {"properties": {"softDeletePolicy": {"isSoftDeleteEnabled": True}}}
    ).result()
    env.put_policy(policy())
    env.create_image(APP)
    publish(env, APP, "1.0.0")
    publish(env, APP, "1.1.0")
    settle(env)
    # Deleted by mistake (not by the app).
    env.compute.gallery_image_versions.begin_update(
        RG,
        GALLERY,
        APP,
        "1.1.0",
        {"properties": {"safetyProfile": {"blockDeletionBeforeEndOfLife": False}, "storageProfile": {}}},
    )
    env.advance(seconds=61)
    env.compute.gallery_image_versions.begin_delete(RG, GALLERY, APP, "1.1.0")
    env.advance(seconds=61)

    assert cli_main(["plan", "--config", env.config_url, "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    [gone] = planned["soft_deleted"]
    assert gone["id"] == vid(APP, "1.1.0") and gone["purge_at"] > planned["at"]
    assert planned["latest"] == {APP_ID: {"eastus": vid(APP, "1.0.0")}}

    assert cli_main(["restore", vid(APP, "1.1.0"), "--config", env.config_url]) == 0
    assert "restored" in capsys.readouterr().out
    assert env.version(APP, "1.1.0")["properties"]["provisioningState"] == "Succeeded"
    assert cli_main(["restore", vid(APP, "1.1.0"), "--config", env.config_url]) == 2  # not deleted
    assert "is not deleted" in capsys.readouterr().err
    assert cli_main(["restore", vid(APP, "9.9.9"), "--config", env.config_url]) == 1  # nothing to restore
    outside = vid(APP, "1.0.0").replace("/golden/", "/other/")
    assert cli_main(["restore", outside, "--config", env.config_url]) == 2
    assert cli_main(["restore", "/subscriptions/x", "--config", env.config_url]) == 2
    assert [r["outcome"] for r in audit(env) if r.get("action") == "restore"] == ["succeeded", "failed"]

    assert cli_main(["plan", "--config", env.config_url, "--json"]) == 0
    planned = json.loads(capsys.readouterr().out)
    assert planned["soft_deleted"] == []
    assert planned["latest"] == {APP_ID: {"eastus": vid(APP, "1.1.0")}}


def test_a_quarantine_moves_latest_back_in_every_region(env: Env) -> None:
    env.put_policy(policy(replication={"regions": {"eastus": 1, "westeurope": 1}}))
    env.create_image(APP)
    publish(env, APP, "1.0.0")
    publish(env, APP, "1.1.0")
    settle(env)
    env.advance(hours=1)
    report = settle(env)
    assert report.plans[0].latest == {"eastus": "1.1.0", "westeurope": "1.1.0"}
    signal(env, vid(APP, "1.1.0"), reportedForPolicyViolation=True)
    report = settle(env)
    assert report.plans[0].latest == {"eastus": "1.0.0", "westeurope": "1.0.0"}
    [event] = env.lifecycle_events("VersionQuarantined")
    assert event["data"]["latest"] == {"eastus": "1.0.0", "westeurope": "1.0.0"}


def test_the_fleet_report_shows_latest_per_region_quarantines_and_soft_deleted_versions(env: Env) -> None:
    from lifecycle.report.html import render_html

    env.compute.galleries.begin_update(
        RG, GALLERY, {"properties": {"softDeletePolicy": {"isSoftDeleteEnabled": True}}}
    ).result()
    env.put_policy(policy(replication={"regions": {"eastus": 1, "westeurope": 1}}))
    env.create_image(APP)
    for name in ("1.0.0", "1.1.0", "1.2.0"):
        publish(env, APP, name)
    settle(env)
    env.advance(hours=1)
    signal(
        env, vid(APP, "1.2.0"), reportedForPolicyViolation=True, policyViolations=[{"category": "IpTheft"}]
    )
    unblock = {"properties": {"safetyProfile": {"blockDeletionBeforeEndOfLife": False}, "storageProfile": {}}}
    env.compute.gallery_image_versions.begin_update(RG, GALLERY, APP, "1.0.0", unblock)
    env.advance(seconds=61)
    env.compute.gallery_image_versions.begin_delete(RG, GALLERY, APP, "1.0.0")
    env.advance(seconds=61)
    settle(env)
    report = settle(env)  # the report reads tags as ARM has them: the quarantine written by the last run
    data = report.fleet_report()
    [row] = data["images"]
    assert row["latest"] == {"eastus": "1.1.0", "westeurope": "1.1.0"}
    assert [d["version"] for d in row["soft_deleted"]] == ["1.0.0"]
    [gate] = [a for a in data["approvals"] if a["version"] == "1.2.0"]
    assert gate["state"] == lt.STATE_QUARANTINED and "IpTheft" in gate["quarantine_reason"]
    page = render_html(data)
    assert 'id="latest-table"' in page and "restore VERSION_ID" in page and "IpTheft" in page
