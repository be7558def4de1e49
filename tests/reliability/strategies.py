"""Hypothesis strategies: inbound events (Event Grid and CloudEvents 1.0, valid and broken) and policy
documents (valid and invalid, with the key path an invalid one must be rejected at)."""

from __future__ import annotations

import copy
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

SUB = "00000000-0000-0000-0000-000000000001"
OTHER_SUB = "00000000-0000-0000-0000-0000000000ff"
RG = "rg-images"
GALLERY = "golden"
GALLERY_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}"
VERSION_WRITE = "Microsoft.Compute/galleries/images/versions/write"

# Odd text: every Unicode category but surrogates, plus the characters that break naive parsers.
ODD = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)) | st.sampled_from("\x00\u202e\ufeff\u200b/?#%&.."),
    max_size=40,
)
HUGE = st.integers(min_value=10_000, max_value=300_000).map(lambda n: "x" * n)
JUNK: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    ODD,
    HUGE,
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
IMAGE_NAMES = st.sampled_from(["ubuntu-24.04", "win2022", "rhel9", "a", "x_y.z"])
VERSION_NAMES = st.tuples(st.integers(0, 99), st.integers(0, 999), st.integers(0, 99999)).map(
    lambda t: f"{t[0]}.{t[1]}.{t[2]}"
)


@dataclass
class Case:
    """An event payload and what parsing it must give: `kind` is version, build, policy, ignored,
    malformed (type readable: logged and dropped), untyped (type unreadable: the invocation fails) or
    any (a random mutation: only the general properties are checked)."""

    payload: Any
    kind: str
    version_id: str | None = None
    in_policy: bool = False
    notes: list[str] = field(default_factory=list)


def version_id(
    sub: str = SUB, rg: str = RG, gallery: str = GALLERY, image: str = "ubuntu-24.04", version: str = "1.0.0"
) -> str:
    return (
        f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{gallery}"
        f"/images/{image}/versions/{version}"
    )


def envelope(
    schema: str,
    event_type: str,
    subject: str | None,
    data: Any,
    event_id: str | None = None,
    source: str = f"/subscriptions/{SUB}/resourceGroups/{RG}",
) -> dict[str, Any]:
    event_id = event_id or str(uuid.uuid4())
    if schema == "cloudevents":
        body: dict[str, Any] = {
            "specversion": "1.0",
            "id": event_id,
            "source": source,
            "type": event_type,
            "time": "2026-11-23T10:00:00Z",
            "data": data,
        }
    else:
        body = {
            "id": event_id,
            "topic": source,
            "eventType": event_type,
            "eventTime": "2026-11-23T10:00:00Z",
            "data": data,
            "dataVersion": "1",
            "metadataVersion": "1",
        }
    if subject is not None:
        body["subject"] = subject
    return body


def write_event(
    schema: str, resource_id: str, operation: str = VERSION_WRITE, event_id: str | None = None
) -> dict[str, Any]:
    data = {
        "operationName": operation,
        "resourceUri": resource_id,
        "status": "Succeeded",
        "resourceProvider": "Microsoft.Compute",
        "subscriptionId": SUB,
    }
    return envelope(schema, "Microsoft.Resources.ResourceWriteSuccess", resource_id, data, event_id)


def build_event(schema: str, resource_id: str, event_id: str | None = None, **meta: Any) -> dict[str, Any]:
    data = {"imageVersionId": resource_id, **meta}
    return envelope(schema, "ImageLifecycle.BuildCompleted", resource_id, data, event_id)


SCHEMAS = st.sampled_from(["eventgrid", "cloudevents"])


@st.composite
def version_writes(draw: st.DrawFn) -> Case:
    schema = draw(SCHEMAS)
    where = draw(st.sampled_from(["policy", "other-rg", "other-sub", "other-gallery"]))
    sub, rg, gallery = SUB, RG, GALLERY
    if where == "other-rg":
        rg = "rg-elsewhere"
    elif where == "other-sub":
        sub = OTHER_SUB
    elif where == "other-gallery":
        gallery = "retired"
    vid = version_id(sub, rg, gallery, draw(IMAGE_NAMES), draw(VERSION_NAMES))
    operation = draw(st.sampled_from([VERSION_WRITE, VERSION_WRITE.upper(), VERSION_WRITE.lower()]))
    return Case(write_event(schema, vid, operation), "version", vid, in_policy=where == "policy")


@st.composite
def builds(draw: st.DrawFn) -> Case:
    schema = draw(SCHEMAS)
    vid = version_id(image=draw(IMAGE_NAMES), version=draw(VERSION_NAMES))
    meta_keys = ["buildId", "commit", "pipelineRunUrl", "sbomUri", "approver", "baseImage"]
    meta = draw(st.dictionaries(st.sampled_from(meta_keys), st.one_of(ODD, HUGE), max_size=6))
    if draw(st.booleans()):
        meta["lifetimeDays"] = draw(st.integers(1, 10_000))
    return Case(build_event(schema, vid, **meta), "build", vid, in_policy=True)


@st.composite
def irrelevant(draw: st.DrawFn) -> Case:
    """Well-formed events the product has nothing to do with."""
    schema = draw(SCHEMAS)
    choice = draw(st.sampled_from(["other-type", "other-op", "image-write", "delete", "validation"]))
    if choice == "other-type":
        event_type = draw(
            st.sampled_from(["Microsoft.Storage.BlobDeleted", "Contoso.Thing", "x"])
            | ODD.filter(
                lambda t: (
                    t.strip()
                    and t.strip()
                    not in (
                        "Microsoft.Resources.ResourceWriteSuccess",
                        "ImageLifecycle.BuildCompleted",
                        "Microsoft.Storage.BlobCreated",
                    )
                    and not t.strip().startswith("Microsoft.Resources.")
                )
            )
        )
        return Case(envelope(schema, event_type, "/x", draw(JUNK)), "ignored")
    if choice == "other-op":
        op = draw(
            st.sampled_from(
                ["Microsoft.Storage/storageAccounts/write", "Microsoft.Compute/virtualMachines/write"]
            )
        )
        return Case(
            write_event(schema, f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/x", op), "ignored"
        )
    if choice == "image-write":
        vid = version_id().rsplit("/versions/", 1)[0]
        return Case(write_event(schema, vid, "Microsoft.Compute/galleries/images/write"), "ignored")
    if choice == "delete":
        return Case(
            envelope(
                schema,
                "Microsoft.Resources.ResourceDeleteSuccess",
                version_id(),
                {"operationName": "Microsoft.Compute/galleries/images/versions/delete"},
            ),
            "ignored",
        )
    return Case(
        envelope(schema, "Microsoft.EventGrid.SubscriptionValidationEvent", None, {"validationCode": "x"}),
        "ignored",
    )


@st.composite
def wrong_resources(draw: st.DrawFn) -> Case:
    """A version write naming something that is not a gallery image version, or an injected id."""
    schema = draw(SCHEMAS)
    bad = draw(
        st.sampled_from(
            [
                version_id().rsplit("/versions/", 1)[0],  # an image, not a version
                GALLERY_ID,
                f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/virtualMachines/vm1",
                version_id(version="latest"),
                version_id(version="1.0"),
                version_id(gallery="gold?api-version=2020-01-01"),
                version_id(gallery=".."),
                version_id(image="ubuntu%2F..%2F.."),
                version_id(rg="rg/../other"),
                version_id(sub="not-a-guid"),
                version_id() + "?x=1",
                version_id() + "#frag",
                "",
                " ",
            ]
        )
        | ODD
    )
    # The subject is the fallback id: make it bad too, so only a bad id is left to find.
    payload = write_event(schema, bad)
    payload["subject"] = bad if bad.strip() else "/nothing"
    return Case(payload, "malformed")


def _drop(payload: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(payload)
    out.pop(key, None)
    return out


@st.composite
def broken(draw: st.DrawFn) -> Case:
    """A valid event with one thing broken: a field dropped or mistyped, the body not an object, not JSON,
    not UTF-8; with a prediction where one can be made."""
    base: Case = draw(version_writes() | builds())
    payload = base.payload
    type_key = "type" if "specversion" in payload else "eventType"
    how = draw(
        st.sampled_from(
            [
                "drop-type",
                "junk-type",
                "drop-id",
                "junk-id",
                "drop-data",
                "junk-data",
                "junk-subject",
                "junk-time",
                "junk-data-field",
                "spec-version",
                "not-object",
                "not-json",
                "not-utf8",
                "array",
                "deep",
                "random-key",
            ]
        )
    )
    if how == "drop-type":
        return Case(_drop(payload, type_key), "untyped")
    if how == "junk-type":
        value = draw(JUNK.filter(lambda v: not (isinstance(v, str) and v.strip())))
        return Case({**payload, type_key: value}, "untyped")
    if how == "drop-id":
        return Case(_drop(payload, "id"), "malformed")
    if how == "junk-id":
        value = draw(JUNK.filter(lambda v: not (isinstance(v, str) and v.strip())))
        return Case({**payload, "id": value}, "malformed")
    if how == "drop-data":
        return Case(_drop(payload, "data"), "malformed" if base.kind == "version" else "any")
    if how == "junk-data":
        return Case({**payload, "data": draw(JUNK)}, "any")
    if how == "junk-subject":
        return Case({**payload, "subject": draw(JUNK)}, "any")
    if how == "junk-time":
        key = "time" if "specversion" in payload else "eventTime"
        return Case({**payload, key: draw(JUNK)}, "any")
    if how == "junk-data-field":
        data = dict(payload["data"])
        data[draw(st.sampled_from([*sorted(data), "lifetimeDays", "url", "imageVersionId"]))] = draw(JUNK)
        return Case({**payload, "data": data}, "any")
    if how == "spec-version":
        return Case({**payload, "specversion": draw(JUNK)}, "any")
    if how == "not-object":
        return Case(json.dumps(draw(JUNK)), "untyped")
    if how == "not-json":
        text = json.dumps(payload)
        return Case(text[: draw(st.integers(0, max(0, len(text) - 1)))], "untyped")
    if how == "not-utf8":
        return Case(json.dumps(payload).encode()[:20] + b"\xff\xfe\xc3(" + b"}", "untyped")
    if how == "array":
        return Case(json.dumps([payload]), "untyped")
    if how == "deep":
        depth = draw(st.integers(50, 5000))
        return Case(
            json.dumps({**payload, "data": None})[:-1] + ', "x": ' + "[" * depth + "]" * depth + "}", "any"
        )
    key = draw(ODD)
    return Case({**payload, key: draw(JUNK)}, "any")


EVENTS: st.SearchStrategy[Case] = st.one_of(
    version_writes(), builds(), irrelevant(), wrong_resources(), broken(), broken()
)
