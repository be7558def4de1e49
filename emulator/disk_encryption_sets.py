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

from emulator.arm import (
    Request,
    ResourceType,
    Response,
    Route,
    put_request,
    serve,
)
from emulator.disks import delete  # DiskRP deletes an encryption set as it deletes a disk
from emulator.envelope import render
from emulator.errors import invalid_parameter
from emulator.state import Resource, validate_tags
from emulator.writes import accept_disk_write, kept

if TYPE_CHECKING:
    from emulator.state import State

DES = "Microsoft.Compute/diskEncryptionSets"
# A fixed tenant for the identities the emulator hands out (the emulator has one tenant).
TENANT = "00000000-0000-0000-0000-00000000a11d"


def handle(state: State, req: Request, route: Route) -> Response:
    return serve(state, req, route, render, {"PUT": _put, "DELETE": delete})


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
    body, location, props = put_request(req, existing, DES)
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
        **kept(state, route, existing),
        type=DES,
        location=location,
        properties=props,
        tags=validate_tags(body.get("tags")),
        extra=extra,
    )
    state.put(res)
    return accept_disk_write(state, req, res)


RESOURCE_TYPES = (ResourceType("Microsoft.Compute", ("diskEncryptionSets",), "disk", handle),)
