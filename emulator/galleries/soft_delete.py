"""Soft delete (preview): deleted versions kept restorable, listed and purged."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from emulator import lro
from emulator.arm import Request, Response, Route, page, resource_id
from emulator.clock import format_iso
from emulator.envelope import envelope
from emulator.errors import ArmError, conflict, invalid_parameter, not_found, parent_not_found
from emulator.galleries.model import (
    SOFT_DELETE_RETENTION_DAYS,
    SOFT_DELETED,
    ImageVersion,
    SoftDeletedVersion,
)
from emulator.galleries.rendering import render
from emulator.state import Resource
from emulator.writes import accept_write

if TYPE_CHECKING:
    from emulator.state import State


def handle_soft_deleted(state: State, req: Request, route: Route) -> Response:
    """`.../galleries/{g}/softDeletedArtifactTypes/Images/artifacts/{image}/versions[/{version}]`:
    list (GET on the collection) and permanent delete (DELETE on one)."""
    if route.path.resource_group is None:
        raise ArmError(
            404, "InvalidResourceType", f"The resource type '{SOFT_DELETED}' needs a resource group."
        )
    gallery_id = resource_id(route.path, 1)
    if state.get(gallery_id) is None:
        raise parent_not_found(route.names[0])
    if route.names[1].lower() != "images":
        raise invalid_parameter(
            f"The artifact type '{route.names[1]}' is not supported. Allowed values: Images.", "artifactType"
        )
    image_id = f"{gallery_id}/images/{route.names[2]}"
    if route.kind == "collection":
        if req.method != "GET":
            raise ArmError(
                405, "MethodNotAllowed", f"The {req.method} method is not allowed on a collection."
            )
        items = [
            render_soft_deleted(r)
            for r in state.children(soft_deleted_parent(image_id), SOFT_DELETED)
            if soft_deleted(state, f"{image_id}/versions/{r.name}") is not None
        ]
        return page(state, req, items)
    if req.method != "DELETE":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")
    artifact = soft_deleted(state, f"{image_id}/versions/{route.names[3]}")
    if artifact is None:
        return Response(204)
    state.remove(artifact.id)
    op = lro.start(state, artifact.subscription, artifact.location, state.now(), lambda op: None)
    return Response(202, None, lro.headers(req, op, with_location=True))


def soft_deleted_parent(image_id: str) -> str:
    gallery_id, _, image = image_id.rpartition("/images/")
    return f"{gallery_id}/softDeletedArtifactTypes/Images/artifacts/{image}"


def soft_delete_policy(state: State, gallery_id: str) -> dict[str, Any] | None:
    """The gallery's soft-delete policy when soft delete is on, else None."""
    gallery = state.get(gallery_id)
    policy = gallery.properties.get("softDeletePolicy") if gallery is not None else None
    if isinstance(policy, dict) and policy.get("isSoftDeleteEnabled") is True:
        return policy
    return None


def soft_deleted(state: State, version_id: str) -> SoftDeletedVersion | None:
    """The restorable artifact of a deleted version; one past its hard-deletion time is purged."""
    image_id, _, name = version_id.rpartition("/versions/")
    found = state.get(f"{soft_deleted_parent(image_id)}/versions/{name}")
    if not isinstance(found, SoftDeletedVersion):
        return None
    if found.hard_delete_at is not None and state.now() >= found.hard_delete_at:
        state.remove(found.id)
        return None
    return found


def keep_soft_deleted(state: State, version: ImageVersion, policy: dict[str, Any]) -> None:
    now = state.now()
    retention = int(policy.get("retentionPeriodInDays") or SOFT_DELETE_RETENTION_DAYS)
    grace = int(policy.get("gracePeriodInDays") or 0)
    image_id = version.id.rpartition("/versions/")[0]
    consumable_until = now + timedelta(days=retention)
    hard_delete_at = consumable_until + timedelta(days=grace)
    state.put(
        SoftDeletedVersion(
            id=f"{soft_deleted_parent(image_id)}/versions/{version.name}",
            name=version.name,
            type=SOFT_DELETED,
            location=version.location,
            subscription=version.subscription,
            resource_group=version.resource_group,
            properties={
                "resourceArmId": version.id,
                "softDeletedArtifactType": "Images",
                "softDeletedTime": format_iso(now),
                "consumptionEndTime": format_iso(consumable_until),
                "hardDeletionTargetTime": format_iso(hard_delete_at),
            },
            tags=None,
            seq=state.next_seq(),
            version=version,
            deleted_at=now,
            hard_delete_at=hard_delete_at,
        )
    )


def render_soft_deleted(res: Resource) -> dict[str, Any]:
    """An artifact reads back with the envelope and its properties alone (no provisioningState)."""
    return {**envelope(res), "properties": copy.deepcopy(res.properties)}


def restore_version(state: State, req: Request, artifact: SoftDeletedVersion) -> Response:
    """Bring a soft-deleted version back as it was (Updating until the operation completes)."""
    version = artifact.version
    assert version is not None
    state.remove(artifact.id)
    version.provisioning_state = "Updating"
    state.put(version)
    return accept_write(state, req, version, render(state, version), 200, collection="capsOperations")


def write_over_soft_deleted(
    state: State, req: Request, route: Route, body: dict[str, Any], version_id: str
) -> Response | None:
    """A PUT or PATCH of a version that does not exist: a restore of its soft-deleted artifact, a refusal,
    or None (an ordinary create)."""
    artifact = soft_deleted(state, version_id)
    restoring = wants_restore(body, req.method)
    if artifact is not None and restoring:
        return restore_version(state, req, artifact)
    if artifact is not None and req.method == "PUT":
        raise conflict(
            "Conflict",
            f"Gallery image version '{version_id}' is soft-deleted. Restore it with 'properties.restore' "
            "set to true, or delete it permanently before creating a version with the same name.",
        )
    if restoring and (body.get("properties") or {}).get("restore") is True:
        raise not_found(route.rtype.full_type, "/".join(route.names), route.path.resource_group)
    return None


def wants_restore(body: dict[str, Any], method: str) -> bool:
    """`properties.restore: true` (the REST spec), or a PUT without properties (the soft-delete docs)."""
    props = body.get("properties")
    if isinstance(props, dict) and props.get("restore") is True:
        return True
    return method == "PUT" and not props


def delete_soft_deleted_versions(state: State, image: Resource) -> None:
    """Before an image definition is deleted: refused while soft delete keeps versions of it; with soft
    delete off, its soft-deleted versions go with it."""
    artifacts = state.children(soft_deleted_parent(image.id), SOFT_DELETED)
    if artifacts and soft_delete_policy(state, image.id.split("/images/")[0]) is not None:
        # The documented limitation holds while soft delete is on. Once it is turned off, Azure deletes the
        # image (and then the gallery) although a version was soft-deleted before: cli-recordings/
        # test_gallery_soft_delete.yaml interactions 36 (soft delete), 55 (turned off), 61 and 63 (202).
        raise conflict(
            "CannotDeleteResource",
            "Cannot delete an image definition that has soft-deleted versions. Delete them permanently or "
            "disable soft delete on the gallery first.",
        )
    for artifact in artifacts:  # soft delete is off: the image's soft-deleted versions go with it
        state.remove(artifact.id)


def soft_delete_on_deletion(state: State, version: Resource) -> dict[str, Any] | None:
    """The gallery's soft-delete policy a version's deletion follows (None: deleted for good); a failed
    version cannot be deleted while soft delete is on (a documented limitation)."""
    policy = soft_delete_policy(state, version.id.split("/images/")[0])
    if policy is not None and version.provisioning_state == "Failed":
        raise conflict(
            "OperationNotAllowed",
            f"Gallery image version '{version.id}' is in a failed provisioning state and cannot be deleted "
            "while soft delete is enabled on the gallery. Disable soft delete, delete the version, then "
            "enable it.",
        )
    return policy
