"""Recording of ARM exchanges as vcrpy-style YAML cassettes, scrubbed the way the Azure CLI's recordings are.

`smoke --record DIR` starts a `Recorder`, which registers with the SDK clients' hook policy
(`lifecycle.clients.watch_exchanges`); the hook, which sees every try of every request after
authentication, hands each exchange to it. Nothing is mocked: the
recording is taken from the HTTP pipeline of the real run.

The cassette has the shape of the Azure CLI's recordings (../shared/reference/cli-recordings/*.yaml, written
by vcrpy through azure-cli's `ReplayableTest`):

    interactions:
    - request:
        body: '<request JSON as sent>' | null
        headers: {Header-Name: ['value'], ...}      # as sent, minus the filtered headers
        method: PUT
        uri: https://<endpoint>/subscriptions/00000000-0000-0000-0000-000000000000/...?api-version=...
      response:
        body: {string: '<response text>'}
        headers: {lower-case-name: ['value'], ...}  # minus the filtered headers
        status: {code: 201, message: Created}
    version: 1

Scrubbing (what azure-cli's scenario_tests do, plus a few stricter rules):
- headers in FILTER_HEADERS are dropped, as `ReplayableTest.FILTER_HEADERS` drops them (the
  `Authorization` header among them);
- the subscription id becomes `00000000-0000-0000-0000-000000000000` (`MOCKED_SUBSCRIPTION_ID`), and so do
  tenant ids (`MOCKED_TENANT_ID`, the same zero GUID). The CLI only rewrites `/subscriptions/<guid>`; here the
  GUID is replaced wherever it appears (a gallery's `identifier.uniqueName` embeds it);
- tenant ids found in the token (`tid`), `tenantId=<guid>` (`x-ms-operation-identifier`), `"tenantId":
  "<guid>"` and the principal's object id (`oid`, `objectId=<guid>`) become the zero GUID; the principal's
  sign-in name becomes `example@example.com` (azure-cli's `MOCKED_USER_NAME`);
- bearer tokens (any JWT) and `access_token`/`accessToken`/`refresh_token` values become `fake_token`
  (azure-cli's `AccessTokenReplacer`);
- signatures in query strings (storage SAS `sig`, user-delegation `skoid`/`sktid`, and the `s`/`h`
  signature of ARM's signed operation URLs) become `REDACTED`.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lifecycle.clients import unwatch_exchanges, watch_exchanges

ZERO_GUID = "00000000-0000-0000-0000-000000000000"
MOCKED_USER_NAME = "example@example.com"
FAKE_TOKEN = "fake_token"
REDACTED = "REDACTED"

# azure-cli's ReplayableTest.FILTER_HEADERS (src/azure-cli-testsdk/azure/cli/testsdk/scenario_tests/base.py).
FILTER_HEADERS = frozenset(
    {
        "authorization",
        "client-request-id",
        "retry-after",
        "x-ms-client-request-id",
        "x-ms-correlation-request-id",
        "x-ms-ratelimit-remaining-subscription-reads",
        "x-ms-request-id",
        "x-ms-routing-request-id",
        "x-ms-gateway-service-instanceid",
        "x-ms-ratelimit-remaining-tenant-reads",
        "x-ms-served-by",
    }
)

_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]+\.eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*")
_TOKEN_FIELDS = re.compile(r'("(?:access_token|accessToken|refresh_token)"\s*:\s*")[^"]*(")')
_TENANT_FIELDS = re.compile(rf'(?:tenantId=|"tenantId"\s*:\s*"|objectId=|"objectId"\s*:\s*")({_GUID})')
_SIGNATURES = re.compile(r"([?&](?:sig|skoid|sktid|s|h)=)[^&\"'\s]+")
_ANY_SUBSCRIPTION = re.compile(rf"(/subscriptions/){_GUID}", re.IGNORECASE)


@dataclass
class Scrubber:
    """Replaces the identifying values of one run. `subscription` is the run's subscription id; the token's
    tenant, object id and sign-in name are learnt from the first Authorization header seen."""

    subscription: str
    secrets: dict[str, str] = field(default_factory=dict)  # value -> replacement

    def learn_token(self, authorization: str | None) -> None:
        """Take the tenant, object id and sign-in name from a bearer token's claims (not verified: they
        are only used to find these values in the traffic)."""
        if not authorization or not authorization.lower().startswith("bearer "):
            return
        token = authorization.split(" ", 1)[1].strip()
        self.secrets.setdefault(token, FAKE_TOKEN)
        claims = _claims(token)
        for key in ("tid", "oid"):
            value = claims.get(key)
            if isinstance(value, str) and re.fullmatch(_GUID, value):
                self.secrets.setdefault(value.lower(), ZERO_GUID)
        for key in ("upn", "unique_name", "preferred_username", "email"):
            value = claims.get(key)
            if isinstance(value, str) and value:
                self.secrets.setdefault(value, MOCKED_USER_NAME)

    def text(self, value: str) -> str:
        if not value:
            return value
        for found in _TENANT_FIELDS.findall(value):
            self.secrets.setdefault(found.lower(), ZERO_GUID)
        value = _JWT.sub(FAKE_TOKEN, value)
        value = _TOKEN_FIELDS.sub(rf"\g<1>{FAKE_TOKEN}\g<2>", value)
        value = _SIGNATURES.sub(rf"\g<1>{REDACTED}", value)
        value = _ANY_SUBSCRIPTION.sub(rf"\g<1>{ZERO_GUID}", value)
        for secret, replacement in [(self.subscription, ZERO_GUID), *self.secrets.items()]:
            if secret:
                value = re.sub(re.escape(secret), replacement, value, flags=re.IGNORECASE)
        return value

    def headers(self, headers: Iterable[tuple[str, str]], *, lower: bool) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for name, value in headers:
            if name.lower() in FILTER_HEADERS:
                continue
            out.setdefault(name.lower() if lower else name, []).append(self.text(str(value)))
        return out


def _claims(token: str) -> dict[str, Any]:
    parts = token.split(".")
    if len(parts) < 2:
        return {}
    try:
        payload = base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4))
        claims = json.loads(payload)
    except ValueError:
        return {}
    return claims if isinstance(claims, dict) else {}


@dataclass(frozen=True)
class Exchange:
    """One request and its answer, as the pipeline saw them (before scrubbing)."""

    method: str
    uri: str
    request_headers: tuple[tuple[str, str], ...]
    request_body: str | None
    status: int
    reason: str
    response_headers: tuple[tuple[str, str], ...]
    response_body: str


def interaction(exchange: Exchange, scrubber: Scrubber) -> dict[str, Any]:
    """The cassette entry of one exchange, scrubbed (pure: no I/O)."""
    authorization = next((v for k, v in exchange.request_headers if k.lower() == "authorization"), None)
    scrubber.learn_token(authorization)
    body = exchange.request_body
    return {
        "request": {
            "body": scrubber.text(body) if body else None,
            "headers": scrubber.headers(exchange.request_headers, lower=False),
            "method": exchange.method,
            "uri": scrubber.text(exchange.uri),
        },
        "response": {
            "body": {"string": scrubber.text(exchange.response_body)},
            "headers": scrubber.headers(exchange.response_headers, lower=True),
            "status": {"code": exchange.status, "message": exchange.reason},
        },
    }


def cassette_text(interactions: list[dict[str, Any]]) -> str:
    """The YAML document vcrpy writes: `interactions` then `version: 1`."""
    return yaml.safe_dump(
        {"interactions": interactions, "version": 1}, default_flow_style=False, allow_unicode=True, width=1000
    )


class Recorder:
    """Collects the exchanges of one run and writes them as one cassette."""

    def __init__(self, path: Path, subscription: str) -> None:
        self.path = path
        self._scrubber = Scrubber(subscription.lower())
        self._interactions: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def add(self, exchange: Exchange) -> None:
        with self._lock:
            self._interactions.append(interaction(exchange, self._scrubber))

    def __len__(self) -> int:
        return len(self._interactions)

    def write(self) -> Path:
        with self._lock:
            text = cassette_text(list(self._interactions))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(self.path)
        return self.path


_active: Recorder | None = None
_active_lock = threading.Lock()


def start(path: Path, subscription: str) -> Recorder:
    """Record every ARM exchange of this process from now on into `path`."""
    global _active
    with _active_lock:
        _active = Recorder(path, subscription)
        watch_exchanges(observe)
        return _active


def stop() -> Path | None:
    """Stop recording and write the cassette; its path, or None when nothing was recording."""
    global _active
    with _active_lock:
        recorder, _active = _active, None
        unwatch_exchanges(observe)
    return recorder.write() if recorder is not None else None


def observe(request: Any, response: Any) -> None:
    """Called by the SDK pipeline for every try while recording (azure-core HttpRequest and HttpResponse)."""
    recorder = _active
    if recorder is None:
        return
    recorder.add(
        Exchange(
            method=str(request.method),
            uri=str(request.url),
            request_headers=tuple((str(k), str(v)) for k, v in request.headers.items()),
            request_body=_body_text(getattr(request, "body", None)),
            status=int(response.status_code),
            reason=str(getattr(response, "reason", "") or ""),
            response_headers=tuple((str(k), str(v)) for k, v in response.headers.items()),
            response_body=_response_text(response),
        )
    )


def _body_text(body: Any) -> str | None:
    if body is None:
        return None
    if isinstance(body, bytes | bytearray):
        return bytes(body).decode("utf-8", errors="replace")
    if isinstance(body, str):
        return body
    if isinstance(body, Mapping | list):
        return json.dumps(body)
    return None


def _response_text(response: Any) -> str:
    """The answer's text. The first answer of a long-running operation is streamed (the SDK reads it
    after the pipeline): reading it here keeps it for the SDK, which then reads the loaded content."""
    try:
        read = getattr(response, "read", None)
        if callable(read):
            read()
        return str(response.text() or "")
    except Exception:  # an undecodable body is recorded as empty, never breaks the run
        return ""
