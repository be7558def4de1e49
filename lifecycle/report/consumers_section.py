"""The report's consumer sections: "Consumers at risk" (versions at or near their end-of-life that machines
still run, by owner) and "Running latest in production" (production machines that follow an image's
`latest` instead of naming a version). Pure: the report's image rows and the JSON of who runs what."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from lifecycle.inventory import SCALE_SET

# Without `consumers.warn_days` the report still looks this far ahead.
DEFAULT_HORIZON_DAYS = 30
NO_OWNER = "(no owner tag)"


def consumer_sections(
    images: Sequence[Mapping[str, Any]],
    who_runs: Mapping[str, Any],
    today: date,
    warn_days: int | None,
) -> dict[str, Any]:
    horizon = today + timedelta(days=warn_days or DEFAULT_HORIZON_DAYS)
    timelines = {
        f"{str(image['id']).lower()}/versions/{row['version']}": (image, row)
        for image in images
        for row in image.get("versions", ())
    }
    at_risk = []
    for entry in who_runs.get("versions", ()):
        found = timelines.get(str(entry["version"]).lower())
        machines = [c for c in entry["consumers"] if c["kind"] != SCALE_SET]
        if found is None or not machines:
            continue
        image, row = found
        eol = row.get("end_of_life")
        if not eol or date.fromisoformat(eol) > horizon:
            continue
        owners: dict[str, int] = {}
        for consumer in machines:
            owner = consumer.get("owner") or NO_OWNER
            owners[owner] = owners.get(owner, 0) + 1
        at_risk.append(
            {
                "version": entry["version"],
                "image": image["image"],
                "name": row["version"],
                "end_of_life": eol,
                "days_left": (date.fromisoformat(eol) - today).days,
                "machines": len(machines),
                "production": sum(1 for c in machines if c.get("production")),
                "owners": [{"owner": o, "machines": n} for o, n in sorted(owners.items())],
            }
        )
    at_risk.sort(key=lambda r: (r["end_of_life"], r["version"].lower()))
    return {"at_risk": at_risk, "latest_in_production": list(who_runs.get("latest_in_production", ()))}
