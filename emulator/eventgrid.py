"""An Event Grid (basic) topic endpoint: `POST /api/events?api-version=2018-01-01`.

Accepts CloudEvents 1.0 batches (`application/cloudevents-batch+json`) and Event Grid schema arrays, with
an `aeg-sas-key` / `aeg-sas-token` header or a bearer token (checked by the server). Answers 200 with an
empty body like Event Grid does, and records every event as received for `GET /_emulator/events`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from emulator.arm import Request, Response
from emulator.errors import ArmError

if TYPE_CHECKING:
    from emulator.state import State

CLOUD_REQUIRED = ("id", "source", "type", "specversion")
EVENTGRID_REQUIRED = ("id", "subject", "eventType", "eventTime", "dataVersion")
MAX_BATCH_BYTES = 1024 * 1024


def _bad(message: str) -> ArmError:
    return ArmError(400, "BadRequest", message)


def _check(event: Any, index: int) -> None:
    if not isinstance(event, dict):
        raise _bad(f"Event at index {index} is not a JSON object.")
    keys = {k.lower(): k for k in event}
    if "specversion" in keys:
        if str(event[keys["specversion"]]) != "1.0":
            raise _bad(f"Event at index {index}: specversion must be '1.0'.")
        missing = [k for k in CLOUD_REQUIRED if k not in keys]
    else:
        missing = [k for k in EVENTGRID_REQUIRED if k.lower() not in keys]
        if "data" not in keys:
            missing.append("data")
    if missing:
        raise _bad(f"Event at index {index} is missing required properties: {', '.join(missing)}.")


def publish(state: State, req: Request) -> Response:
    if req.method != "POST":
        raise ArmError(405, "MethodNotAllowed", f"The {req.method} method is not allowed on /api/events.")
    if len(req.body) > MAX_BATCH_BYTES:
        raise ArmError(413, "RequestEntityTooLarge", "The maximum size (1536000) has been exceeded.")
    try:
        body = req.json()
    except ArmError as err:
        raise _bad(err.message) from err
    events = body if isinstance(body, list) else [body]
    for index, event in enumerate(events):
        _check(event, index)
    state.events.extend(events)
    return Response(200)
