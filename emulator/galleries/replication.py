"""Regional replication of versions: failures, lag, and `POST /_emulator/replication`."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from emulator import regions
from emulator.errors import ArmError
from emulator.galleries.model import LRO_FAIL_DETAILS, REGION_FAIL_CODE, REGION_FAIL_DETAILS, ImageVersion

if TYPE_CHECKING:
    from emulator.state import State


# Source: Azure's own error text (Azure/azure-cli#15539, quoted in
# ../shared/reference/recordings/FACTS-replication-failure.md): "Gallery replication jobs failed in one or
# more regions. The failing regions' details are as follows: '{region:northeurope, detail:Failed with
# internal server error.}'. If retry does not work, then please do an update by removing the failed
# regions and update again by adding them back." So: a region's replication can fail on its own; the
# operation ends Failed with that text, provisioningState becomes Failed and the region's
# regionalReplicationStatus state Failed (PRODUCT.md section 2); any update of the version starts the
# failed regions again (retry); a failure that retries do not cure is cured by removing the region in one
# update and adding it back in the next.
#
# A region fails when `--faults region-fail=RATE` draws it (each replication start draws once) or when
# `POST /_emulator/replication` forced it. A forced failure `heals_by: "retry"` (default) fails once; one
# with `heals_by: "readd"` fails every retry until the region is removed from targetRegions.


def replication_error(failed: list[str]) -> dict[str, Any]:
    """The operation's error for failed regions, in Azure's words. How several regions are joined is not
    shown in the source; they are listed one after the other inside the quotes."""
    listed = ", ".join(f"{{region:{name}, detail:{REGION_FAIL_DETAILS}}}" for name in failed)
    return {
        "code": REGION_FAIL_CODE,
        "message": "Gallery replication jobs failed in one or more regions. The failing regions' details are "
        f"as follows: '{listed}'. If retry does not work, then please do an update by removing the failed "
        "regions and update again by adding them back.",
    }


def region_fails(state: State, version_id: str, region: str) -> bool:
    """Whether the replication of `region` starting now fails: a forced outcome first, else the fault draw."""
    key = (version_id.lower(), region)
    forced = state.replication_overrides.get(key)
    if forced is not None and forced.get("outcome") == "Failed":
        if forced.get("heals_by") != "readd":
            del state.replication_overrides[key]
        return True
    return state.fail_region()


def region_lag(state: State, version_id: str, region: str) -> timedelta:
    key = (version_id.lower(), region)
    forced = state.replication_overrides.get(key)
    if forced is not None and forced.get("outcome") == "Lagging":
        del state.replication_overrides[key]
        return timedelta(seconds=float(forced.get("seconds", 0)))
    return timedelta(seconds=max(0.0, state.config.replication_lag_seconds))


def force_replication(state: State, body: dict[str, Any]) -> dict[str, Any]:
    """`POST /_emulator/replication {"version_id", "region", "outcome", "heals_by"?, "seconds"?}`.

    outcome `Failed`: a region replicating now fails when it would have finished (the operation and the
    version end Failed); otherwise the region's next replication fails. `heals_by`: `retry` (the next
    update cures it) or `readd` (only removing the region and adding it back does). outcome `Lagging`:
    the region's next (or current) replication reads Replicating `seconds` after the operation succeeded.
    outcome `Completed`: forget what was forced.
    """
    version_id = body.get("version_id")
    region = regions.lookup(body.get("region")) if isinstance(body.get("region"), str) else None
    outcome = body.get("outcome")
    heals_by = body.get("heals_by", "retry")
    if not isinstance(version_id, str) or region is None:
        raise ArmError(400, "InvalidRequestContent", 'Expected {"version_id": id, "region": known region}.')
    if outcome not in ("Failed", "Lagging", "Completed") or heals_by not in ("retry", "readd"):
        raise ArmError(
            400,
            "InvalidRequestContent",
            'outcome must be "Failed", "Lagging" or "Completed"; heals_by "retry" or "readd".',
        )
    key = (version_id.lower(), region.name)
    if outcome == "Completed":
        state.replication_overrides.pop(key, None)
        return {"forced": None}
    res = state.get(version_id)
    repl = res.replication.get(region.name) if isinstance(res, ImageVersion) else None
    now = state.now()
    in_flight = repl is not None and now < repl.end and not repl.failed
    if in_flight and isinstance(res, ImageVersion):
        assert repl is not None
        if outcome == "Lagging":
            repl.lag = timedelta(seconds=float(body.get("seconds", 0)))
            return {"forced": "Lagging", "applied": "current"}
        repl.failed = True
        repl.details = REGION_FAIL_DETAILS
        op = res.operation
        if op is not None and not op.completed:
            failing = sorted(
                regions.display(name) for name, r in res.replication.items() if r.failed and r.end > now
            )
            op.outcome = "Failed"
            op.error = replication_error([regions.normalize(n) for n in failing])
        if heals_by == "readd":
            state.replication_overrides[key] = {"outcome": "Failed", "heals_by": "readd"}
        return {"forced": "Failed", "applied": "current", "heals_by": heals_by}
    state.replication_overrides[key] = {
        "outcome": outcome,
        "heals_by": heals_by,
        "seconds": float(body.get("seconds", 0)),
    }
    return {"forced": outcome, "applied": "next", "heals_by": heals_by}


def replication_status(res: ImageVersion, now: datetime) -> dict[str, Any]:
    summary = []
    states = []
    for target in res.properties.get("publishingProfile", {}).get("targetRegions", []):
        repl = res.replication.get(regions.normalize(target["name"]))
        if repl is None:
            continue
        state_name, progress = repl.state(now)
        states.append(state_name)
        details = (repl.details or LRO_FAIL_DETAILS) if state_name == "Failed" else ""
        summary.append(
            {
                "region": regions.display(target["name"]),
                "state": state_name,
                "details": details,
                "progress": progress,
            }
        )
    if any(s == "Failed" for s in states):
        aggregated = "Failed"
    elif states and all(s == "Completed" for s in states):
        aggregated = "Completed"
    elif states:
        aggregated = "InProgress"
    else:
        aggregated = "Unknown"
    return {"aggregatedState": aggregated, "summary": summary}
