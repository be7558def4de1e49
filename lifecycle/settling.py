"""Settling an ambiguous answer by reading: did a write take effect although ARM's answer said it failed?

azure-core retries a PATCH on 500/503/504 and a DELETE on time-outs. When the first attempt took, what the
app finally sees is a 5xx, a time-out, or the retry meeting the changed resource (409 while the version is
being updated, 404 once it is deleted). Such an answer is settled by reading the version again: if it shows
the intended change, the write succeeded and its event is published. Pure functions; the executor reads.
"""

from __future__ import annotations

from datetime import timedelta

from lifecycle.actions import Action, ActionKind, thaw
from lifecycle.gateways.errors import GatewayError, RetryableError
from lifecycle.model import ObservedVersion, ProvisioningState, parse_time
from lifecycle.regions import normalize_region

EOL_TOLERANCE = timedelta(minutes=1)  # ARM stores endOfLifeDate with its own precision


def ambiguous(exc: GatewayError) -> bool:
    """Whether a failed write may have taken effect all the same: a 5xx, a time-out or a dropped connection
    (no status), or a retry's 409 or 404. A 429 (throttled before anything ran) and other 4xx are not."""
    status = exc.status
    if status is None:
        return isinstance(exc, RetryableError)
    return status in (404, 408, 409) or status >= 500


def shows(action: Action, version: ObservedVersion | None) -> bool:
    """Whether `version` as read now carries the change `action` meant (None: the version is gone)."""
    if action.kind is ActionKind.DELETE:
        return version is None or version.provisioning_state is ProvisioningState.DELETING
    if version is None:
        return False
    after = thaw(action.after)
    if action.kind is ActionKind.TAG:
        tags = {name.lower(): value for name, value in version.tags.items()}
        return all(tags.get(name.lower()) == value for name, value in after["tags"].items())
    if action.kind is ActionKind.END_OF_LIFE:
        return (
            version.end_of_life is not None
            and abs(version.end_of_life - parse_time(after["end_of_life"])) <= EOL_TOLERANCE
        )
    if action.kind in (ActionKind.EXCLUDE_FROM_LATEST, ActionKind.PROMOTE):
        return version.exclude_from_latest is bool(after["exclude_from_latest"])
    if action.kind is ActionKind.REPLICATE:
        wanted = {normalize_region(str(r["name"])): r.get("replica_count") for r in after["regions"]}
        present = {normalize_region(r.name): r.replica_count for r in version.target_regions}
        return set(wanted) == set(present) and all(
            count is None or present[name] == count for name, count in wanted.items()
        )
    return False


def all_shown(actions: list[Action], version: ObservedVersion | None) -> bool:
    return bool(actions) and all(shows(a, version) for a in actions)
