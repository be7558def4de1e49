"""Microsoft.Compute diskEncryptionSets (DiskRP), kept deep enough to be named by disks and by a gallery
image version's per-region encryption.

PUT answers 202 with the resource (`provisioningState: Updating`) and a DiskOperations operation that
ends with the resource as `properties.output`; GET, list and DELETE (202 + operation) as for disks.
Recorded: cli-recordings/test_gallery_e2e.yaml interactions 71 (PUT, 202), 72 (operation) and 73 (GET),
api-version 2022-03-02: a system-assigned identity reads back with `principalId` and `tenantId`, and
`encryptionType` defaults to EncryptionAtRestWithCustomerKey. The key vault and key are not checked (the
emulator has no Key Vault).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from emulator import lro
from emulator.arm import (
    Request,
    ResourceType,
    Response,
    Route,
    put_location_and_properties,
    read_or_stored,
    request_object,
    resource_id,
)
from emulator.disks import render  # the same envelope DiskRP answers for disks and snapshots
from emulator.errors import ArmError, invalid_parameter
from emulator.state import Operation, Resource, validate_tags

if TYPE_CHECKING:
    from emulator.state import State

DES = "Microsoft.Compute/diskEncryptionSets"
# A fixed tenant for the identities the emulator hands out (the emulator has one tenant).
TENANT = "00000000-0000-0000-0000-00000000a11d"


def handle(state: State, req: Request, route: Route) -> Response:
    answer, existing = read_or_stored(state, req, route, render)
    if answer is not None:
        return answer
    if req.method == "PUT":
        return _put(state, req, route, existing)
    if req.method == "DELETE":
        if existing is None:
            return Response(204)
        found: Resource = existing

        def complete(op: Operation) -> None:
            if op.outcome == "Succeeded" and state.get(found.id) is found:
                state.remove(found.id)

        op = lro.start(
            state, found.subscription, found.location, state.now(), complete, collection="DiskOperations"
        )
        return Response(202, None, lro.headers(req, op, with_location=True))
    raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed.")


def _identity(given: Any, previous: Any) -> dict[str, Any] | None:
    if not isinstance(given, dict):
        return previous if isinstance(previous, dict) else None
    identity = dict(given)
    if "systemassigned" in str(identity.get("type", "")).lower():
        kept = previous if isinstance(previous, dict) else {}
        identity["principalId"] = kept.get("principalId") or str(uuid.uuid4())
        identity["tenantId"] = kept.get("tenantId") or TENANT
    return identity


def _put(state: State, req: Request, route: Route, existing: Resource | None) -> Response:
    body = request_object(req)
    location, props = put_location_and_properties(body, existing.location if existing else None, DES)
    props.pop("provisioningState", None)
    key = props.get("activeKey")
    if not isinstance(key, dict) or not key.get("keyUrl"):
        # DiskRP requires the key (the spec's EncryptionSetProperties.activeKey; every recording sends one).
        raise invalid_parameter("Required parameter 'activeKey.keyUrl' is missing (null).", "activeKey")
    props.setdefault("encryptionType", "EncryptionAtRestWithCustomerKey")
    extra: dict[str, Any] = {}
    identity = _identity(body.get("identity"), existing.extra.get("identity") if existing else None)
    if identity is not None:
        extra["identity"] = identity
    res = Resource(
        id=existing.id if existing else resource_id(route.path),
        name=existing.name if existing else route.names[-1],
        type=DES,
        location=location,
        subscription=existing.subscription if existing else route.path.subscription,
        resource_group=existing.resource_group if existing else str(route.path.resource_group),
        properties=props,
        tags=validate_tags(body.get("tags")),
        seq=existing.seq if existing else state.next_seq(),
        extra=extra,
    )
    state.put(res)
    op = lro.start(
        state, res.subscription, res.location, state.now(), None, collection="DiskOperations", may_fail=False
    )
    op.output = lambda: render(res)
    answer = render(res)
    answer["properties"]["provisioningState"] = "Updating"
    return Response(202, answer, lro.headers(req, op, with_location=True))


RESOURCE_TYPES = (ResourceType("Microsoft.Compute", ("diskEncryptionSets",), "disk", handle),)
