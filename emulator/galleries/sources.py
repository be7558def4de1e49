"""The disk images a gallery image version reports for a VM or a managed image as its source.

Azure derives them from the source's disks: `osDiskImage {sizeInGB, hostCaching, source: {}}` from the
OS disk (`diskSizeGB`, `caching`) and one `dataDiskImages[] {lun, sizeInGB, hostCaching}` per data disk.
Recorded: a VM source in cli-recordings/test_image_version_create_for_diff_source.yaml interaction 35
(30 GiB OS disk with ReadWrite caching, a 10 GiB data disk at lun 0 with caching None) and
test_gallery_soft_delete.yaml 43; a managed-image source in test_gallery_e2e.yaml 92 and
test_image_version_create_for_diff_source.yaml 74.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from emulator.state import State

VM = "microsoft.compute/virtualmachines"
MANAGED_IMAGE = "microsoft.compute/images"


def _os_and_data(state: State, source_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]] | None:
    found = state.get(source_id)
    if found is None or found.type.lower() not in (VM, MANAGED_IMAGE):
        return None
    storage = found.properties.get("storageProfile")
    if not isinstance(storage, dict):
        return None
    given = storage.get("osDisk")
    os_disk: dict[str, Any] = given if isinstance(given, dict) else {}
    data = [d for d in storage.get("dataDisks") or [] if isinstance(d, dict)]
    return os_disk, data


def derived_disk_images(state: State, source_id: str, default_size: int) -> dict[str, Any] | None:
    """`{"osDiskImage": ..., "dataDiskImages": [...]}` for a VM or managed image the emulator holds,
    else None."""
    disks = _os_and_data(state, source_id)
    if disks is None:
        return None
    os_disk, data = disks
    out: dict[str, Any] = {
        "osDiskImage": {
            "sizeInGB": os_disk.get("diskSizeGB") or default_size,
            "hostCaching": os_disk.get("caching") or "ReadWrite",
            "source": {},
        }
    }
    images = [
        {
            "lun": disk.get("lun", index),
            "sizeInGB": disk.get("diskSizeGB") or default_size,
            "hostCaching": disk.get("caching") or "None",
        }
        for index, disk in enumerate(data)
    ]
    if images:
        out["dataDiskImages"] = images
    return out
