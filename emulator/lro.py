"""Long-running operations as Azure compute answers them.

A write answers with `Azure-AsyncOperation: {endpoint}/subscriptions/{sub}/providers/{provider}/locations/
{loc}/{capsOperations|operations}/{id}?api-version=...` (DELETE and POST actions also `Location: ...?monitor=
true&api-version=...`). The status document goes `{"startTime", "status": "InProgress", "name"}` ->
`{"startTime", "endTime", "status": "Succeeded"|"Failed"|"Canceled", "name"[, "error"]}`; the monitor URL
answers 202 while running and, once it succeeded, 200 with an empty body (cli-recordings/
test_community_gallery_operations.yaml interactions 6 and 60 for capsOperations, test_shared_gallery.yaml
28 for ComputeRP's operations). Completion time is fixed when the operation starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING
from urllib.parse import quote

from emulator import regions
from emulator.arm import Request, Response, Route
from emulator.clock import format_iso
from emulator.errors import ArmError
from emulator.state import Operation

if TYPE_CHECKING:
    from emulator.state import State

FAILED_ERROR = {
    "code": "InternalExecutionError",
    "message": "An internal execution error occurred. Please retry later. "
    "(injected by the emulator's lro-fail fault)",
}


def start(
    state: State,
    subscription: str,
    location: str,
    finish_at: datetime,
    on_complete: Callable[[Operation], None] | None,
    *,
    provider: str = "Microsoft.Compute",
    collection: str = "capsOperations",
    may_fail: bool = True,
) -> Operation:
    """Register an operation finishing at `finish_at`; the lro-fail fault may make it end Failed."""
    now = state.now()
    op = Operation(
        id=str(uuid.uuid4()),
        subscription=subscription,
        location=regions.normalize(location) if location else "global",
        provider=provider,
        collection=collection,
        start=now,
        finish_at=max(now, finish_at),
        on_complete=on_complete,
    )
    if may_fail and state.fail_next_lro():
        op.outcome = "Failed"
        op.error = dict(FAILED_ERROR)
    state.add_operation(op)
    return op


def status_url(req: Request, op: Operation, monitor: bool = False) -> str:
    api = quote(req.api_version, safe="")
    query = f"monitor=true&api-version={api}" if monitor else f"api-version={api}"
    return (
        f"{req.endpoint}/subscriptions/{op.subscription}/providers/{op.provider}/locations/{op.location}/"
        f"{op.collection}/{op.id}?{query}"
    )


def headers(req: Request, op: Operation, with_location: bool = False) -> dict[str, str]:
    result = {"Azure-AsyncOperation": status_url(req, op)}
    if with_location:
        result["Location"] = status_url(req, op, monitor=True)
    return result


def status_body(op: Operation, now: datetime) -> dict[str, object]:
    body: dict[str, object] = {"startTime": format_iso(op.start)}
    if op.done(now):
        body["endTime"] = format_iso(op.finish_at)
        body["status"] = op.outcome
        if op.error:
            body["error"] = op.error
        elif op.output is not None and op.outcome == "Succeeded":
            # DiskRP answers the finished resource with its operation (cli-recordings/test_gallery_e2e.yaml
            # 72, test_gallery_image_version_vhd.yaml 29: `properties.output`).
            body["properties"] = {"output": op.output()}
    else:
        body["status"] = "InProgress"
    body["name"] = op.id
    return body


def handle_status(state: State, req: Request, route: Route) -> Response:
    """GET .../locations/{loc}/{capsOperations|operations}/{id}[?monitor=true]."""
    if route.kind != "instance" or req.method != "GET":
        raise ArmError(
            405, "MethodNotAllowed", f"The {req.method} method is not allowed for operation status."
        )
    op = state.operations.get(route.names[-1].lower())
    if op is None or op.subscription.lower() != route.path.subscription.lower():
        raise ArmError(404, "ResourceNotFound", f"The operation '{route.names[-1]}' was not found.", None)
    now = state.now()
    if (req.param("monitor") or "").lower() == "true":
        if not op.done(now):
            return Response(202, None, {"Location": status_url(req, op, monitor=True)})
        if op.outcome == "Succeeded":
            # 200 and no body, as the recordings named in the module docstring show.
            return Response(200, None)
        return Response(200, status_body(op, now))
    return Response(200, status_body(op, now))
