"""Outgoing lifecycle events: delivery of `Notification`s as CloudEvents 1.0 to an Event Grid topic.

This module owns the two implementations of the publisher interface the engine calls (`EventPublisher`, in
`ports`): `EventGridPublisher` for a configured topic, `NullPublisher` when none is; and the reading of the
LIFECYCLE_EVENTS_* settings. Azure SDK imports stay inside functions: indexing the function app is part of
every cold start, and most invocations publish nothing.

`publish` raises `PublishError` when delivery fails. It never swallows the failure, and it never decides
what the failure means for the run: the executor catches it and records it as the outcome of the
notification, so the actions already applied (and the other notifications) are not lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lifecycle.clients import trust_bundle
from lifecycle.gateways.errors import PublishError
from lifecycle.gateways.ports import EventPublisher
from lifecycle.notifications import SOURCE, Notification

if TYPE_CHECKING:
    from azure.core.credentials import AccessToken, TokenCredential

log = logging.getLogger(__name__)

# Event Grid basic topics take at most 1 MB per request; lifecycle events are small, so a count cap keeps a
# large sweep's batch well under that without measuring payloads.
MAX_EVENTS_PER_REQUEST = 100
# Far enough ahead that the bearer policy never asks a static token to refresh during a run.
_STATIC_TOKEN_LIFETIME = 24 * 3600


class NullPublisher:
    """No events endpoint is configured: log what would have been published, then drop it."""

    def publish(self, notifications: Sequence[Notification]) -> None:
        for notification in notifications:
            log.info(
                "lifecycle event not published (LIFECYCLE_EVENTS_ENDPOINT is not set): %s %s",
                notification.type.value,
                notification.subject,
                extra={"event_type": notification.type.value, "subject": notification.subject},
            )


class _StaticTokenCredential:
    """A fixed bearer token (LIFECYCLE_EVENTS_TOKEN) as a TokenCredential: for the emulator and tests."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        from azure.core.credentials import AccessToken

        now = int(datetime.now(UTC).timestamp())
        return AccessToken(self._token, now + _STATIC_TOKEN_LIFETIME)


class EventGridPublisher:
    """Publishes notifications as CloudEvents 1.0 to an Event Grid topic endpoint.

    Auth, first match wins: an access `key` (aeg-sas-key header); a static bearer `token`; the given
    `credential`; otherwise DefaultAzureCredential (managed identity in Azure), created on first use.
    `ca_bundle` is an extra CA file to trust for the endpoint (the emulator's self-signed CA).
    """

    def __init__(
        self,
        endpoint: str,
        *,
        key: str | None = None,
        token: str | None = None,
        credential: TokenCredential | None = None,
        ca_bundle: str | None = None,
        retry_total: int = 3,
    ) -> None:
        if not endpoint or not endpoint.strip():
            raise ValueError(
                "an Event Grid topic endpoint is required (use NullPublisher when there is none)"
            )
        self.endpoint = endpoint.strip()
        self._key = key or None
        self._token = token or None
        self._credential = credential
        self._ca_bundle = ca_bundle or None
        self._retry_total = retry_total
        self._client: Any = None

    @property
    def auth(self) -> str:
        """Which credential is used: `key`, `token`, `credential` or `default` (for logs and tests)."""
        if self._key:
            return "key"
        if self._token:
            return "token"
        return "credential" if self._credential is not None else "default"

    def publish(self, notifications: Sequence[Notification]) -> None:
        """Send every notification; raise PublishError naming how many were delivered before a failure."""
        if not notifications:
            return
        from azure.core.exceptions import AzureError, HttpResponseError

        client = self._get_client()
        events = [self._to_cloud_event(n) for n in notifications]
        sent = 0
        for start in range(0, len(events), MAX_EVENTS_PER_REQUEST):
            chunk = events[start : start + MAX_EVENTS_PER_REQUEST]
            try:
                client.send(chunk)
            except HttpResponseError as exc:
                reason = f"{exc.status_code} {exc.reason or ''}".rstrip()
                detail = _error_message(exc)
                if detail:
                    reason = f"{reason}: {detail}"
                raise PublishError(
                    f"Event Grid topic {self.endpoint} rejected {len(chunk)} event(s) "
                    f"({sent} of {len(events)} already published): {reason}",
                    code=_error_code(exc),
                    status=exc.status_code,
                ) from exc
            except AzureError as exc:
                # Connection, TLS and credential failures: nothing in this chunk reached the topic.
                raise PublishError(
                    f"could not publish to Event Grid topic {self.endpoint} "
                    f"({sent} of {len(events)} already published): {exc}"
                ) from exc
            sent += len(chunk)
        log.info(
            "published %d lifecycle event(s)",
            sent,
            extra={"endpoint": self.endpoint, "types": sorted({n.type.value for n in notifications})},
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _to_cloud_event(self, notification: Notification) -> Any:
        from azure.core.messaging import CloudEvent

        extra: dict[str, Any] = {"id": notification.id} if notification.id else {}
        return CloudEvent(
            source=SOURCE,
            type=notification.type.value,
            subject=notification.subject,
            data=dict(notification.data),
            time=datetime.now(UTC),
            **extra,
        )

    def _get_client(self) -> Any:
        if self._client is None:
            self._client = self._build_client()
        return self._client

    def _build_client(self) -> Any:
        from azure.core.credentials import AzureKeyCredential
        from azure.core.pipeline.transport import RequestsTransport

        credential: Any
        if self._key:
            credential = AzureKeyCredential(self._key)
        elif self._token:
            credential = _StaticTokenCredential(self._token)
        elif self._credential is not None:
            credential = self._credential
        else:
            from azure.identity import DefaultAzureCredential

            credential = DefaultAzureCredential()
        # The CA bundle goes on a transport this publisher owns, so nothing global (REQUESTS_CA_BUNDLE, the
        # process environment, requests' defaults) changes for the other SDK clients in the same worker.
        transport = (
            RequestsTransport(connection_verify=trust_bundle(self._ca_bundle)) if self._ca_bundle else None
        )
        kwargs: dict[str, Any] = {"retry_total": self._retry_total}
        if transport is not None:
            kwargs["transport"] = transport
        return _basic_topic_client_class()(self.endpoint, credential, **kwargs)


def _basic_topic_client_class() -> Any:
    """The Event Grid publisher client class that honours transport and retry keywords.

    In azure-eventgrid 4.22, `azure.eventgrid.EventGridPublisherClient` for a basic topic (no
    `namespace_topic`) builds `azure.eventgrid._legacy.EventGridPublisherClient(endpoint, credential,
    api_version=...)` and drops every other keyword: `connection_verify`, `transport`, `retry_total` never
    reach the pipeline, so the emulator's CA could only be trusted through REQUESTS_CA_BUNDLE for the whole
    process. Passing `connection_verify` per `send` call does reach the transport, but the SDK also hands it
    to its CloudEvent model, which logs a warning for every event. Building the wrapped class directly, with
    our own transport, is the one way to keep the CA bundle local and quiet. Should a later release move
    that class, the public client is used (production sets no CA bundle, so nothing is lost there).
    """
    try:
        from azure.eventgrid._legacy import EventGridPublisherClient as basic_topic_client
    except ImportError:  # pragma: no cover - depends on the installed SDK
        from azure.eventgrid import EventGridPublisherClient as public_client

        return public_client
    return basic_topic_client


def _error_message(exc: Any) -> str | None:
    """The topic's own words for a refusal (its error body's message), which name what is wrong."""
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    if not isinstance(message, str) or not message:
        response = getattr(exc, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:  # not JSON: nothing more to say than the status
            return None
        message = (body.get("error") or {}).get("message") if isinstance(body, dict) else None
    return message[:300] if isinstance(message, str) and message else None


def _error_code(exc: Any) -> str | None:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else None


def publisher_from_settings(env: Mapping[str, str]) -> EventPublisher:
    """Build the publisher from app settings (PRODUCT.md section 3); no endpoint means NullPublisher."""
    endpoint = (env.get("LIFECYCLE_EVENTS_ENDPOINT") or "").strip()
    if not endpoint:
        return NullPublisher()
    return EventGridPublisher(
        endpoint,
        key=(env.get("LIFECYCLE_EVENTS_KEY") or "").strip() or None,
        # The topic gets its own token, never LIFECYCLE_ARM_TOKEN: a credential for ARM must not be
        # handed to another endpoint (a mis-set LIFECYCLE_EVENTS_ENDPOINT would otherwise receive it).
        token=(env.get("LIFECYCLE_EVENTS_TOKEN") or "").strip() or None,
        ca_bundle=(env.get("LIFECYCLE_ARM_CA_BUNDLE") or "").strip() or None,
    )
