"""One in-use inventory per subscription per sweep, kept in the state container with its time.

Listing every VM, scale set and scale-set instance costs Compute reads that other workloads share, so a
sweep lists each subscription once and keeps the answer as `inventory/<subscription>.json`; the fan-out
messages of that sweep, and event runs until the next sweep, read it instead of listing again. A delete
needs an inventory no older than one sweep interval (LIFECYCLE_SWEEP_SCHEDULE): a queue message finding an
older one (or none) deletes nothing (doubt means keep) and lists nothing; the CLI lists afresh; an event
run (which deletes nothing, but may shrink, size `auto` regions or warn) reads a young enough one or lists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum

from lifecycle.gateways.errors import GatewayError, PreconditionFailed
from lifecycle.gateways.ports import Gallery, StateStore
from lifecycle.inventory import Inventory, SubscriptionInventory
from lifecycle.model import iso
from lifecycle.policy import Policy, merged_sections

log = logging.getLogger(__name__)
PREFIX = "inventory/"


class Freshness(StrEnum):
    """How a run comes by the inventory: `list` always lists (a sweep, the CLI), `kept` only reads what
    its sweep kept (a fan-out message), `kept_or_list` reads a fresh kept one or lists (an event run)."""

    LIST = "list"
    KEPT = "kept"
    KEPT_OR_LIST = "kept_or_list"


def blob_name(subscription: str) -> str:
    return f"{PREFIX}{subscription.lower()}.json"


def gather(
    gallery: Gallery,
    store: StateStore,
    subscriptions: Iterable[str],
    now: datetime,
    *,
    max_age: timedelta,
    freshness: Freshness,
    tag_names: frozenset[str] = frozenset(),
    keep: bool = True,
) -> Inventory:
    """The inventory of every subscription, listed or read as `freshness` says; `keep` stores what was
    listed (not in plan-only runs). Incomplete, with the reason, when any subscription is unknown."""
    found: list[SubscriptionInventory] = []
    problems: list[str] = []
    failed = False
    for subscription in sorted({s.lower() for s in subscriptions}):
        inventory: SubscriptionInventory | None = None
        problem: str | None = None
        if freshness is not Freshness.LIST:
            inventory, problem = _kept(store, subscription, now, max_age)
        if inventory is None and freshness is not Freshness.KEPT:
            try:
                inventory = gallery.machines(subscription, now, tag_names)
            except GatewayError as exc:
                log.error(
                    "in-use inventory failed; no version will be deleted this run",
                    extra={"subscription": subscription, "error": str(exc)},
                )
                problem = str(exc)
                failed = True
            else:
                problem = None
                if keep:
                    _store(store, inventory)
        if inventory is None:
            problems.append(problem or f"no in-use inventory of subscription {subscription}")
        else:
            found.append(inventory)
    return Inventory(
        tuple(found), problem="; ".join(problems) if problems else None, waiting=bool(problems) and not failed
    )


def _kept(
    store: StateStore, subscription: str, now: datetime, max_age: timedelta
) -> tuple[SubscriptionInventory | None, str | None]:
    try:
        document, _ = store.read_json(blob_name(subscription))
    except GatewayError as exc:
        return None, f"reading the in-use inventory of subscription {subscription} failed: {exc}"
    if not document:
        return None, f"no in-use inventory of subscription {subscription} kept by a sweep"
    try:
        inventory = SubscriptionInventory.from_json(document)
    except (KeyError, TypeError, ValueError) as exc:
        return None, f"the kept in-use inventory of subscription {subscription} is unreadable: {exc}"
    age = now - inventory.at
    if age > max_age or age < -max_age:
        return None, (
            f"the in-use inventory of subscription {subscription} was listed at {iso(inventory.at)}, more "
            f"than one sweep interval ({int(max_age.total_seconds())} s) before {iso(now)}"
        )
    return inventory, None


def _store(store: StateStore, inventory: SubscriptionInventory) -> None:
    """Keep the newest inventory: conditional on the blob as read, so two sweeps never interleave; the
    inventory in hand is used either way."""
    name = blob_name(inventory.subscription)
    try:
        document, etag = store.read_json(name)
        if document and str(document.get("at", "")) > iso(inventory.at):
            return  # a later one is already kept
        store.write_json(name, inventory.to_json(), etag=etag)
    except PreconditionFailed:
        return
    except GatewayError as exc:
        log.warning(
            "in-use inventory not kept", extra={"subscription": inventory.subscription, "error": str(exc)}
        )


def needed(policy: Policy) -> bool:
    """Whether any image of the policy may need the inventory: it can delete, shrink older versions,
    size replicas from demand, or warn consumers."""
    if policy.consumers.warn_days is not None:
        return True
    for gallery in policy.galleries:
        for override in gallery.images.values():
            sections = merged_sections(policy.defaults, override)
            retention, replication = sections["retention"], sections["replication"]
            if retention.delete_after_days is not None or retention.delete_failed_after_days is not None:
                return True
            if getattr(replication, "older", None) is not None or "auto" in replication.regions.values():
                return True
    return False


def freshness_for(source: str) -> Freshness:
    """A sweep and the CLI list; a fan-out message reads what its sweep kept; an event run (or a policy
    change) reads a kept one that is fresh enough, else lists."""
    if source in ("sweep", "cli"):
        return Freshness.LIST
    if source == "queue":
        return Freshness.KEPT
    return Freshness.KEPT_OR_LIST
