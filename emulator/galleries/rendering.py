"""How galleries, image definitions and versions read back (GET bodies and `$expand`)."""

from __future__ import annotations

import copy
from datetime import datetime
from typing import TYPE_CHECKING, Any

from emulator import envelope, regions
from emulator.galleries.model import GALLERY, LRO_FAIL_DETAILS, ImageVersion
from emulator.state import Resource

if TYPE_CHECKING:
    from emulator.state import State


def render(state: State, res: Resource, expand: set[str] | None = None) -> dict[str, Any]:
    props = copy.deepcopy(res.properties)
    if res.type == GALLERY:
        # The name shared images are addressed by (`/SharedGalleries/{uniqueName}/...`): the subscription id,
        # a dash and the gallery name upper-cased (sharingExamples/Gallery_Create_WithSharingProfile.json).
        props["identifier"] = {"uniqueName": f"{res.subscription}-{res.name.upper()}"}
        props.setdefault("sharingProfile", {"permissions": "Private"})
        if props["sharingProfile"].get("permissions", "Private") != "Private":
            # Sharing completes at once here; Azure reports it per region (sharingExamples/
            # CommunityGallery_Get.json: aggregatedState and a summary entry for the gallery's region).
            props["sharingStatus"] = {
                "aggregatedState": "Succeeded",
                "summary": [{"region": regions.normalize(res.location), "state": "Succeeded", "details": ""}],
            }
        props.setdefault("softDeletePolicy", {"isSoftDeleteEnabled": False})
    body = envelope.render(res, props)  # the envelope every family answers with (emulator/envelope.py)
    if isinstance(res, ImageVersion) and expand:
        now = state.now()
        if "replicationstatus" in expand:
            body["properties"]["replicationStatus"] = replication_status(res, now)
    return body


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
