"""An Event Grid (basic) topic endpoint: `POST /api/events?api-version=2018-01-01`.

Accepts CloudEvents 1.0 batches (`application/cloudevents-batch+json`) and Event Grid schema arrays, with
an `aeg-sas-key` / `aeg-sas-token` header or a bearer token (checked by the server). Answers 200 with an
empty body like Event Grid does, and records every event as received for `GET /_emulator/events`.

`POST /_emulator/topic {"refuse": STATUS, "types": [...]}` makes the topic refuse publishes for good, as a
topic does when the publisher's role is missing (401/403), a payload is too large (413) or an event does not
fit the topic's input schema (400); with `types`, only a batch holding an event of one of those types is
refused (a schema that takes some events and not others). `{"refuse": null}` ends it. The codes and what
they mean: the Event Grid publisher client's documentation ("401: which indicates authorization failure,
403: which indicates quota exceeded or message is too large, ... 400: for bad request"; EventGridSenderClient
.send, learn.microsoft.com) and "Troubleshoot Azure Event Grid errors"; the texts below are the emulator's
own (no recorded answer of a refused publish is at hand).
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


REFUSALS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Event at index {index} does not match the topic's input schema."),
    401: ("Unauthorized", "The request authorization key is not authorized for this topic."),
    403: ("Forbidden", "The principal does not have the data action Microsoft.EventGrid/events/send/action."),
    413: ("RequestEntityTooLarge", "The maximum size (1536000) has been exceeded."),
}


def set_refusal(state: State, body: Any) -> dict[str, Any]:
    """Load `{"refuse": STATUS | null, "types": [...]}`; answers what is in force."""
    if not isinstance(body, dict) or "refuse" not in body:
        raise _bad('Expected {"refuse": 400|401|403|413|null, "types": [...]}.')
    status = body.get("refuse")
    if status is None:
        state.topic_refusal = None
        return {"refuse": None}
    if status not in REFUSALS:
        raise _bad(f"refuse must be one of {sorted(REFUSALS)} or null, got {status!r}.")
    types = body.get("types")
    if types is not None and not (isinstance(types, list) and all(isinstance(t, str) for t in types)):
        raise _bad("types must be a list of event types.")
    state.topic_refusal = {"refuse": status, "types": types}
    return dict(state.topic_refusal)


def _refused(state: State, events: list[Any]) -> ArmError | None:
    refusal = state.topic_refusal
    if refusal is None:
        return None
    status = int(refusal["refuse"])
    code, text = REFUSALS[status]
    types = refusal.get("types")
    if types is None:
        return ArmError(status, code, text.format(index=0))
    for index, event in enumerate(events):
        if isinstance(event, dict) and (event.get("type") or event.get("eventType")) in types:
            return ArmError(status, code, text.format(index=index))
    return None


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
    refused = _refused(state, events)
    if refused is not None:
        raise refused
    state.events.extend(events)
    return Response(200)
