"""Outgoing lifecycle events through the real azure-eventgrid client, over HTTPS, to the ARM emulator's
Event Grid topic (`POST /api/events`), which records what it receives."""

from __future__ import annotations

import logging
import os
from typing import Any

import pytest

from lifecycle.gateways.errors import PublishError
from lifecycle.gateways.publisher import (
    MAX_EVENTS_PER_REQUEST,
    EventGridPublisher,
    NullPublisher,
    publisher_from_settings,
)
from lifecycle.notifications import SOURCE, Notification, NotificationType
from tests.harness.services import Emulator, free_port

pytestmark = pytest.mark.integration

VERSION_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-images/providers/"
    "Microsoft.Compute/galleries/galPlatform/images/ubuntu-24.04/versions/1.0.0"
)


def topic(emulator: Emulator) -> str:
    return f"{emulator.endpoint}/api/events"


def notifications() -> list[Notification]:
    return [
        Notification(NotificationType.VERSION_REPLICATED, VERSION_ID, {"regions": ["eastus", "westeurope"]}),
        Notification(NotificationType.VERSION_EXPIRED, VERSION_ID, {"endOfLife": "2026-04-05T00:00:00Z"}),
    ]


def received(emulator: Emulator) -> list[dict[str, Any]]:
    """The CloudEvents the topic recorded (unwrapped if the emulator stores them with request details)."""
    out: list[dict[str, Any]] = []
    for record in emulator.events():
        event = record.get("event", record) if isinstance(record, dict) else record
        out.append(event)
    return out


def assert_cloud_events(events: list[dict[str, Any]], sent: list[Notification]) -> None:
    assert [(e["type"], e["subject"], e["data"]) for e in events] == [
        (n.type.value, n.subject, dict(n.data)) for n in sent
    ]
    for event in events:
        assert event["specversion"] == "1.0"
        assert event["source"] == SOURCE
        assert event["id"]
        assert event["time"]
    assert len({e["id"] for e in events}) == len(events)


def test_key_auth_delivers_cloud_events(emulator: Emulator) -> None:
    publisher = EventGridPublisher(topic(emulator), key="emulator-topic-key", ca_bundle=emulator.ca_bundle)
    assert publisher.auth == "key"

    publisher.publish(notifications())

    assert_cloud_events(received(emulator), notifications())


def test_bearer_token_from_settings_delivers(emulator: Emulator) -> None:
    publisher = publisher_from_settings(
        {
            "LIFECYCLE_EVENTS_ENDPOINT": topic(emulator),
            "LIFECYCLE_EVENTS_TOKEN": "events-token",
            "LIFECYCLE_ARM_TOKEN": "arm-token",
            "LIFECYCLE_ARM_CA_BUNDLE": emulator.ca_bundle,
        }
    )
    assert isinstance(publisher, EventGridPublisher)
    assert publisher.auth == "token"

    publisher.publish(notifications())

    assert_cloud_events(received(emulator), notifications())
    assert {r["authorization"] for r in emulator.event_requests()} == {"Bearer events-token"}


def test_the_arm_token_never_reaches_the_events_endpoint(emulator: Emulator) -> None:
    publisher = publisher_from_settings(
        {
            "LIFECYCLE_EVENTS_ENDPOINT": topic(emulator),
            "LIFECYCLE_ARM_TOKEN": "arm-token",
            "LIFECYCLE_ARM_CA_BUNDLE": emulator.ca_bundle,
        }
    )
    assert isinstance(publisher, EventGridPublisher)
    # Without a key or an events token the topic is reached with managed identity, not the ARM token.
    assert publisher.auth == "default"


def test_key_wins_over_token_in_settings(emulator: Emulator) -> None:
    publisher = publisher_from_settings(
        {
            "LIFECYCLE_EVENTS_ENDPOINT": topic(emulator),
            "LIFECYCLE_EVENTS_KEY": "emulator-topic-key",
            "LIFECYCLE_EVENTS_TOKEN": "events-token",
            "LIFECYCLE_ARM_CA_BUNDLE": emulator.ca_bundle,
        }
    )
    assert isinstance(publisher, EventGridPublisher)
    assert publisher.auth == "key"
    publisher.publish(notifications()[:1])
    assert len(received(emulator)) == 1


def test_ca_bundle_stays_local_to_the_publisher(emulator: Emulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # Trusting the emulator's CA must not leak into the process (other SDK clients, other tests)...
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"):
        monkeypatch.delenv(name, raising=False)
    before = dict(os.environ)
    EventGridPublisher(topic(emulator), token="emulator-token", ca_bundle=emulator.ca_bundle).publish(
        notifications()
    )
    assert dict(os.environ) == before

    # ...so a publisher without the bundle does not trust the emulator's self-signed certificate.
    untrusting = EventGridPublisher(topic(emulator), token="emulator-token", retry_total=0)
    with pytest.raises(PublishError, match="could not publish") as info:
        untrusting.publish(notifications())
    assert "0 of 2 already published" in str(info.value)
    assert len(received(emulator)) == 2


def test_large_batches_are_split_and_all_delivered(emulator: Emulator) -> None:
    many = [
        Notification(NotificationType.VERSION_DELETED, VERSION_ID.replace("1.0.0", f"1.0.{i}"), {"n": i})
        for i in range(MAX_EVENTS_PER_REQUEST + 20)
    ]
    EventGridPublisher(topic(emulator), key="emulator-topic-key", ca_bundle=emulator.ca_bundle).publish(many)
    assert_cloud_events(received(emulator), many)


def test_rejected_request_raises_publish_error_with_status(emulator: Emulator) -> None:
    publisher = EventGridPublisher(
        f"{emulator.endpoint}/api/no-such-topic",
        key="emulator-topic-key",
        ca_bundle=emulator.ca_bundle,
        retry_total=0,
    )
    with pytest.raises(PublishError) as info:
        publisher.publish(notifications())
    assert info.value.status is not None
    assert 400 <= info.value.status < 500
    assert received(emulator) == []


def test_unreachable_endpoint_raises_publish_error() -> None:
    publisher = EventGridPublisher(f"https://127.0.0.1:{free_port()}/api/events", key="k", retry_total=0)
    with pytest.raises(PublishError, match="could not publish"):
        publisher.publish(notifications())


def test_nothing_to_publish_makes_no_request() -> None:
    # An unreachable endpoint would raise if a request were made.
    EventGridPublisher(f"https://127.0.0.1:{free_port()}/api/events", key="k", retry_total=0).publish([])


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"LIFECYCLE_EVENTS_ENDPOINT": ""},
        {"LIFECYCLE_EVENTS_ENDPOINT": "   ", "LIFECYCLE_EVENTS_KEY": "k"},
    ],
    ids=["unset", "empty", "blank"],
)
def test_no_endpoint_gives_null_publisher(env: dict[str, str], caplog: pytest.LogCaptureFixture) -> None:
    publisher = publisher_from_settings(env)
    assert isinstance(publisher, NullPublisher)

    with caplog.at_level(logging.INFO, logger="lifecycle.gateways.publisher"):
        publisher.publish(notifications())

    logged = [r for r in caplog.records if r.name == "lifecycle.gateways.publisher"]
    assert [getattr(r, "event_type", None) for r in logged] == [n.type.value for n in notifications()]
    assert all("not published" in r.getMessage() for r in logged)


def test_endpoint_is_required() -> None:
    with pytest.raises(ValueError, match="endpoint is required"):
        EventGridPublisher(" ", key="k")


def test_default_credential_when_no_key_or_token() -> None:
    publisher = publisher_from_settings(
        {"LIFECYCLE_EVENTS_ENDPOINT": "https://topic.eastus-1.eventgrid.azure.net/api/events"}
    )
    assert isinstance(publisher, EventGridPublisher)
    assert publisher.auth == "default"


class _Credential:
    """A TokenCredential as DefaultAzureCredential would be, with a fixed token."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.scopes: list[tuple[str, ...]] = []

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        self.scopes.append(scopes)
        return AccessToken(self.token, 4102444800)


def test_token_credential_is_asked_for_the_event_grid_scope(emulator: Emulator) -> None:
    credential = _Credential("managed-identity-token")
    publisher = EventGridPublisher(topic(emulator), credential=credential, ca_bundle=emulator.ca_bundle)
    assert publisher.auth == "credential"

    publisher.publish(notifications())

    assert credential.scopes == [("https://eventgrid.azure.net/.default",)]
    assert_cloud_events(received(emulator), notifications())


def test_unauthorized_publish_raises_publish_error_401(emulator: Emulator) -> None:
    publisher = EventGridPublisher(
        topic(emulator),
        credential=_Credential(" "),
        ca_bundle=emulator.ca_bundle,
        retry_total=0,
    )
    with pytest.raises(PublishError) as info:
        publisher.publish(notifications())
    assert info.value.status == 401
    assert "0 of 2 already published" in str(info.value)
    assert received(emulator) == []
