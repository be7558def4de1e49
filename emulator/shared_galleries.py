"""What a gallery's consumers read: shared-gallery reads (`/subscriptions/{s}/providers/Microsoft.Compute/
locations/{l}/sharedGalleries[/{uniqueName}[/images[/{image}[/versions[/{version}]]]]]`) and community-gallery
reads (`.../locations/{l}/communityGalleries/{publicName}[/images[/{image}[/versions[/{version}]]]]`),
computed from the publisher's galleries the emulator holds. GET only (GalleryRP.json defines no other
method on them).

Sources (cli-recordings, api-versions 2022-01-03 and 2022-08-03):
* shared reads: test_shared_gallery.yaml interactions 60-65: items `{name, location, identifier.uniqueId}`
  (`/SharedGalleries/{uniqueName}[/Images/{image}[/Versions/{version}]]`) with `properties`: a gallery's
  are `{}`; an image's `{osType, osState, recommended, hyperVGeneration, architecture, identifier
  {publisher, offer, sku}}` (`recommended` is `{}` when the definition has none); a version's
  `{publishedDate, excludeFromLatest, storageProfile {osDiskImage {diskSizeGB, hostCaching},
  dataDiskImages[] {lun, diskSizeGB, hostCaching}}}`. The subscription the gallery was shared with (its
  `Subscriptions` group, interaction 52) lists it; the emulator lists a gallery for a subscription in its
  Subscriptions group, and with `sharedTo=tenant` the galleries with an AADTenants group (the emulator has
  no tenants: a tenant share lists, but only a subscription share makes a gallery readable).
* community reads: test_community_gallery_operations.yaml interactions 52-57: a gallery is
  `{name: publicName, location (as the path spells it), identifier.uniqueId "/CommunityGalleries/{name}",
  properties {communityMetadata {publisherUri, publisherContact, eula, publicNames}, disclaimer}}` and, at
  2022-01-03, `communityMetadata` again beside `properties`; images and versions carry `disclaimer`
  "https://aka.ms/community-gallery-disclaimer" in their properties, and an image's identifier reads
  `{publisher: "", offer: "", sku: ""}` although the definition was created with publisher1/offer1/sku1
  (interaction 8). Only a gallery whose `communityGalleryEnabled` is true (after `share`
  EnableCommunity, interaction 4) is readable this way.
* both: an image version is read in a region only when it replicates there (its targetRegions) and has
  finished provisioning; excluded or not, it is listed with its `excludeFromLatest`.
A name that is not shared (or not in that region) answers 404 `ResourceNotFound`: Azure's exact code is
not recorded, so the emulator takes the stricter reading that it is not readable at all.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator import regions
from emulator.arm import Request, ResourceType, Response, Route, page
from emulator.errors import ArmError
from emulator.galleries.gallery import unique_name  # the gallery's own `identifier.uniqueName`
from emulator.galleries.model import GALLERY, IMAGE, VERSION

if TYPE_CHECKING:
    from emulator.state import Resource, State

PROVIDER = "Microsoft.Compute"
DISCLAIMER = "https://aka.ms/community-gallery-disclaimer"  # test_community_gallery_operations.yaml 52-57
IMAGE_KEYS = (
    "osType",
    "osState",
    "endOfLifeDate",
    "identifier",
    "recommended",
    "disallowed",
    "hyperVGeneration",
    "features",
    "purchasePlan",
    "architecture",
    "privacyStatementUri",
    "eula",
)


def _not_found(kind: str, name: str) -> ArmError:
    return ArmError(404, "ResourceNotFound", f"The {kind} '{name}' was not found or is not shared with you.")


def _shared_with(gallery: Resource, subscription: str, tenant: bool) -> bool:
    profile = gallery.properties.get("sharingProfile") or {}
    if profile.get("permissions") != "Groups":
        return False
    for group in profile.get("groups") or []:
        ids = [str(i).lower() for i in group.get("ids") or []]
        if tenant and group.get("type") == "AADTenants" and ids:
            return True
        if not tenant and group.get("type") == "Subscriptions" and subscription.lower() in ids:
            return True
    return False


def _community(gallery: Resource) -> dict[str, Any] | None:
    profile = gallery.properties.get("sharingProfile") or {}
    info = profile.get("communityGalleryInfo")
    if (
        profile.get("permissions") == "Community"
        and isinstance(info, dict)
        and info.get("communityGalleryEnabled")
    ):
        return info
    return None


def _in_region(resource: Resource, location: str) -> bool:
    return regions.normalize(resource.location) == regions.normalize(location)


def _galleries(state: State) -> list[Resource]:
    return [r for r in state.resources.values() if r.type == GALLERY and r.provisioning_state != "Deleting"]


def _image_body(image: Resource, community: bool) -> dict[str, Any]:
    props = {k: image.properties[k] for k in IMAGE_KEYS if image.properties.get(k) is not None}
    props.setdefault("recommended", {})
    if community:
        props["identifier"] = {"publisher": "", "offer": "", "sku": ""}
        props["disclaimer"] = DISCLAIMER
    return props


def _version_body(version: Resource, community: bool) -> dict[str, Any]:
    publishing = version.properties.get("publishingProfile") or {}
    storage = version.properties.get("storageProfile") or {}
    props: dict[str, Any] = {}
    if community:
        props["disclaimer"] = DISCLAIMER
    props["publishedDate"] = publishing.get("publishedDate")
    if publishing.get("endOfLifeDate"):
        props["endOfLifeDate"] = publishing["endOfLifeDate"]
    props["excludeFromLatest"] = bool(publishing.get("excludeFromLatest", False))
    os_image = storage.get("osDiskImage") or {}
    shared_storage: dict[str, Any] = {
        "osDiskImage": {"diskSizeGB": os_image.get("sizeInGB"), "hostCaching": os_image.get("hostCaching")}
    }
    data = [
        {"lun": d.get("lun"), "diskSizeGB": d.get("sizeInGB"), "hostCaching": d.get("hostCaching")}
        for d in storage.get("dataDiskImages") or []
        if isinstance(d, dict)
    ]
    if data:
        shared_storage["dataDiskImages"] = data
    props["storageProfile"] = {
        key: {k: v for k, v in value.items() if v is not None}
        if isinstance(value, dict)
        else [{k: v for k, v in d.items() if v is not None} for d in value]
        for key, value in shared_storage.items()
    }
    return props


def _readable_version(version: Resource, location: str) -> bool:
    if version.provisioning_state != "Succeeded":
        return False
    targets = (version.properties.get("publishingProfile") or {}).get("targetRegions") or []
    return any(regions.normalize(t.get("name", "")) == regions.normalize(location) for t in targets)


def handle(state: State, req: Request, route: Route) -> Response:
    if req.method != "GET":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    community = route.rtype.types[1].lower() == "communitygalleries"
    names = route.names
    location = names[0]
    subscription = route.path.subscription
    root = "/CommunityGalleries" if community else "/SharedGalleries"
    kind = "community gallery" if community else "shared gallery"
    if len(names) == 1:  # the collection of shared galleries (community galleries have no list)
        if community:
            raise ArmError(405, "MethodNotAllowed", "Community galleries cannot be listed.")
        tenant = (req.param("sharedTo") or "").lower() == "tenant"
        items = [
            _gallery_item(g, location, community=False)
            for g in _galleries(state)
            if _in_region(g, location) and _shared_with(g, subscription, tenant)
        ]
        return page(state, req, items)
    gallery, public = _find_gallery(state, names[1], location, subscription, community)
    if gallery is None:
        raise _not_found(kind, names[1])
    base = f"{root}/{public}"
    if len(names) == 2 and route.kind == "instance":
        return Response(200, _gallery_item(gallery, location, community=community, public=public))
    images = state.children(gallery.id, IMAGE)
    if len(names) == 2:
        return page(state, req, [_image_item(i, location, base, community) for i in images])
    image = next((i for i in images if i.name.lower() == names[2].lower()), None)
    if image is None:
        raise _not_found("image", names[2])
    if len(names) == 3 and route.kind == "instance":
        return Response(200, _image_item(image, location, base, community))
    versions = [v for v in state.children(image.id, VERSION) if _readable_version(v, location)]
    image_base = f"{base}/Images/{image.name}"
    if len(names) == 3:
        return page(state, req, [_version_item(v, location, image_base, community) for v in versions])
    version = next((v for v in versions if v.name == names[3]), None)
    if version is None:
        raise _not_found("image version", names[3])
    return Response(200, _version_item(version, location, image_base, community))


def _find_gallery(
    state: State, name: str, location: str, subscription: str, community: bool
) -> tuple[Resource | None, str]:
    for gallery in _galleries(state):
        if not _in_region(gallery, location):
            continue
        if community:
            info = _community(gallery)
            for public in (info or {}).get("publicNames") or []:
                if str(public).lower() == name.lower():
                    return gallery, str(public)
        elif unique_name(gallery).lower() == name.lower() and _shared_with(gallery, subscription, False):
            # A share with a tenant alone does not make it readable: the emulator does not know the
            # caller's tenant, so it takes the stricter reading.
            return gallery, unique_name(gallery)
    return None, name


def _gallery_item(gallery: Resource, location: str, *, community: bool, public: str = "") -> dict[str, Any]:
    if not community:
        name = unique_name(gallery)
        return {
            "properties": {},
            "location": regions.normalize(location),
            "name": name,
            "identifier": {"uniqueId": f"/SharedGalleries/{name}"},
        }
    info = _community(gallery) or {}
    metadata: dict[str, Any] = {
        k: info[k] for k in ("publisherUri", "publisherContact", "eula", "publicNames") if k in info
    }
    if info.get("privacyStatementUri"):
        metadata["privacyStatementUri"] = info["privacyStatementUri"]
    return {
        "properties": {"communityMetadata": metadata, "disclaimer": DISCLAIMER},
        "communityMetadata": metadata,
        "location": location,
        "name": public,
        "type": "Microsoft.Compute/locations/communityGallery",  # CommunityGallery_Get.json
        "identifier": {"uniqueId": f"/CommunityGalleries/{public}"},
    }


def _image_item(image: Resource, location: str, base: str, community: bool) -> dict[str, Any]:
    return _item(_image_body(image, community), image.name, location, f"{base}/Images", community)


def _version_item(version: Resource, location: str, base: str, community: bool) -> dict[str, Any]:
    return _item(_version_body(version, community), version.name, location, f"{base}/Versions", community)


def _item(props: dict[str, Any], name: str, location: str, under: str, community: bool) -> dict[str, Any]:
    """An image's or version's read: the location as the path spells it (community) or normalized (shared),
    and its `uniqueId` under its gallery's or image's."""
    return {
        "properties": props,
        "location": location if community else regions.normalize(location),
        "name": name,
        "identifier": {"uniqueId": f"{under}/{name}"},
    }


_TYPES = ("images", "versions")
RESOURCE_TYPES = tuple(
    ResourceType(PROVIDER, ("locations", root, *_TYPES[:depth]), "compute", handle, subscription_list=False)
    for root in ("sharedGalleries", "communityGalleries")
    for depth in range(3)
)
