"""Azure Image Builder over azure-mgmt-imagebuilder: read a template's last run status and start a run.

A run takes from minutes to hours; it is started here and never awaited (no poller is kept): later sweeps
read `properties.lastRunStatus` through `last_run`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lifecycle.clients import imagebuilder_client
from lifecycle.gateways.arm import arm_call, wire
from lifecycle.gateways.errors import PermanentError, RetryableError
from lifecycle.model import RunObservation, parse_time
from lifecycle.settings import Settings

if TYPE_CHECKING:
    from azure.mgmt.imagebuilder import ImageBuilderClient

log = logging.getLogger(__name__)

_TEMPLATE_ID = re.compile(
    r"^/subscriptions/(?P<sub>[^/]+)/resourceGroups/(?P<rg>[^/]+)"
    r"/providers/Microsoft\.VirtualMachineImages/imageTemplates/(?P<name>[^/]+)/?$",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TemplateRef:
    subscription: str
    resource_group: str
    name: str

    @classmethod
    def parse(cls, template_id: str) -> TemplateRef:
        match = _TEMPLATE_ID.match(template_id.strip())
        if not match:
            raise PermanentError(
                f"not an Image Builder template id: {template_id!r}", code="InvalidResourceId"
            )
        return cls(match["sub"], match["rg"], match["name"])


def run_from_arm(body: Mapping[str, Any]) -> RunObservation:
    """`properties.lastRunStatus` of an image template body (wire JSON); no status = never ran."""
    status = (body.get("properties") or {}).get("lastRunStatus") or {}
    if not status.get("runState"):
        return RunObservation(state=None)

    def when(key: str) -> Any:
        value = status.get(key)
        # ARM writes "0001-01-01T00:00:00Z" for an end time that has not happened yet.
        if not value or str(value).startswith("0001-"):
            return None
        return parse_time(str(value))

    return RunObservation(
        state=str(status["runState"]),
        started=when("startTime"),
        ended=when("endTime"),
        message=status.get("message") or None,
        sub_state=status.get("runSubState") or None,
    )


class ImageBuilderGateway:
    """Image Builder templates named by resource id, in any subscription the credential can reach."""

    def __init__(self, settings: Settings, client: ImageBuilderClient | None = None) -> None:
        self._settings = settings
        self._injected = client

    def _client(self, subscription: str) -> ImageBuilderClient:
        return self._injected or imagebuilder_client(self._settings, subscription)

    def last_run(self, template_id: str) -> RunObservation:
        """The template's last run status. A missing template raises NotFoundError naming it."""
        ref = TemplateRef.parse(template_id)
        templates = self._client(ref.subscription).virtual_machine_image_templates
        with arm_call(f"read image template {template_id}"):
            body = wire(templates.get(ref.resource_group, ref.name))
        return run_from_arm(body)

    def start_run(self, template_id: str) -> None:
        """Start a run and return once Image Builder accepted it (202); the run is not awaited."""
        ref = TemplateRef.parse(template_id)
        try:
            with arm_call(f"start a run of image template {template_id}"):
                # polling=False: the SDK would otherwise keep a thread polling for the hours a build takes.
                templates = self._client(ref.subscription).virtual_machine_image_templates
                templates.begin_run(ref.resource_group, ref.name, polling=False)
        except PermanentError as exc:
            if exc.status == 409:
                # Image Builder answers 409 while the template is running (or being updated): that run's
                # outcome is read on the next sweep, and a new run may start after it.
                raise RetryableError(str(exc), code=exc.code, status=exc.status) from exc
            raise
        log.info("image builder run started", extra={"template": template_id})
