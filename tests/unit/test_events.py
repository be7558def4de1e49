"""Inbound event parsing against real payloads: the published Azure samples (read in place from the shared
reference folder), the same samples rewritten to gallery image version ids, what the Functions worker's own
converter hands a trigger, and the hand-built payloads in tests/events/."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from lifecycle.events import (
    BuildCompleted,
    BuildMetadata,
    Ignored,
    MalformedEvent,
    PolicyChanged,
    VersionApproved,
    VersionWritten,
    from_trigger,
    parse_batch,
    parse_event,
)
from lifecycle.model import parse_version_id

EVENTS = Path(__file__).resolve().parents[1] / "events"
ROOT = Path(__file__).resolve().parents[2]

SUB = "00000000-0000-0000-0000-000000000001"
GALLERY = f"/subscriptions/{SUB}/resourceGroups/rg-images/providers/Microsoft.Compute/galleries/galPlatform"
VERSION_ID = f"{GALLERY}/images/ubuntu-24.04/versions/1.0.0"
VERSION_WRITE = "Microsoft.Compute/galleries/images/versions/write"
VERSION_DELETE = "Microsoft.Compute/galleries/images/versions/delete"


def load(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def local(name: str) -> dict[str, Any]:
    body = load(EVENTS / name)
    assert isinstance(body, dict)
    return body


# --- the published samples, as they are ------------------------------------------------------------------

# Every file of reference/events/ and what it must become. The resource events are about a storage account,
# so they are not gallery versions and are ignored; the blob events are (possibly) the policy.
REFERENCE_EXPECTED: dict[str, type] = {
    "resources_resource_write_success.eventgrid.json": Ignored,
    "resources_resource_write_success.cloudevent.json": Ignored,
    "resources_resource_write_failure.eventgrid.json": Ignored,
    "resources_resource_write_failure.cloudevent.json": Ignored,
    "resources_resource_delete_success.eventgrid.json": Ignored,
    "resources_resource_delete_success.cloudevent.json": Ignored,
    "resourcenotifications_resources_created_or_updated.eventgrid.json": Ignored,
    "resourcenotifications_resources_deleted.eventgrid.json": Ignored,
    "storage_blob_created.eventgrid.json": PolicyChanged,
    "storage_blob_created.cloudevent.json": PolicyChanged,
}


def test_every_reference_event_file_has_an_expectation(reference_dir: Path) -> None:
    present = {p.name for p in (reference_dir / "events").glob("*.json")}
    assert present == set(REFERENCE_EXPECTED), "a reference event was added or removed: extend the table"


@pytest.mark.parametrize("name", sorted(REFERENCE_EXPECTED), ids=sorted(REFERENCE_EXPECTED))
def test_reference_events_parse(reference_dir: Path, name: str) -> None:
    raw = (reference_dir / "events" / name).read_bytes()
    body = json.loads(raw)

    result = parse_event(raw)

    assert isinstance(result, REFERENCE_EXPECTED[name])
    assert getattr(result, "event_id", None) == body["id"]
    if isinstance(result, Ignored):
        assert result.event_type == body.get("eventType", body.get("type"))
        assert result.reason


def test_reference_blob_created_gives_url_etag_and_time(reference_dir: Path) -> None:
    for name in ("storage_blob_created.eventgrid.json", "storage_blob_created.cloudevent.json"):
        result = parse_event(load(reference_dir / "events" / name))
        assert result == PolicyChanged(
            blob_url="https://jolovstorage.blob.core.windows.net/gaocontainer/Template1.xlsx",
            event_id="beb21a5e-401e-002b-3749-928517060431",
            # seven fractional digits in the sample: truncated to microseconds, UTC-aware
            event_time=datetime(2021, 8, 16, 2, 51, 26, 424822, tzinfo=UTC),
            etag="0x8D96060BDA19D9D",
        )


def test_reference_write_success_is_ignored_because_it_is_a_storage_account(reference_dir: Path) -> None:
    result = parse_event(load(reference_dir / "events" / "resources_resource_write_success.eventgrid.json"))
    assert isinstance(result, Ignored)
    assert "Microsoft.Storage/storageAccounts/write" in result.reason


# --- the published samples, rewritten to gallery image versions ---------------------------------------------


def as_gallery_version(body: dict[str, Any], operation: str, *, keep_uri: bool = True) -> dict[str, Any]:
    """The sample with its storage account swapped for a gallery image version (same keys otherwise)."""
    out = copy.deepcopy(body)
    out["subject"] = VERSION_ID
    out["data"]["operationName"] = operation
    out["data"]["resourceProvider"] = "Microsoft.Compute"
    out["data"]["authorization"]["scope"] = VERSION_ID
    out["data"]["authorization"]["action"] = operation
    if keep_uri:
        out["data"]["resourceUri"] = VERSION_ID
    else:
        del out["data"]["resourceUri"]
    return out


RESOURCE_SAMPLES = [
    "resources_resource_write_success.eventgrid.json",
    "resources_resource_write_success.cloudevent.json",
]


@pytest.mark.parametrize("name", RESOURCE_SAMPLES, ids=["eventgrid", "cloudevents"])
@pytest.mark.parametrize(
    "operation",
    [VERSION_WRITE, VERSION_WRITE.upper(), VERSION_WRITE.lower()],
    ids=["as-documented", "upper-case", "lower-case"],
)
def test_reference_write_success_for_a_gallery_version(
    reference_dir: Path, name: str, operation: str
) -> None:
    body = as_gallery_version(load(reference_dir / "events" / name), operation)

    result = parse_event(body)

    assert isinstance(result, VersionWritten)
    assert result.version.id == VERSION_ID
    assert result.version.name == "1.0.0"
    assert result.version.image_ref.image == "ubuntu-24.04"
    assert result.event_id == body["id"]
    assert result.operation == operation
    assert result.event_time == datetime(2018, 7, 19, 18, 38, 4, 611735, tzinfo=UTC)


@pytest.mark.parametrize("name", RESOURCE_SAMPLES, ids=["eventgrid", "cloudevents"])
def test_version_falls_back_to_subject_without_resource_uri(reference_dir: Path, name: str) -> None:
    body = as_gallery_version(load(reference_dir / "events" / name), VERSION_WRITE, keep_uri=False)
    result = parse_event(body)
    assert isinstance(result, VersionWritten)
    assert result.version.id == VERSION_ID


@pytest.mark.parametrize(
    ("name", "operation"),
    [
        ("resources_resource_write_failure.eventgrid.json", VERSION_WRITE),
        ("resources_resource_write_failure.cloudevent.json", VERSION_WRITE),
        ("resources_resource_delete_success.eventgrid.json", VERSION_DELETE),
        ("resources_resource_delete_success.cloudevent.json", VERSION_DELETE),
        ("resources_resource_write_success.eventgrid.json", "Microsoft.Compute/galleries/images/write"),
        ("resources_resource_write_success.cloudevent.json", "Microsoft.Compute/galleries/write"),
    ],
    ids=[
        "write-failure-eventgrid",
        "write-failure-cloudevents",
        "delete-eventgrid",
        "delete-cloudevents",
        "image-definition-write",
        "gallery-write",
    ],
)
def test_other_gallery_resource_events_are_ignored(reference_dir: Path, name: str, operation: str) -> None:
    body = as_gallery_version(load(reference_dir / "events" / name), operation)
    result = parse_event(body)
    assert isinstance(result, Ignored)
    assert result.event_id == body["id"]


def test_write_success_with_a_bad_version_id_is_malformed(reference_dir: Path) -> None:
    body = as_gallery_version(
        load(reference_dir / "events" / "resources_resource_write_success.eventgrid.json"), VERSION_WRITE
    )
    body["data"]["resourceUri"] = VERSION_ID.replace("/versions/1.0.0", "/versions/latest")
    with pytest.raises(MalformedEvent, match=r"data\.resourceUri.*MAJOR\.MINOR\.PATCH") as info:
        parse_event(body)
    assert info.value.field == "data.resourceUri"
    assert info.value.event_id == body["id"]


# --- what the Functions worker hands an event_grid_trigger function ----------------------------------------


def decode_datum(body: str | dict[str, Any]) -> object:
    """Decode the way the worker does for an eventGridTrigger binding (azure-functions 1.26)."""
    from azure.functions.eventgrid import EventGridEventInConverter
    from azure.functions.meta import Datum

    text = body if isinstance(body, str) else json.dumps(body)
    return EventGridEventInConverter.decode(Datum(type="json", value=text), trigger_metadata={})


FUNCTIONS_DATUMS = [
    "azure-functions-lib_eventgrid_trigger_datum_with_data.json",
    "azure-functions-lib_eventgrid_trigger_datum_without_data.json",
    "azure-functions-lib_eventgrid_trigger_cloudevent_datum_with_data.json",
]


@pytest.mark.parametrize(
    "name", FUNCTIONS_DATUMS, ids=["eventgrid-with-data", "eventgrid-no-data", "cloudevent"]
)
def test_functions_datums_through_from_trigger(reference_dir: Path, name: str) -> None:
    text = (reference_dir / "functions" / name).read_text(encoding="utf-8")
    body = json.loads(text)

    event = decode_datum(text)
    result = from_trigger(event)

    # neither the capture-file event nor com.example.type is something the product handles
    assert isinstance(result, Ignored)
    assert result.event_id == body["id"]
    assert result.event_type == body.get("eventType", body.get("type"))


def test_functions_cloudevent_datum_decodes_to_func_cloudevent(reference_dir: Path) -> None:
    import azure.functions as func

    text = (reference_dir / "functions" / FUNCTIONS_DATUMS[2]).read_text(encoding="utf-8")
    event = decode_datum(text)
    assert isinstance(event, func.CloudEvent)


def test_functions_datum_rewritten_to_a_version_write(reference_dir: Path) -> None:
    body = load(reference_dir / "functions" / FUNCTIONS_DATUMS[0])
    body["eventType"] = "Microsoft.Resources.ResourceWriteSuccess"
    body["subject"] = VERSION_ID
    body["data"] = {"operationName": VERSION_WRITE, "resourceUri": VERSION_ID, "status": "Succeeded"}

    result = from_trigger(decode_datum(body))

    assert isinstance(result, VersionWritten)
    assert result.version.id == VERSION_ID
    assert result.event_id == body["id"]
    assert result.event_time == datetime(2017, 7, 14, 23, 10, 27, 768966, tzinfo=UTC)


def test_functions_cloudevent_datum_rewritten_to_a_build(reference_dir: Path) -> None:
    body = load(reference_dir / "functions" / FUNCTIONS_DATUMS[2])
    body["type"] = "ImageLifecycle.BuildCompleted"
    body["subject"] = VERSION_ID
    body["data"] = {"buildId": "42", "lifetimeDays": 14}

    result = from_trigger(decode_datum(body))

    assert result == BuildCompleted(
        version=parse_version_id(VERSION_ID),
        metadata=BuildMetadata(build_id="42", lifetime_days=14),
        event_id="A234-1234-1234",
        event_time=datetime(2018, 4, 5, 17, 31, tzinfo=UTC),
        source="/mycontext/subcontext",
    )


def test_functions_cloudevent_with_extensions_survives(reference_dir: Path) -> None:
    body = load(reference_dir / "functions" / FUNCTIONS_DATUMS[2])
    body.update(type="Microsoft.Storage.BlobCreated", traceparent="00-abc-def-01")
    body["data"] = {"url": "https://acct.blob.core.windows.net/c/policy.yaml", "eTag": "0x1"}
    result = from_trigger(decode_datum(body))
    assert isinstance(result, PolicyChanged)
    assert result.blob_url.endswith("/policy.yaml")


def test_converter_loses_a_specVersion_cloudevent_and_we_say_so(reference_dir: Path) -> None:
    # The worker recognises CloudEvents only by a lower-case `specversion`; the Azure sample's `specVersion`
    # becomes an EventGridEvent without an eventType. parse_event itself accepts both spellings.
    body = load(reference_dir / "events" / "storage_blob_created.cloudevent.json")
    with pytest.raises(MalformedEvent, match="'eventType'"):
        from_trigger(decode_datum(body))
    assert isinstance(parse_event(body), PolicyChanged)


def test_worker_webhook_body_is_a_blob_event_without_url(reference_dir: Path) -> None:
    # The worker's own end-to-end payload misspells `url` as `ur1`: one record, malformed, named.
    body = load(reference_dir / "functions" / "azure-functions-worker_eventgrid_webhook_post_body.json")
    outcomes = parse_batch(body)
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], MalformedEvent)
    assert "data.url" in str(outcomes[0])
    with pytest.raises(MalformedEvent, match=r"data\.url"):
        from_trigger(decode_datum(body[0]))


def test_subscription_validation_is_ignored(reference_dir: Path) -> None:
    body = load(reference_dir / "functions" / "eventgrid_subscription_validation_event.json")
    outcomes = parse_batch(body)
    assert len(outcomes) == 1
    assert isinstance(outcomes[0], Ignored)
    assert "Functions host" in outcomes[0].reason
    assert isinstance(from_trigger(decode_datum(body[0])), Ignored)


def test_from_trigger_rejects_unknown_objects() -> None:
    with pytest.raises(MalformedEvent, match="unsupported trigger input of type int"):
        from_trigger(42)


# --- the hand-built payloads in tests/events/ -----------------------------------------------------------


def test_local_version_write_both_schemas() -> None:
    eg = parse_event(local("version_write_success.eventgrid.json"))
    ce = parse_event(local("version_write_success.cloudevent.json"))
    assert isinstance(eg, VersionWritten)
    assert isinstance(ce, VersionWritten)
    assert eg.version.id == VERSION_ID
    # ARM may lower-case segments; the ref keeps the id as sent and compares by key
    assert ce.version.key() == eg.version.key()
    assert ce.operation == VERSION_WRITE.upper()


def test_local_image_definition_write_is_ignored() -> None:
    result = parse_event(local("image_write_success.eventgrid.json"))
    assert isinstance(result, Ignored)
    assert "images/write" in result.reason


def test_local_build_completed_eventgrid_uses_image_version_id() -> None:
    result = parse_event(local("build_completed.eventgrid.json"))
    assert isinstance(result, BuildCompleted)
    assert result.version.id == VERSION_ID
    assert result.event_id == "build-20260105.3"
    assert result.metadata.lifetime_days == 60
    assert result.metadata.tags() == {
        "lifecycle.build-id": "20260105.3",
        "lifecycle.commit": "4f2a9c1e8b7d6a5f4e3d2c1b0a9f8e7d6c5b4a39",
        # The query string is dropped: tags are public to every Reader, and a query may carry a SAS.
        "lifecycle.pipeline-run": "https://dev.azure.com/contoso/platform/_build/results",
        "lifecycle.sbom": "https://contosoartifacts.blob.core.windows.net/sbom/ubuntu-24.04/1.0.0.spdx.json",
        "lifecycle.approver": "alice@contoso.com",
        "lifecycle.base-image": "Canonical:ubuntu-24_04-lts:server:24.04.202512160",
        "lifecycle.lifetime-days": "60",
    }


def test_local_build_completed_cloudevent_uses_subject() -> None:
    result = parse_event(local("build_completed.cloudevent.json"))
    assert isinstance(result, BuildCompleted)
    assert result.version.id == VERSION_ID
    assert result.metadata == BuildMetadata(
        build_id="20260105.4", commit="9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a2f1e0d", approver="bob@contoso.com"
    )
    assert set(result.metadata.tags()) == {"lifecycle.build-id", "lifecycle.commit", "lifecycle.approver"}


@pytest.mark.parametrize(
    "name", ["policy_blob_created.eventgrid.json", "policy_blob_created.cloudevent.json"], ids=["eg", "ce"]
)
def test_local_policy_blob_created(name: str) -> None:
    result = parse_event(json.dumps(local(name)).encode())
    assert isinstance(result, PolicyChanged)
    assert result.blob_url == "https://stlifecycleconfig.blob.core.windows.net/lifecycle/policy.yaml"
    assert result.etag is not None


@pytest.mark.parametrize(
    ("name", "field"),
    [
        ("malformed_version_write_bad_version.eventgrid.json", "data.resourceUri"),
        ("malformed_build_completed_lifetime.cloudevent.json", "data.lifetimeDays"),
        ("malformed_build_completed_no_version.eventgrid.json", "subject"),
        ("malformed_missing_id.eventgrid.json", "id"),
    ],
    ids=["bad-version-name", "lifetime-string", "no-version-id", "missing-id"],
)
def test_local_malformed_payloads(name: str, field: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_event(local(name))
    assert info.value.field == field
    assert field.split(".")[-1] in str(info.value)


def test_every_local_payload_is_exercised() -> None:
    names = {p.name for p in EVENTS.glob("*.json")}
    source = Path(__file__).read_text(encoding="utf-8")
    assert all(name in source for name in names), sorted(n for n in names if n not in source)


# --- decision table: malformed inputs ------------------------------------------------------------------


def eg(event_type: str, data: Any, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "evt-1",
        "topic": f"/subscriptions/{SUB}/resourceGroups/rg-images",
        "subject": VERSION_ID,
        "eventType": event_type,
        "eventTime": "2026-01-05T09:12:44Z",
        "data": data,
        "dataVersion": "2",
        "metadataVersion": "1",
    }
    body.update(extra)
    return body


def ce(event_type: str, data: Any, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "specversion": "1.0",
        "id": "evt-1",
        "source": "/pipelines/platform-images",
        "subject": VERSION_ID,
        "type": event_type,
        "time": "2026-01-05T09:12:44Z",
        "data": data,
    }
    body.update(extra)
    return body


WRITE = "Microsoft.Resources.ResourceWriteSuccess"
BUILD = "ImageLifecycle.BuildCompleted"
BLOB = "Microsoft.Storage.BlobCreated"
STORAGE_ID = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Storage/storageAccounts/acct"


def without(body: dict[str, Any], *keys: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in keys}


MALFORMED: list[tuple[str, Any, str]] = [
    # (id, payload, text the message must contain)
    ("array-not-object", [eg(WRITE, {})], "JSON array"),
    ("number-not-object", 42, "must be a JSON object, got int"),
    ("not-json", b"{not json", "not valid JSON"),
    ("not-utf8", b"\xff\xfe{}", "not UTF-8"),
    ("missing-id", without(eg(WRITE, {}), "id"), "missing field 'id'"),
    ("id-not-string", eg(WRITE, {}, id=123), "field 'id' must be a string, got int"),
    ("id-empty", eg(WRITE, {}, id="  "), "field 'id' is empty"),
    ("missing-eventType", without(eg(WRITE, {}), "eventType"), "missing field 'eventType'"),
    ("type-without-specversion", without(ce(WRITE, {}), "specversion"), "missing field 'specversion'"),
    ("cloudevent-missing-type", without(ce(WRITE, {}), "type"), "missing field 'type'"),
    (
        "cloudevent-bad-specversion",
        ce(WRITE, {}, specversion="0.3"),
        "unsupported CloudEvents specversion '0.3'",
    ),
    (
        "eventTime-garbage",
        eg(BLOB, {"url": "https://a/b"}, eventTime="yesterday"),
        "'eventTime' is not an ISO",
    ),
    ("time-not-string", ce(BLOB, {"url": "https://a/b"}, time=17), "'time' must be an ISO 8601 string"),
    ("subject-not-string", eg(WRITE, {}, subject=["x"]), "field 'subject' must be a string"),
    ("write-without-data", without(eg(WRITE, None), "data"), "field 'data' must be an object, got missing"),
    ("write-data-is-list", eg(WRITE, [VERSION_ID]), "field 'data' must be an object, got a list"),
    ("write-without-operation", eg(WRITE, {"resourceUri": VERSION_ID}), "'data.operationName'"),
    (
        "write-storage-id",
        eg(WRITE, {"operationName": VERSION_WRITE, "resourceUri": STORAGE_ID}),
        "'data.resourceUri': not a Compute Gallery resource id",
    ),
    (
        "write-image-not-version",
        eg(WRITE, {"operationName": VERSION_WRITE, "resourceUri": VERSION_ID.split("/versions/")[0]}),
        "'data.resourceUri': not an image version id",
    ),
    (
        "write-version-latest",
        eg(WRITE, {"operationName": VERSION_WRITE, "resourceUri": VERSION_ID.replace("1.0.0", "latest")}),
        "MAJOR.MINOR.PATCH",
    ),
    (
        "write-resourceUri-not-string",
        eg(WRITE, {"operationName": VERSION_WRITE, "resourceUri": 7}),
        "'data.resourceUri' must be a string, got int",
    ),
    (
        "write-no-uri-no-subject",
        without(eg(WRITE, {"operationName": VERSION_WRITE}), "subject"),
        "missing field 'data.resourceUri'",
    ),
    ("write-bad-subject-fallback", eg(WRITE, {"operationName": VERSION_WRITE}, subject="/x"), "'subject':"),
    ("build-data-list", ce(BUILD, ["x"]), "field 'data' must be an object"),
    ("build-lifetime-zero", ce(BUILD, {"lifetimeDays": 0}), "'data.lifetimeDays' must be a positive integer"),
    ("build-lifetime-negative", ce(BUILD, {"lifetimeDays": -5}), "'data.lifetimeDays' must be a positive"),
    ("build-lifetime-string", ce(BUILD, {"lifetimeDays": "30"}), "'data.lifetimeDays' must be a positive"),
    ("build-lifetime-float", ce(BUILD, {"lifetimeDays": 1.5}), "'data.lifetimeDays' must be a positive"),
    ("build-lifetime-bool", ce(BUILD, {"lifetimeDays": True}), "'data.lifetimeDays' must be a positive"),
    ("build-buildId-int", ce(BUILD, {"buildId": 42}), "'data.buildId' must be a string, got int"),
    ("build-commit-dict", ce(BUILD, {"commit": {"sha": "x"}}), "'data.commit' must be a string, got dict"),
    ("build-approver-list", eg(BUILD, {"approver": ["a"]}), "'data.approver' must be a string"),
    ("build-pipeline-bool", eg(BUILD, {"pipelineRunUrl": False}), "'data.pipelineRunUrl' must be a string"),
    ("build-sbom-number", eg(BUILD, {"sbomUri": 1.0}), "'data.sbomUri' must be a string"),
    ("build-baseImage-int", eg(BUILD, {"baseImage": 2404}), "'data.baseImage' must be a string"),
    (
        "build-imageVersionId-image",
        eg(BUILD, {"imageVersionId": VERSION_ID.split("/versions/")[0]}),
        "'data.imageVersionId': not an image version id",
    ),
    ("build-imageVersionId-int", eg(BUILD, {"imageVersionId": 1}), "'data.imageVersionId' must be a string"),
    (
        "build-no-version",
        without(ce(BUILD, {"buildId": "1"}), "subject"),
        "missing field 'data.imageVersionId'",
    ),
    ("build-subject-not-id", ce(BUILD, {}, subject="ubuntu/1.0.0"), "'subject': not a Compute Gallery"),
    ("blob-without-url", eg(BLOB, {"api": "PutBlob"}), "missing field 'data.url'"),
    ("blob-url-not-string", eg(BLOB, {"url": ["https://a/b"]}), "'data.url' must be a string"),
    ("blob-etag-not-string", eg(BLOB, {"url": "https://a/b", "eTag": 5}), "'data.eTag' must be a string"),
    ("blob-without-data", without(eg(BLOB, None), "data"), "field 'data' must be an object"),
]


@pytest.mark.parametrize(("payload", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED])
def test_malformed_inputs_name_the_problem(payload: Any, message: str) -> None:
    with pytest.raises(MalformedEvent) as info:
        parse_event(payload)
    assert message in str(info.value)
    if isinstance(payload, dict) and isinstance(payload.get("id"), str) and payload["id"].strip():
        assert info.value.event_id == payload["id"]


# --- decision table: what is accepted --------------------------------------------------------------------

ACCEPTED: list[tuple[str, Any, type, dict[str, Any]]] = [
    # (id, payload, outcome type, attributes to check)
    (
        "write-eventgrid",
        eg(WRITE, {"operationName": VERSION_WRITE, "resourceUri": VERSION_ID}),
        VersionWritten,
        {"operation": VERSION_WRITE},
    ),
    (
        "write-cloudevents-subject-only",
        ce(WRITE, {"operationName": VERSION_WRITE}),
        VersionWritten,
        {"event_time": datetime(2026, 1, 5, 9, 12, 44, tzinfo=UTC)},
    ),
    ("write-no-time", without(eg(WRITE, {"operationName": VERSION_WRITE}), "eventTime"), VersionWritten, {}),
    (
        "write-other-provider",
        eg(WRITE, {"operationName": "Microsoft.Storage/storageAccounts/write", "resourceUri": STORAGE_ID}),
        Ignored,
        {},
    ),
    ("write-failure", eg("Microsoft.Resources.ResourceWriteFailure", {}), Ignored, {}),
    ("action-success", ce("Microsoft.Resources.ResourceActionSuccess", None), Ignored, {}),
    ("build-no-data", eg(BUILD, None), BuildCompleted, {"metadata": BuildMetadata()}),
    (
        "build-blank-strings-are-absent",
        ce(BUILD, {"buildId": "  ", "commit": None, "lifetimeDays": None}),
        BuildCompleted,
        {"metadata": BuildMetadata()},
    ),
    (
        "build-imageVersionId-wins",
        ce(BUILD, {"imageVersionId": VERSION_ID.replace("1.0.0", "2.0.0")}, subject="free text"),
        BuildCompleted,
        {},
    ),
    (
        "blob-no-etag",
        ce(BLOB, {"url": "https://a.blob.core.windows.net/c/p.yaml"}),
        PolicyChanged,
        {"etag": None},
    ),
    (
        "custom-unknown-type",
        ce("com.example.type", {"key": "value"}),
        Ignored,
        {"event_type": "com.example.type"},
    ),
    (
        "cloudevent-specVersion-casing",
        without(ce(BLOB, {"url": "https://a/b"}), "specversion") | {"specVersion": "1.0"},
        PolicyChanged,
        {},
    ),
    (
        "validation",
        eg("Microsoft.EventGrid.SubscriptionValidationEvent", {"validationCode": "x"}, subject=""),
        Ignored,
        {},
    ),
]


@pytest.mark.parametrize(
    ("payload", "kind", "attributes"), [a[1:] for a in ACCEPTED], ids=[a[0] for a in ACCEPTED]
)
def test_accepted_inputs(payload: Any, kind: type, attributes: dict[str, Any]) -> None:
    result = parse_event(payload)
    assert isinstance(result, kind)
    for name, value in attributes.items():
        assert getattr(result, name) == value
    assert result.event_id == "evt-1"


def test_ignored_reason_names_the_operation() -> None:
    result = parse_event(eg(WRITE, {"operationName": "Microsoft.Network/virtualNetworks/write"}))
    assert isinstance(result, Ignored)
    assert "Microsoft.Network/virtualNetworks/write" in result.reason


def test_image_version_id_wins_over_subject() -> None:
    result = parse_event(ce(BUILD, {"imageVersionId": VERSION_ID.replace("1.0.0", "2.0.0")}))
    assert isinstance(result, BuildCompleted)
    assert result.version.name == "2.0.0"


# --- BuildMetadata.tags ------------------------------------------------------------------------------------


def test_tags_only_for_fields_that_are_set() -> None:
    assert BuildMetadata().tags() == {}
    assert BuildMetadata(lifetime_days=30).tags() == {"lifecycle.lifetime-days": "30"}
    assert BuildMetadata(build_id="7", base_image="img").tags() == {
        "lifecycle.build-id": "7",
        "lifecycle.base-image": "img",
    }


# --- parse_batch -----------------------------------------------------------------------------------------


def test_batch_keeps_going_past_a_bad_record() -> None:
    outcomes = parse_batch(local_batch())
    assert [type(o) for o in outcomes] == [VersionWritten, MalformedEvent, PolicyChanged, BuildCompleted]
    bad = outcomes[1]
    assert isinstance(bad, MalformedEvent)
    assert str(bad).startswith("record 1: ")
    assert "missing field 'id'" in str(bad)
    assert bad.field == "id"


def local_batch() -> list[Any]:
    body = load(EVENTS / "webhook_batch.eventgrid.json")
    assert isinstance(body, list)
    return body


def test_batch_accepts_bytes_and_records_non_objects() -> None:
    raw = json.dumps([eg(BLOB, {"url": "https://a/b"}), "oops", 3, eg(BUILD, {"lifetimeDays": -1})]).encode()
    outcomes = parse_batch(raw)
    assert isinstance(outcomes[0], PolicyChanged)
    assert isinstance(outcomes[1], MalformedEvent)
    assert str(outcomes[1]) == "record 1: an event must be a JSON object, got str"
    assert isinstance(outcomes[2], MalformedEvent)
    assert isinstance(outcomes[3], MalformedEvent)
    assert "data.lifetimeDays" in str(outcomes[3])


def test_empty_batch() -> None:
    assert parse_batch("[]") == []


@pytest.mark.parametrize(
    "payload", [eg(WRITE, {}), '{"id": "x"}', b"7", "nope"], ids=["dict", "object", "int", "bad"]
)
def test_batch_body_must_be_an_array(payload: Any) -> None:
    with pytest.raises(MalformedEvent):
        parse_batch(payload)


# --- cold start ------------------------------------------------------------------------------------------


def test_importing_events_loads_no_azure_module() -> None:
    code = (
        "import sys, lifecycle.events, lifecycle.gateways.publisher; "
        "print(','.join(sorted(m for m in sys.modules if m == 'azure' or m.startswith('azure.'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_an_overlong_build_value_is_kept_for_the_tag_owner_to_cut() -> None:
    long_sbom = "https://sboms.blob.core.windows.net/sbom/" + "ubuntu/" * 60 + "spdx.json"
    parsed = parse_event(eg(BUILD, {"sbomUri": long_sbom, "buildId": "7"}))
    assert isinstance(parsed, BuildCompleted)
    assert parsed.metadata.sbom == long_sbom and parsed.metadata.build_id == "7"


# --- secrets and senders ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "raw", "kept"),
    [
        (
            "sbomUri",
            "https://acct.blob.core.windows.net/sbom/1.0.0.spdx.json?sv=2024-05-04&sr=b&sig=SECRET%3D",
            "https://acct.blob.core.windows.net/sbom/1.0.0.spdx.json",
        ),
        (
            "pipelineRunUrl",
            "https://dev.azure.com/contoso/platform/_build/results?buildId=1#token=SECRET",
            "https://dev.azure.com/contoso/platform/_build/results",
        ),
        ("pipelineRunUrl", "https://user:SECRET@ci.example.com/run/7", "https://ci.example.com/run/7"),
    ],
    ids=["sas-query", "fragment", "user-info"],
)
def test_urls_lose_query_fragment_and_user_info_before_they_become_tags(
    field: str, raw: str, kept: str
) -> None:
    parsed = parse_event(ce(BUILD, {field: raw}))
    assert isinstance(parsed, BuildCompleted)
    tags = parsed.metadata.tags()
    assert kept in tags.values()
    assert not any("SECRET" in v for v in tags.values())


def test_build_source_is_the_eventgrid_topic_or_the_cloudevents_source() -> None:
    eg_event = eg(BUILD, {"imageVersionId": VERSION_ID})
    eg_event["topic"] = "/subscriptions/s/resourceGroups/r/providers/Microsoft.EventGrid/topics/builds"
    parsed = parse_event(eg_event)
    assert isinstance(parsed, BuildCompleted) and parsed.source == eg_event["topic"]
    ce_event = ce(BUILD, {"imageVersionId": VERSION_ID})
    parsed = parse_event(ce_event)
    assert isinstance(parsed, BuildCompleted) and parsed.source == ce_event["source"]


def test_local_version_approved_both_schemas() -> None:
    from lifecycle.events import VersionApproved

    ce = parse_event(local("version_approved.cloudevent.json"))
    eg = parse_event(local("version_approved.eventgrid.json"))
    assert isinstance(ce, VersionApproved) and isinstance(eg, VersionApproved)
    assert ce.version.id == eg.version.id == VERSION_ID
    assert (ce.approver, ce.source) == ("carol@contoso.com", "/pipelines/platform-images")
    # Event Grid sets `topic` itself: that is the sender checked against build_sources.
    assert eg.source is not None and eg.source.endswith("/topics/image-builds")


@pytest.mark.parametrize(
    ("data", "field"),
    [({"approver": ""}, "data.approver"), ({}, "data.approver"), ({"approver": 7}, "data.approver")],
    ids=["empty", "missing", "number"],
)
def test_version_approved_needs_an_approver(data: dict[str, object], field: str) -> None:
    event = local("version_approved.cloudevent.json")
    event["data"] = data
    with pytest.raises(MalformedEvent) as caught:
        parse_event(event)
    assert caught.value.field == field


# --- who sent it: the sender and the schema the trust rule reads --------------------------------------------

TOPIC = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics/image-builds"


@pytest.mark.parametrize("name", ["build_completed", "version_approved"])
def test_an_eventgrid_event_names_its_stamped_topic_and_schema(name: str) -> None:
    body = local(f"{name}.eventgrid.json")
    body["topic"] = TOPIC
    for parsed in (parse_event(body), from_trigger(decode_datum(body))):
        assert isinstance(parsed, BuildCompleted | VersionApproved)
        assert (parsed.source, parsed.schema) == (TOPIC, "eventgrid")


@pytest.mark.parametrize("name", ["build_completed", "version_approved"])
def test_a_cloudevent_names_its_source_even_with_a_topic_attribute(name: str) -> None:
    # `topic` is no CloudEvents attribute: the worker keeps it as an extension, and nobody stamped it.
    body = local(f"{name}.cloudevent.json")
    body["topic"] = TOPIC
    for parsed in (parse_event(body), from_trigger(decode_datum(body))):
        assert isinstance(parsed, BuildCompleted | VersionApproved)
        assert (parsed.source, parsed.schema) == (body["source"], "cloudevents")
