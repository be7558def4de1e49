"""The lifecycle tags: their names, and the one place that merges them onto a version within Azure's limits.

Writes merge our keys only and happen only when a value changes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

log = logging.getLogger(__name__)

PREFIX = "lifecycle."
STATE = "lifecycle.state"
BUILD_ID = "lifecycle.build-id"
COMMIT = "lifecycle.commit"
PIPELINE_RUN = "lifecycle.pipeline-run"
SBOM = "lifecycle.sbom"
APPROVER = "lifecycle.approver"
BASE_IMAGE = "lifecycle.base-image"

HOLD = "lifecycle.hold"  # set by operators, never by the app: "true" keeps the version whatever the policy

STATE_ACTIVE = "active"
STATE_EXPIRED = "expired"
STATE_PENDING = "pending"  # held out of `latest` until replicated (promote_when_replicated)

MAX_TAGS = 50
MAX_NAME = 512
MAX_VALUE = 256
_FORBIDDEN = set("<>%&\\?/")


def tag_changes(current: Mapping[str, str], desired: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """The tags to set so `current` carries `desired`, and warnings for what had to be cut or skipped.

    Names are compared case-insensitively, as Azure does. Values over 256 characters are cut; invalid
    names are skipped; nothing is added past Azure's 50-tag limit.
    """
    warnings: list[str] = []
    existing = {name.lower(): name for name in current}
    changes: dict[str, str] = {}
    count = len(current)
    for name, value in desired.items():
        if not name or len(name) > MAX_NAME or set(name) & _FORBIDDEN:
            warnings.append(f"tag {name!r} skipped: Azure does not allow this name")
            continue
        value = str(value)
        if len(value) > MAX_VALUE:
            warnings.append(f"tag {name!r} cut to {MAX_VALUE} characters (was {len(value)})")
            value = value[:MAX_VALUE]
        present = existing.get(name.lower())
        if present is not None and current[present] == value:
            continue
        if present is None:
            if count >= MAX_TAGS:
                warnings.append(f"tag {name!r} skipped: the version already has {MAX_TAGS} tags")
                continue
            count += 1
        changes[present or name] = value
    return changes, warnings


def merged(current: Mapping[str, str], changes: Mapping[str, str]) -> dict[str, str]:
    """The full tag set to send: ARM replaces a resource's tags as a whole on PATCH."""
    out = dict(current)
    out.update(changes)
    return out
