"""The read-only facts DiskRP reports on a disk or snapshot, beyond what the request set.

Recorded (cli-recordings, api-version 2023-04-02): test_gallery_image_version_vhd.yaml 30 (an empty
10 GiB Premium disk) and 41 (its snapshot), test_create_image_version_with_region_cvm_encryption.yaml 28
(a Premium disk made from a Windows platform image, encrypted with a disk encryption set) and 35 (its
snapshot), test_image_version_with_target_extended_locations.yaml 11:
* every disk and snapshot: `diskState: Unattached`, `networkAccessPolicy: AllowAll`,
  `publicNetworkAccess: Enabled`, `encryption.type` EncryptionAtRestWithPlatformKey, or
  EncryptionAtRestWithCustomerKey with a `diskEncryptionSetId`;
* disks: `diskIOPSReadWrite`, `diskMBpsReadWrite` and, for Premium SSD, the performance `tier` of its size
  (10 and 30 GiB: P3 and P4, 120 IOPS, 25 MB/s). The other sizes and SKUs follow the size tables of
  https://learn.microsoft.com/azure/virtual-machines/disks-types (Standard HDD and SSD: 500 IOPS and
  60 MB/s up to 4 TiB, the emulator's reading for every size);
* snapshots: `incremental: false` unless asked, `creationData.sourceUniqueId` (the source disk's
  `uniqueId`), and the source disk's `osType`, `hyperVGeneration`, `supportsHibernation`,
  `supportedCapabilities`, `securityProfile` and encryption set;
* a disk made from a platform image (`creationData.imageReference.id`): `osType` from the image's
  `osDiskImage.operatingSystem`, `supportsHibernation` and `supportedCapabilities {diskControllerTypes,
  acceleratedNetwork, architecture}` from its `features` and `architecture` (recording 24 shows the image).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator import regions

if TYPE_CHECKING:
    from emulator.state import State

# (largest size in GiB, tier, IOPS, MB/s) of Premium SSD (disks-types, "Premium SSD size").
PREMIUM = (
    (4, "P1", 120, 25),
    (8, "P2", 120, 25),
    (16, "P3", 120, 25),
    (32, "P4", 120, 25),
    (64, "P6", 240, 50),
    (128, "P10", 500, 100),
    (256, "P15", 1100, 125),
    (512, "P20", 2300, 150),
    (1024, "P30", 5000, 200),
    (2048, "P40", 7500, 250),
    (4096, "P50", 7500, 250),
    (8192, "P60", 16000, 500),
    (16384, "P70", 18000, 750),
    (32767, "P80", 20000, 900),
)
INHERITED = ("osType", "hyperVGeneration", "supportsHibernation", "supportedCapabilities", "securityProfile")


def performance(sku: str, size_gb: int) -> dict[str, Any]:
    if sku.lower().startswith("premium_"):
        for limit, tier, iops, mbps in PREMIUM:
            if size_gb <= limit:
                return {"diskIOPSReadWrite": iops, "diskMBpsReadWrite": mbps, "tier": tier}
        return {"diskIOPSReadWrite": 20000, "diskMBpsReadWrite": 900, "tier": "P80"}
    return {"diskIOPSReadWrite": 500, "diskMBpsReadWrite": 60}


def _platform_image(state: State, image_id: str) -> dict[str, Any] | None:
    parts = image_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    try:
        location = parts[lowered.index("locations") + 1]
        publisher = parts[lowered.index("publishers") + 1]
        offer = parts[lowered.index("offers") + 1]
        sku = parts[lowered.index("skus") + 1]
        version = parts[lowered.index("versions") + 1]
    except (ValueError, IndexError):
        return None
    key = (regions.normalize(location), publisher.lower(), offer.lower(), sku.lower())
    found = state.marketplace.get(key, {}).get(version)
    if found is None:
        return None
    props: dict[str, Any] = found.render(found.location, with_properties=True)["properties"]
    return props


def from_platform_image(image: dict[str, Any]) -> dict[str, Any]:
    features = {
        str(f.get("name")): str(f.get("value")) for f in image.get("features") or [] if isinstance(f, dict)
    }
    facts: dict[str, Any] = {"osType": (image.get("osDiskImage") or {}).get("operatingSystem", "Linux")}
    if "IsHibernateSupported" in features:
        facts["supportsHibernation"] = features["IsHibernateSupported"].lower() == "true"
    capabilities: dict[str, Any] = {}
    if "DiskControllerTypes" in features:
        capabilities["diskControllerTypes"] = features["DiskControllerTypes"]
    if "IsAcceleratedNetworkSupported" in features:
        capabilities["acceleratedNetwork"] = features["IsAcceleratedNetworkSupported"].lower() == "true"
    if image.get("architecture"):
        capabilities["architecture"] = image["architecture"]
    if capabilities:
        facts["supportedCapabilities"] = capabilities
    return facts


def add_facts(state: State, snapshot: bool, props: dict[str, Any], sku: str) -> None:
    """Fill in, on a new disk's or snapshot's `props`, what DiskRP reports (see the module docstring)."""
    creation = props.get("creationData") or {}
    source = (
        state.get(str(creation.get("sourceResourceId") or "")) if creation.get("sourceResourceId") else None
    )
    inherited: dict[str, Any] = {}
    if source is not None:
        inherited = {k: source.properties[k] for k in INHERITED if k in source.properties}
        if snapshot and source.properties.get("uniqueId"):
            creation["sourceUniqueId"] = source.properties["uniqueId"]
        source_des = (source.properties.get("encryption") or {}).get("diskEncryptionSetId")
        if source_des and not (props.get("encryption") or {}).get("diskEncryptionSetId"):
            props["encryption"] = {**(props.get("encryption") or {}), "diskEncryptionSetId": source_des}
    image_id = (creation.get("imageReference") or {}).get("id")
    if image_id:
        image = _platform_image(state, str(image_id))
        if image is not None:
            inherited = {**from_platform_image(image), **inherited}
    for key, value in inherited.items():
        props.setdefault(key, value)
    encryption = dict(props.get("encryption") or {})
    if not encryption.get("type"):
        customer = bool(encryption.get("diskEncryptionSetId"))
        encryption["type"] = (
            "EncryptionAtRestWithCustomerKey" if customer else "EncryptionAtRestWithPlatformKey"
        )
    props["encryption"] = encryption
    props.setdefault("networkAccessPolicy", "AllowAll")
    props.setdefault("publicNetworkAccess", "Enabled")
    props["diskState"] = "Unattached"
    if snapshot:
        props.setdefault("incremental", False)
    else:
        for key, value in performance(sku, int(props.get("diskSizeGB") or 0)).items():
            props.setdefault(key, value)
