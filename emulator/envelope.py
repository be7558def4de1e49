"""How a stored resource reads back: ARM's resource envelope, written once for every family.

`{name, id, type, location}`, `tags` when the resource has any (an untagged resource answers without the
key), the top-level fields the family keeps beside the properties (`sku`, `identity`, `zones`,
`instanceId`, ...: `Resource.extra`), then `properties` with `provisioningState` last, as ComputeRP and
DiskRP answer (cli-recordings/test_shared_gallery.yaml: the managed image GET; test_gallery_image_version_vhd
.yaml: the disk GET, `sku` after `tags`). The order of the first keys is a parameter: Image Builder's answers
come in the emulator with `id` first (Azure's own order differs and JSON objects are unordered, so no client
reads it). A family that adds derived properties (a gallery's `identifier`, a template's `lastRunStatus`)
passes its properties in, or adds them after `provisioningState` where it always has.
"""

from __future__ import annotations

import copy
from typing import Any

from emulator.state import Resource

NAME_FIRST = ("name", "id", "type", "location")  # ComputeRP, DiskRP and GalleryRP answers
ID_FIRST = ("id", "name", "type", "location")  # Image Builder templates
CHILD = ("id", "name", "type")  # Image Builder's template children (triggers): no location


def envelope(res: Resource, head: tuple[str, ...] = NAME_FIRST) -> dict[str, Any]:
    """The envelope without `properties`: the `head` fields in order, `tags` if any, then `extra`."""
    body: dict[str, Any] = {key: getattr(res, key) for key in head}
    if res.tags is not None:
        body["tags"] = dict(res.tags)
    body.update(copy.deepcopy(res.extra))
    return body


def render(
    res: Resource, properties: dict[str, Any] | None = None, *, head: tuple[str, ...] = NAME_FIRST
) -> dict[str, Any]:
    """The whole answer: the envelope and `properties` (a copy of the stored ones unless the family passes
    its own) ending with `provisioningState`."""
    body = envelope(res, head)
    props = copy.deepcopy(res.properties) if properties is None else properties
    props["provisioningState"] = res.provisioning_state
    body["properties"] = props
    return body
