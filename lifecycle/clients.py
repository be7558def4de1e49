"""Credentials and Azure SDK clients, built once per process with one retry policy.

Imports of the SDKs happen inside the functions: indexing the function app must stay cheap.
"""

from __future__ import annotations

import functools
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lifecycle.settings import Settings

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential
    from azure.mgmt.compute import ComputeManagementClient
    from azure.mgmt.imagebuilder import ImageBuilderClient

ARM_SCOPE_SUFFIX = "/.default"


class StaticTokenCredential:
    """A fixed bearer token (LIFECYCLE_ARM_TOKEN): for the emulator and tests only."""

    def __init__(self, token: str) -> None:
        self._token = token

    def get_token(self, *scopes: str, **kwargs: Any) -> Any:
        from azure.core.credentials import AccessToken

        return AccessToken(self._token, 4102444800)

    def get_token_info(self, *scopes: str, options: Any = None) -> Any:
        from azure.core.credentials import AccessTokenInfo

        return AccessTokenInfo(self._token, 4102444800)


@functools.lru_cache(maxsize=4)
def credential(token: str | None) -> TokenCredential:
    if token:
        return StaticTokenCredential(token)
    from azure.identity import DefaultAzureCredential

    return DefaultAzureCredential()


@functools.lru_cache(maxsize=8)
def trust_bundle(extra: str) -> str:
    """A CA file trusting the public roots plus `extra`: the extra CA is added to, not instead of, them."""
    import certifi

    content = Path(certifi.where()).read_bytes() + b"\n" + Path(extra).read_bytes()
    digest = hashlib.sha256(content).hexdigest()[:16]
    path = Path(tempfile.gettempdir()) / f"lifecycle-ca-{digest}.pem"
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_bytes(content)
        tmp.replace(path)
    return str(path)


def _retry_policy(settings: Settings, **options: Any) -> Any:
    """azure-core's RetryPolicy, which sleeps for a 429's whole Retry-After, with that sleep capped: an
    answer asking to wait longer than `retry_after_max_seconds` (Compute asks for minutes) is not retried
    inside the invocation; it surfaces as a retryable error and the work is deferred to a later run."""
    from azure.core.pipeline.policies import RetryPolicy

    cap = settings.retry_after_max_seconds

    class CappedRetryPolicy(RetryPolicy):
        def is_retry(self, retry_settings: Any, response: Any) -> bool:
            wait = self.get_retry_after(response)
            if wait is not None and wait > cap:
                return False
            return bool(super().is_retry(retry_settings, response))

    return CappedRetryPolicy(**options)


# Who else sees every exchange (azure-core HttpRequest, HttpResponse): the recorder of `smoke --record`
# while it runs (lifecycle/gateways/recording.py registers itself, so this module needs no gateway).
_exchange_watchers: list[Callable[[Any, Any], None]] = []


def watch_exchanges(watcher: Callable[[Any, Any], None]) -> None:
    if watcher not in _exchange_watchers:
        _exchange_watchers.append(watcher)


def unwatch_exchanges(watcher: Callable[[Any, Any], None]) -> None:
    if watcher in _exchange_watchers:
        _exchange_watchers.remove(watcher)


def _rate_limit_hook() -> Any:
    """Feeds every answer's rate-limit headers (each try, 429s included) to the run's write budget, and
    every exchange to the watchers (the recorder, when `smoke --record` runs one). It sits after the
    authentication policy, so it sees each request as it goes on the wire."""
    from azure.core.pipeline.policies import SansIOHTTPPolicy

    from lifecycle.budget import observe_answer

    class RateLimitObserver(SansIOHTTPPolicy):
        def on_response(self, request: Any, response: Any) -> None:
            http = response.http_response
            observe_answer(str(request.http_request.url), int(http.status_code), http.headers)
            for watcher in tuple(_exchange_watchers):
                watcher(request.http_request, http)

    return RateLimitObserver()


def _sdk_options(settings: Settings) -> dict[str, Any]:
    """The one retry policy: ARM's retry honours Retry-After on 429 (up to a cap) and backs off on 5xx."""
    retry = {"retry_total": settings.arm_retry_total, "retry_backoff_factor": 0.5, "retry_backoff_max": 30}
    options: dict[str, Any] = {
        **retry,
        "retry_policy": _retry_policy(settings, **retry),
        # The client places its custom hook policy after the retry policy, so it sees every try.
        "custom_hook_policy": _rate_limit_hook(),
        "credential_scopes": [_audience(settings.arm_endpoint) + ARM_SCOPE_SUFFIX],
        "polling_interval": 5,
    }
    if settings.arm_ca_bundle:
        options["connection_verify"] = trust_bundle(settings.arm_ca_bundle)
    return options


def _audience(endpoint: str) -> str:
    if endpoint.rstrip("/") in {"https://management.azure.com", "https://management.core.windows.net"}:
        return "https://management.azure.com"
    if "127.0.0.1" in endpoint or "localhost" in endpoint:
        return "https://management.azure.com"
    return endpoint.rstrip("/")


@functools.lru_cache(maxsize=128)
def _arm_client(kind: str, settings: Settings, subscription: str) -> Any:
    """One client per (kind, subscription), shared by every invocation of the process."""
    client_class: Any
    if kind == "compute":
        from azure.mgmt.compute import ComputeManagementClient as client_class
    else:
        from azure.mgmt.imagebuilder import ImageBuilderClient as client_class
    return client_class(
        credential(settings.arm_token), subscription, base_url=settings.arm_endpoint, **_sdk_options(settings)
    )


def compute_client(settings: Settings, subscription: str) -> ComputeManagementClient:
    client: ComputeManagementClient = _arm_client("compute", settings, subscription.lower())
    return client


def imagebuilder_client(settings: Settings, subscription: str) -> ImageBuilderClient:
    client: ImageBuilderClient = _arm_client("imagebuilder", settings, subscription.lower())
    return client
