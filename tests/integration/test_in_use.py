"""The in-use check sees what Azure sees: a version used by `sharedGalleryImageId`, by
`communityGalleryImageId`, or by a scale-set instance still on an older model is kept; in a gallery shared
beyond its subscription nothing is deleted unless the policy opts in. Real SDKs against the ARM emulator
(running the app under exactly its policy's permissions) and Azurite."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from lifecycle.reconcile import RunReport, Trigger, reconcile
from tests.harness.builders import community_sharing, scale_set_body, vm_body
from tests.integration.conftest import GALLERY, GALLERY_ID, RG, SUB, Env

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"
SHARED_NAME = f"{SUB}-{GALLERY.upper()}"  # identifier.uniqueName, as Azure derives it
NOT_IN_USE = "not deleted: in use by a VM or scale set"


def policy(**gallery: Any) -> str:
    return json.dumps(
        {
            "schema": 1,
            "defaults": {
                "replication": {"regions": {"eastus": 1}},
                "retention": {"lifetime_days": 30, "keep_latest": 1, "delete_after_days": 10},
            },
            "galleries": [{"id": GALLERY_ID, **gallery}],
        }
    )


def vid(name: str) -> str:
    return f"{GALLERY_ID}/images/{IMAGE}/versions/{name}"


def exists(env: Env, name: str) -> bool:
    return env.find_version(IMAGE, name) is not None


def sweep(env: Env) -> RunReport:
    report = reconcile(Trigger("sweep"), at=env.now())
    env.advance(minutes=5)
    return report


def notes(report: RunReport, name: str) -> list[str]:
    [image] = report.to_json()["images"]
    return next(v["notes"] for v in image["versions"] if v["version"] == name)


def share(env: Env, sharing: dict[str, Any]) -> None:
    env.compute.galleries.begin_create_or_update(
        RG, GALLERY, {"location": "eastus", "properties": {"sharingProfile": sharing}}
    ).result()


def three_versions_due(env: Env, **gallery: Any) -> None:
    """1.0.0 and 1.0.1 are past end-of-life + grace (day 40) on day 45; 1.0.2 is the newest, kept."""
    env.put_policy(policy(**gallery))
    env.create_image(IMAGE)
    start = env.now()
    for name in ("1.0.0", "1.0.1", "1.0.2"):
        env.create_version(IMAGE, name)
    env.advance(hours=1)
    sweep(env)  # end-of-life written explicitly
    env.emulator.set_time(start + timedelta(days=45))


def vm(env: Env, name: str, reference: dict[str, str]) -> None:
    env.compute.virtual_machines.begin_create_or_update(RG, name, vm_body(reference)).result()


def test_a_vm_using_a_version_by_shared_gallery_image_id_keeps_it(env: Env) -> None:
    share(env, {"permissions": "Groups"})
    three_versions_due(env, delete_when_shared=True)
    vm(
        env,
        "consumer",
        {"sharedGalleryImageId": f"/SharedGalleries/{SHARED_NAME}/Images/{IMAGE}/Versions/1.0.0"},
    )

    report = sweep(env)

    assert not report.errors, report.errors
    assert exists(env, "1.0.0") and not exists(env, "1.0.1")
    assert NOT_IN_USE in notes(report, "1.0.0")


def test_a_vm_using_a_version_by_community_gallery_image_id_keeps_it(env: Env) -> None:
    share(env, community_sharing())
    public_name = env.compute.galleries.get(RG, GALLERY).sharing_profile.community_gallery_info.public_names[
        0
    ]
    three_versions_due(env, delete_when_shared=True)
    # Case differs from the public name: ids are compared as ARM does, case-insensitively.
    vm(
        env,
        "community",
        {
            "communityGalleryImageId": (
                f"/communitygalleries/{public_name.upper()}/images/{IMAGE}/versions/1.0.1"
            )
        },
    )

    report = sweep(env)

    assert not report.errors, report.errors
    assert exists(env, "1.0.1") and not exists(env, "1.0.0")
    assert NOT_IN_USE in notes(report, "1.0.1")


def test_latest_through_a_shared_id_protects_what_latest_resolves_to(env: Env) -> None:
    share(env, {"permissions": "Groups"})
    three_versions_due(env, delete_when_shared=True)
    # 1.0.2 is taken out of latest by its publisher: latest now resolves to 1.0.1.
    env.compute.gallery_image_versions.begin_update(
        RG,
        GALLERY,
        IMAGE,
        "1.0.2",
        {"properties": {"publishingProfile": {"excludeFromLatest": True}, "storageProfile": {}}},
    ).result()
    vm(
        env,
        "on-latest",
        {"sharedGalleryImageId": f"/SharedGalleries/{SHARED_NAME}/Images/{IMAGE}/Versions/latest"},
    )
    env.advance(hours=1)

    report = sweep(env)

    assert not report.errors, report.errors
    assert exists(env, "1.0.1") and not exists(env, "1.0.0")


def test_a_scale_set_instance_on_an_old_model_keeps_its_version(env: Env) -> None:
    three_versions_due(env)
    body: dict[str, Any] = {
        "location": "eastus",
        "sku": {"name": "Standard_D2s_v5", "capacity": 2},
        "properties": {
            "upgradePolicy": {"mode": "Manual"},
            "virtualMachineProfile": {"storageProfile": {"imageReference": {"id": vid("1.0.0")}}},
        },
    }
    vmss = env.compute.virtual_machine_scale_sets
    vmss.begin_create_or_update(RG, "web", body).result()
    # The model moves on to 1.0.2; with a Manual upgrade policy the instances still run 1.0.0.
    body["properties"]["virtualMachineProfile"]["storageProfile"]["imageReference"] = {"id": vid("1.0.2")}
    vmss.begin_create_or_update(RG, "web", body).result()
    instances = list(env.compute.virtual_machine_scale_set_vms.list(RG, "web"))
    assert [i.latest_model_applied for i in instances] == [False, False]

    report = sweep(env)
    assert not report.errors, report.errors
    assert exists(env, "1.0.0") and not exists(env, "1.0.1")
    assert NOT_IN_USE in notes(report, "1.0.0")

    # One instance upgraded: the other still runs 1.0.0.
    vmss.begin_update_instances(RG, "web", {"instanceIds": ["0"]}).result()
    sweep(env)
    assert exists(env, "1.0.0")
    # Both upgraded: 1.0.0 is used by nothing any more and goes.
    vmss.begin_update_instances(RG, "web", {"instanceIds": ["1"]}).result()
    sweep(env)
    assert not exists(env, "1.0.0")


def test_a_gallery_shared_beyond_its_subscription_refuses_deletes_unless_the_policy_opts_in(env: Env) -> None:
    share(env, {"permissions": "Groups"})
    three_versions_due(env)

    report = sweep(env)

    assert not report.errors, report.errors
    assert exists(env, "1.0.0") and exists(env, "1.0.1")
    why = [n for n in notes(report, "1.0.0") if "shared beyond its subscription" in n]
    assert why and "sharingProfile Groups" in why[0] and "delete_when_shared" in why[0], notes(
        report, "1.0.0"
    )
    assert not [a for a in report.to_json()["actions"] if a["kind"] == "delete"]

    env.put_policy(policy(delete_when_shared=True))
    sweep(env)
    assert not exists(env, "1.0.0") and not exists(env, "1.0.1") and exists(env, "1.0.2")


def test_a_private_gallery_deletes_without_opting_in(env: Env) -> None:
    three_versions_due(env)
    report = sweep(env)
    assert not report.errors, report.errors
    assert not exists(env, "1.0.0") and not exists(env, "1.0.1")


def test_scale_set_instances_on_latest_keep_the_version_they_run(env: Env) -> None:
    """Instances on the latest model of a scale set on `latest` run the version `latest` meant when they
    were built (their `exactVersion`), not what it means now: that version is kept."""
    env.put_policy(policy())
    env.create_image(IMAGE)
    start = env.now()
    for name in ("1.0.0", "1.0.1"):
        env.create_version(IMAGE, name)
    env.advance(hours=1)
    body = scale_set_body(f"{GALLERY_ID}/images/{IMAGE}", upgrade_mode="Automatic")
    env.compute.virtual_machine_scale_sets.begin_create_or_update(RG, "web", body).result()
    env.create_version(IMAGE, "1.0.2")
    env.advance(hours=1)
    sweep(env)
    instances = list(env.compute.virtual_machine_scale_set_vms.list(RG, "web"))
    assert [(i.latest_model_applied, i.storage_profile.image_reference.exact_version) for i in instances] == [
        (True, "1.0.1"),
        (True, "1.0.1"),
    ]
    env.emulator.set_time(start + timedelta(days=45))

    report = sweep(env)

    assert not report.errors, report.errors
    assert exists(env, "1.0.1") and not exists(env, "1.0.0") and exists(env, "1.0.2")
    assert NOT_IN_USE in notes(report, "1.0.1")
