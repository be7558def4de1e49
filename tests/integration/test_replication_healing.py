"""Replication end to end on the emulator's virtual clock, through the real SDKs and Azurite: a failed region
healed by retry then by remove-and-re-add, giving up with ImageLifecycle.ReplicationFailed, an encrypted
version gaining a region with its disk encryption set, per-region fields kept across updates, and
promotion waiting for a region that still replicates after provisioningState read Succeeded."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lifecycle.reconcile import RunReport, Trigger, reconcile
from tests.integration.conftest import GALLERY_ID, Env

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
VERSION_ID = f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.0"
DES = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-keys"
    "/providers/Microsoft.Compute/diskEncryptionSets/{}"
)
BOTH = {"eastus": 1, "westeurope": 1}


def sweep(env: Env) -> RunReport:
    report = reconcile(Trigger("sweep"), at=env.now())
    assert not report.errors, report.errors
    return report


def kinds(report: RunReport) -> list[str]:
    return sorted(a.kind.value for p in report.plans for a in p.actions)


def notes(report: RunReport) -> list[str]:
    return [n for p in report.plans for v in p.versions for n in v.notes]


def regions(env: Env) -> dict[str, dict[str, Any]]:
    body = env.version(IMAGE, "1.0.0")
    return {r["name"]: r for r in body["properties"]["publishingProfile"]["targetRegions"]}


def replication(env: Env) -> tuple[str, dict[str, str]]:
    props = env.version(IMAGE, "1.0.0")["properties"]
    summary = props["replicationStatus"]["summary"]
    return props["provisioningState"], {s["region"]: s["state"] for s in summary}


def force(env: Env, region: str, outcome: str = "Failed", **extra: Any) -> None:
    env.emulator.control(
        "POST", "replication", {"version_id": VERSION_ID, "region": region, "outcome": outcome, **extra}
    )


def published(env: Env, regions: list[dict[str, Any]] | None = None) -> None:
    """Image 1.0.0 published in East US only (or with the given target regions), creation finished."""
    env.create_image(IMAGE)
    env.create_version(IMAGE, "1.0.0", publishing={} if regions is None else {"targetRegions": regions})
    env.advance(minutes=5)


def test_a_region_failing_twice_heals_by_remove_and_re_add(env: Env, policy_text: Callable[..., str]) -> None:
    env.put_policy(_policy(policy_text))
    published(env)
    # West Europe fails every retry until it is removed and added back.
    force(env, "westeurope", heals_by="readd")

    assert kinds(sweep(env)) == ["replicate", "tag"]  # adds West Europe
    env.advance(minutes=2)
    assert replication(env) == ("Failed", {"East US": "Completed", "West Europe": "Failed"})

    first = sweep(env)  # failure 1 seen: wait out the back-off (30 minutes)
    assert kinds(first) == []
    assert any("next healing write after" in n for n in notes(first))
    assert first.to_json()["images"][0]["versions"][0]["state"] == "failed"

    env.advance(minutes=31)
    retry = sweep(env)
    assert kinds(retry) == ["replicate"]
    assert "retry failed region westeurope" in retry.plans[0].actions[0].reason
    env.advance(minutes=2)
    assert replication(env)[0] == "Failed"  # the retry failed too

    assert kinds(sweep(env)) == []  # failure 2: the back-off doubles
    env.advance(minutes=61)
    removal = sweep(env)
    assert kinds(removal) == ["replicate"]
    assert "remove failed region westeurope" in removal.plans[0].actions[0].reason
    env.advance(minutes=1)
    assert list(regions(env)) == ["East US"]

    readd = sweep(env)
    assert kinds(readd) == ["replicate"]
    assert "add back region westeurope" in readd.plans[0].actions[0].reason
    env.advance(minutes=2)
    assert replication(env) == ("Succeeded", {"East US": "Completed", "West Europe": "Completed"})

    healed = sweep(env)
    assert any("region westeurope healed after 2 failure(s)" in n for n in notes(healed))
    assert [e["subject"] for e in env.lifecycle_events("VersionReplicated")] == [VERSION_ID]
    assert env.lifecycle_events("ReplicationFailed") == []
    assert kinds(sweep(env)) == []  # converged: nothing more to write


def test_still_failing_after_re_add_publishes_replication_failed_once(
    env: Env, policy_text: Callable[..., str]
) -> None:
    env.put_policy(_policy(policy_text, remove_readd_after=1, retry_backoff_minutes=0))
    published(env)
    force(env, "westeurope")
    sweep(env)  # adds West Europe: fails
    env.advance(minutes=2)
    assert kinds(sweep(env)) == ["replicate"]  # failure 1 of 1: remove it
    env.advance(minutes=1)
    force(env, "westeurope")  # the re-added region fails again
    assert kinds(sweep(env)) == ["replicate"]  # add it back
    env.advance(minutes=2)
    gave_up = sweep(env)
    assert kinds(gave_up) == []
    assert any("ImageLifecycle.ReplicationFailed" in n for n in notes(gave_up))
    failed = env.lifecycle_events("ReplicationFailed")
    assert [(e["subject"], e["data"]["region"], e["data"]["failures"]) for e in failed] == [
        (VERSION_ID, "westeurope", 2)
    ]
    env.advance(hours=5)
    again = sweep(env)
    assert kinds(again) == [] and len(env.lifecycle_events("ReplicationFailed")) == 1
    assert any("healing stopped" in n for n in notes(again))


def test_an_encrypted_version_gains_a_region_with_its_disk_encryption_set(
    env: Env, policy_text: Callable[..., str]
) -> None:
    east = {"osDiskImage": {"diskEncryptionSetId": DES.format("east")}}
    policy = _policy(
        policy_text,
        regions={"eastus": 1, "westeurope": 1, "japaneast": 1},
        disk_encryption_sets={"westeurope": DES.format("west")},
    )
    env.put_policy(policy)
    published(env, [{"name": "eastus", "encryption": east}])
    report = sweep(env)
    assert kinds(report) == ["replicate", "tag"]
    assert any("region japaneast not added" in n for n in notes(report))
    env.advance(minutes=2)
    found = regions(env)
    assert list(found) == ["East US", "West Europe"]
    assert found["East US"]["encryption"]["osDiskImage"]["diskEncryptionSetId"] == DES.format("east")
    assert found["West Europe"]["encryption"]["osDiskImage"]["diskEncryptionSetId"] == DES.format("west")
    # Later writes (here a tag) keep both regions' keys; Japan East is still never added unencrypted.
    env.put_policy(
        _policy(
            policy_text,
            regions={"eastus": 1, "westeurope": 2, "japaneast": 1},
            disk_encryption_sets={"westeurope": DES.format("west")},
        )
    )
    assert kinds(sweep(env)) == ["replicate"]
    env.advance(minutes=2)
    found = regions(env)
    assert list(found) == ["East US", "West Europe"]
    assert found["East US"]["encryption"]["osDiskImage"]["diskEncryptionSetId"] == DES.format("east")
    assert found["West Europe"]["regionalReplicaCount"] == 2


def test_without_read_on_the_disk_encryption_set_the_update_is_refused_and_reported(
    env: Env, policy_text: Callable[..., str]
) -> None:
    # `permissions` grants diskEncryptionSets/read where the policy's sets live; taken away, ARM's linked
    # check refuses the version update (LinkedAuthorizationFailed naming the set): reported, nothing changed.
    east = {"osDiskImage": {"diskEncryptionSetId": DES.format("east")}}
    policy = _policy(
        policy_text,
        regions={"eastus": 1, "westeurope": 1},
        disk_encryption_sets={"westeurope": DES.format("west")},
    )
    env.put_policy(policy)
    keys = "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-keys"
    granted = env.emulator.rbac()
    assert any(
        a["scope"].lower() == keys.lower() and a["actions"] == ["Microsoft.Compute/diskEncryptionSets/read"]
        for a in granted["assignments"]
    ), granted
    env.emulator.set_rbac(
        [a for a in granted["assignments"] if a["scope"].lower() != keys.lower()], granted["principal"]
    )
    published(env, [{"name": "eastus", "encryption": east}])

    report = reconcile(Trigger("sweep"), at=env.now())

    failed = [o for o in report.outcomes if o.status == "failed"]
    assert failed and all("LinkedAuthorizationFailed" in (o.error or "") for o in failed), report.to_json()
    assert any(
        "'Microsoft.Compute/diskEncryptionSets/read' on the linked scope(s)" in (o.error or "")
        and DES.format("east") in (o.error or "")
        for o in failed
    )
    assert list(regions(env)) == ["East US"], "the version was not changed"


def test_per_region_fields_survive_every_update(env: Env, policy_text: Callable[..., str]) -> None:
    sets = [{"storageAccountType": "PremiumV2_LRS", "regionalReplicaCount": 1}]
    published(
        env,
        [
            {"name": "eastus"},
            {"name": "westeurope", "excludeFromLatest": True, "additionalReplicaSets": sets},
        ],
    )
    env.put_policy(_policy(policy_text, regions={"eastus": 2, "westeurope": 1, "japaneast": 1}))
    assert kinds(sweep(env)) == ["replicate", "tag"]
    env.advance(minutes=2)
    env.put_policy(
        _policy(policy_text, regions={"eastus": 2, "westeurope": 1, "japaneast": 1}, tags={"owner": "x"})
    )
    assert kinds(sweep(env)) == ["tag"]
    env.advance(minutes=2)
    west = regions(env)["West Europe"]
    assert west["excludeFromLatest"] is True
    assert west["additionalReplicaSets"] == sets
    assert regions(env)["East US"]["regionalReplicaCount"] == 2


def test_promotion_waits_for_a_region_still_replicating_after_succeeded(
    env: Env, policy_text: Callable[..., str]
) -> None:
    env.put_policy(_policy(policy_text, promote_when_replicated=True))
    published(env)
    force(env, "westeurope", "Lagging", seconds=600)
    assert kinds(sweep(env)) == ["exclude_from_latest", "replicate", "tag"]
    env.advance(minutes=2)
    assert replication(env) == ("Succeeded", {"East US": "Completed", "West Europe": "Replicating"})
    waiting = sweep(env)
    assert kinds(waiting) == []
    assert env.lifecycle_events("VersionReplicated") == [] and env.lifecycle_events("VersionPromoted") == []
    env.advance(minutes=10)
    promoted = sweep(env)
    assert kinds(promoted) == ["promote", "tag"]
    assert [e["subject"] for e in env.lifecycle_events("VersionReplicated")] == [VERSION_ID]
    assert [e["subject"] for e in env.lifecycle_events("VersionPromoted")] == [VERSION_ID]


def _policy(
    policy_text: Callable[..., str],
    regions: dict[str, int] | None = None,
    tags: dict[str, str] | None = None,
    mode: str = "enforce",
    **replication: Any,
) -> str:
    replication = {"retry_backoff_minutes": 30, "remove_readd_after": 2, **replication}
    text: str = policy_text(
        mode=mode,
        replication={"regions": regions or BOTH, **replication},
        **({"metadata": {"tags": tags}} if tags else {}),
    )
    return text


def test_dry_run_plans_the_healing_but_counts_no_attempt(env: Env, policy_text: Callable[..., str]) -> None:
    published(env)
    force(env, "westeurope")
    env.put_policy(_policy(policy_text))
    sweep(env)  # enforce: adds West Europe, which fails
    env.advance(minutes=2)
    env.put_policy(_policy(policy_text, mode="dry-run", retry_backoff_minutes=0))
    for _ in range(2):
        report = sweep(env)
        assert [o.status for o in report.outcomes] == ["planned"]
        assert "(failure 1 of 2)" in report.plans[0].actions[0].reason
        env.advance(minutes=5)
    assert replication(env)[0] == "Failed"  # nothing was written
