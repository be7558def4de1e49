"""Typed inbound events: the Event Grid and CloudEvents 1.0 envelopes taken apart into a few frozen values.

This module owns the edge between a delivered event and the engine. It parses one event (or a webhook
array of them), checks the fields the product relies on and returns one of `VersionWritten`,
`BuildCompleted`, `PolicyChanged` or `Ignored`; anything unusable raises `MalformedEvent` naming the
problem. It does not decide whether a version is in a configured gallery (the reconcile does, from the
policy), and it never trusts an event as state: a parsed event only narrows the scope of a reconcile.

No Azure SDK is imported here: `from_trigger` reads the worker's objects by attribute, so indexing the
function app stays cheap and the parsing is testable without the Functions runtime.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeAlias

from lifecycle.model import InvalidResourceId, VersionRef, parse_time, parse_version_id, utc
from lifecycle.tags import LIFETIME_DAYS, strip_url_secrets

if TYPE_CHECKING:
    import azure.functions as func

RESOURCE_WRITE_SUCCESS = "Microsoft.Resources.ResourceWriteSuccess"
BUILD_COMPLETED = "ImageLifecycle.BuildCompleted"
VERSION_APPROVED = "ImageLifecycle.VersionApproved"
BLOB_CREATED = "Microsoft.Storage.BlobCreated"
SUBSCRIPTION_VALIDATION = "Microsoft.EventGrid.SubscriptionValidationEvent"
VERSION_WRITE_OPERATION = "Microsoft.Compute/galleries/images/versions/write"

# Section 5 tag names, in the order the build event documents them; `lifecycle.state` is not set from events.
BUILD_TAGS: tuple[tuple[str, str], ...] = (
    ("build_id", "lifecycle.build-id"),
    ("commit", "lifecycle.commit"),
    ("pipeline_run", "lifecycle.pipeline-run"),
    ("sbom", "lifecycle.sbom"),
    ("approver", "lifecycle.approver"),
    ("base_image", "lifecycle.base-image"),
)
# data field of ImageLifecycle.BuildCompleted -> BuildMetadata attribute
_BUILD_FIELDS: tuple[tuple[str, str], ...] = (
    ("buildId", "build_id"),
    ("commit", "commit"),
    ("pipelineRunUrl", "pipeline_run"),
    ("sbomUri", "sbom"),
    ("approver", "approver"),
    ("baseImage", "base_image"),
)
# ARM rejects longer tag values; refusing the event here names the field rather than a later tag write.


class MalformedEvent(ValueError):
    """An event the product cannot use: not an object, a missing or mistyped field, a bad resource id.

    `field` is the offending key path (e.g. `data.lifetimeDays`) when one is to blame; `event_id` is the
    event's id when it could be read, so a log line can point at the delivery; `event_type` is its type when
    that could be read. An event whose type cannot be read must not be dropped (PRODUCT.md section 5): the
    caller fails the invocation so Event Grid redelivers it and finally dead-letters it.
    """

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        event_id: str | None = None,
        event_type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.field = field
        self.event_id = event_id
        self.event_type = event_type


@dataclass(frozen=True)
class VersionWritten:
    """ARM reports a successful write of a gallery image version: reconcile that version."""

    version: VersionRef
    event_id: str
    event_time: datetime | None
    operation: str


@dataclass(frozen=True)
class BuildMetadata:
    """What a build pipeline says about the version it produced (all optional)."""

    build_id: str | None = None
    commit: str | None = None
    pipeline_run: str | None = None
    sbom: str | None = None
    approver: str | None = None
    base_image: str | None = None
    lifetime_days: int | None = None

    def tags(self) -> dict[str, str]:
        """The lifecycle tags for the fields that are set (section 5 names), plus the build's lifetime
        (`lifecycle.lifetime-days`, so a longer lifetime is remembered on the version itself)."""
        out: dict[str, str] = {}
        for attribute, tag in BUILD_TAGS:
            value = getattr(self, attribute)
            if value is not None:
                out[tag] = strip_url_secrets(value)
        if self.lifetime_days is not None:
            out[LIFETIME_DAYS] = str(self.lifetime_days)
        return out


@dataclass(frozen=True)
class BuildCompleted:
    """A build finished and names the version it published, with metadata to tag it with.

    `source` is who sent it: the Event Grid schema's `topic` (stamped by Event Grid itself, so a publisher
    cannot forge it) or the CloudEvents `source` (written by the publisher); `schema` says which
    (`eventgrid` or `cloudevents`). Whether it is trusted is decided against the gallery's `build_sources`
    (`lifecycle.trust.trust_decision`), not here.
    """

    version: VersionRef
    metadata: BuildMetadata
    event_id: str
    event_time: datetime | None
    source: str | None = None
    schema: str = "cloudevents"  # the untrusting default: only a parsed Event Grid-schema event is otherwise


@dataclass(frozen=True)
class VersionApproved:
    """Someone approved a version held by `approval.required`. Trusted only in the Event Grid schema from a
    topic in the gallery's `approval_sources` (`source` and `schema` as for a build event)."""

    version: VersionRef
    approver: str
    event_id: str
    event_time: datetime | None
    source: str | None = None
    schema: str = "cloudevents"


@dataclass(frozen=True)
class PolicyChanged:
    """A blob was written in the config storage: maybe the policy (the caller compares the URL)."""

    blob_url: str
    event_id: str
    event_time: datetime | None
    etag: str | None


@dataclass(frozen=True)
class Ignored:
    """A well-formed event the product has nothing to do with; `reason` goes into the log line."""

    reason: str
    event_id: str | None
    event_type: str | None


InboundEvent: TypeAlias = VersionWritten | BuildCompleted | VersionApproved | PolicyChanged | Ignored


@dataclass(frozen=True)
class _Envelope:
    """The schema-independent part of an event (Event Grid and CloudEvents spell the same things apart)."""

    schema: str  # "eventgrid" | "cloudevents"
    id: str
    type: str
    subject: str | None
    time: datetime | None
    data: Any
    source: str | None = None  # Event Grid `topic` or CloudEvents `source`: who sent it


def parse_event(payload: Mapping[str, Any] | str | bytes) -> InboundEvent:
    """Parse ONE event in Event Grid schema or CloudEvents 1.0 into a typed inbound event.

    Raises MalformedEvent when the payload is not a JSON object, lacks its id or type, has a field of the
    wrong type, or names a version by an id that is not a gallery image version id.
    """
    return _parse_decoded(_decode(payload))


def _parse_decoded(body: object) -> InboundEvent:
    if isinstance(body, list):
        raise MalformedEvent(
            "expected one event object, got a JSON array (use parse_batch for a webhook body)"
        )
    if not isinstance(body, Mapping):
        raise MalformedEvent(f"an event must be a JSON object, got {type(body).__name__}")
    try:
        envelope = _envelope(body)
    except MalformedEvent as exc:
        exc.event_type = _raw_type(body)
        raise
    try:
        return _classify(envelope)
    except MalformedEvent as exc:
        if exc.event_id is None:
            exc.event_id = envelope.id
        exc.event_type = envelope.type
        raise


def _raw_type(body: Mapping[str, Any]) -> str | None:
    """The event's type as sent, when it is a readable string, for an event whose envelope is broken."""
    key = "type" if _spec_version_key(body) is not None else "eventType"
    value = body.get(key)
    return value.strip() if isinstance(value, str) and value.strip() else None


def parse_batch(payload: Sequence[Any] | str | bytes) -> list[InboundEvent | MalformedEvent]:
    """Parse a webhook body (a JSON array of events), one outcome per record, in order.

    A bad record does not stop the others: its slot holds the MalformedEvent instead (batch-processor style),
    so the caller can act on the good ones and report the bad ones. Only a body that is not an array at all
    raises.
    """
    body = _decode(payload)
    if isinstance(body, Mapping) or not isinstance(body, Sequence) or isinstance(body, str | bytes):
        raise MalformedEvent(f"a webhook body must be a JSON array of events, got {type(body).__name__}")
    outcomes: list[InboundEvent | MalformedEvent] = []
    for index, record in enumerate(body):
        try:
            # Records are already decoded: a string in the array is a bad record, not JSON to decode again.
            outcomes.append(_parse_decoded(record))
        except MalformedEvent as exc:
            exc.args = (f"record {index}: {exc}",)
            outcomes.append(exc)
    return outcomes


def from_trigger(event: func.EventGridEvent | func.CloudEvent | object) -> InboundEvent:
    """Parse what the Functions worker hands an `event_grid_trigger` function.

    azure-functions 1.26 decodes the host's JSON into `azure.functions.EventGridEvent` (Event Grid schema) or,
    when the JSON has a lower-case `specversion` key, into `azure.functions.CloudEvent`. Both are read by
    attribute and turned back into the plain wire shape, so there is one parser for webhook, CLI and trigger.
    A mapping, str or bytes is accepted too and parsed as is.
    """
    if isinstance(event, Mapping | str | bytes):
        return parse_event(event)
    if hasattr(event, "specversion"):
        body: dict[str, Any] = {
            "specversion": getattr(event, "specversion", None),
            "id": getattr(event, "id", None),
            "source": getattr(event, "source", None),
            "type": getattr(event, "type", None),
            "subject": getattr(event, "subject", None),
            "data": _trigger_data(event),
        }
        time_value = getattr(event, "time", None)
        if isinstance(time_value, datetime):
            body["time"] = time_value.isoformat()
        extensions = getattr(event, "extension_attrs", None)
        if isinstance(extensions, Mapping):
            body.update({k: v for k, v in extensions.items() if k not in body})
        return parse_event(body)
    if hasattr(event, "event_type"):
        # The converter reads only these seven keys. A CloudEvent spelt `specVersion` (as some published
        # samples are) lands here with event_type None and is reported as missing its eventType.
        body = {
            "id": getattr(event, "id", None),
            "topic": getattr(event, "topic", None),
            "subject": getattr(event, "subject", None),
            "eventType": getattr(event, "event_type", None),
            "data": _trigger_data(event),
            "dataVersion": getattr(event, "data_version", None),
        }
        time_value = getattr(event, "event_time", None)
        if isinstance(time_value, datetime):
            body["eventTime"] = time_value.isoformat()
        return parse_event(body)
    raise MalformedEvent(f"unsupported trigger input of type {type(event).__name__}")


# --- envelope ---------------------------------------------------------------------------------------------


def _decode(payload: object) -> Any:
    if isinstance(payload, bytes | bytearray):
        try:
            payload = bytes(payload).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedEvent(f"event body is not UTF-8: {exc}") from exc
    if isinstance(payload, str):
        try:
            return json.loads(payload)
        except json.JSONDecodeError as exc:
            raise MalformedEvent(f"event body is not valid JSON: {exc}") from exc
        except RecursionError:
            # json's decoder recurses per level: a body nested thousands deep is not an event of ours.
            raise MalformedEvent("event body is nested too deeply to be an event") from None
    return payload


def _trigger_data(event: object) -> Any:
    get_json = getattr(event, "get_json", None)
    return get_json() if callable(get_json) else None


def _spec_version_key(body: Mapping[str, Any]) -> str | None:
    # CloudEvents 1.0 mandates lower-case attribute names, but the Event Grid spec's own CloudEvents samples
    # spell it `specVersion`; accept any casing so those samples (and senders copying them) parse.
    return next((k for k in body if isinstance(k, str) and k.lower() == "specversion"), None)


def _envelope(body: Mapping[str, Any]) -> _Envelope:
    spec_key = _spec_version_key(body)
    if spec_key is not None:
        schema, type_field, time_field = "cloudevents", "type", "time"
        if body[spec_key] != "1.0":
            raise MalformedEvent(
                f"unsupported CloudEvents {spec_key} {body[spec_key]!r} (expected '1.0')",
                field=spec_key,
                event_id=_maybe_str(body.get("id")),
            )
    else:
        schema, type_field, time_field = "eventgrid", "eventType", "eventTime"
    event_id = _required_str(body, "id", None)
    if type_field not in body and schema == "eventgrid" and "type" in body:
        raise MalformedEvent(
            "missing field 'specversion' (a CloudEvents 1.0 event) or 'eventType' (Event Grid schema)",
            field="specversion",
            event_id=event_id,
        )
    event_type = _required_str(body, type_field, event_id)
    subject = body.get("subject")
    if subject is not None and not isinstance(subject, str):
        raise MalformedEvent(
            f"field 'subject' must be a string, got {type(subject).__name__}",
            field="subject",
            event_id=event_id,
        )
    source = body.get("topic" if schema == "eventgrid" else "source")
    return _Envelope(
        schema=schema,
        id=event_id,
        type=event_type,
        subject=subject or None,
        time=_time(body.get(time_field), time_field, event_id),
        data=body.get("data"),
        source=(source.strip() or None) if isinstance(source, str) else None,
    )


def _required_str(body: Mapping[str, Any], key: str, event_id: str | None) -> str:
    if key not in body or body[key] is None:
        raise MalformedEvent(f"missing field {key!r}", field=key, event_id=event_id)
    value = body[key]
    if not isinstance(value, str):
        raise MalformedEvent(
            f"field {key!r} must be a string, got {type(value).__name__}", field=key, event_id=event_id
        )
    if not value.strip():
        raise MalformedEvent(f"field {key!r} is empty", field=key, event_id=event_id)
    return value.strip()


def _maybe_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _time(value: object, field: str, event_id: str) -> datetime | None:
    # The event time is informational (ordering hints in logs); state is always re-read from ARM. A missing
    # time is fine, a present but unreadable one means the sender is broken.
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return utc(value)
    if not isinstance(value, str):
        raise MalformedEvent(
            f"field {field!r} must be an ISO 8601 string, got {type(value).__name__}",
            field=field,
            event_id=event_id,
        )
    try:
        return parse_time(value)
    except ValueError as exc:
        raise MalformedEvent(
            f"field {field!r} is not an ISO 8601 time: {value!r}", field=field, event_id=event_id
        ) from exc


def _data_object(envelope: _Envelope, *, required: bool) -> Mapping[str, Any]:
    data = envelope.data
    if data is None and not required:
        return {}
    if not isinstance(data, Mapping):
        what = "missing" if data is None else f"a {type(data).__name__}"
        raise MalformedEvent(
            f"field 'data' must be an object, got {what}", field="data", event_id=envelope.id
        )
    return data


def _optional_data_str(data: Mapping[str, Any], key: str, event_id: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedEvent(
            f"field 'data.{key}' must be a string, got {type(value).__name__}",
            field=f"data.{key}",
            event_id=event_id,
        )
    return value.strip() or None


def _version(resource_id: str, field: str, event_id: str) -> VersionRef:
    try:
        return parse_version_id(resource_id)
    except InvalidResourceId as exc:
        raise MalformedEvent(f"field {field!r}: {exc}", field=field, event_id=event_id) from exc


# --- rules (PRODUCT.md section 5) ---------------------------------------------------------------------------


def _classify(envelope: _Envelope) -> InboundEvent:
    if envelope.type == SUBSCRIPTION_VALIDATION:
        # The Functions host answers the validation handshake itself for an eventGridTrigger (the event never
        # reaches the function there); one POSTed to our own webhook code has nothing for the engine to do.
        return Ignored(
            "subscription validation handshake (answered by the Functions host)", envelope.id, envelope.type
        )
    if envelope.type == RESOURCE_WRITE_SUCCESS:
        return _resource_write(envelope)
    if envelope.type.startswith("Microsoft.Resources."):
        return Ignored(f"{envelope.type} is not a successful write", envelope.id, envelope.type)
    if envelope.type == BUILD_COMPLETED:
        return _build_completed(envelope)
    if envelope.type == VERSION_APPROVED:
        return _version_approved(envelope)
    if envelope.type == BLOB_CREATED:
        return _blob_created(envelope)
    return Ignored(f"event type {envelope.type!r} is not handled", envelope.id, envelope.type)


def _resource_write(envelope: _Envelope) -> InboundEvent:
    data = _data_object(envelope, required=True)
    operation = data.get("operationName")
    if not isinstance(operation, str) or not operation.strip():
        raise MalformedEvent(
            "field 'data.operationName' must be a non-empty string",
            field="data.operationName",
            event_id=envelope.id,
        )
    if operation.strip().lower() != VERSION_WRITE_OPERATION.lower():
        return Ignored(f"operation {operation!r} is not an image version write", envelope.id, envelope.type)
    resource_uri = _optional_data_str(data, "resourceUri", envelope.id)
    if resource_uri is not None:
        version = _version(resource_uri, "data.resourceUri", envelope.id)
    elif envelope.subject is not None:
        version = _version(envelope.subject, "subject", envelope.id)
    else:
        raise MalformedEvent(
            "missing field 'data.resourceUri' (and no 'subject' to fall back on)",
            field="data.resourceUri",
            event_id=envelope.id,
        )
    return VersionWritten(version, envelope.id, envelope.time, operation.strip())


def _named_version(envelope: _Envelope, data: Mapping[str, Any]) -> VersionRef:
    """The image version a custom event is about: `data.imageVersionId`, else the `subject`."""
    image_version_id = _optional_data_str(data, "imageVersionId", envelope.id)
    if image_version_id is not None:
        return _version(image_version_id, "data.imageVersionId", envelope.id)
    if envelope.subject is not None:
        return _version(envelope.subject, "subject", envelope.id)
    raise MalformedEvent(
        "missing field 'data.imageVersionId' or 'subject' (the image version id)",
        field="data.imageVersionId",
        event_id=envelope.id,
    )


def _build_completed(envelope: _Envelope) -> BuildCompleted:
    data = _data_object(envelope, required=False)
    version = _named_version(envelope, data)
    values: dict[str, Any] = {}
    for key, attribute in _BUILD_FIELDS:
        # Over-long values are kept whole here; the tag owner cuts them to Azure's limit with a warning,
        # rather than the whole build's metadata being dropped. A SAS token in sbomUri or pipelineRunUrl
        # (query string, fragment) must not travel further: not into state, tags or the audit log.
        value = _optional_data_str(data, key, envelope.id)
        values[attribute] = strip_url_secrets(value) if value is not None else None
    values["lifetime_days"] = _lifetime_days(data.get("lifetimeDays"), envelope.id)
    return BuildCompleted(
        version,
        BuildMetadata(**values),
        envelope.id,
        envelope.time,
        source=envelope.source,
        schema=envelope.schema,
    )


def _version_approved(envelope: _Envelope) -> VersionApproved:
    data = _data_object(envelope, required=True)
    version = _named_version(envelope, data)
    approver = _optional_data_str(data, "approver", envelope.id)
    if approver is None or len(approver) > 256:
        # The approver becomes a tag value: required, and within Azure's 256 characters.
        raise MalformedEvent(
            "field 'data.approver' must name the approver (1 to 256 characters)",
            field="data.approver",
            event_id=envelope.id,
        )
    return VersionApproved(
        version, approver, envelope.id, envelope.time, source=envelope.source, schema=envelope.schema
    )


def _lifetime_days(value: object, event_id: str) -> int | None:
    if value is None:
        return None
    # bool is an int subclass; `true` days is a sender bug, not 1.
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise MalformedEvent(
            f"field 'data.lifetimeDays' must be a positive integer, got {value!r}",
            field="data.lifetimeDays",
            event_id=event_id,
        )
    return value


def _blob_created(envelope: _Envelope) -> PolicyChanged:
    data = _data_object(envelope, required=True)
    url = _optional_data_str(data, "url", envelope.id)
    if url is None:
        raise MalformedEvent(
            "missing field 'data.url' (the blob URL)", field="data.url", event_id=envelope.id
        )
    etag = _optional_data_str(data, "eTag", envelope.id)
    return PolicyChanged(url, envelope.id, envelope.time, etag)
