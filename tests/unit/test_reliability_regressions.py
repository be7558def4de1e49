"""Inputs the reliability suites (tests/reliability) found breaking the product, kept as plain tests."""

from __future__ import annotations

import json

import pytest

from lifecycle.events import MalformedEvent, parse_event

VERSION_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-images/providers/Microsoft.Compute"
    "/galleries/golden/images/ubuntu-24.04/versions/0.0.0"
)


def test_an_event_nested_thousands_deep_is_malformed_not_a_recursion_error() -> None:
    # Found by test_fuzz_events: json's decoder raised RecursionError through parse_event.
    head = json.dumps(
        {
            "id": "8e0a3eca-55d2-4169-bc1e-685dfd2e2c6f",
            "eventType": "Microsoft.Resources.ResourceWriteSuccess",
            "data": None,
            "subject": VERSION_ID,
        }
    )[:-1]
    payload = head + ', "x": ' + "[" * 5000 + "]" * 5000 + "}"
    with pytest.raises(MalformedEvent, match="nested too deeply") as caught:
        parse_event(payload)
    assert caught.value.event_type is None  # nothing could be read: the invocation must fail


GALLERY_ID = (
    "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg-images/providers/Microsoft.Compute"
    "/galleries/golden"
)


def test_a_json_policy_with_a_raw_del_character_is_accepted() -> None:
    # Found by test_fuzz_policies: JSON allows U+007F raw in strings, YAML's reader refused it, so a valid
    # JSON policy was rejected.
    from lifecycle.policy import parse_policy

    document = json.dumps(
        {"schema": 1, "defaults": {"metadata": {"tags": {"0": "\x7f"}}}, "galleries": [{"id": GALLERY_ID}]},
        ensure_ascii=False,
    )
    assert parse_policy(document).defaults.metadata is not None


def test_tags_that_add_up_to_more_than_40_are_rejected_when_the_policy_is_read() -> None:
    # Found by test_fuzz_policies: 40 default tags plus 40 image tags were accepted, then every reconcile of
    # that image failed with a validation error.
    from lifecycle.policy import PolicyError, parse_policy

    document = {
        "schema": 1,
        "defaults": {"metadata": {"tags": {f"a{i}": "v" for i in range(40)}}},
        "galleries": [
            {"id": GALLERY_ID, "images": {"*": {"metadata": {"tags": {f"b{i}": "v" for i in range(40)}}}}}
        ],
    }
    with pytest.raises(PolicyError, match=r"galleries\.0\.images\.\*\.metadata\.tags: 80 static tags"):
        parse_policy(json.dumps(document))


def test_a_write_event_before_its_build_event_costs_no_second_write() -> None:
    # Found by test_storm (5,000 deliveries, random.Random(5000)): ubuntu-24.04 1.0.3's ResourceWriteSuccess
    # was handled before its BuildCompleted. The first run wrote regions, end-of-life and tags; the build
    # tags then took a second write, one more than a sweep that had the build makes. With
    # metadata.await_build_minutes the first run waits, and the build event's run writes it all at once.
    from datetime import timedelta

    from lifecycle import tags as lt
    from lifecycle.planning import plan_image
    from lifecycle.state import PendingBuild
    from tests.unit.builders import T0, image, policy, version

    rules = policy(
        {
            "replication": {"regions": {"eastus": 1, "westeurope": 1}},
            "metadata": {"tags": {"owner": "platform"}, "await_build_minutes": 30},
            "retention": {"lifetime_days": 90, "keep_latest": 2, "delete_after_days": 30},
        }
    )
    published = version("1.0.3")
    on_write_event = plan_image(rules, image(published), T0 + timedelta(minutes=3))
    assert on_write_event.actions == ()
    build = PendingBuild(tags={lt.BUILD_ID: "ubuntu-24.04-1.0.3", lt.COMMIT: "c0ffee103"}, received=T0)
    state = on_write_event.state.with_build("1.0.3", build)
    on_build_event = plan_image(rules, image(published), T0 + timedelta(minutes=4), state=state)
    assert {a.target for a in on_build_event.actions} == {published.ref.id}
    tags = next(a.after["tags"] for a in on_build_event.actions if a.after.get("tags"))
    assert tags[lt.BUILD_ID] == "ubuntu-24.04-1.0.3" and tags["owner"] == "platform"


def test_a_failed_version_that_expires_is_tagged_expired() -> None:
    # Found by test_chaos (full run, seeds 8, 23 and 30): app 1.0.2's replication to West Europe failed
    # before it expired; it was then taken out of latest but kept lifecycle.state=active, so the tag said
    # active on an expired version (and healing, rightly, left it alone).
    from datetime import timedelta

    from lifecycle import tags as lt
    from lifecycle.actions import ActionKind
    from lifecycle.model import ObservedVersion, ProvisioningState
    from lifecycle.planning import plan_image
    from tests.unit.builders import T0, image, policy, version

    rules = policy(
        {
            "replication": {"regions": {"eastus": 1, "westeurope": 1, "japaneast": 1}},
            "retention": {"lifetime_days": 20, "keep_latest": 2, "delete_after_days": 10},
        }
    )
    regions = {"eastus": 1, "westeurope": 1, "japaneast": 1}

    def failed(excluded: bool) -> ObservedVersion:
        return version(
            "1.0.2",
            regions=regions,
            state=ProvisioningState.FAILED,
            status={"eastus": "Completed", "westeurope": "Failed", "japaneast": "Completed"},
            tags={lt.STATE: lt.STATE_ACTIVE},
            eol=T0 + timedelta(days=20),
            excluded=excluded,
        )

    newer = [
        version(name, published=T0 + timedelta(days=d), regions=regions, tags={lt.STATE: lt.STATE_ACTIVE})
        for name, d in (("1.0.3", 5), ("1.0.4", 10))
    ]
    for excluded in (False, True):  # whether or not it already left latest
        observed = image(failed(excluded), *newer)
        plan = plan_image(rules, observed, T0 + timedelta(days=22))
        tags = [a.after["tags"] for a in plan.actions if a.kind is ActionKind.TAG and "1.0.2" in a.target]
        assert tags == [{lt.STATE: lt.STATE_EXPIRED}], plan.actions
        assert not any(a.kind is ActionKind.REPLICATE for a in plan.actions), (
            "an expired version is not healed"
        )
