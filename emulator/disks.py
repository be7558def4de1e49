"""Microsoft.Compute disks and snapshots, kept just deep enough to be gallery image version sources, and
the disk sizes a version reports from its source.

Disks and snapshots: PUT (202 + DiskOperations, as the recordings show), GET, list, DELETE. Only what a
version needs is modelled: `properties.diskSizeGB`, `creationData`, `sku`, `uniqueId`, `timeCreated`.

Version sizes (`storageProfile.osDiskImage.sizeInGB`, `dataDiskImages[].sizeInGB`) follow Azure:
- a disk or snapshot source reports that resource's `diskSizeGB` (GalleryImageVersion_Create_
  WithSnapshotsAsSource.json: snapshot/disk sources answer with `sizeInGB`; the 2021-07-01 recording:
  a version made from a 200 GiB disk's snapshot);
- a managed image, VM or gallery version as `storageProfile.source` makes Azure derive `osDiskImage`
  (GalleryImageVersion_Create.json, _WithVmAsSource.json, _WithImageVersionAsSource.json answer
  `osDiskImage: {sizeInGB, hostCaching: ReadOnly}` for a request with only `source.id`); from a gallery
  version the emulator knows, its sizes are copied;
- a VHD source (`source.uri`) reports no `sizeInGB` (GalleryImageVersion_Get_WithVhdAsSource.json);
- a source the emulator does not know (an id outside it) is taken as 30 GiB, the size of Azure's
  smallest standard OS disk images (an assumption: Azure reads the real source, which we cannot).
"""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from emulator import lro
from emulator.arm import (
    Request,
    ResourceType,
    Response,
    Route,
    put_request,
    serve,
)
from emulator.clock import format_iso
from emulator.disk_facts import add_facts
from emulator.envelope import render
from emulator.errors import invalid_parameter
from emulator.galleries.sources import derived_disk_images
from emulator.state import Resource, validate_tags
from emulator.writes import accept_delete, accept_disk_write, kept

if TYPE_CHECKING:
    from emulator.state import State

DISK = "Microsoft.Compute/disks"
SNAPSHOT = "Microsoft.Compute/snapshots"
VERSION = "Microsoft.Compute/galleries/images/versions"
DEFAULT_SIZE_GB = 30
# The recordings' disk answers carry a sku of {name, tier}; Standard_LRS is DiskRP's default.
TIERS = {
    "Standard_LRS": "Standard",
    "Premium_LRS": "Premium",
    "StandardSSD_LRS": "Standard",
    "Standard_ZRS": "Standard",
    "Premium_ZRS": "Premium",
    "StandardSSD_ZRS": "Standard",
}


def handle(state: State, req: Request, route: Route) -> Response:
    return serve(state, req, route, render, {"PUT": _put, "DELETE": delete})


def _put(state: State, req: Request, route: Route, existing: Resource | None) -> Response:
    type_name = route.rtype.full_type
    body, location, props = put_request(req, existing, type_name)
    creation = props.get("creationData")
    if not isinstance(creation, dict) or not creation.get("createOption"):
        # DiskRP requires creationData.createOption on every disk and snapshot (the recordings send it).
        raise invalid_parameter(
            "Required parameter 'creationData.createOption' is missing (null).",
            "properties.creationData.createOption",
        )
    size = props.get("diskSizeGB")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool) or size < 1):
        raise invalid_parameter(f"The value '{size}' of parameter 'diskSizeGB' is invalid.", "diskSizeGB")
    if size is None:
        # A copy takes its source's size (the recorded snapshot of a 200 GiB disk reports 200).
        source = creation.get("sourceResourceId") or creation.get("sourceUri")
        size = source_size(state, source) if source else None
        props["diskSizeGB"] = size if size is not None else DEFAULT_SIZE_GB
    if (
        creation.get("sourceUri")
        and not creation.get("sourceResourceId")
        and str(creation["sourceUri"]).startswith("/")
    ):
        # The recorded snapshot PUT sent the disk id as sourceUri; the GET answered it as sourceResourceId.
        creation["sourceResourceId"] = creation.pop("sourceUri")
    props["diskSizeBytes"] = props["diskSizeGB"] * 1024**3
    props["uniqueId"] = existing.properties.get("uniqueId") if existing else str(uuid.uuid4())
    props["timeCreated"] = existing.properties.get("timeCreated") if existing else format_iso(state.now())
    sku = body.get("sku") or (existing.extra.get("sku") if existing else None) or {"name": "Standard_LRS"}
    sku = {"name": sku.get("name", "Standard_LRS"), "tier": TIERS.get(sku.get("name", ""), "Standard")}
    add_facts(state, type_name == SNAPSHOT, props, sku["name"])  # what DiskRP reports (disk_facts.py)
    res = Resource(
        **kept(state, route, existing),
        type=type_name,
        location=location,
        properties=props,
        tags=validate_tags(body.get("tags")),
        provisioning_state="Succeeded",
        extra={"sku": sku},
    )
    state.put(res)
    return accept_disk_write(state, req, res)


def delete(state: State, req: Request, route: Route, existing: Resource | None) -> Response:
    """DiskRP's DELETE (disks, snapshots, disk encryption sets): 202 + a DiskOperations operation."""
    return accept_delete(state, req, existing, collection="DiskOperations", deleting=False, when_failed=None)


def source_size(state: State, source_id: Any) -> int | None:
    """The size in GiB of a disk or snapshot the emulator holds, else None."""
    if not isinstance(source_id, str):
        return None
    found = state.get(source_id)
    if found is None or found.type.lower() not in (DISK.lower(), SNAPSHOT.lower()):
        return None
    size = found.properties.get("diskSizeGB")
    return size if isinstance(size, int) else None


def _disk_image_size(state: State, disk: dict[str, Any]) -> int | None:
    source = disk.get("source")
    if not isinstance(source, dict):
        return None
    if source.get("id"):
        return source_size(state, source["id"]) or DEFAULT_SIZE_GB
    return None  # a VHD (`uri`): Azure reports no size


def with_sizes(state: State, storage: dict[str, Any]) -> dict[str, Any]:
    """The storage profile of a new version, with the disk sizes Azure reports for its source."""
    storage = copy.deepcopy(storage)
    given = storage.get("source")
    source: dict[str, Any] = given if isinstance(given, dict) else {}
    source_id = source.get("id") or source.get("virtualMachineId") or source.get("communityGalleryImageId")
    if source_id and not isinstance(storage.get("osDiskImage"), dict):
        found = state.get(str(source_id)) if source.get("id") else None
        derived = derived_disk_images(state, str(source_id), DEFAULT_SIZE_GB) if found is not None else None
        if derived is not None:  # a VM or a managed image (emulator/galleries/sources.py)
            storage.update(derived)
        elif found is not None and found.type.lower() == VERSION.lower():
            parent = found.properties.get("storageProfile") or {}
            os_disk = {k: v for k, v in (parent.get("osDiskImage") or {}).items() if k != "source"}
            os_disk = os_disk or {"sizeInGB": DEFAULT_SIZE_GB, "hostCaching": "ReadOnly"}
            # ... with an empty `source` (cli-recordings/test_image_version_create_for_diff_source.yaml 52).
            storage["osDiskImage"] = {**os_disk, "source": {}}
            data = [{k: v for k, v in d.items() if k != "source"} for d in parent.get("dataDiskImages") or []]
            if data:
                storage["dataDiskImages"] = data
        else:
            storage["osDiskImage"] = {"sizeInGB": DEFAULT_SIZE_GB, "hostCaching": "ReadOnly"}
    # A disk image made from a disk, snapshot or VHD caches ReadWrite for the OS disk and ReadOnly for data
    # disks unless the request says otherwise (cli-recordings/test_gallery_image_version_vhd.yaml 60,
    # test_create_image_version_with_region_cvm_encryption.yaml 37 and 48).
    _from_source(state, storage.get("osDiskImage"), "ReadWrite")
    for disk in storage.get("dataDiskImages") or []:
        _from_source(state, disk, "ReadOnly")
    return storage


def _from_source(state: State, disk: Any, caching: str) -> None:
    """A disk image with its own `source`: the size Azure reports for it, and its default caching."""
    if isinstance(disk, dict) and isinstance(disk.get("source"), dict) and disk["source"]:
        size = _disk_image_size(state, disk)
        if size is None:
            disk.pop("sizeInGB", None)
        else:
            disk["sizeInGB"] = size
        disk.setdefault("hostCaching", caching)


RESOURCE_TYPES = (
    ResourceType("Microsoft.Compute", ("disks",), "disk", handle),
    ResourceType("Microsoft.Compute", ("snapshots",), "disk", handle),
    ResourceType("Microsoft.Compute", ("locations", "DiskOperations"), "disk", lro.handle_status),
)
