"""Hypothesis strategies for policy documents: valid ones drawn from the schema's rules, and invalid ones
made by breaking one thing in a valid one, each with the key path its rejection must name."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

import yaml
from hypothesis import strategies as st

from lifecycle.regions import REGIONS, is_known_region
from tests.reliability.strategies import GALLERY_ID, ODD, SUB

REGION_NAMES = [name for name, _ in REGIONS]
CRONS = ["0 4 * * 1", "*/15 * * * *", "0 0 1 * *", "30 2 * * 0-4", "0 */6 * * *"]
BAD_CRONS = ["0 4 * *", "61 4 * * 1", "* * * * * *", "every monday", "", "0 4 * * 8"]
TEMPLATE = (
    f"/subscriptions/{SUB}/resourceGroups/rg-builds/providers/Microsoft.VirtualMachineImages/imageTemplates/"
)
TAG_NAME = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="<>%&\\?/"),
    min_size=1,
    max_size=30,
).filter(lambda n: not n.lower().startswith("lifecycle.") and n.strip() == n and n)
TAG_VALUE = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60)
GALLERY_NAMES = st.from_regex(r"\A[A-Za-z0-9](?:[A-Za-z0-9_.]{0,20}[A-Za-z0-9])?\Z")
IMAGE_PATTERNS = st.sampled_from(["*", "ubuntu-*", "win?022", "rhel[89]", "ubuntu-24.04", "x_y.z", "a"])


@st.composite
def replication(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        names = draw(st.lists(st.sampled_from(REGION_NAMES), unique=True, max_size=5))
        out["regions"] = {n: draw(st.integers(1, 100)) for n in names}
    if draw(st.booleans()):
        out["storage_account_type"] = draw(
            st.sampled_from(["Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS", None])
        )
    for key in ("prune_regions", "promote_when_replicated"):
        if draw(st.booleans()):
            out[key] = draw(st.booleans())
    return out


@st.composite
def metadata(draw: st.DrawFn) -> dict[str, Any]:
    # Up to Azure's 40 each: the defaults' tags and an image's add up, which is where limits break.
    size = draw(st.sampled_from([(0, 3), (15, 25), (35, 40)]))
    out: dict[str, Any] = {
        "tags": draw(st.dictionaries(TAG_NAME, TAG_VALUE, min_size=size[0], max_size=size[1]))
    }
    if draw(st.booleans()):
        out["await_build_minutes"] = draw(st.none() | st.integers(0, 1440))
    return out


@st.composite
def retention(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    optional = st.none() | st.integers(0, 3650)
    if draw(st.booleans()):
        out["lifetime_days"] = draw(st.none() | st.integers(1, 3650))
    if draw(st.booleans()):
        out["keep_latest"] = draw(st.integers(1, 50))
    if draw(st.booleans()):
        out["delete_after_days"] = draw(optional)
    if draw(st.booleans()):
        out["max_deletes_per_run"] = draw(st.integers(0, 1000))
    if draw(st.booleans()):
        out["delete_failed_after_days"] = draw(optional)
    return out


@st.composite
def rebake(draw: st.DrawFn) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if draw(st.booleans()):
        out["schedule"] = draw(st.sampled_from(CRONS))
    if draw(st.booleans()):
        out["max_age_days"] = draw(st.integers(1, 365))
    trigger = draw(st.sampled_from(["template", "event", "none"] if not out else ["template", "event"]))
    if trigger == "template":
        out["image_template"] = TEMPLATE + draw(st.sampled_from(["ubuntu", "win-2022", "t.1"]))
    elif trigger == "event":
        out["publish_event"] = True
    return out


SECTIONS = {"replication": replication, "metadata": metadata, "retention": retention, "rebake": rebake}


@st.composite
def image_settings(draw: st.DrawFn) -> dict[str, Any]:
    chosen = draw(st.lists(st.sampled_from(sorted(SECTIONS)), unique=True, max_size=4))
    return {name: draw(SECTIONS[name]()) for name in chosen}


@st.composite
def valid_policies(draw: st.DrawFn) -> dict[str, Any]:
    doc: dict[str, Any] = {"schema": 1}
    if draw(st.booleans()):
        doc["mode"] = draw(st.sampled_from(["enforce", "dry-run"]))
    if draw(st.booleans()):
        doc["defaults"] = draw(image_settings())
    names = draw(st.lists(GALLERY_NAMES, min_size=1, max_size=3, unique_by=str.lower))
    galleries = []
    for name in names:
        gallery: dict[str, Any] = {"id": GALLERY_ID.rsplit("/", 1)[0] + "/" + name}
        if draw(st.booleans()):
            patterns = draw(st.lists(IMAGE_PATTERNS, unique=True, min_size=1, max_size=3))
            gallery["images"] = {p: draw(image_settings()) for p in patterns}
        galleries.append(gallery)
    doc["galleries"] = galleries
    # An image's tags add to the defaults' (40 at most together): trim the image's to stay valid.
    base = set(doc.get("defaults", {}).get("metadata", {}).get("tags", {}))
    for gallery in galleries:
        for settings in gallery.get("images", {}).values():
            tags = settings.get("metadata", {}).get("tags")
            if tags is not None:
                while len(base | set(tags)) > 40:
                    tags.pop(next(k for k in tags if k not in base))
    return doc


@dataclass
class Broken:
    document: dict[str, Any]
    path: str  # the key path the rejection must name (a prefix of one problem line)
    how: str


def _sections(doc: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every place an ImageSettings lives, with its key path."""
    places = [("defaults", doc.setdefault("defaults", {}))]
    for index, gallery in enumerate(doc["galleries"]):
        for pattern, settings in gallery.get("images", {}).items():
            places.append((f"galleries.{index}.images.{pattern}", settings))
    return places


@st.composite
def broken_policies(draw: st.DrawFn) -> Broken:
    doc = copy.deepcopy(draw(valid_policies()))
    how = draw(
        st.sampled_from(
            [
                "unknown-key",
                "unknown-top-key",
                "wrong-type",
                "negative",
                "unknown-region",
                "bad-cron",
                "bad-gallery-id",
                "schema",
                "mode",
                "no-galleries",
                "duplicate-gallery",
                "reserved-tag",
                "two-triggers",
                "no-trigger",
                "bad-template",
                "too-many-tags",
                "bad-image-pattern",
                "long-tag-value",
            ]
        )
    )
    place, settings = draw(st.sampled_from(_sections(doc)))
    if how == "unknown-key":
        section = draw(st.sampled_from(sorted(SECTIONS)))
        key = draw(st.sampled_from(["region", "keep_lastest", "tagz", "cron", "x"]))
        settings.setdefault(section, {})[key] = 1
        if section == "metadata":
            settings[section].setdefault("tags", {})
        return Broken(doc, f"{place}.{section}.{key}", how)
    if how == "unknown-top-key":
        key = draw(st.sampled_from(["gallery", "default", "modes", "Schema"]))
        doc[key] = {}
        return Broken(doc, key, how)
    if how == "wrong-type":
        field, value = draw(
            st.sampled_from(
                [
                    ("retention.keep_latest", "three"),
                    ("retention.lifetime_days", [90]),
                    ("replication.prune_regions", "maybe"),
                    ("replication.regions", ["eastus"]),
                    ("metadata.tags", "owner=me"),
                    ("metadata.await_build_minutes", "ten"),
                    ("rebake.publish_event", {"yes": 1}),
                ]
            )
        )
        section, key = field.split(".")
        target = settings.setdefault(section, {})
        target[key] = value
        if section == "rebake":  # the trigger rules must not be what is reported
            target.pop("schedule", None)
            target.pop("max_age_days", None)
            target.pop("image_template", None)
        return Broken(doc, f"{place}.{field}", how)
    if how == "negative":
        field = draw(
            st.sampled_from(
                [
                    "retention.lifetime_days",
                    "retention.keep_latest",
                    "retention.delete_after_days",
                    "retention.max_deletes_per_run",
                    "metadata.await_build_minutes",
                ]
            )
        )
        section, key = field.split(".")
        settings.setdefault(section, {})[key] = draw(st.integers(-10_000, -1))
        return Broken(doc, f"{place}.{field}", how)
    if how == "unknown-region":
        name = draw(st.sampled_from(["westeurpoe", "mars", "east-us-9", "EASTUS "]) | ODD.filter(bool))
        regions = settings.setdefault("replication", {}).setdefault("regions", {})
        if is_known_region(name):
            name = name + "x1"
        regions[name] = 1
        return Broken(doc, f"{place}.replication.regions", how)
    if how == "bad-cron":
        settings["rebake"] = {"schedule": draw(st.sampled_from(BAD_CRONS)), "publish_event": True}
        return Broken(doc, f"{place}.rebake.schedule", how)
    if how == "bad-gallery-id":
        index = draw(st.integers(0, len(doc["galleries"]) - 1))
        doc["galleries"][index]["id"] = draw(
            st.sampled_from(
                [
                    GALLERY_ID + "/../other",
                    GALLERY_ID + "?api-version=2020-01-01",
                    GALLERY_ID.replace("golden", "gold%2Fen"),
                    GALLERY_ID.replace("golden", ".."),
                    GALLERY_ID.replace("rg-images", "rg/../x"),
                    GALLERY_ID + "/images/ubuntu",
                    "/subscriptions/x",
                    GALLERY_ID + "#fragment",
                    GALLERY_ID.replace("golden", "gol den"),
                ]
            )
            | ODD
        )
        return Broken(doc, f"galleries.{index}.id", how)
    if how == "schema":
        doc["schema"] = draw(st.sampled_from([2, 0, "1", None, "one"]))
        return Broken(doc, "schema", how)
    if how == "mode":
        doc["mode"] = draw(st.sampled_from(["Enforce", "dryrun", "", None, 1]))
        return Broken(doc, "mode", how)
    if how == "no-galleries":
        doc["galleries"] = draw(st.sampled_from([[], None, "golden", {}]))
        return Broken(doc, "galleries", how)
    if how == "duplicate-gallery":
        doc["galleries"].append({"id": doc["galleries"][0]["id"].upper().replace("GALLERIES", "galleries")})
        return Broken(doc, "galleries", how)
    if how == "reserved-tag":
        settings.setdefault("metadata", {}).setdefault("tags", {})["lifecycle.state"] = "x"
        return Broken(doc, f"{place}.metadata.tags", how)
    if how == "too-many-tags":
        settings["metadata"] = {"tags": {f"t{i}": "v" for i in range(41)}}
        return Broken(doc, f"{place}.metadata.tags", how)
    if how == "long-tag-value":
        settings["metadata"] = {"tags": {"owner": "v" * draw(st.integers(257, 100_000))}}
        return Broken(doc, f"{place}.metadata.tags", how)
    if how == "two-triggers":
        settings["rebake"] = {"image_template": TEMPLATE + "t", "publish_event": True}
        return Broken(doc, f"{place}.rebake", how)
    if how == "no-trigger":
        doc.get("defaults", {}).pop("rebake", None)
        for gallery in doc["galleries"]:
            for image in gallery.get("images", {}).values():
                image.pop("rebake", None)
        settings["rebake"] = {"schedule": "0 4 * * 1"}
        return Broken(doc, f"{place}.rebake", how)
    if how == "bad-template":
        settings["rebake"] = {
            "publish_event": False,
            "image_template": draw(
                st.sampled_from([TEMPLATE + "t?x=1", TEMPLATE + "../t", "/subscriptions/x/imageTemplates/t"])
            ),
        }
        return Broken(doc, f"{place}.rebake.image_template", how)
    index = draw(st.integers(0, len(doc["galleries"]) - 1))
    pattern = draw(st.sampled_from(["ubuntu/*", "a" * 81, "x?y=1", "../*", "*#", "a b"]))
    doc["galleries"][index]["images"] = {pattern: {}}
    return Broken(doc, f"galleries.{index}.images", how)


def render(document: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(document, ensure_ascii=False)
    return yaml.safe_dump(document, allow_unicode=True, sort_keys=False)


FORMATS = st.sampled_from(["yaml", "json"])
