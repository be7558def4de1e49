"""Gallery image definition properties: required fields and what cannot change."""

from __future__ import annotations

from typing import Any

from emulator.errors import conflict, invalid_parameter
from emulator.galleries.common import as_object, choice_of
from emulator.state import Resource

IMAGE_IMMUTABLE = ("osType", "osState", "hyperVGeneration", "architecture")
# `allowUpdateImage` only permits a features update; Azure does not answer it (cli-recordings/
# test_gallery_image_definition_update_features.yaml interactions 9 and 11, api-version 2024-03-03).
NOT_KEPT = ("provisioningState", "allowUpdateImage")


def image_properties(existing: Resource | None, props_in: dict[str, Any]) -> dict[str, Any]:
    if existing is None:
        for key in ("osType", "osState", "identifier"):
            if not props_in.get(key):
                raise invalid_parameter(
                    f"Required parameter '{key}' is missing (null).", f"galleryImage.properties.{key}"
                )
        choice_of(props_in["osType"], ("Windows", "Linux"), "galleryImage.properties.osType")
        choice_of(props_in["osState"], ("Generalized", "Specialized"), "galleryImage.properties.osState")
        identifier = as_object(props_in["identifier"], "identifier")
        for key in ("publisher", "offer", "sku"):
            if not identifier.get(key):
                raise invalid_parameter(
                    f"Required parameter '{key}' is missing (null).",
                    f"galleryImage.properties.identifier.{key}",
                )
        props = {k: v for k, v in props_in.items() if k not in NOT_KEPT}
        if props.get("disallowed") == {}:
            # An empty `disallowed` is not answered (cli-recordings/test_gallery_image_definition_update_
            # features.yaml interaction 5).
            del props["disallowed"]
        props.setdefault("hyperVGeneration", "V1")
        props.setdefault("architecture", "x64")
        return props
    props = dict(existing.properties)
    for key, value in props_in.items():
        if key in NOT_KEPT or value is None:
            continue
        current = props.get(key)
        if key in IMAGE_IMMUTABLE and current is not None and str(value).lower() != str(current).lower():
            raise conflict(
                "PropertyChangeNotAllowed",
                f"Changing property '{key}' is not allowed.",
                f"galleryImage.properties.{key}",
            )
        if key == "identifier" and current is not None:
            cur_ident = {k.lower(): str(v).lower() for k, v in current.items()}
            new_ident = {k.lower(): str(v).lower() for k, v in as_object(value, "identifier").items()}
            if cur_ident != new_ident:
                raise conflict(
                    "PropertyChangeNotAllowed",
                    "Changing property 'identifier' is not allowed.",
                    "galleryImage.properties.identifier",
                )
        props[key] = value
    return props
