"""Gallery properties and sharing (`sharingProfile`, `POST .../share`)."""

from __future__ import annotations

import copy
import uuid
from typing import TYPE_CHECKING, Any

from emulator import lro, regions
from emulator.arm import Request, Response, Route, resource_id
from emulator.errors import ArmError, invalid_parameter, not_found
from emulator.galleries.common import as_object, choice_of
from emulator.galleries.model import GALLERY, SOFT_DELETE_RETENTION_DAYS
from emulator.state import Resource

if TYPE_CHECKING:
    from emulator.state import State


SHARING_PERMISSIONS = ("Private", "Groups", "Community")  # GalleryRP.json GallerySharingPermissionTypes


def gallery_properties(existing: Resource | None, props_in: dict[str, Any]) -> dict[str, Any]:
    props = dict(existing.properties) if existing else {}
    for key, value in props_in.items():
        if key in ("provisioningState", "identifier", "sharingStatus"):
            continue
        props[key] = value
    if "sharingProfile" in props_in:
        previous = existing.properties.get("sharingProfile") if existing else None
        props["sharingProfile"] = sharing_profile(props_in["sharingProfile"], previous)
    soft_delete = props.get("softDeletePolicy")
    if isinstance(soft_delete, dict) and soft_delete.get("isSoftDeleteEnabled") is True:
        props["softDeletePolicy"] = {"retentionPeriodInDays": SOFT_DELETE_RETENTION_DAYS, **soft_delete}
    return props


def unique_name(gallery: Resource) -> str:
    # The name shared images are addressed by (`/SharedGalleries/{uniqueName}/...`): the subscription id,
    # a dash and the gallery name upper-cased (sharingExamples/Gallery_Create_WithSharingProfile.json).
    return f"{gallery.subscription}-{gallery.name.upper()}"


def read_back(res: Resource, props: dict[str, Any]) -> None:
    """What a gallery's answer adds to its stored properties (`props`, a copy)."""
    props["identifier"] = {"uniqueName": unique_name(res)}
    props.setdefault("sharingProfile", {"permissions": "Private"})
    if props["sharingProfile"].get("permissions", "Private") != "Private":
        # Sharing completes at once here; Azure reports it per region (sharingExamples/
        # CommunityGallery_Get.json: aggregatedState and a summary entry for the gallery's region).
        props["sharingStatus"] = {
            "aggregatedState": "Succeeded",
            "summary": [{"region": regions.normalize(res.location), "state": "Succeeded", "details": ""}],
        }
    props.setdefault("softDeletePolicy", {"isSoftDeleteEnabled": False})


def sharing_profile(value: Any, previous: Any) -> dict[str, Any]:
    """A gallery's `sharingProfile` as ARM keeps it (GalleryRP.json `SharingProfile`).

    `groups` is readOnly (set through `POST .../share`), as are `communityGalleryInfo.publicNames` and
    `communityGalleryEnabled`: what a PUT sends for them is ignored. A Community gallery gets its public
    name from Azure: `publicNamePrefix` + `-` + a generated suffix (communityGalleryExamples/
    CommunityGallery_Get.json shows `prefix-xxxxx`), and it is enabled by `share` `EnableCommunity`
    (sharingExamples/Gallery_EnableCommunityGallery.json). The names stay once given.
    """
    profile = as_object(value, "sharingProfile")
    previous = previous if isinstance(previous, dict) else {}
    permissions = choice_of(
        profile.get("permissions", "Private"), SHARING_PERMISSIONS, "sharingProfile.permissions"
    )
    out: dict[str, Any] = {"permissions": permissions}
    if previous.get("groups") and permissions == "Groups":
        out["groups"] = copy.deepcopy(previous["groups"])
    info = profile.get("communityGalleryInfo")
    if permissions == "Community":
        info = as_object(info or {}, "sharingProfile.communityGalleryInfo")
        prior = previous.get("communityGalleryInfo") or {}
        kept = {k: v for k, v in info.items() if k not in ("publicNames", "communityGalleryEnabled")}
        prefix = str(kept.get("publicNamePrefix") or prior.get("publicNamePrefix") or "")
        if not prefix:
            # Stricter reading (unconfirmed): a community gallery needs the prefix its public name is made of.
            raise invalid_parameter(
                "The property 'sharingProfile.communityGalleryInfo.publicNamePrefix' is required when "
                "sharing a gallery to the community.",
                "sharingProfile.communityGalleryInfo.publicNamePrefix",
            )
        names = prior.get("publicNames") or [f"{prefix}-{uuid.uuid4().hex[:8]}"]
        out["communityGalleryInfo"] = {
            **kept,
            "publicNames": list(names),
            "communityGalleryEnabled": bool(prior.get("communityGalleryEnabled", False)),
        }
    return out


def share_gallery(state: State, req: Request, route: Route) -> Response:
    """`POST .../galleries/{g}/share` (GallerySharingProfile_Update): Add / Remove groups, Reset to
    Private, EnableCommunity.

    Azure answers 202 with an empty body, `Azure-AsyncOperation` and `Location` (monitor) headers, and the
    operation succeeds within a second: cli-recordings/test_shared_gallery.yaml interactions 52-54, 56-58,
    66-68 and test_community_gallery_operations.yaml 4-6, 58-60, at api-versions 2022-08-03. (The spec
    example Gallery_EnableCommunityGallery.json also allows a 200 echo; the recordings show what Azure
    does.) The sharing change is visible when the operation has succeeded, so it is applied at once and
    the operation ends at the same instant."""
    if req.method != "POST":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    gallery = state.get(resource_id(route.path))
    if gallery is None:
        raise not_found(GALLERY, route.names[0], route.path.resource_group)
    body = as_object(req.json(), "sharingUpdate")
    operation = choice_of(
        body.get("operationType"),
        ("Add", "Remove", "Reset", "EnableCommunity"),  # GalleryRP.json SharingUpdateOperationTypes
        "operationType",
    )
    profile = dict(gallery.properties.get("sharingProfile") or {"permissions": "Private"})
    groups = [dict(g) for g in profile.get("groups") or []]
    if operation == "EnableCommunity":
        info = profile.get("communityGalleryInfo")
        if profile.get("permissions") != "Community" or not isinstance(info, dict):
            raise invalid_parameter(
                "Community sharing can only be enabled on a gallery whose sharingProfile.permissions is "
                "Community.",
                "operationType",
            )
        profile["communityGalleryInfo"] = {**info, "communityGalleryEnabled": True}
    elif operation == "Reset":
        profile = {"permissions": "Private"}
    else:
        for group in body.get("groups") or []:
            group = as_object(group, "groups")
            kind = choice_of(group.get("type"), ("Subscriptions", "AADTenants"), "groups.type")
            ids = [str(i) for i in group.get("ids") or []]
            entry = next((g for g in groups if g.get("type") == kind), None)
            if entry is None:
                entry = {"type": kind, "ids": []}
                groups.append(entry)
            current = [i for i in entry["ids"] if i not in ids] if operation == "Remove" else entry["ids"]
            entry["ids"] = (
                current if operation == "Remove" else [*current, *[i for i in ids if i not in current]]
            )
        groups = [g for g in groups if g["ids"]]
        profile = {"permissions": "Groups" if groups else "Private", **({"groups": groups} if groups else {})}
    gallery.properties["sharingProfile"] = profile
    op = lro.start(state, gallery.subscription, gallery.location, state.now(), None, may_fail=False)
    # The recordings' 202 has an empty body; the 2026-03-03 example's 202 echoes the update: echoed here.
    return Response(202, body, lro.headers(req, op, with_location=True))
