"""The sweep's fan-out queue over azure-storage-queue: one message per image definition in scope, and the
poison queue the Functions host moves a message to after `maxDequeueCount` failed tries.

Messages are base64-encoded JSON, the encoding the Functions queue trigger expects by default
(host.json `extensions.queues.messageEncoding`).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlparse

from lifecycle.clients import credential
from lifecycle.gateways.errors import GatewayError
from lifecycle.gateways.storage import parse_blob_url, translate_storage_error
from lifecycle.settings import Settings

POISON_SUFFIX = "-poison"  # the Functions host's name for a queue's poison queue


def queue_account_url(settings: Settings) -> str:
    """The queue endpoint of the account that holds the policy (`<acct>.blob...` -> `<acct>.queue...`)."""
    location = parse_blob_url(settings.config_url)
    parsed = urlparse(location.account_url)
    host = parsed.netloc.replace(".blob.", ".queue.", 1)
    return f"{parsed.scheme}://{host}{parsed.path}"


class FanoutQueue:
    """Send one message per image; read (and remove) what the host gave up on."""

    def __init__(self, settings: Settings, name: str) -> None:
        self._settings = settings
        self.name = name
        self._ready = False

    def _client(self, name: str) -> Any:
        from azure.storage.queue import QueueClient, TextBase64DecodePolicy, TextBase64EncodePolicy

        codec: dict[str, Any] = {
            "message_encode_policy": TextBase64EncodePolicy(),
            "message_decode_policy": TextBase64DecodePolicy(),
        }
        if self._settings.storage_connection_string:
            return QueueClient.from_connection_string(self._settings.storage_connection_string, name, **codec)
        return QueueClient(queue_account_url(self._settings), name, credential=credential(None), **codec)

    def _ensure(self, client: Any) -> None:
        from azure.core.exceptions import ResourceExistsError

        with contextlib.suppress(ResourceExistsError):
            client.create_queue()

    def send(self, messages: Iterable[dict[str, Any]], *, delay_seconds: int = 0) -> int:
        """Enqueue each message, visible after `delay_seconds` (at most 7 days, the service's limit);
        returns how many were sent."""
        sent = 0
        try:
            client = self._client(self.name)
            if not self._ready:
                self._ensure(client)
                self._ready = True
            for message in messages:
                client.send_message(
                    json.dumps(message, sort_keys=True), visibility_timeout=delay_seconds or None
                )
                sent += 1
        except GatewayError:
            raise
        except Exception as exc:
            raise translate_storage_error(exc, f"send to queue {self.name} ({sent} sent)") from exc
        return sent

    def take_poison(self, limit: int = 256) -> list[dict[str, Any]]:
        """Messages the host moved to the poison queue, removed from it (the sweep that reads them enqueues
        their images again). A message that is not our JSON is returned as {"raw": text}."""
        name = self.name + POISON_SUFFIX
        out: list[dict[str, Any]] = []
        try:
            client = self._client(name)
            from azure.core.exceptions import ResourceNotFoundError

            try:
                pages = client.receive_messages(messages_per_page=32, visibility_timeout=60)
                for message in pages:
                    try:
                        body = json.loads(message.content)
                    except (TypeError, ValueError):
                        body = {"raw": str(message.content)[:200]}
                    body = body if isinstance(body, dict) else {"raw": str(body)[:200]}
                    body["dequeue_count"] = message.dequeue_count
                    out.append(body)
                    client.delete_message(message)
                    if len(out) >= limit:
                        break
            except ResourceNotFoundError:
                return []
        except Exception as exc:
            raise translate_storage_error(exc, f"read poison queue {name}") from exc
        return out
