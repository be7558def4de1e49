"""Disks and snapshots as version sources, and the disk sizes versions report from them: the real
ComputeManagementClient creates snapshots and disks; versions answer `sizeInGB` as Azure does."""

from __future__ import annotations

from typing import Any

import pytest

from tests.emulator.conftest import RG, SUB, Arm, advance, make_image

pytestmark = pytest.mark.integration

PROVIDER = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute"


def _version(arm: Arm, image: str, name: str, storage: dict[str, Any]) -> dict[str, Any]:
    body = {
        "location": "westeurope",
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": "westeurope"}]},
            "storageProfile": storage,
        },
    }
    answer = arm.call("PUT", f"{image}/versions/{name}", body)
    assert answer.status == 201, answer.body
    return dict(answer.body["properties"]["storageProfile"])


def test_sdk_creates_snapshots_and_disks_with_sizes(compute: Any) -> None:
    snapshot = compute.snapshots.begin_create_or_update(
        RG,
        "os",
        {
            "location": "westeurope",
            "properties": {"creationData": {"createOption": "Import"}, "diskSizeGB": 64},
        },
    ).result()
    assert snapshot.disk_size_gb == 64
    assert snapshot.id == f"{PROVIDER}/snapshots/os"
    # A copy without diskSizeGB takes its source's size.
    copy = compute.disks.begin_create_or_update(
        RG,
        "data",
        {
            "location": "westeurope",
            "properties": {"creationData": {"createOption": "Copy", "sourceResourceId": snapshot.id}},
        },
    ).result()
    assert copy.disk_size_gb == 64
    assert compute.disks.get(RG, "data").creation_data.source_resource_id == snapshot.id
    # Nothing known about the source: 30 GiB.
    empty = compute.snapshots.begin_create_or_update(
        RG, "blank", {"location": "westeurope", "properties": {"creationData": {"createOption": "Import"}}}
    ).result()
    assert empty.disk_size_gb == 30
    assert [s.name for s in compute.snapshots.list_by_resource_group(RG)] == ["os", "blank"]
    compute.snapshots.begin_delete(RG, "blank").result()
    assert [s.name for s in compute.snapshots.list_by_resource_group(RG)] == ["os"]


def test_creation_data_is_required(arm: Arm) -> None:
    answer = arm.call(
        "PUT", f"{PROVIDER}/disks/d", {"location": "westeurope", "properties": {}}, api_version="2025-01-02"
    )
    assert answer.status == 400
    assert answer.code == "InvalidParameter"


def test_versions_report_sizes_from_their_sources(arm: Arm, emulator: Any) -> None:
    for kind, name, size in (("snapshots", "os", 127), ("disks", "data", 512)):
        answer = arm.call(
            "PUT",
            f"{PROVIDER}/{kind}/{name}",
            {
                "location": "westeurope",
                "properties": {"creationData": {"createOption": "Empty"}, "diskSizeGB": size},
            },
            api_version="2025-01-02",
        )
        assert answer.status == 202, answer.body
        assert arm.wait(answer)["status"] == "Succeeded"
    image = make_image(arm)

    storage = _version(
        arm,
        image,
        "1.0.0",
        {
            "osDiskImage": {"source": {"id": f"{PROVIDER}/snapshots/os"}},
            "dataDiskImages": [{"lun": 0, "source": {"id": f"{PROVIDER}/disks/data"}}],
        },
    )
    assert storage["osDiskImage"]["sizeInGB"] == 127
    assert storage["dataDiskImages"][0]["sizeInGB"] == 512

    # A source outside the emulator: 30 GiB; a VHD: no size, as Azure answers.
    unknown = _version(arm, image, "1.0.1", {"osDiskImage": {"source": {"id": f"{PROVIDER}/snapshots/gone"}}})
    assert unknown["osDiskImage"]["sizeInGB"] == 30
    vhd = _version(
        arm,
        image,
        "1.0.2",
        {
            "osDiskImage": {
                "source": {
                    "storageAccountId": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/"
                    "Microsoft.Storage/storageAccounts/vhds",
                    "uri": "https://vhds.blob.core.windows.net/vhds/os.vhd",
                }
            }
        },
    )
    assert "sizeInGB" not in vhd["osDiskImage"]

    # A gallery version as the source: Azure derives the disks; the emulator copies the known sizes.
    derived = _version(arm, image, "1.0.3", {"source": {"id": f"{image}/versions/1.0.0"}})
    assert derived["osDiskImage"]["sizeInGB"] == 127
    assert derived["dataDiskImages"][0]["sizeInGB"] == 512
    # A managed image the emulator does not hold: the OS disk is derived at 30 GiB.
    managed = _version(arm, image, "1.0.4", {"source": {"id": f"{PROVIDER}/images/golden"}})
    assert managed["osDiskImage"]["sizeInGB"] == 30

    # Sizes stay on later reads and updates.
    advance(emulator, 120)
    got = arm.call("GET", f"{image}/versions/1.0.0").body["properties"]["storageProfile"]
    assert got["osDiskImage"]["sizeInGB"] == 127
