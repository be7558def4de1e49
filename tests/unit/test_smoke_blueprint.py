"""What a smoke run would create, its generated policy and cost, and the checks of its options (pure)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from lifecycle.policy import parse_policy
from lifecycle.pricing import load_prices
from lifecycle.smoke.blueprint import Blueprint, default_second_region, run_id
from lifecycle.smoke.command import SmokeOptions, problems

SUB = "3f2b8c1e-5d4a-4e6b-9a7c-1d2e3f4a5b6c"


def _blueprint(**changes: str) -> Blueprint:
    values = {
        "subscription": SUB,
        "resource_group": "rg-scratch",
        "location": "westeurope",
        "second_region": "northeurope",
        "run": "ab12cd",
    }
    values.update(changes)
    return Blueprint(**values)


def test_the_generated_policy_is_valid_and_covers_only_the_run_gallery() -> None:
    blueprint = _blueprint()
    policy = parse_policy(blueprint.policy())
    assert [g.ref.id for g in policy.galleries] == [blueprint.gallery_id]
    image = policy.for_image(policy.galleries[0].ref.image(blueprint.image))
    assert image is not None
    assert image.approval.required is True
    assert dict(image.replication.regions) == {"westeurope": 1, "northeurope": 1}
    assert image.retention.keep_latest == 1 and image.retention.lifetime_days == 1
    assert policy.for_image(policy.galleries[0].ref.image("other-image")) is None


def test_names_are_valid_azure_names() -> None:
    blueprint = _blueprint(run=run_id())
    assert re.fullmatch(r"[A-Za-z0-9_.]{1,80}", blueprint.gallery)  # no hyphens in gallery names
    assert re.fullmatch(r"[a-z0-9-]{1,80}", blueprint.disk)
    assert re.fullmatch(r"[a-z0-9-]{1,80}", blueprint.snapshot)
    assert len({run_id() for _ in range(50)}) == 50


def test_description_lists_everything_and_the_cost() -> None:
    text = _blueprint().describe(load_prices())
    for kind in ("managed disk", "snapshot", "gallery", "image definition", "image versions"):
        assert kind in text
    assert "Estimated cost: under 0.01 USD" in text
    assert "per month if kept" in text
    assert "--yes" in text


def test_monthly_cost_counts_disk_snapshot_and_replicas() -> None:
    prices = load_prices()
    per_gb = prices.price("westeurope", "Standard_LRS")
    second = prices.price("northeurope", "Standard_LRS")
    assert per_gb is not None and second is not None
    assert _blueprint().monthly_cost(prices) == pytest.approx(33 * per_gb + 2 * (per_gb + second))


def test_default_second_region_differs_from_the_home_region() -> None:
    assert default_second_region("eastus2") == "eastus"
    assert default_second_region("West Europe") == "eastus2"


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"subscription": "my-sub"}, "--subscription 'my-sub': give the subscription id"),
        ({"resource_group": "bad/name"}, "--resource-group 'bad/name'"),
        ({"location": "westeurpoe"}, "did you mean 'westeurope'?"),
        ({"second_region": "westeurope"}, "--second-region 'westeurope': must differ"),
    ],
    ids=["subscription", "resource-group", "location", "second-region"],
)
def test_bad_options_are_named(changes: dict[str, str], problem: str) -> None:
    values = {"subscription": SUB, "resource_group": "rg", "location": "westeurope"}
    values.update(changes)
    found = problems(SmokeOptions(**values))  # type: ignore[arg-type]
    assert any(problem in p for p in found), found


def test_a_record_path_that_is_a_file_is_named(tmp_path: Path) -> None:
    target = tmp_path / "file.yaml"
    target.write_text("x")
    options = SmokeOptions(subscription=SUB, resource_group="rg", location="eastus", record=str(target))
    assert problems(options) == [f"--record {str(target)!r}: not a directory"]
    fresh = SmokeOptions(
        subscription=SUB, resource_group="rg", location="eastus", record=str(tmp_path / "a/b")
    )
    assert problems(fresh) == []


def test_good_options_have_no_problem() -> None:
    assert problems(SmokeOptions(subscription=SUB, resource_group="rg-scratch.1", location="eastus")) == []


def test_the_try_on_azure_page_lists_the_access_a_run_needs() -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "try-on-azure.md").read_text(encoding="utf-8")
    text = " ".join(page.split())
    group, subscription = _blueprint().access()
    actions = [str(a) for a in group["actions"] if str(a).startswith("Microsoft.Compute/")]  # type: ignore[union-attr]
    assert "`Microsoft.Resources/tags/write`" in text
    kinds = list(dict.fromkeys(a.split("/", 1)[1].rsplit("/", 1)[0] for a in actions))
    compact = text.replace(" ", "")
    assert f"Microsoft.Compute/{{{','.join(kinds)}}}/{{read,write,delete}}" in compact
    for action in subscription["actions"]:  # type: ignore[union-attr]
        assert f"`{action}`" in text, action
