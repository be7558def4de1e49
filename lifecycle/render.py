"""Plain-text rendering of a run report and of tables, shared by the CLI and the demo."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def short_id(resource_id: str) -> str:
    marker = "/galleries/"
    return (
        resource_id[resource_id.lower().index(marker) + len(marker) :]
        if marker in resource_id.lower()
        else resource_id
    )


def table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    cells = [[str(c) for c in headers]] + [[("" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def render_report(report: dict[str, Any]) -> str:
    out = [f"at {report['at']}  mode {report['mode']}  trigger {report['trigger']['source']}"]
    if report.get("policy_problem"):
        out.append(f"policy problem: {report['policy_problem']}")
    status = {(o["key"]): o for o in report.get("outcomes", [])}
    if report["actions"]:
        rows = []
        for action in report["actions"]:
            outcome = status.get(action["key"], {})
            rows.append(
                [
                    action["kind"],
                    short_id(action["target"]),
                    action["reason"],
                    outcome.get("status", "-"),
                    outcome.get("error") or "",
                ]
            )
        out += ["", table(["action", "target", "reason", "outcome", "error"], rows)]
    else:
        out += ["", "nothing to do"]
    version_rows = []
    for image in report.get("images", []):
        for version in image["versions"]:
            summary = ", ".join(
                x
                for x in (
                    f"kept: {version['protected']}" if version.get("protected") else "",
                    f"expires {version['expires']}" if version.get("expires") else "",
                    f"deleted {version['deleted']}" if version.get("deleted") else "",
                    *version.get("notes", []),
                    f"built on {short_id(version['parent'])}" if version.get("parent") else "",
                    f"base of {', '.join(short_id(c) for c in version['children'])}"
                    if version.get("children")
                    else "",
                )
                if x
            )
            version_rows.append([short_id(image["image"]), version["version"], version["state"], summary])
        if image.get("rebake"):
            rebake = image["rebake"]
            version_rows.append(
                [
                    short_id(image["image"]),
                    "(rebake)",
                    "due" if rebake["due"] else "-",
                    f"{rebake['reason']}; next {rebake.get('next') or '-'}",
                ]
            )
    if version_rows:
        out += ["", table(["image", "version", "state", "next"], version_rows)]
    for image in report.get("images", []):
        if image.get("latest"):
            where = ", ".join(f"{r} {short_id(v) if v else 'none'}" for r, v in image["latest"].items())
            out.append(f"latest {short_id(image['image'])}: {where}")
        for line in image.get("refused", []):
            out.append(f"refused: {line}")
    for item in report.get("soft_deleted", []):
        out.append(
            f"soft-deleted: {short_id(item['id'])}, restorable until {item.get('purge_at') or 'unknown'}"
        )
    for line in report.get("skipped", []):
        out.append(f"skipped: {line}")
    for line in report.get("deferred", []):
        out.append(f"deferred: {line}")
    for line in report.get("errors", []):
        out.append(f"error: {line}")
    if report.get("cost") is not None:
        out.append(cost_summary(report))
    s = report["summary"]
    out.append(
        f"\n{s['images']} images, {s['actions']} actions: {s['succeeded']} succeeded, {s['failed']} failed, "
        f"{s['planned']} planned, {s.get('deferred', 0)} deferred; {s['notifications']} events; "
        f"{s['errors']} errors"
        + (f"; {s['deferred_images']} images deferred to the next run" if s.get("deferred_images") else "")
    )
    return "\n".join(out)


def cost_summary(report: dict[str, Any]) -> str:
    """The monthly cost change of a run's plan, with the date of the prices it used."""
    cost = report["cost"]
    lines = [
        f"cost change: {report['cost_delta_per_month']:+,.2f} {cost['currency']}/month "
        f"(replica storage, prices of {cost['prices_date']})"
    ]
    by_region: dict[str, float] = {}
    for line in cost["lines"]:
        if line["delta_per_month"] is not None:
            by_region[line["region"]] = by_region.get(line["region"], 0.0) + line["delta_per_month"]
    if by_region:
        lines.append("  by region: " + ", ".join(f"{r} {v:+,.2f}" for r, v in sorted(by_region.items())))
    if cost["unpriced"]:
        lines.append(f"  not costed (size or price unknown): {', '.join(cost['unpriced'][:5])}")
    return "\n".join(lines)
