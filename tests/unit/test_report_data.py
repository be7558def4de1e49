"""The fleet report's data for a known fleet: the replication matrix, the timeline's dates and states, and
the monthly cost to the cent from the shipped price table. Pure, no I/O."""

from __future__ import annotations

from dataclasses import replace

from lifecycle.executor import FAILED, PLANNED, Outcome
from lifecycle.model import ImageUsage, ProvisioningState, RegionStatus, ReplicationState
from lifecycle.planning import plan_image
from lifecycle.pricing import load_prices
from lifecycle.report import ImageInput, build_report, render_html
from tests.unit.builders import T0, days, image, policy, version

POLICY = policy(
    {
        "replication": {"regions": {"eastus": 2, "westeurope": 1, "japaneast": 1}},
        "retention": {"lifetime_days": 90, "keep_latest": 1, "delete_after_days": 30},
    }
)


def fleet() -> dict:  # type: ignore[type-arg]
    old = replace(
        version(
            "1.0.0", published=T0 - days(200), eol=T0 - days(110), regions={"eastus": 2, "westeurope": 1}
        ),
        size_gb=30.0,
    )
    new = replace(
        version(
            "1.0.1",
            published=T0 - days(20),
            eol=T0 + days(70),
            regions={"eastus": 2, "westeurope": 1},
            storage="Standard_ZRS",
        ),
        size_gb=94.0,
        region_status=(
            RegionStatus("eastus", ReplicationState.COMPLETED, 100),
            RegionStatus("westeurope", ReplicationState.REPLICATING, 40),
        ),
    )
    failed = version("1.0.2", published=T0 - days(1), state=ProvisioningState.FAILED)
    old = replace(old, tags={"lifecycle.state": "revoked", "lifecycle.revoked-reason": "CVE-2026-0001"})
    observed = image(old, new, failed)
    plan = plan_image(POLICY, observed, T0, usage=ImageUsage(), delete_budget=10)
    outcomes = [Outcome(a, PLANNED) for a in plan.actions]
    outcomes[0] = Outcome(plan.actions[0], FAILED, "boom")
    return build_report(
        now=T0,
        mode="plan",
        images=[ImageInput(POLICY, observed, plan)],
        prices=load_prices(),
        outcomes=outcomes,
        errors=["a gallery was out of reach"],
    )


def test_matrix_shows_the_newest_healthy_version_against_the_policy() -> None:
    report = fleet()
    assert report["regions"] == ["eastus", "japaneast", "westeurope"]
    (row,) = report["images"]
    assert row["matrix_version"] == "1.0.1"
    cells = {r: (c["replicas"], c["wanted"], c["state"]) for r, c in row["cells"].items()}
    assert cells == {
        "eastus": (2, 2, "Completed"),
        "westeurope": (1, 1, "Replicating"),
        "japaneast": (None, 1, "missing"),
    }


def test_timeline_dates_and_states() -> None:
    (row,) = fleet()["images"]
    timeline = {v["version"]: v for v in row["versions"]}
    assert timeline["1.0.0"]["published"] == "2025-06-15"
    assert timeline["1.0.0"]["end_of_life"] == "2025-09-13"
    assert timeline["1.0.0"]["delete"] == "2025-10-13"
    assert (timeline["1.0.0"]["state"], timeline["1.0.0"]["class"]) == ("revoked", "revoked")
    assert timeline["1.0.1"]["published"] == "2025-12-12"
    assert timeline["1.0.1"]["end_of_life"] == "2026-03-12"
    assert timeline["1.0.1"]["class"] == "active"
    assert timeline["1.0.2"]["class"] == "failed"


def test_costs_to_the_cent_from_the_shipped_table() -> None:
    cost = fleet()["cost"]
    prices = load_prices()
    assert cost["prices_date"] == prices.date and cost["currency"] == "USD"
    # 1.0.0: Standard_LRS 30 GiB: eastus 2 x 30 x 0.05 = 3.00, westeurope 1 x 30 x 0.05 = 1.50
    # 1.0.1: Standard_ZRS 94 GiB: eastus 2 x 94 x 0.0625 = 11.75, westeurope 1 x 94 x 0.0625 = 5.875
    (row,) = cost["per_image"]
    assert row["regions"] == {"eastus": 14.75, "westeurope": 7.38}
    assert row["total"] == 22.13
    assert cost["per_region"] == {"eastus": 14.75, "westeurope": 7.38}
    assert cost["total"] == 22.13
    # The failed version reports no size: it is listed, not counted as free.
    assert cost["unpriced"] == ["ubuntu-24.04 1.0.2 in eastus: size unknown"]


def test_failures_deferred_and_rebakes() -> None:
    report = fleet()
    failures = [f["what"] for f in report["failures"]]
    assert "provisioning failed" in failures
    assert any(f.startswith("delete: boom") or ": boom" in f for f in failures)
    assert "a gallery was out of reach" in failures
    assert report["summary"]["failures"] == len(failures)
    assert report["deferred"] and all(d["what"].endswith(" planned") for d in report["deferred"])


def test_approvals_and_revocations() -> None:
    report = fleet()
    assert report["approvals"] == [
        {
            "image": "ubuntu-24.04",
            "version": "1.0.0",
            "state": "revoked",
            "approved_by": None,
            "revoked_reason": "CVE-2026-0001",
            "parent_revoked": None,
        }
    ]


def test_html_is_self_contained_and_carries_the_data() -> None:
    html = render_html(fleet())
    assert "<script" not in html.lower()
    assert "http://" not in html.replace("http://www.w3.org/", "")
    assert "https://" not in html
    assert "default-src 'none'" in html
    assert 'data-region="japaneast" data-state="missing"' in html
    assert load_prices().date in html


def test_parts_merge_into_the_report_of_the_whole_fleet() -> None:
    from lifecycle.model import ImageRef
    from lifecycle.report import merge_reports
    from tests.unit.builders import SUB

    def item(name: str, regions: dict[str, int], gb: float) -> ImageInput:
        ref = ImageRef(SUB, "rg-images", "golden", name)
        v = replace(
            version("1.0.0", published=T0 - days(5), regions=regions), ref=ref.version("1.0.0"), size_gb=gb
        )
        observed = replace(image(v), ref=ref)
        return ImageInput(POLICY, observed, plan_image(POLICY, observed, T0))

    items = [item("a", {"eastus": 2}, 30.0), item("b", {"eastus": 1, "westeurope": 1}, 94.0)]
    prices = load_prices()
    whole = build_report(now=T0, mode="enforce", images=items, prices=prices)
    parts = [build_report(now=T0, mode="enforce", images=[i], prices=prices) for i in items]
    merged = merge_reports(parts, now=T0, mode="enforce")
    for key in ("images", "regions", "axis", "summary", "rebakes", "approvals", "failures"):
        assert merged[key] == whole[key], key
    assert merged["cost"] == whole["cost"]
    assert render_html(merged)
