"""How a write to a resource ends, written once for the families that end it the same way.

* `kept`: what a write keeps of the stored resource (id, name, subscription, resource group, list
  position), or takes from the request path for a new one.
* `child_of`: a resource made under another one (a scale set's instance, a template's trigger).
* `accept_write`: ComputeRP's and Image Builder's answer to a PUT: 201 (200 for an update) with the
  resource, `Azure-AsyncOperation` on the provider's `operations` collection, and the resource Succeeded
  (or Failed) when the operation is (cli-recordings/test_shared_gallery.yaml interactions 35-38: the
  managed image PUT, its operation and GET).
* `accept_disk_write`: DiskRP's answer: 202 with the resource `Updating`, and a DiskOperations operation
  whose finished status carries the resource as `properties.output` (cli-recordings/test_gallery_e2e.yaml
  71-73; test_gallery_image_version_vhd.yaml 29).
* `accept_delete`: 202 with `Azure-AsyncOperation` and `Location` (emulator/lro.py names the recordings of
  both URLs), the resource gone when the operation succeeds.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from emulator import lro
from emulator.arm import Request, Response, Route, resource_id
from emulator.envelope import render
from emulator.state import Operation, Resource

if TYPE_CHECKING:
    from emulator.state import State

COMPUTE = "Microsoft.Compute"


def kept(state: State, route: Route, existing: Resource | None, new_id: str | None = None) -> dict[str, Any]:
    """The `Resource` fields a write keeps from `existing`, or gives a new resource at `route`'s path
    (`new_id` where the family spells the id itself)."""
    return {
        "id": existing.id if existing else (new_id or resource_id(route.path)),
        "name": existing.name if existing else route.names[-1],
        "subscription": existing.subscription if existing else route.path.subscription,
        "resource_group": existing.resource_group if existing else str(route.path.resource_group),
        "seq": existing.seq if existing else state.next_seq(),
    }


def child_of(
    state: State,
    parent: Resource,
    type_name: str,
    name: str,
    properties: dict[str, Any],
    extra: dict[str, Any] | None = None,
) -> Resource:
    """A new untagged resource under `parent`, at `{parent id}/{its type's last segment}/{name}`, in the
    parent's location, subscription and resource group."""
    return Resource(
        id=f"{parent.id}/{type_name.rsplit('/', 1)[-1]}/{name}",
        name=name,
        type=type_name,
        location=parent.location,
        subscription=parent.subscription,
        resource_group=parent.resource_group,
        properties=properties,
        tags=None,
        seq=state.next_seq(),
        extra=extra or {},
    )


def accept_write(
    state: State,
    req: Request,
    res: Resource,
    body: dict[str, Any],
    status: int,
    *,
    provider: str = COMPUTE,
    collection: str = "operations",
) -> Response:
    """Answer `body` with `status` and an operation at whose end `res` is Succeeded, or Failed."""

    def complete(op: Operation) -> None:
        if state.get(res.id) is res:
            res.provisioning_state = "Succeeded" if op.outcome == "Succeeded" else "Failed"

    op = lro.start(
        state, res.subscription, res.location, state.now(), complete, provider=provider, collection=collection
    )
    return Response(status, body, lro.headers(req, op))


def accept_disk_write(state: State, req: Request, res: Resource) -> Response:
    """DiskRP's 202: the resource reads `Updating` in the answer and is the operation's output."""
    op = lro.start(
        state, res.subscription, res.location, state.now(), None, collection="DiskOperations", may_fail=False
    )
    op.output = lambda: render(res)
    answer = render(res)
    answer["properties"]["provisioningState"] = "Updating"
    return Response(202, answer, lro.headers(req, op, with_location=True))


def accept_delete(
    state: State,
    req: Request,
    res: Resource | None,
    *,
    collection: str,
    provider: str = COMPUTE,
    deleting: bool = True,
    when_failed: str | None = "Failed",
    before_removal: Callable[[Resource], None] | None = None,
) -> Response:
    """Start deleting `res`: it reads `Deleting` (unless `deleting` is False, as DiskRP's resources do not)
    and is removed, after `before_removal`, when the operation succeeds. A failed operation leaves it in
    `when_failed`; None leaves its state as it is, "removed" removes it all the same. A resource that is
    not there answers 204 (ARM's DELETE of an absent resource)."""
    if res is None:
        return Response(204)
    found = res
    if deleting:
        found.provisioning_state = "Deleting"

    def complete(op: Operation) -> None:
        if state.get(found.id) is not found:
            return
        if op.outcome == "Succeeded" or when_failed == "removed":
            if before_removal is not None:
                before_removal(found)
            state.remove(found.id)
        elif when_failed is not None:
            found.provisioning_state = when_failed

    op = lro.start(
        state,
        found.subscription,
        found.location,
        state.now(),
        complete,
        provider=provider,
        collection=collection,
    )
    return Response(202, None, lro.headers(req, op, with_location=True))
