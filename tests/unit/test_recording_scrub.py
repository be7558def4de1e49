"""Scrubbing of recorded ARM exchanges (pure: no I/O): what a cassette keeps and what it replaces, the way
the Azure CLI's recordings do (filtered headers, zero GUIDs for subscription and tenant, fake tokens)."""

from __future__ import annotations

import base64
import json

import yaml

from lifecycle.gateways.recording import (
    FAKE_TOKEN,
    MOCKED_USER_NAME,
    REDACTED,
    ZERO_GUID,
    Exchange,
    Scrubber,
    cassette_text,
    interaction,
)

SUB = "3f2b8c1e-5d4a-4e6b-9a7c-1d2e3f4a5b6c"
TENANT = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
OTHER_TENANT = "12345678-90ab-4cde-8f01-23456789abcd"
OID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


def _token() -> str:
    def part(value: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part({'tid': TENANT, 'oid': OID, 'upn': 'ops@contoso.example'})}.sig"


def _exchange() -> Exchange:
    gallery = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/galleries/g"
    operation = (
        f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westeurope/"
        "capsOperations/abc?api-version=2026-03-03&t=639128620019988794&c=MIIcert&s=SIGNATURE&h=HASH"
    )
    body = {
        "id": gallery,
        "properties": {"identifier": {"uniqueName": f"{SUB}-G"}},
        "identity": {"tenantId": OTHER_TENANT},
        "accessSAS": "https://md-x.blob.core.windows.net/abcd/abcd?sv=2018-03-28&sr=b&si=x&sig=SECRETSIG%3D",
        "access_token": "opaque-token-value",
    }
    return Exchange(
        method="PUT",
        uri=f"https://management.azure.com{gallery}?api-version=2026-03-03",
        request_headers=(
            ("Authorization", f"Bearer {_token()}"),
            ("x-ms-client-request-id", "client-id"),
            ("Content-Type", "application/json"),
        ),
        request_body=json.dumps({"location": "westeurope"}),
        status=201,
        reason="Created",
        response_headers=(
            ("Azure-AsyncOperation", operation),
            ("x-ms-request-id", "request-id"),
            ("x-ms-operation-identifier", f"tenantId={TENANT},objectId={OID}/westeurope/abc"),
            ("Content-Type", "application/json; charset=utf-8"),
        ),
        response_body=json.dumps(body)
        + f" The client 'ops@contoso.example' with object id '{OID}' does not have authorization",
    )


def test_interaction_has_the_vcrpy_shape() -> None:
    entry = interaction(_exchange(), Scrubber(SUB))
    assert set(entry) == {"request", "response"}
    assert set(entry["request"]) == {"body", "headers", "method", "uri"}
    assert entry["request"]["headers"] == {"Content-Type": ["application/json"]}
    assert entry["response"]["status"] == {"code": 201, "message": "Created"}
    assert set(entry["response"]["headers"]) == {
        "azure-asyncoperation",
        "x-ms-operation-identifier",
        "content-type",
    }
    assert entry["response"]["body"]["string"].startswith("{")


def test_identifying_values_and_secrets_are_replaced() -> None:
    entry = interaction(_exchange(), Scrubber(SUB))
    text = json.dumps(entry)
    for secret in (SUB, TENANT, OTHER_TENANT, OID, "ops@contoso.example", _token(), "SECRETSIG", "SIGNATURE"):
        assert secret not in text, secret
    assert "opaque-token-value" not in text and f'\\"access_token\\": \\"{FAKE_TOKEN}\\"' in text
    assert entry["request"]["uri"].startswith(f"https://management.azure.com/subscriptions/{ZERO_GUID}/")
    assert f"{ZERO_GUID}-G" in entry["response"]["body"]["string"]  # the gallery's uniqueName embeds it
    assert entry["response"]["headers"]["x-ms-operation-identifier"] == [
        f"tenantId={ZERO_GUID},objectId={ZERO_GUID}/westeurope/abc"
    ]
    operation = entry["response"]["headers"]["azure-asyncoperation"][0]
    assert f"&s={REDACTED}&h={REDACTED}" in operation and "api-version=2026-03-03" in operation
    assert f"sig={REDACTED}" in entry["response"]["body"]["string"]
    assert MOCKED_USER_NAME in entry["response"]["body"]["string"]


def test_cassette_text_is_interactions_then_version() -> None:
    text = cassette_text([interaction(_exchange(), Scrubber(SUB))])
    assert text.startswith("interactions:\n- request:\n")
    assert text.rstrip().endswith("version: 1")
    assert yaml.safe_load(text)["interactions"][0]["request"]["method"] == "PUT"


def test_a_body_without_identifiers_is_kept_as_sent() -> None:
    body = '{"location": "westeurope", "properties": {"osType": "Linux"}}'
    assert Scrubber(SUB).text(body) == body
