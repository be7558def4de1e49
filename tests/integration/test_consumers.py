"""Who runs what: `python -m lifecycle consumers`, VersionExpiring before end-of-life (once per version and
date), and the fleet report's "Consumers at risk" and "Running latest in production". VMs and scale sets in
two subscriptions and two regions, by exact id, by `latest` (scale-set instances by their exactVersion), by
shared and community id. Real SDKs against the ARM emulator (the app under exactly its policy's
permissions) and Azurite."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from lifecycle.cli import main
from lifecycle.reconcile import Trigger, reconcile
from tests.harness.builders import community_sharing, gallery_image_body, scale_set_body, vm_body
from tests.integration.conftest import GALLERY_ID, RG, SOURCE, SUB, Env

pytestmark = pytest.mark.integration
SUB2 = "00000000-0000-0000-0000-0000000000c2"
TEAM = "team"
TEAM_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{TEAM}"
EXPIRING = "ImageLifecycle.VersionExpiring"


def policy() -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                "replication": {"regions": {"eastus": 1, "westeurope": 1}},
                "retention": {"lifetime_days": 30, "keep_latest": 1},
            },
            "consumers": {"owner_tag": "owner", "production_tags": {"env": "prod"}, "warn_days": 14},
            "galleries": [
                {"id": GALLERY_ID, "consumer_subscriptions": [SUB2]},
                {"id": TEAM_ID},
            ],
        }
    )


def version(env: Env, gallery: str, image: str, name: str) -> None:
    body = {
        "location": "eastus",
        "properties": {
            "publishingProfile": {
                "targetRegions": [{"name": "eastus"}, {"name": "westeurope"}],
            },
            "storageProfile": {"osDiskImage": {"source": {"id": SOURCE}}},
        },
    }
    env.compute.gallery_image_versions.begin_create_or_update(RG, gallery, image, name, body, polling=False)


def vm(client: Any, group: str, name: str, location: str, reference: dict[str, str], **tags: str) -> None:
    body = vm_body(reference, location=location, tags=tags)
    client.virtual_machines.begin_create_or_update(group, name, body).result()


@pytest.fixture()
def fleet(env: Env) -> Env:
    """golden (shared with the community) holds ubuntu 1.0.0 and 1.0.1; team (shared with groups) holds
    win 1.0.0. Consumers: in the gallery's subscription a VM pinned to ubuntu 1.0.0 (team-a) and a dev VM
    on ubuntu's latest; in a consumer subscription a VM on ubuntu 1.0.0 by community id (team-b) and a
    production scale set on win's latest by shared id (team-web)."""
    env.compute.galleries.begin_create_or_update(
        RG, "golden", {"location": "eastus", "properties": {"sharingProfile": community_sharing()}}
    ).result()
    env.compute.galleries.begin_create_or_update(
        RG, TEAM, {"location": "eastus", "properties": {"sharingProfile": {"permissions": "Groups"}}}
    ).result()
    env.put_policy(policy())
    env.create_image("ubuntu")
    env.compute.gallery_images.begin_create_or_update(RG, TEAM, "win", gallery_image_body("win")).result()
    version(env, "golden", "ubuntu", "1.0.0")
    version(env, TEAM, "win", "1.0.0")
    env.advance(hours=1)
    version(env, "golden", "ubuntu", "1.0.1")
    env.advance(hours=1)
    public = env.compute.galleries.get(RG, "golden").sharing_profile.community_gallery_info.public_names[0]

    vm(
        env.compute,
        RG,
        "pinned",
        "eastus",
        {"id": f"{GALLERY_ID}/images/ubuntu/versions/1.0.0"},
        owner="team-a",
    )
    vm(env.compute, RG, "dev", "eastus", {"id": f"{GALLERY_ID}/images/ubuntu"}, owner="team-a", env="dev")
    consumer = env.emulator.compute(SUB2)
    vm(
        consumer,
        "rg-app",
        "comm",
        "westeurope",
        {"communityGalleryImageId": f"/CommunityGalleries/{public}/Images/ubuntu/Versions/1.0.0"},
        owner="team-b",
    )
    shared = {"sharedGalleryImageId": f"/SharedGalleries/{SUB}-TEAM/Images/win/Versions/latest"}
    web = scale_set_body(shared, location="westeurope", tags={"Owner": "team-web", "env": "Prod"})
    consumer.virtual_machine_scale_sets.begin_create_or_update("rg-app", "web", web).result()
    return env


def consumers_json(capsys: pytest.CaptureFixture[str], env: Env, *extra: str) -> dict[str, Any]:
    capsys.readouterr()
    code = main(["consumers", "--config", env.config_url, "--json", *extra])
    out = capsys.readouterr()
    assert code == 0, out.err
    return dict(json.loads(out.out))


def by_version(data: dict[str, Any]) -> dict[str, set[tuple[str, str, str, str | None, bool]]]:
    return {
        v["version"].split("/galleries/")[1]: {
            (c["id"].rsplit("/", 1)[-1], c["kind"], c["via"], c["owner"], c["production"])
            for c in v["consumers"]
        }
        for v in data["versions"]
    }


def test_the_consumers_command_lists_who_runs_each_version_and_latest_in_production(
    fleet: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    data = consumers_json(capsys, fleet)

    assert by_version(data) == {
        "golden/images/ubuntu/versions/1.0.0": {
            ("pinned", "vm", "exact", "team-a", False),
            ("comm", "vm", "community", "team-b", False),
        },
        "golden/images/ubuntu/versions/1.0.1": {("dev", "vm", "latest", "team-a", False)},
        "team/images/win/versions/1.0.0": {
            ("web", "scale_set", "shared", "team-web", True),
            ("0", "instance", "shared", "team-web", True),
            ("1", "instance", "shared", "team-web", True),
        },
    }
    regions = {
        c["id"].rsplit("/", 1)[-1]: (c["subscription"], c["region"])
        for v in data["versions"]
        for c in v["consumers"]
    }
    assert regions["pinned"] == (SUB, "eastus") and regions["comm"] == (SUB2, "westeurope")
    [latest] = data["latest_in_production"]
    assert latest["id"].endswith("/virtualMachineScaleSets/web") and latest["owner"] == "team-web"
    assert latest["image"] == f"{TEAM_ID}/images/win" and latest["via"] == "shared"

    only = consumers_json(capsys, fleet, "--version", f"{GALLERY_ID}/images/ubuntu/versions/1.0.1")
    assert [v["version"] for v in only["versions"]] == [f"{GALLERY_ID}/images/ubuntu/versions/1.0.1"]
    assert main(["consumers", "--config", fleet.config_url, "--version", GALLERY_ID]) == 2


def test_version_expiring_goes_out_once_per_version_and_date_and_the_report_shows_who_is_at_risk(
    fleet: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env = fleet
    published = env.now()
    assert not reconcile(Trigger("sweep"), at=env.now()).errors  # end-of-life written: published + 30 days
    assert [e for e in env.emulator.events() if e["type"] == EXPIRING] == []

    env.emulator.set_time((published + timedelta(days=20)).isoformat())
    report = reconcile(Trigger("sweep"), at=env.now())
    assert not report.errors, report.errors
    reconcile(Trigger("sweep"), at=env.now() + timedelta(hours=1))  # no repeat

    warned = {
        e["subject"].split("/galleries/")[1]: e["data"]
        for e in env.emulator.events()
        if e["type"] == EXPIRING
    }
    assert set(warned) == {
        "golden/images/ubuntu/versions/1.0.0",
        "golden/images/ubuntu/versions/1.0.1",
        "team/images/win/versions/1.0.0",
    }
    assert len([e for e in env.emulator.events() if e["type"] == EXPIRING]) == 3
    ubuntu = warned["golden/images/ubuntu/versions/1.0.0"]
    assert ubuntu["consumers"] == 2 and ubuntu["owners"] == ["team-a", "team-b"]
    assert ubuntu["imageVersionId"] == f"{GALLERY_ID}/images/ubuntu/versions/1.0.0"
    # 1.0.0 was published two hours before the first sweep.
    eol = published - timedelta(hours=2) + timedelta(days=30)
    assert ubuntu["endOfLifeDate"][:16] == eol.isoformat()[:16]
    assert warned["team/images/win/versions/1.0.0"]["consumers"] == 2

    code = main(["report", "--config", env.config_url, "--json", "--at", env.now().isoformat()])
    data = json.loads(capsys.readouterr().out)
    assert code == 0
    at_risk = {r["version"].split("/galleries/")[1]: r for r in data["consumers"]["at_risk"]}
    assert set(at_risk) == set(warned)
    assert at_risk["golden/images/ubuntu/versions/1.0.0"]["owners"] == [
        {"owner": "team-a", "machines": 1},
        {"owner": "team-b", "machines": 1},
    ]
    assert at_risk["team/images/win/versions/1.0.0"]["production"] == 2
    assert [m["id"].rsplit("/", 1)[-1] for m in data["consumers"]["latest_in_production"]] == ["web"]
