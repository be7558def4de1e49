"""The two error kinds everything above the gateways understands: temporary (retry later) and permanent.

Gateways translate Azure SDK exceptions into these so the engine never sees azure.* exception types.
"""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """A failed call to Azure. `code` is ARM's error code when there is one."""

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class RetryableError(GatewayError):
    """Throttling (429), server errors (5xx), timeouts, dropped connections, busy resources (409 while
    an operation runs): the same call may succeed later. `retry_after` is in seconds."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retry_after = retry_after


class PermanentError(GatewayError):
    """A request Azure rejected for good (4xx other than throttling): retrying will not help."""


class NotFoundError(PermanentError):
    """The resource does not exist (404)."""


class PublishError(GatewayError):
    """Outgoing events could not be delivered."""


class PreconditionFailed(GatewayError):
    """An ETag condition failed: someone else changed the blob first."""
