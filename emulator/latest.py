"""What `latest` of a gallery image means for a machine being built in one region: the `exactVersion` that
VMs and scale-set instances report when their image reference names an image definition, not a version.

Sources:
- `exactVersion`: computeExamples/VirtualMachineScaleSetVM_List_WithResiliencyView.json (Uniform instances
  on `version: latest` report `exactVersion`), and ComputeRP's ImageReference.exactVersion: "This readonly
  field differs from 'version', only if the value specified in 'version' field is 'latest'". So it is set
  only for references that follow `latest` (an image definition id, `.../versions/latest`, or a shared or
  community id ending in `Versions/latest` or with no version), and a client-sent value is ignored.
- Which version `latest` is: "the latest image is chosen based on the highest MajorVersion, then
  MinorVersion, then Patch" and "Exclude from latest: you can keep a version from being used as the latest
  image version" (Learn, "Store and share images in an Azure Compute Gallery",
  https://learn.microsoft.com/azure/virtual-machines/shared-image-galleries). A region's own
  `targetRegions[].excludeFromLatest` counts for machines in that region (GalleryRP TargetRegion).
- A version is used in a region only once it is replicated there: Azure answers `GalleryImageNotFound`
  "... is not available in westus2 region." otherwise (Azure/AgentBaker PR #8373, quoted in
  ../shared/reference/recordings/FACTS-replication-failure.md). Stricter reading: a region still
  Replicating, or Failed, does not count.

When nothing qualifies Azure refuses the deployment; the emulator does not model that refusal (the
machine is stored without `exactVersion`), and a reference to a gallery the emulator does not hold is left
as sent.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from emulator import regions
from emulator.galleries.model import GALLERY, IMAGE, VERSION, VERSION_NAME, ImageVersion

if TYPE_CHECKING:
    from emulator.state import Resource, State

# `/SharedGalleries/<uniqueName>/Images/<image>[/Versions/<v>]`, same under `/CommunityGalleries/<name>`
# (computeExamples/VirtualMachine_Create_FromASharedGalleryImage.json, ..._FromACommunityGalleryImage.json).
_SHARED = re.compile(
    r"^/(?P<kind>SharedGalleries|CommunityGalleries)/(?P<gallery>[^/]+)/Images/(?P<image>[^/]+)"
    r"(?:/Versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)
_IMAGE_ID = re.compile(
    r"^(?P<image>/subscriptions/[^/]+/resourceGroups/[^/]+/providers/Microsoft\.Compute/galleries/[^/]+"
    r"/images/[^/]+)(?:/versions/(?P<version>[^/]+))?/?$",
    re.IGNORECASE,
)


def resolve_reference(state: State, reference: Any, location: str) -> None:
    """Set (or drop) `exactVersion` on an image reference about to be applied to a machine in `location`."""
    if not isinstance(reference, dict):
        return
    reference.pop("exactVersion", None)  # readOnly: what a client sends is not kept
    platform = _platform_latest(state, reference, location)
    if platform is not None:
        reference["exactVersion"] = platform
        return
    image = _followed_image(state, reference)
    if image is None:
        return
    exact = latest_version(state, image, location)
    if exact is not None:
        reference["exactVersion"] = exact


def _platform_latest(state: State, reference: dict[str, Any], location: str) -> str | None:
    """A Marketplace reference on `version: latest` reports the newest version published in the region
    (cli-recordings/test_shared_gallery.yaml interaction 33: `version: latest`, `exactVersion`
    18.04.202306070, the newest the Marketplace list answered at interaction 10)."""
    if reference.get("id") or str(reference.get("version", "")).lower() != "latest":
        return None
    publisher, offer, sku = (str(reference.get(k) or "").lower() for k in ("publisher", "offer", "sku"))
    if not (publisher and offer and sku):
        return None
    versions = state.marketplace.get((regions.normalize(location), publisher, offer, sku))  # marketplace.py
    if not versions:
        return None
    return max(versions, key=lambda v: tuple(int(p) for p in v.split(".")))


def _followed_image(state: State, reference: dict[str, Any]) -> Resource | None:
    """The image definition a reference follows through `latest`, or None (an exact version, or a
    gallery the emulator does not hold)."""
    if reference.get("id"):
        match = _IMAGE_ID.match(str(reference["id"]).strip())
        if match is None or (match["version"] and match["version"].lower() != "latest"):
            return None
        return state.get(match["image"])
    for key in ("sharedGalleryImageId", "communityGalleryImageId"):
        if not reference.get(key):
            continue
        match = _SHARED.match(str(reference[key]).strip())
        if match is None or (match["version"] and match["version"].lower() != "latest"):
            return None
        gallery = _gallery_named(state, match["kind"].lower() == "sharedgalleries", match["gallery"])
        return None if gallery is None else state.get(f"{gallery.id}/images/{match['image']}")
    return None


def _gallery_named(state: State, shared: bool, name: str) -> Resource | None:
    wanted = name.lower()
    for gallery in list(state.resources.values()):
        if gallery.type != GALLERY:
            continue
        if shared:
            # identifier.uniqueName as rendered (sharingExamples/Gallery_Create_WithSharingProfile.json).
            if f"{gallery.subscription}-{gallery.name}".lower() == wanted:
                return gallery
            continue
        info = (gallery.properties.get("sharingProfile") or {}).get("communityGalleryInfo") or {}
        if wanted in {str(n).lower() for n in info.get("publicNames") or ()}:
            return gallery
    return None


def latest_version(state: State, image: Resource, location: str) -> str | None:
    """The highest version (major, minor, patch) of `image` that a machine in `location` gets for `latest`."""
    if image.type != IMAGE:
        return None
    region = regions.normalize(location)
    now = state.now()
    best: tuple[tuple[int, int, int], str] | None = None
    for version in state.children(image.id, VERSION):
        match = VERSION_NAME.match(version.name)
        if match is None or not _serves(version, region, now):
            continue
        key = (int(match[1]), int(match[2]), int(match[3]))
        if best is None or key > best[0]:
            best = (key, version.name)
    return None if best is None else best[1]


def _serves(version: Resource, region: str, now: Any) -> bool:
    if version.provisioning_state in ("Creating", "Deleting"):
        return False
    profile = version.properties.get("publishingProfile") or {}
    if profile.get("excludeFromLatest") is True:
        return False
    target = next(
        (
            t
            for t in profile.get("targetRegions") or ()
            if isinstance(t, dict) and regions.normalize(str(t.get("name", ""))) == region
        ),
        None,
    )
    if target is None or target.get("excludeFromLatest") is True:
        return False
    if isinstance(version, ImageVersion):
        replication = version.replication.get(region)
        if replication is not None and replication.state(now)[0] != "Completed":
            return False
    return True
