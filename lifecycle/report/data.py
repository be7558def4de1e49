"""The report's data: a pure function of what one reconcile read and planned, the policy, the price
table and the time. JSON-ready dicts, so `report --json` and the HTML page show the same thing."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from lifecycle import tags as lt
from lifecycle.actions import FAILED, ActionKind, ActionOutcome
from lifecycle.model import ObservedImage, ObservedVersion, ProvisioningState, ReplicationState, iso, utc
from lifecycle.planning.types import ImagePlan
from lifecycle.policy import ImagePolicy
from lifecycle.pricing import PriceTable, current_replicas, money, version_costs

# Timeline colours group the planner's states into the four an operator reads, plus failed.
STATE_CLASS = {
    "active": "active",
    "pending": "pending",
    "pending-approval": "pending",
    "awaiting-build": "pending",
    "creating": "pending",
    "updating": "pending",
    "expired": "expired",
    "deleting": "expired",
    "revoked": "revoked",
    "failed": "failed",
    "pending-validation": "pending",
    "quarantined": "revoked",
}
CELL_STATES = ("Completed", "Replicating", "Failed", "missing")


@dataclass(frozen=True)
class ImageInput:
    """One image as a reconcile saw it: its policy, what ARM reported, and what was planned."""

    policy: ImagePolicy
    observed: ObservedImage
    plan: ImagePlan


def _money(value: float) -> float:
    return money(value)


def _day(value: datetime | None) -> str | None:
    return value.date().isoformat() if value else None


def _region_state(version: ObservedVersion, region: str) -> str:
    """Completed, Replicating or Failed for a region the version targets."""
    for status in version.region_status:
        if status.region == region:
            if status.state is ReplicationState.UNKNOWN:
                break
            return status.state.value
    if version.provisioning_state is ProvisioningState.FAILED:
        return "Failed"
    if version.provisioning_state.busy:
        return "Replicating"
    return "Completed"


def _matrix_version(image: ObservedImage) -> ObservedVersion | None:
    """The version the matrix shows: the newest one that did not fail (else the newest)."""
    healthy = [v for v in image.versions if v.healthy]
    candidates = healthy or list(image.versions)
    return candidates[-1] if candidates else None


def _cells(item: ImageInput) -> dict[str, dict[str, Any]]:
    version = _matrix_version(item.observed)
    wanted = {r: c for r, c in item.policy.replication.regions.items()}
    present = current_replicas(version) if version is not None else {}
    counts: dict[str, int] = {}
    for v in item.observed.versions:
        for region in current_replicas(v):
            counts[region] = counts.get(region, 0) + 1
    cells: dict[str, dict[str, Any]] = {}
    for region in sorted(set(wanted) | set(present)):
        reported = present.get(region)
        state = "missing" if reported is None or version is None else _region_state(version, region)
        in_region = counts.get(region, 0)
        cells[region] = {
            "region": region,
            "version": version.name if version else None,
            "wanted": wanted.get(region),
            "replicas": reported,
            "state": state,
            "versions_in_region": in_region,
        }
    return cells


def _timeline(item: ImageInput, now: datetime) -> list[dict[str, Any]]:
    reports = {r.version: r for r in item.plan.versions}
    planned_eol = {
        a.target.lower(): a.after.get("end_of_life")
        for a in item.plan.actions
        if a.kind is ActionKind.END_OF_LIFE
    }
    rows = []
    for version in item.observed.versions:
        report = reports.get(version.name)
        state = report.state if report else version.tags.get(lt.STATE, "active")
        if version.tags.get(lt.STATE) == lt.STATE_REVOKED:
            state = lt.STATE_REVOKED
        eol = planned_eol.get(version.ref.id.lower()) or (
            iso(version.end_of_life) if version.end_of_life else None
        )
        rows.append(
            {
                "version": version.name,
                "state": state,
                "class": STATE_CLASS.get(state, "pending" if version.provisioning_state.busy else "active"),
                "published": _day(version.published),
                "end_of_life": eol[:10] if eol else None,
                "delete": report.deleted if report else None,
                "kept": report.protected if report else None,
                "notes": list(report.notes) if report else [],
                "size_gb": version.size_gb,
            }
        )
    return rows


def _costs(images: Sequence[ImageInput], prices: PriceTable) -> dict[str, Any]:
    by_image: list[dict[str, Any]] = []
    by_region: dict[str, float] = {}
    unknown: list[str] = []
    for item in images:
        regions: dict[str, float] = {}
        for version in item.observed.versions:
            for line in version_costs(version, prices):
                if line.monthly is None:
                    why = "size unknown" if version.size_gb is None else f"no {line.storage_type} price"
                    unknown.append(f"{item.observed.ref.image} {version.name} in {line.region}: {why}")
                    continue
                regions[line.region] = regions.get(line.region, 0.0) + line.monthly
        for region, value in regions.items():
            by_region[region] = by_region.get(region, 0.0) + value
        by_image.append(
            {
                "image": item.observed.ref.image,
                "id": item.observed.ref.id,
                "regions": {r: _money(v) for r, v in sorted(regions.items())},
                "total": _money(sum(regions.values())),
            }
        )
    return {
        "currency": prices.currency,
        "prices_date": prices.date,
        "prices_source": prices.source,
        "per_image": by_image,
        "per_region": {r: _money(v) for r, v in sorted(by_region.items())},
        "total": _money(sum(by_region.values())),
        "unpriced": unknown,
    }


def _gates(images: Sequence[ImageInput]) -> list[dict[str, Any]]:
    """Versions approved, awaiting approval, revoked, or built from a revoked version."""
    out = []
    for item in images:
        for version in item.observed.versions:
            tags = version.tags
            state = tags.get(lt.STATE)
            flagged = tags.get(lt.APPROVED_BY) or tags.get(lt.REVOKED_REASON) or tags.get(lt.PARENT_REVOKED)
            gated = (
                lt.STATE_PENDING_APPROVAL,
                lt.STATE_REVOKED,
                lt.STATE_PENDING_VALIDATION,
                lt.STATE_QUARANTINED,
            )
            if not flagged and state not in gated:
                continue
            out.append(
                {
                    "image": item.observed.ref.image,
                    "version": version.name,
                    "state": state,
                    "approved_by": tags.get(lt.APPROVED_BY),
                    "revoked_reason": tags.get(lt.REVOKED_REASON),
                    "parent_revoked": tags.get(lt.PARENT_REVOKED),
                }
            )
            if state == lt.STATE_QUARANTINED:
                out[-1]["quarantine_reason"] = tags.get(lt.QUARANTINE_REASON)
    return out


def _failures(
    images: Sequence[ImageInput], outcomes: Iterable[ActionOutcome], errors: Iterable[str]
) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for item in images:
        for version in item.observed.versions:
            if version.provisioning_state is ProvisioningState.FAILED:
                out.append({"target": _short(version.ref.id), "what": "provisioning failed"})
            for status in version.region_status:
                if status.state is ReplicationState.FAILED:
                    out.append(
                        {
                            "target": _short(version.ref.id),
                            "what": f"replication to {status.region} failed: "
                            f"{status.details or 'no details'}",
                        }
                    )
    for outcome in outcomes:
        if outcome.status == FAILED:
            out.append(
                {
                    "target": _short(outcome.action.target),
                    "what": f"{outcome.action.kind.value}: {outcome.error}",
                }
            )
    out += [{"target": "", "what": error} for error in errors]
    return out


def _deferred(
    images: Sequence[ImageInput], outcomes: Iterable[ActionOutcome], skipped: Iterable[str]
) -> list[dict[str, Any]]:
    """Work held back (deletes not done, with the reason, grouped per image and reason), actions only
    planned in this run, and images skipped."""
    out: list[dict[str, Any]] = []
    for item in images:
        grouped: dict[str, list[str]] = {}
        for report in item.plan.versions:
            if report.delete_blocked:
                grouped.setdefault(f"not deleted: {report.delete_blocked}", []).append(report.version)
        out += [
            {"target": item.observed.ref.image, "what": note, "versions": names}
            for note, names in grouped.items()
        ]
    planned: dict[tuple[str, str], list[str]] = {}
    for outcome in outcomes:
        if outcome.status == "planned":
            action = outcome.action
            image, _, version = _short(action.target).partition("/versions/")
            planned.setdefault((image, action.kind.value), []).append(version or image)
    out += [
        {"target": image, "what": f"{kind} planned", "versions": names}
        for (image, kind), names in planned.items()
    ]
    out += [{"target": "", "what": f"skipped: {line}"} for line in skipped]
    return out


def _short(resource_id: str) -> str:
    marker = "/galleries/"
    low = resource_id.lower()
    return resource_id[low.index(marker) + len(marker) :] if marker in low else resource_id


def build_report(
    *,
    now: datetime,
    mode: str,
    images: Sequence[ImageInput],
    prices: PriceTable,
    outcomes: Sequence[ActionOutcome] = (),
    errors: Sequence[str] = (),
    skipped: Sequence[str] = (),
) -> dict[str, Any]:
    """The fleet report as JSON-ready data."""
    now = utc(now)
    ordered = sorted(images, key=lambda i: i.observed.ref.id.lower())
    rows: list[dict[str, Any]] = []
    regions: set[str] = set()
    rebakes = []
    dates: list[str] = [now.date().isoformat()]
    for item in ordered:
        cells = _cells(item)
        regions.update(cells)
        timeline = _timeline(item, now)
        for row in timeline:
            dates += [d for d in (row["published"], row["end_of_life"], row["delete"]) if d]
        rebake = item.plan.rebake
        if rebake is not None and (rebake.due or rebake.next_time):
            rebakes.append(
                {
                    "image": item.observed.ref.image,
                    "due": rebake.due,
                    "reason": rebake.reason,
                    "next": rebake.next_time,
                }
            )
        rows.append(
            {
                "image": item.observed.ref.image,
                "gallery": item.observed.ref.gallery,
                "id": item.observed.ref.id,
                "location": item.observed.location,
                "matrix_version": next((c["version"] for c in cells.values() if c["version"]), None),
                "cells": cells,
                "versions": timeline,
                "warnings": list(item.plan.warnings),
                # `latest` per region once the plan is done (version names; None: no eligible version).
                "latest": dict(item.plan.latest),
                "soft_deleted": [d.to_json() for d in item.plan.soft_deleted],
            }
        )
    start = min(dates)
    end = max(dates)
    failures = _failures(ordered, outcomes, errors)
    return {
        "generated": iso(now),
        "today": now.date().isoformat(),
        "mode": mode,
        "regions": sorted(regions),
        "axis": {"start": start, "end": max(end, (now + timedelta(days=1)).date().isoformat())},
        "images": rows,
        "rebakes": rebakes,
        "approvals": _gates(ordered),
        "deferred": _deferred(ordered, outcomes, skipped),
        "failures": failures,
        "cost": _costs(ordered, prices),
        "summary": {
            "images": len(rows),
            "versions": sum(len(r["versions"]) for r in rows),
            "regions": len(regions),
            "rebakes_due": sum(1 for r in rebakes if r["due"]),
            "failures": len(failures),
        },
    }


def merge_reports(parts: Sequence[dict[str, Any]], *, now: datetime, mode: str) -> dict[str, Any]:
    """One fleet report from reports of parts of the fleet (a fanned-out sweep's images, each reported by
    its own queue run): images, lists and costs are combined, totals and the time axis recomputed."""
    now = utc(now)
    images = sorted((i for p in parts for i in p["images"]), key=lambda i: str(i["id"]).lower())
    dates = [now.date().isoformat()] + [p["axis"][k] for p in parts for k in ("start", "end")]
    per_region: dict[str, float] = {}
    for part in parts:
        for region, value in part["cost"]["per_region"].items():
            per_region[region] = per_region.get(region, 0.0) + value
    failures = [f for p in parts for f in p["failures"]]
    rebakes = [b for p in parts for b in p["rebakes"]]
    first = parts[0]["cost"] if parts else {"currency": "", "prices_date": "", "prices_source": ""}
    dated = sorted({p["cost"]["prices_date"] for p in parts})
    return {
        "generated": iso(now),
        "today": now.date().isoformat(),
        "mode": mode,
        "regions": sorted({r for p in parts for r in p["regions"]}),
        "axis": {"start": min(dates), "end": max(max(dates), (now + timedelta(days=1)).date().isoformat())},
        "images": images,
        "rebakes": rebakes,
        "approvals": [a for p in parts for a in p.get("approvals", [])],
        "deferred": [d for p in parts for d in p["deferred"]],
        "failures": failures,
        "cost": {
            "currency": first["currency"],
            # Parts costed with different tables (a refresh between runs) say so in the date.
            "prices_date": " / ".join(dated) if dated else first["prices_date"],
            "prices_source": first["prices_source"],
            "per_image": sorted(
                (c for p in parts for c in p["cost"]["per_image"]), key=lambda c: str(c["id"]).lower()
            ),
            "per_region": {r: _money(v) for r, v in sorted(per_region.items())},
            "total": _money(sum(per_region.values())),
            "unpriced": [u for p in parts for u in p["cost"]["unpriced"]],
        },
        "summary": {
            "images": len(images),
            "versions": sum(len(i["versions"]) for i in images),
            "regions": len({r for p in parts for r in p["regions"]}),
            "rebakes_due": sum(1 for r in rebakes if r["due"]),
            "failures": len(failures),
        },
    }
