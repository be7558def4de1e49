"""Microsoft.Compute virtualMachines and virtualMachineScaleSets, kept just deep enough for in-use checks.

PUT stores the body (notably `properties.storageProfile.imageReference`, or for scale sets
`properties.virtualMachineProfile.storageProfile.imageReference`) and completes at once; GET, list by
resource group and by subscription, PATCH (merge) and DELETE (202 + operation) behave like compute does.
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
    merge_patch,
    page,
    put_location_and_properties,
    request_object,
    resource_id,
)
from emulator.errors import ArmError, not_found
from emulator.state import Operation, Resource, validate_tags

if TYPE_CHECKING:
    from emulator.state import State

VM = "Microsoft.Compute/virtualMachines"
VMSS = "Microsoft.Compute/virtualMachineScaleSets"
TOP_LEVEL = ("zones", "identity", "plan", "sku", "extendedLocation")


def handle(state: State, req: Request, route: Route) -> Response:
    type_name = route.rtype.full_type
    if route.kind == "collection":
        if req.method != "GET":
            raise ArmError(
                405, "MethodNotAllowed", f"The {req.method} method is not allowed on a collection."
            )
        items = state.of_type(type_name, route.path.subscription, route.path.resource_group)
        return page(state, req, [render(r) for r in items])
    if route.path.resource_group is None:
        raise ArmError(404, "InvalidResourceType", f"The resource type '{type_name}' needs a resource group.")
    rid = resource_id(route.path)
    existing = state.get(rid)
    if req.method == "GET":
        if existing is None:
            raise not_found(type_name, route.names[-1], route.path.resource_group)
        return Response(200, render(existing))
    if req.method in ("PUT", "PATCH"):
        return _write(state, req, route, existing)
    if req.method == "DELETE":
        if existing is None:
            return Response(204)
        existing.provisioning_state = "Deleting"

        def complete(op: Operation) -> None:
            if state.get(existing.id) is existing:
                if op.outcome == "Succeeded":
                    state.remove(existing.id)
                else:
                    existing.provisioning_state = "Failed"

        op = lro.start(
            state, existing.subscription, existing.location, state.now(), complete, collection="operations"
        )
        return Response(202, None, lro.headers(req, op, with_location=True))
    raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")


def _write(state: State, req: Request, route: Route, existing: Resource | None) -> Response:
    body = request_object(req)
    type_name = route.rtype.full_type
    if req.method == "PATCH":
        if existing is None:
            raise not_found(type_name, route.names[-1], route.path.resource_group)
        props = merge_patch(existing.properties, body.get("properties") or {})
        tags = validate_tags(body["tags"]) if "tags" in body else existing.tags
        extra = merge_patch(existing.extra, {k: body[k] for k in TOP_LEVEL if k in body})
        location = existing.location
    else:
        location, props = put_location_and_properties(
            body, existing.location if existing else None, type_name
        )
        tags = validate_tags(body.get("tags"))
        extra = {k: body[k] for k in TOP_LEVEL if k in body}
    props.pop("provisioningState", None)
    id_key = "vmId" if type_name == VM else "uniqueId"
    props[id_key] = existing.properties.get(id_key) if existing else str(uuid.uuid4())
    res = Resource(
        id=existing.id if existing else resource_id(route.path),
        name=existing.name if existing else route.names[-1],
        type=type_name,
        location=location,
        subscription=existing.subscription if existing else route.path.subscription,
        resource_group=existing.resource_group if existing else str(route.path.resource_group),
        properties=props,
        tags=tags,
        seq=existing.seq if existing else state.next_seq(),
        provisioning_state="Succeeded",
        extra=extra,
    )
    state.put(res)
    return Response(200 if existing else 201, render(res))


def render(res: Resource) -> dict[str, Any]:
    body: dict[str, Any] = {"name": res.name, "id": res.id, "type": res.type, "location": res.location}
    if res.tags is not None:
        body["tags"] = dict(res.tags)
    body.update(copy.deepcopy(res.extra))
    props = copy.deepcopy(res.properties)
    props["provisioningState"] = res.provisioning_state
    body["properties"] = props
    return body


RESOURCE_TYPES = (
    ResourceType("Microsoft.Compute", ("virtualMachines",), "vm", handle),
    ResourceType("Microsoft.Compute", ("virtualMachineScaleSets",), "vm", handle),
)
