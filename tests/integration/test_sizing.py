"""Replicas where they pay: older versions shrink to the regions and counts `replication.older` names
(a region stays while a machine there runs the version, and goes only where
allowDeletionOfReplicatedLocations allows), and `auto` regions get ceil(demand / 20) replicas, at most
`replication.replicas_max`. `plan` shows the cost change, negative when a shrink saves. Real SDKs against
the ARM emulator (the app under exactly its policy's permissions) and Azurite."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lifecycle.cli import main
from lifecycle.reconcile import Trigger, reconcile
from tests.harness.builders import scale_set_body, vm_body
from tests.integration.conftest import GALLERY_ID, RG, Env

pytestmark = pytest.mark.integration
SUB2 = "00000000-0000-0000-0000-0000000000c2"
IMAGE = "ubuntu"
FULL = {"eastus": 2, "westeurope": 2, "northeurope": 1}


def policy(replication: dict[str, Any]) -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {"replication": replication, "retention": {"keep_latest": 1}},
            "galleries": [{"id": GALLERY_ID, "consumer_subscriptions": [SUB2]}],
        }
    )


def version(env: Env, name: str, regions: dict[str, int], *, allow_removal: bool = True) -> None:
    env.create_version(
        IMAGE, name, regions, safetyProfile={"allowDeletionOfReplicatedLocations": allow_removal}
    )


def regions_of(env: Env, name: str) -> dict[str, int]:
    found = env.version(IMAGE, name)
    return {
        r["name"].replace(" ", "").lower(): r["regionalReplicaCount"]
        for r in found["properties"]["publishingProfile"]["targetRegions"]
    }


def plan_json(env: Env, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["plan", "--config", env.config_url, "--json", "--at", env.now().isoformat()]) == 0
    return dict(json.loads(capsys.readouterr().out))


def test_older_versions_shrink_except_where_machines_run_them_and_where_azure_forbids_removal(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.put_policy(policy({"regions": FULL, "older": {"after_newest": 1, "regions": {"eastus": 1}}}))
    env.create_image(IMAGE)
    version(env, "1.0.0", FULL, allow_removal=False)
    version(env, "1.0.1", FULL)
    version(env, "1.0.2", FULL)
    env.advance(hours=2)
    # 1.0.1 runs on a VM in westeurope, in a consumer subscription.
    pinned = vm_body(f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.1", location="westeurope")
    env.emulator.compute(SUB2).virtual_machines.begin_create_or_update("rg-app", "pinned", pinned).result()

    planned = plan_json(env, capsys)
    shrinks = {a["target"].rsplit("/", 1)[-1]: a for a in planned["actions"] if a["kind"] == "replicate"}
    assert set(shrinks) == {"1.0.0", "1.0.1"}
    assert "older version (past the newest 1)" in shrinks["1.0.1"]["reason"]
    assert planned["cost_delta_per_month"] < 0, planned["cost"]

    report = reconcile(Trigger("sweep"), at=env.now())
    assert not report.errors, report.errors
    env.advance(hours=1)

    assert regions_of(env, "1.0.2") == FULL
    assert regions_of(env, "1.0.1") == {"eastus": 1, "westeurope": 2}
    # Without allowDeletionOfReplicatedLocations only the count comes down; the regions are kept, said so.
    assert regions_of(env, "1.0.0") == {"eastus": 1, "westeurope": 2, "northeurope": 1}
    [image] = report.to_json()["images"]
    notes = {v["version"]: v.get("notes", []) for v in image["versions"]}
    assert "region westeurope kept: a machine there runs this version" in notes["1.0.1"]
    assert any("allowDeletionOfReplicatedLocations" in n for n in notes["1.0.0"]), notes["1.0.0"]
    # Converged: nothing more to shrink.
    assert reconcile(Trigger("sweep"), at=env.now()).summary()["actions"] == 0


def test_auto_regions_get_replicas_from_demand_up_to_the_maximum(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    env.put_policy(policy({"regions": {"eastus": "auto", "westeurope": "auto"}, "replicas_max": 3}))
    env.create_image(IMAGE)
    version(env, "1.0.0", {"eastus": 1, "westeurope": 1})
    env.advance(hours=2)
    # eastus: a scale set on latest (45 instances, counted toward the newest version) and 2 VMs on 1.0.0:
    # 47 -> ceil(47 / 20) = 3 = replicas_max; westeurope: a scale set of 30 on 1.0.0 in the consumer
    # subscription -> 2.
    scale_set = scale_set_body(f"{GALLERY_ID}/images/{IMAGE}", capacity=45)
    env.compute.virtual_machine_scale_sets.begin_create_or_update(RG, "web", scale_set).result()
    for name in ("a", "b"):
        body = vm_body(f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.0")
        env.compute.virtual_machines.begin_create_or_update(RG, name, body).result()
    batch = scale_set_body(f"{GALLERY_ID}/images/{IMAGE}/versions/1.0.0", location="westeurope", capacity=30)
    env.emulator.compute(SUB2).virtual_machine_scale_sets.begin_create_or_update(
        "rg-app", "batch", batch
    ).result()

    planned = plan_json(env, capsys)
    [action] = [a for a in planned["actions"] if a["kind"] == "replicate"]
    assert "eastus demand 47 -> 3" in action["reason"] and "westeurope demand 30 -> 2" in action["reason"]
    assert planned["cost_delta_per_month"] > 0

    assert not reconcile(Trigger("sweep"), at=env.now()).errors
    env.advance(hours=1)
    assert regions_of(env, "1.0.0") == {"eastus": 3, "westeurope": 2}

    # Demand gone: back to the minimum of one replica per region, a saving.
    env.compute.virtual_machine_scale_sets.begin_delete(RG, "web").result()
    for name in ("a", "b"):
        env.compute.virtual_machines.begin_delete(RG, name).result()
    env.emulator.compute(SUB2).virtual_machine_scale_sets.begin_delete("rg-app", "batch").result()
    env.advance(minutes=20)
    assert plan_json(env, capsys)["cost_delta_per_month"] < 0
    assert not reconcile(Trigger("sweep"), at=env.now()).errors
    env.advance(hours=1)
    assert regions_of(env, "1.0.0") == {"eastus": 1, "westeurope": 1}
