"""Where the fleet report goes after a run: every sweep writes `reports/latest.html` and `.json` to the
state container. A sweep that reconciles in process reports what it read. A fanned-out sweep reconciles
nothing itself, so each queue run writes its image's part (`reports/images/<image>.json`) and the next sweep
assembles the parts of the images in scope: the report is then as fresh as the last queue run of each.

Writing a report never fails a run: a failure is logged and noted as skipped."""

from __future__ import annotations

import json
import logging
from typing import Any

from lifecycle.gateways.errors import GatewayError
from lifecycle.gateways.ports import StateStore
from lifecycle.gateways.storage import safe_blob_name
from lifecycle.model import ImageRef
from lifecycle.reconcile.notes import Note, kind_of
from lifecycle.reconcile.results import RunReport
from lifecycle.report import build_report, merge_reports

log = logging.getLogger(__name__)

REPORT_HTML, REPORT_JSON = "reports/latest.html", "reports/latest.json"


def part_name(image: ImageRef) -> str:
    return f"reports/images/{safe_blob_name(image.key())}.json"


def _store_report(store: StateStore, data: dict[str, Any]) -> None:
    from lifecycle.reconcile.delivery import dead_letter_summary
    from lifecycle.report import render_html

    data["dead_letters"] = dead_letter_summary(store)

    store.write_file(REPORT_JSON, json.dumps(data, indent=1).encode(), content_type="application/json")
    store.write_file(REPORT_HTML, render_html(data).encode(), content_type="text/html; charset=utf-8")


def write_fleet_report(store: StateStore, report: RunReport) -> None:
    """The report of a sweep that reconciled every image itself."""
    try:
        _store_report(store, report.fleet_report())
    except GatewayError as exc:
        log.warning("fleet report not written", extra={"error": str(exc)})
        report.skipped.append(Note(kind_of(exc), "", f"fleet report not written: {exc}"))


def write_parts(store: StateStore, report: RunReport) -> None:
    """Each image of a queue run, reported on its own for the next fanned-out sweep to assemble."""
    for item in report.images:
        key = item.observed.ref.key()
        mine = [o for o in report.outcomes if o.action.target.lower().startswith(key)]
        part = build_report(
            now=report.at,
            mode=report.mode,
            images=[item],
            prices=report.price_table(),
            outcomes=mine,
            errors=[e for e in report.errors if e.concerns(key)],
            skipped=[s for s in report.skipped if s.concerns(key)],
        )
        try:
            store.write_file(
                part_name(item.observed.ref), json.dumps(part).encode(), content_type="application/json"
            )
        except GatewayError as exc:
            log.warning("fleet report part not written", extra={"image": key, "error": str(exc)})


def write_from_parts(store: StateStore, report: RunReport, images: list[ImageRef]) -> None:
    """A fanned-out sweep's report: the parts its images' queue runs left (an image not run yet is
    named as such)."""
    try:
        parts = []
        missing = []
        for image in images:
            part, _ = store.read_json(part_name(image))
            if part is None:
                missing.append(image.id)
            else:
                parts.append(part)
        data = report.with_consumers(merge_reports(parts, now=report.at, mode=report.mode))
        data["deferred"] += [
            {"target": image, "what": "not reported yet: its queue run is pending"} for image in missing
        ]
        _store_report(store, data)
    except GatewayError as exc:
        log.warning("fleet report not written", extra={"error": str(exc)})
        report.skipped.append(Note(kind_of(exc), "", f"fleet report not written: {exc}"))
