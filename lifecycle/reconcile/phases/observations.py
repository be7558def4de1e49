"""What the plan may need beyond the image itself, read only when the image's policy asks for it and
shared across the run where one read serves many images (`RunContext`, `BaseReads`): the image
template's last run, the newest version's base and its deprecation, and who runs the versions (for sizing
and for expiry warnings)."""

from __future__ import annotations

import logging
from datetime import datetime

from lifecycle.gateways.errors import GatewayError
from lifecycle.model import ImageDeprecation, ImageUsage
from lifecycle.planning import deprecation
from lifecycle.planning.consumers import Consumer, by_version_name, expiring_soon
from lifecycle.planning.lineage import BaseObservation, base_of
from lifecycle.planning.rebake import RunObservation, newest_healthy
from lifecycle.reconcile.phases.unit import ImageUnit

log = logging.getLogger(__name__)


def rebake_run(unit: ImageUnit) -> RunObservation | None:
    """For the rebake rules: the image template's last run. A failed read is a problem of the run, and no
    rebake is decided on it."""
    ctx = unit.ctx
    template = unit.target.image_policy.rebake.image_template
    if not template or ctx.rt.imagebuilder is None:
        return None
    rebake = unit.target.image_policy.rebake
    if not (rebake.schedule or rebake.max_age_days or rebake.on_base_update or rebake.on_base_deprecation):
        return None
    try:
        run: RunObservation | None = ctx.rt.imagebuilder.last_run(template)
        return run
    except GatewayError as exc:
        log.warning(
            "could not read the image template's last run",
            extra={"template": template, "error": str(exc)},
        )
        ctx.problem(template, "reading the image template failed, no rebake is decided", exc)
        return RunObservation(state="Unknown", message=str(exc))


def base_update(unit: ImageUnit) -> BaseObservation | None:
    """For `rebake.on_base_update`: the newest version's base and whether it moved on (one list call per
    distinct base per run)."""
    if not unit.target.image_policy.rebake.on_base_update:
        return None
    newest = newest_healthy(unit.found.observed)
    value = base_of(newest) if newest is not None else None
    if newest is None or value is None:
        return None
    return unit.ctx.bases.base_update(unit.image.subscription, newest, value)


def base_deprecation(unit: ImageUnit) -> tuple[ImageDeprecation | None, dict[str, tuple[datetime, str]]]:
    """For `rebake.on_base_deprecation` and `retention.cap_at_base_deprecation`: the deprecation status of
    the Marketplace bases of the image's versions (one GET per distinct base per run): the newest healthy
    version's, and per version the end-of-life its base allows."""
    policy, observed = unit.target.image_policy, unit.found.observed
    if not (policy.rebake.on_base_deprecation or policy.retention.cap_at_base_deprecation):
        return None, {}
    newest = newest_healthy(observed)
    wanted = list(observed.versions) if policy.retention.cap_at_base_deprecation else []
    if policy.rebake.on_base_deprecation and newest is not None:
        wanted.append(newest)
    statuses: dict[str, ImageDeprecation] = {}
    for version in wanted:
        base = deprecation.marketplace_base(base_of(version))
        if base is None or base.urn.lower() in statuses:
            continue
        status = unit.ctx.bases.deprecation(unit.image.subscription, version.location, base)
        if not isinstance(status, str):
            statuses[base.urn.lower()] = status
    newest_base = deprecation.marketplace_base(base_of(newest)) if newest is not None else None
    current = statuses.get(newest_base.urn.lower()) if newest_base is not None else None
    caps = deprecation.caps(observed, statuses) if policy.retention.cap_at_base_deprecation else {}
    return current, caps


def consumers(unit: ImageUnit) -> dict[str, tuple[Consumer, ...]] | None:
    """For `consumers.warn_days`: who runs this image's versions, by version name; read (once per run, from
    the sweep's inventory) only when a version's end-of-life is within the window. An incomplete inventory
    warns nobody this run (the next one will)."""
    ctx = unit.ctx
    warn_days = ctx.policy.consumers.warn_days
    if not expiring_soon(unit.found.observed, ctx.now, warn_days):
        return None
    found_consumers = ctx.consumers()
    if found_consumers is None:
        return None
    return by_version_name(found_consumers, unit.image)


def sizing_usage(unit: ImageUnit) -> ImageUsage | None:
    """For `replication.older` and `auto` counts: who runs what where. In a gallery shared beyond its
    subscription (consumers elsewhere cannot be listed) it counts as unknown: no region is shrunk away."""
    replication = unit.target.image_policy.replication
    if replication.older is None and "auto" not in replication.regions.values():
        return None
    block = unit.ctx.shared_block(unit.image.gallery_ref)
    if block is not None:
        return ImageUsage(complete=False, problem=block)
    return unit.ctx.usage()
