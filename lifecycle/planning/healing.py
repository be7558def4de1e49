"""Healing failed replication: which failed regions of a version to retry, remove or add back, and when to
give up. Pure functions of (policy, observed version, healing records, now); no I/O, no clock.

Azure's advice, in its own error text (Azure/azure-cli#15539): "If retry does not work, then please do an
update by removing the failed regions and update again by adding them back." Any update of a version
retries its failed regions. Back-off is across runs: a run never waits, it writes when a region's next
attempt is due and otherwise notes when it will be. With N = `remove_readd_after`:

| observed                               | record                        | decision                      |
|----------------------------------------|-------------------------------|-------------------------------|
| region Failed, first seen              | none                          | retry after the back-off      |
| Failed again after our write           | failures < N                  | retry after the back-off      |
| Failed again after our write           | failures >= N, removable      | remove it, after the back-off |
| removed region absent                  | step removed                  | add it back as it was, now    |
| removed region still Failed            | step removed                  | remove it again (it stayed)   |
| Failed again after being added back    | step readded                  | give up                       |
| home region, or the whole version "*"  | failures > N                  | give up (cannot be removed)   |
| Completed                              | any                           | healed: record dropped        |
| healing write refused (a 4xx)          | failures <= N (refusal counts)| same step, after the back-off |
| healing write refused (a 4xx)          | failures > N                  | give up                       |

A healing write Azure refuses for good (a 4xx such as 403 `LinkedAuthorizationFailed` on a disk encryption
set) is an attempt like a failure: it counts, and the next attempt waits the back-off from the refusal
(`refused`). Giving up publishes `ImageLifecycle.ReplicationFailed` once and leaves a note in `plan`;
the version then follows retention like any other. A removable region is any target region but the home
region (Azure requires the home region in targetRegions). The back-off after the k-th failure is
`retry_backoff_minutes * 2**(k-1)`, at most a day.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from lifecycle.model import ObservedVersion, ProvisioningState, ReplicationState, TargetRegion, iso, thawed
from lifecycle.notifications import Notification, NotificationType
from lifecycle.policy import Replication
from lifecycle.state import RegionHeal

WHOLE_VERSION = "*"  # a version Failed with no region reported Failed: only an update can retry it
MAX_BACKOFF = timedelta(days=1)

RETRIED, REMOVED, READDED, GAVE_UP = "retried", "removed", "readded", "gave_up"
REFUSED = "refused"  # the last healing write was refused by Azure (a 4xx): an attempt, not a failure seen


@dataclass(frozen=True)
class Healing:
    """What healing decides for one version in this run."""

    records: Mapping[str, RegionHeal] = field(default_factory=dict)
    write: bool = False  # a healing write is due now (an update of the version)
    remove: frozenset[str] = frozenset()  # regions to leave out of this update
    readd: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # region -> entry to add back
    reasons: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()
    notifications: tuple[Notification, ...] = ()
    gave_up: frozenset[str] = frozenset()
    failed: frozenset[str] = frozenset()  # regions (or "*") observed Failed in this run

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


def backoff(policy: Replication, failures: int) -> timedelta:
    minutes = policy.retry_backoff_minutes * 2 ** max(0, failures - 1)
    return min(timedelta(minutes=minutes), MAX_BACKOFF)


def region_entry(region: TargetRegion) -> dict[str, Any]:
    """A target region in the planner's vocabulary (what a replicate action carries)."""
    return {
        "name": region.name,
        "replica_count": region.replica_count,
        "storage_account_type": region.storage_account_type,
        "exclude_from_latest": region.exclude_from_latest,
        "extra": thawed(region.extra),
    }


def entry_region(entry: Mapping[str, Any]) -> TargetRegion:
    return TargetRegion(
        str(entry["name"]),
        entry.get("replica_count"),
        entry.get("storage_account_type"),
        entry.get("exclude_from_latest"),
        dict(entry.get("extra") or {}),
    )


def _details(version: ObservedVersion, region: str) -> str | None:
    found = next((s for s in version.region_status if s.region == region), None)
    return found.details if found is not None and found.details else None


def assess(
    policy: Replication, version: ObservedVersion, records: Mapping[str, RegionHeal], now: datetime
) -> Healing:
    """Decide the healing of one version that is not being written (busy versions are left alone)."""
    version_failed = version.provisioning_state is ProvisioningState.FAILED
    if version_failed and not version.region_status:
        # Which region failed is only in the replication status; without it, wait for the next read.
        note = "replication failed: waiting for its replication status (read on a later run)"
        return Healing(records=dict(records), notes=(note,))
    present = {r.name: r for r in version.target_regions}
    status = {s.region: s.state for s in version.region_status}
    failed = set(version.failed_regions)
    if version_failed and not failed:
        failed = {WHOLE_VERSION}

    new: dict[str, RegionHeal] = {}
    readd: dict[str, Mapping[str, Any]] = {}
    remove: set[str] = set()
    reasons: list[str] = []
    notes: list[str] = []
    notifications: list[Notification] = []
    gave_up: set[str] = set()

    limit = policy.remove_readd_after
    for region, record in sorted(records.items()):
        if region in failed:
            continue
        if record.step == REFUSED and region not in present and record.entry is not None:
            # Adding the removed region back was refused: try again after the back-off, or give up.
            if record.failures > limit:
                new[region], note, notice = _give_up(version, region, record)
                gave_up.add(region)
                notes.append(note)
                notifications.extend(notice)
            elif now < (record.last_write or now) + backoff(policy, record.failures):
                new[region] = record
                notes.append(f"region {region} could not be added back ({record.failures}x): waiting")
            else:
                readd[region] = record.entry
                new[region] = replace(record, step=READDED, pending=True, last_write=now)
                reasons.append(f"add back region {region} (the last attempt was refused)")
        elif record.step == REMOVED and region not in present and record.entry is not None:
            readd[region] = record.entry
            new[region] = replace(record, step=READDED, pending=True, last_write=now)
            reasons.append(f"add back region {region}, removed after {record.failures} failures")
        elif region in present and status.get(region) not in (ReplicationState.COMPLETED, None):
            new[region] = record  # being replicated again: wait for its outcome
        elif region in present and record.failures:
            notes.append(f"region {region} healed after {record.failures} failure(s)")
        # else: no longer a target (removed by someone else) or the version recovered: forget it

    for region in sorted(failed):
        seen = records.get(region)
        details = _details(version, region)
        record = RegionHeal(failures=1, since=now, details=details) if seen is None else seen
        if seen is not None and record.pending:
            record = replace(record, failures=record.failures + 1, pending=False, details=details)
        removable = region not in (WHOLE_VERSION, version.location) and region in present
        where = "the version" if region == WHOLE_VERSION else f"region {region}"
        if record.step == GAVE_UP:
            new[region] = record
            gave_up.add(region)
            notes.append(f"replication failed: {where} failed {record.failures} times; healing stopped")
            continue
        if (
            (record.step == READDED and not record.pending)
            or (not removable and record.failures > limit)
            or (record.step == REFUSED and record.failures > limit)
        ):
            new[region], note, notice = _give_up(version, region, record)
            gave_up.add(region)
            notes.append(note)
            notifications.extend(notice)
            continue
        if record.step == REMOVED:
            due = now  # the removal did not take: remove it again
        else:
            due = (record.last_write or record.since or now) + backoff(policy, record.failures)
        if now < due:
            new[region] = record
            notes.append(f"{where} failed ({record.failures}x): next healing write after {iso(due)}")
            continue
        if removable and record.failures >= limit:
            remove.add(region)
            new[region] = replace(
                record, step=REMOVED, pending=True, last_write=now, entry=region_entry(present[region])
            )
            reasons.append(
                f"remove failed region {region} after {record.failures} failures, to add it back next"
            )
        else:
            new[region] = record  # marked retried by `written` once the update is planned
            reasons.append(
                f"retry failed {where} by updating the version again (failure {record.failures} of {limit})"
            )
    healing = Healing(
        records=new,
        write=bool(reasons),
        remove=frozenset(remove),
        readd=readd,
        reasons=tuple(reasons),
        notes=tuple(notes),
        notifications=tuple(notifications),
        gave_up=frozenset(gave_up),
        failed=frozenset(failed),
    )
    return healing


def _give_up(
    version: ObservedVersion, region: str, record: RegionHeal
) -> tuple[RegionHeal, str, tuple[Notification, ...]]:
    """Stop healing `region`: ReplicationFailed once (never again for this record), and a note."""
    where = "the version" if region == WHOLE_VERSION else f"region {region}"
    notice: tuple[Notification, ...] = ()
    if not record.reported:
        data: dict[str, Any] = {
            "region": None if region == WHOLE_VERSION else region,
            "failures": record.failures,
        }
        if record.details:
            data["details"] = record.details
        notice = (Notification(NotificationType.REPLICATION_FAILED, version.ref.id, data),)
    note = (
        f"replication failed: {where} failed {record.failures} times; healing stopped "
        "(ImageLifecycle.ReplicationFailed)"
    )
    return replace(record, step=GAVE_UP, reported=True, pending=False), note, notice


def refused(records: Mapping[str, RegionHeal], error: str) -> dict[str, RegionHeal]:
    """The records after Azure refused the healing write that `written` recorded (every record still
    pending from it): one more attempt each, not pending, its back-off counted from the refusal."""
    out = dict(records)
    for region, record in records.items():
        if record.pending:
            out[region] = replace(
                record,
                failures=record.failures + 1,
                pending=False,
                step=REFUSED,
                details=f"healing write refused: {error}"[:1000],
            )
    return out


def written(healing: Healing, now: datetime) -> Healing:
    """The records once an update of the version is made: any update retries every failed region it
    does not remove (Azure's semantics), so each of those now waits for that update's outcome."""
    records = dict(healing.records)
    for region in healing.failed:
        record = records.get(region)
        if record is None or record.step == GAVE_UP or region in healing.remove:
            continue
        records[region] = replace(record, step=RETRIED, pending=True, last_write=now)
    return replace(healing, records=records)
