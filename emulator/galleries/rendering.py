"""How galleries, image definitions and versions read back (GET bodies and `$expand`): the envelope every
family answers with (emulator/envelope.py), a gallery's derived properties (gallery.read_back) and a
version's `$expand=ReplicationStatus` (replication.replication_status)."""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from emulator import envelope
from emulator.galleries.gallery import read_back
from emulator.galleries.model import GALLERY, ImageVersion
from emulator.galleries.replication import replication_status
from emulator.state import Resource

if TYPE_CHECKING:
    from emulator.state import State


def render(state: State, res: Resource, expand: set[str] | None = None) -> dict[str, Any]:
    props = copy.deepcopy(res.properties)
    if res.type == GALLERY:
        read_back(res, props)
    body = envelope.render(res, props)  # the envelope every family answers with (emulator/envelope.py)
    if isinstance(res, ImageVersion) and expand:
        now = state.now()
        if "replicationstatus" in expand:
            body["properties"]["replicationStatus"] = replication_status(res, now)
    return body
