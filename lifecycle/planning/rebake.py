"""Rebakes: when an image is due for a rebuild (cron schedule, staleness), and the back-off after failed
runs. Pure: the Image Builder run status comes in as an observation."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lifecycle.actions import Action
from lifecycle.model import ObservedImage
from lifecycle.notifications import Notification
from lifecycle.planning.types import RebakeReport
from lifecycle.policy import Rebake
from lifecycle.state import RebakeState


@dataclass(frozen=True)
class RunObservation:
    """The template's `lastRunStatus` as Image Builder reports it."""

    state: str | None  # Running | Succeeded | Failed | Canceled | PartiallySucceeded | None (never ran)
    started: datetime | None = None
    ended: datetime | None = None
    message: str | None = None


@dataclass(frozen=True)
class RebakeDecision:
    actions: tuple[Action, ...] = ()
    notifications: tuple[Notification, ...] = ()
    state: RebakeState = field(default_factory=RebakeState)
    report: RebakeReport | None = None


def plan_rebake(
    policy: Rebake,
    image: ObservedImage,
    state: RebakeState,
    now: datetime,
    *,
    policy_digest: str,
    run: RunObservation | None = None,
) -> RebakeDecision:
    """Not yet scheduling anything: rebakes are off until this is filled in."""
    return RebakeDecision(state=state)
