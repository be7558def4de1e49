"""Translation of Azure SDK failures into the engine's two error kinds (see `errors`)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from typing import Any

from lifecycle.gateways.errors import GatewayError, NotFoundError, PermanentError, RetryableError

# ARM codes that mean "the resource is busy with another operation": retry on the next sweep.
_BUSY_CODES = {"operationnotallowed", "conflict", "anotheroperationinprogress", "resourcebusy"}


def wire(model: Any) -> Any:
    """The JSON body of an SDK model as plain dicts and lists (the models are mappings over the wire JSON)."""
    if isinstance(model, Mapping):
        return {k: wire(v) for k, v in model.items()}
    if isinstance(model, list):
        return [wire(v) for v in model]
    return model


def translate(exc: BaseException, what: str) -> GatewayError:
    """An SDK or transport exception as RetryableError or PermanentError, with ARM's code and message."""
    from azure.core.exceptions import (
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    if isinstance(exc, ServiceRequestError | ServiceResponseError | ConnectionError | TimeoutError):
        return RetryableError(f"{what}: connection failed ({exc.__class__.__name__}: {exc})")
    if isinstance(exc, ClientAuthenticationError):
        return PermanentError(f"{what}: authentication failed: {_message(exc)}", code="AuthenticationFailed")
    if isinstance(exc, HttpResponseError):
        status = exc.status_code or 0
        code = _code(exc)
        message = f"{what}: ARM answered {status} {code or ''}: {_message(exc)}".replace("  ", " ")
        if isinstance(exc, ResourceNotFoundError) or status == 404:
            return NotFoundError(message, code=code, status=status)
        if status == 429 or status >= 500 or status == 408:
            return RetryableError(message, code=code, status=status, retry_after=_retry_after(exc))
        if status == 409 and (code or "").lower() in _BUSY_CODES:
            return RetryableError(message, code=code, status=status)
        return PermanentError(message, code=code, status=status)
    return PermanentError(f"{what}: {exc.__class__.__name__}: {exc}")


@contextlib.contextmanager
def arm_call(what: str) -> Iterator[None]:
    """Run SDK calls; re-raise their failures as the engine's error kinds."""
    try:
        yield
    except GatewayError:
        raise
    except Exception as exc:  # every SDK failure becomes one of two kinds, never leaks upward
        raise translate(exc, what) from exc


def _code(exc: object) -> str | None:
    error = getattr(exc, "error", None)
    code = getattr(error, "code", None)
    if code:
        return str(code)
    response = getattr(exc, "response", None)
    try:
        body = response.json() if response is not None else None
    except Exception:  # a body that is not JSON has no code
        body = None
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        value = body["error"].get("code")
        return str(value) if value else None
    return None


def _message(exc: object) -> str:
    error = getattr(exc, "error", None)
    message = getattr(error, "message", None)
    if message:
        return str(message)
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__


def _retry_after(exc: object) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
