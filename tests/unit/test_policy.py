"""Policy validation: every bad key path is named with its value; defaults merge per image."""

from __future__ import annotations

import json

import pytest

from lifecycle.policy import PolicyError, json_schema, parse_policy
from tests.unit.builders import GALLERY_ID, IMAGE, SUB

VALID = f"""
schema: 1
mode: enforce
defaults:
  replication:
    regions: {{eastus: 2, westeurope: 1}}
    storage_account_type: Standard_ZRS
  metadata:
    tags: {{owner: platform-team}}
  retention:
    lifetime_days: 90
    keep_latest: 3
    delete_after_days: 30
  rebake:
    schedule: "0 4 * * 1"
    max_age_days: 30
    publish_event: true
galleries:
  - id: {GALLERY_ID}
    images:
      "*": {{}}
      ubuntu-24.04:
        replication: {{regions: {{eastus: 3, westeurope: 1, southeastasia: 1}}}}
        metadata: {{tags: {{tier: gold}}}}
"""


def _bad(document: str) -> list[str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(document)
    return info.value.problems


def test_valid_policy_and_section_merge() -> None:
    policy = parse_policy(VALID)
    resolved = policy.for_image(IMAGE)
    assert resolved is not None
    assert resolved.replication.regions == {"eastus": 3, "westeurope": 1, "southeastasia": 1}
    assert (
        resolved.replication.storage_account_type == "Standard_ZRS"
    )  # inherited key of an overridden section
    assert resolved.metadata.tags == {"owner": "platform-team", "tier": "gold"}
    assert resolved.retention.lifetime_days == 90


def test_json_is_accepted_too() -> None:
    doc = {"schema": 1, "galleries": [{"id": GALLERY_ID}]}
    assert parse_policy(json.dumps(doc)).mode == "enforce"


def test_images_out_of_scope_are_untouched() -> None:
    doc = {"schema": 1, "galleries": [{"id": GALLERY_ID, "images": {"windows-*": {}}}]}
    policy = parse_policy(json.dumps(doc))
    assert policy.for_image(IMAGE) is None
    assert policy.for_image(IMAGE.gallery_ref.image("windows-2025")) is not None
    other = IMAGE.gallery_ref.__class__(IMAGE.subscription, "rg-other", "golden").image("ubuntu-24.04")
    assert policy.for_image(other) is None


BAD_CASES = [
    pytest.param(
        "defaults: {replication: {regions: {westeurpoe: 1}}}",
        "defaults.replication.regions",
        "did you mean 'westeurope'",
        id="misspelt-region",
    ),
    pytest.param(
        "defaults: {retention: {keep_latst: 2}}",
        "defaults.retention.keep_latst",
        "unknown key",
        id="unknown-key",
    ),
    pytest.param(
        "defaults: {retention: {delete_after_days: -1}}",
        "defaults.retention.delete_after_days",
        "-1",
        id="negative-number",
    ),
    pytest.param(
        "defaults: {retention: {keep_latest: many}}",
        "defaults.retention.keep_latest",
        "'many'",
        id="wrong-type",
    ),
    pytest.param(
        "defaults: {rebake: {schedule: '61 * * * *', publish_event: true}}",
        "defaults.rebake.schedule",
        "cron",
        id="bad-cron",
    ),
    pytest.param(
        "defaults: {rebake: {schedule: '0 4 * * 1'}}",
        "defaults.rebake",
        "needs image_template",
        id="rebake-without-trigger",
    ),
    pytest.param("mode: sometimes", "mode", "'sometimes'", id="bad-mode"),
    pytest.param(
        "defaults: {metadata: {tags: {lifecycle.state: x}}}",
        "defaults.metadata.tags",
        "reserved",
        id="reserved-tag",
    ),
    pytest.param(
        "defaults: {replication: {storage_account_type: Fast}}",
        "defaults.replication.storage_account_type",
        "'Fast'",
        id="bad-storage-type",
    ),
]


@pytest.mark.parametrize(("fragment", "path", "detail"), BAD_CASES)
def test_rejections_name_key_path_and_value(fragment: str, path: str, detail: str) -> None:
    problems = _bad(f"schema: 1\n{fragment}\ngalleries: [{{id: {GALLERY_ID}}}]\n")
    assert any(p.startswith(path) and detail in p for p in problems), problems


@pytest.mark.parametrize(
    ("document", "detail"),
    [
        pytest.param("schema: 2\ngalleries: []", "schema", id="wrong-schema"),
        pytest.param("schema: 1\ngalleries: [{id: /subscriptions/x}]", "galleries.0.id", id="bad-gallery-id"),
        pytest.param("[1, 2]", "must be a mapping", id="not-a-mapping"),
        pytest.param("schema: 1\ngalleries: [{id: x\n", "not valid YAML", id="broken-yaml"),
        pytest.param(
            f"schema: 1\ngalleries: [{{id: {GALLERY_ID}}}, {{id: {GALLERY_ID}}}]",
            "listed twice",
            id="duplicate-gallery",
        ),
    ],
)
def test_document_level_rejections(document: str, detail: str) -> None:
    assert any(detail in p for p in _bad(document))


def test_schema_is_json_schema_with_every_section() -> None:
    schema = json_schema()
    assert schema["title"] == "Image lifecycle policy"
    assert {"Replication", "Retention", "Rebake", "Metadata"} <= set(schema["$defs"])
    assert "schema" in schema["properties"]


def test_an_image_may_switch_the_rebake_trigger() -> None:
    template = (
        f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.VirtualMachineImages/imageTemplates/t"
    )
    doc = {
        "schema": 1,
        "defaults": {"rebake": {"schedule": "0 4 * * 1", "image_template": template}},
        "galleries": [
            {"id": GALLERY_ID, "images": {"*": {}, "ubuntu-24.04": {"rebake": {"publish_event": True}}}}
        ],
    }
    resolved = parse_policy(json.dumps(doc)).for_image(IMAGE)
    assert resolved is not None
    assert resolved.rebake.publish_event and resolved.rebake.image_template is None
    assert resolved.rebake.schedule == "0 4 * * 1"


def test_sections_that_only_break_once_merged_are_rejected_with_their_path() -> None:
    doc = {
        "schema": 1,
        "defaults": {"rebake": {"publish_event": True}},
        "galleries": [
            {
                "id": GALLERY_ID,
                "images": {"ubuntu-24.04": {"rebake": {"publish_event": False, "schedule": "0 4 * * 1"}}},
            }
        ],
    }
    problems = _bad(json.dumps(doc))
    assert any(
        p.startswith("galleries.0.images.ubuntu-24.04.rebake") and "needs image_template" in p
        for p in problems
    )
