"""What a reconcile is asked to do: the Trigger (sweep, event, policy change, queue message, CLI), and an
operator's approval or revocation it may carry (GateRequest)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lifecycle.events import BuildCompleted
from lifecycle.model import VersionRef


@dataclass(frozen=True)
class GateRequest:
    """An operator's approval (`by`) or revocation (`reason`) of one version; `source` is `cli` or the
    event's source."""

    kind: str  # "approve" | "revoke"
    version: VersionRef
    by: str | None = None
    reason: str | None = None
    source: str | None = "cli"  # "cli", or the event's sender (checked by lifecycle.trust)
    schema: str | None = None  # an event's schema (`eventgrid` or `cloudevents`); None from the CLI


@dataclass(frozen=True)
class Trigger:
    """Why a reconcile runs: `source` is sweep, event, policy, queue or cli; `scope` narrows it to a
    resource."""

    source: str
    scope: str | None = None
    build: BuildCompleted | None = None
    event_id: str | None = None
    gate: GateRequest | None = None
    sweep: str | None = None  # the sweep a fan-out message belongs to (its time): shares reads across images
    # The deadline a delayed wake-up message was sent for (`metadata.await_build_minutes`, reconcile `wake`).
    wake: datetime | None = None
