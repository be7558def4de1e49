"""The planner: a pure function of (policy, observed image, remembered state, now) -> actions.

This package face only hands names on; each concern lives in its own module: `image` composes one
image's plan, `version` plans one version, `tagging`, `awaiting_build`, `sizing`, `writes` (one
constructor per write), `after_writes` (the state once the writes ended), and the gates, healing,
retention, rebake, replication, quarantine, latest, consumers, demand and shrink rules.
"""

from __future__ import annotations

from lifecycle.planning.awaiting_build import PENDING_BUILD_TTL, STATE_AWAITING_BUILD
from lifecycle.planning.image import needs_replication_status, plan_image
from lifecycle.planning.types import ImagePlan, RebakeReport, VersionReport

__all__ = [
    "PENDING_BUILD_TTL",
    "STATE_AWAITING_BUILD",
    "ImagePlan",
    "RebakeReport",
    "VersionReport",
    "needs_replication_status",
    "plan_image",
]
