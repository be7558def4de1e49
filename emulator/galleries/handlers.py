"""HTTP methods on galleries, image definitions and versions: dispatch, GET/list, PUT/PATCH, DELETE."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from emulator import lro, regions
from emulator.arm import Request, ResourceType, Response, Route, page, resource_id
from emulator.errors import ArmError, conflict, invalid_parameter, not_found, parent_not_found
from emulator.galleries import validation
from emulator.galleries.api_shape import shape
from emulator.galleries.common import (
    as_object,
    check_location,
    check_version_name,
    expand_of,
    parent_of,
    type_for_depth,
)
from emulator.galleries.gallery import gallery_properties, share_gallery
from emulator.galleries.image import image_properties
from emulator.galleries.model import (
    BUSY,
    GALLERY,
    PROVIDER,
    REGION_FAIL_CODE,
    ImageVersion,
    RegionReplication,
)
from emulator.galleries.rendering import render
from emulator.galleries.replication import replication_error
from emulator.galleries.soft_delete import (
    delete_soft_deleted_versions,
    handle_soft_deleted,
    keep_soft_deleted,
    soft_delete_on_deletion,
    write_over_soft_deleted,
)
from emulator.galleries.version import check_end_of_life, check_update_names_storage, version_properties
from emulator.state import Operation, Resource, validate_tags
from emulator.writes import kept

if TYPE_CHECKING:
    from emulator.state import State


def handle(state: State, req: Request, route: Route) -> Response:
    answer = dispatch(state, req, route)
    shape(state, answer.body, req.api_version, req.method)  # fields by api-version (api_shape.py)
    return answer


def dispatch(state: State, req: Request, route: Route) -> Response:
    depth = len(route.rtype.types)
    if route.path.resource_group is None and not (route.kind == "collection" and depth == 1):
        raise ArmError(
            404, "InvalidResourceType", f"The resource type '{route.rtype.full_type}' needs a resource group."
        )
    if route.kind == "collection":
        if req.method != "GET":
            raise ArmError(
                405, "MethodNotAllowed", f"The {req.method} method is not allowed on a collection."
            )
        return list_resources(state, req, route, depth)
    if route.kind == "action" and route.action == "share":
        return share_gallery(state, req, route)
    if depth == 3:
        check_version_name(route.names[-1])
    if req.method == "GET":
        return get_resource(state, req, route)
    if req.method in ("PUT", "PATCH"):
        return write_resource(state, req, route, depth)
    if req.method == "DELETE":
        return delete_resource(state, req, route, depth)
    raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")


RESOURCE_TYPES = (
    ResourceType(PROVIDER, ("galleries",), "compute", handle, actions=("share",)),
    ResourceType(PROVIDER, ("galleries", "images"), "compute", handle, subscription_list=False),
    ResourceType(PROVIDER, ("galleries", "images", "versions"), "compute", handle, subscription_list=False),
    ResourceType(
        PROVIDER,
        ("galleries", "softDeletedArtifactTypes", "artifacts", "versions"),
        "compute",
        handle_soft_deleted,
        subscription_list=False,
    ),
)


def get_resource(state: State, req: Request, route: Route) -> Response:
    depth = len(route.rtype.types)
    parent_of(state, route, depth)
    res = state.get(resource_id(route.path))
    if res is None:
        raise not_found(route.rtype.full_type, "/".join(route.names), route.path.resource_group)
    expand = expand_of(req)
    body = render(state, res, expand)
    if isinstance(res, ImageVersion):
        validation.shape(state, res, body, req, expand)
    return Response(200, body)


def list_resources(state: State, req: Request, route: Route, depth: int) -> Response:
    expand = expand_of(req)
    if depth == 1:
        items = list(state.of_type(GALLERY, route.path.subscription, route.path.resource_group))
    else:
        parent_path_depth = depth - 1
        parent = state.get(resource_id(route.path, parent_path_depth))
        if parent is None:
            raise parent_not_found("/".join(route.names[:parent_path_depth]))
        items = state.children(parent.id, type_for_depth(depth))
    bodies = []
    for item in items:
        body = render(state, item, expand)
        if isinstance(item, ImageVersion):
            # A list takes no $expand=ValidationProfile (see emulator.galleries.validation).
            validation.shape(state, item, body, req, expand - {"validationprofile"})
        bodies.append(body)
    return page(state, req, bodies)


def write_resource(state: State, req: Request, route: Route, depth: int) -> Response:
    body = as_object(req.json(), "body")
    parent = parent_of(state, route, depth)
    type_name = type_for_depth(depth)
    new_id = f"{parent.id}/{route.rtype.types[-1]}/{route.names[-1]}" if parent else resource_id(route.path)
    existing = state.get(new_id)
    if existing is not None and existing.provisioning_state in BUSY:
        raise conflict(
            "OperationNotAllowed",
            f"Another operation is in progress on the resource '{existing.id}' (provisioningState "
            f"{existing.provisioning_state}). Please retry after it completes.",
        )
    if depth == 3 and existing is None:
        restored = write_over_soft_deleted(state, req, route, body, new_id)
        if restored is not None:
            return restored
    if req.method == "PATCH" and existing is None:
        raise not_found(route.rtype.full_type, "/".join(route.names), route.path.resource_group)

    if existing is None:
        location = check_location(body.get("location"), type_name)
        if parent is not None and regions.normalize(location) != regions.normalize(parent.location):
            raise invalid_parameter(
                f"The location '{location}' must be the same as the location '{parent.location}' of the "
                "parent "
                "resource.",
                "location",
            )
    else:
        location = existing.location
        given = body.get("location")
        if (
            req.method == "PUT"
            and given is not None
            and regions.normalize(str(given)) != regions.normalize(location)
        ):
            raise conflict(
                "PropertyChangeNotAllowed", "Changing property 'location' is not allowed.", "location"
            )

    if "tags" in body or req.method == "PUT":
        tags = validate_tags(body.get("tags"))
    else:
        tags = existing.tags if existing else None
    props_in = as_object(body.get("properties"), "properties")
    now = state.now()

    replication: dict[str, RegionReplication] = {}
    if depth == 1:
        props = gallery_properties(existing, props_in)
    elif depth == 2:
        props = image_properties(existing, props_in)
    else:
        check_update_names_storage(existing, body, props_in)
        version_id = existing.id if existing else new_id
        props, replication = version_properties(state, req, existing, props_in, location, now, version_id)

    extra = dict(existing.extra) if existing else {}
    for key in ("identity",):
        if key in body:
            extra[key] = body[key]
    common: dict[str, Any] = {
        **kept(state, route, existing, new_id),
        "type": type_name,
        "location": location,
        "properties": props,
        "tags": tags,
        "provisioning_state": "Updating" if existing else "Creating",
        "extra": extra,
    }
    res: Resource = ImageVersion(**common, replication=replication) if depth == 3 else Resource(**common)
    state.put(res)

    finish = now
    if isinstance(res, ImageVersion) and res.replication:
        finish = max([now, *(r.end for r in res.replication.values())])
    started_at = now

    def complete(op: Operation) -> None:
        current = state.get(res.id)
        if current is not res:
            return
        if op.outcome == "Succeeded":
            res.provisioning_state = "Succeeded"
            return
        res.provisioning_state = "Failed"
        if isinstance(res, ImageVersion) and (op.error or {}).get("code") != REGION_FAIL_CODE:
            # lro-fail: the whole write failed, so did every region it started.
            for repl in res.replication.values():
                if repl.start == started_at:
                    repl.failed = True
                    repl.end = op.finish_at

    op = lro.start(state, res.subscription, location, finish, complete)
    if isinstance(res, ImageVersion):
        res.operation = op
        failing = [name for name, r in res.replication.items() if r.failed and r.start == started_at]
        if failing:
            op.outcome = "Failed"
            op.error = replication_error(failing)
    return Response(200 if existing else 201, render(state, res), lro.headers(req, op))


def delete_resource(state: State, req: Request, route: Route, depth: int) -> Response:
    parent = parent_of(state, route, depth)
    rid = f"{parent.id}/{route.rtype.types[-1]}/{route.names[-1]}" if parent else resource_id(route.path)
    res = state.get(rid)
    if res is None:
        return Response(204)
    if res.provisioning_state in BUSY:
        raise conflict(
            "OperationNotAllowed",
            f"Another operation is in progress on the resource '{res.id}' (provisioningState "
            f"{res.provisioning_state}). Please retry after it completes.",
        )
    now = state.now()
    if depth < 3:
        nested = state.children(res.id, type_for_depth(depth + 1))
        if nested:
            names = ", ".join("/".join(n.id.split("/")[6:]) for n in nested[:5])
            raise conflict(
                "CannotDeleteResource",
                "Cannot delete resource while nested resources exist. Some existing nested resource IDs "
                f"include: "
                f"'{names}'. Please delete all nested resources before deleting this resource.",
            )
    if depth == 2:
        delete_soft_deleted_versions(state, res)
    soft_delete = soft_delete_on_deletion(state, res) if depth == 3 else None
    finish = now
    if isinstance(res, ImageVersion):
        check_end_of_life(res, now)
        finish = now + timedelta(seconds=max(0.0, state.config.delete_seconds))
    res.provisioning_state = "Deleting"

    def complete(op: Operation) -> None:
        if state.get(res.id) is not res:
            return
        if op.outcome == "Succeeded":
            state.remove(res.id)
            if soft_delete is not None and isinstance(res, ImageVersion):
                res.provisioning_state = "Succeeded"
                keep_soft_deleted(state, res, soft_delete)
        else:
            res.provisioning_state = "Failed"

    op = lro.start(state, res.subscription, res.location, finish, complete)
    return Response(202, None, lro.headers(req, op, with_location=True))
