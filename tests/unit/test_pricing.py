"""Prices and cost arithmetic: the shipped table, Retail Prices API items -> table, and the monthly cost
change of planned actions. Pure, no I/O (the shipped table is package data)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from lifecycle.actions import Action, ActionKind
from lifecycle.gateways.gallery import disk_size_gb
from lifecycle.planning import plan_image
from lifecycle.pricing import (
    PriceTable,
    PriceTableError,
    load_prices,
    plan_cost,
    table_from_retail_items,
    version_costs,
)
from tests.unit.builders import T0, image, policy, version

PRICES = PriceTable(
    date="2026-11-30",
    currency="USD",
    source="test",
    prices={
        "Standard_LRS": {"eastus": 0.05, "westeurope": 0.055},
        "Standard_ZRS": {"eastus": 0.0625, "westeurope": 0.07},
        "Premium_LRS": {"eastus": 0.12},
    },
)


def sized(v, gb: float):  # type: ignore[no-untyped-def]
    return replace(v, size_gb=gb)


def test_shipped_table_has_a_date_and_prices_for_every_storage_type() -> None:
    table = load_prices()
    assert table.date and table.currency == "USD"
    assert table.price("eastus", "Standard_LRS") == 0.05
    assert table.price("West Europe", "Standard_ZRS") == 0.0625
    assert table.price("eastus", "PremiumV2_LRS") == table.price("eastus", "Premium_LRS")
    assert table.price("eastus", None) == table.price("eastus", "Standard_LRS")
    assert table.price("nowhere", "Standard_LRS") is None


def test_a_bad_table_is_rejected_with_the_problem_named() -> None:
    with pytest.raises(PriceTableError, match="missing date"):
        PriceTable.from_json({"currency": "USD", "source": "x", "prices": {}})
    with pytest.raises(PriceTableError, match=r"Standard_LRS\.eastus: not a price"):
        PriceTable.from_json(
            {"date": "d", "currency": "USD", "source": "x", "prices": {"Standard_LRS": {"eastus": "1"}}}
        )
    with pytest.raises(PriceTableError, match="unknown storage type"):
        PriceTable.from_json({"date": "d", "currency": "USD", "source": "x", "prices": {"Gold": {}}})


def test_disk_size_is_os_plus_data_disks() -> None:
    storage = {"osDiskImage": {"sizeInGB": 30}, "dataDiskImages": [{"lun": 0, "sizeInGB": 64}, {"lun": 1}]}
    assert disk_size_gb(storage) == 94
    assert disk_size_gb({"osDiskImage": {"hostCaching": "ReadOnly"}}) is None
    assert disk_size_gb(None) is None


def test_version_costs_per_region() -> None:
    v = sized(version("1.0.0", regions={"eastus": 2, "westeurope": 1}, storage="Standard_ZRS"), 100)
    costs = {c.region: c.monthly for c in version_costs(v, PRICES)}
    assert costs == {"eastus": pytest.approx(12.5), "westeurope": pytest.approx(7.0)}
    unknown = version_costs(replace(v, size_gb=None), PRICES)
    assert all(c.monthly is None for c in unknown)


def test_plan_cost_of_adding_a_region_and_raising_a_count() -> None:
    v = sized(version("1.0.0", regions={"eastus": 1}, storage="Standard_LRS"), 94)
    plan = plan_image(
        policy(
            {
                "replication": {
                    "regions": {"eastus": 2, "westeurope": 3},
                    "storage_account_type": "Standard_ZRS",
                }
            }
        ),
        image(v),
        T0,
    )
    delta = plan_cost(plan.actions, {v.ref.key(): v}, PRICES)
    lines = {line.region: line for line in delta.lines}
    # eastus keeps its LRS storage (Azure forbids the change): +1 replica x 94 GiB x 0.05
    assert lines["eastus"].storage_type == "Standard_LRS"
    assert lines["eastus"].delta == pytest.approx(4.70)
    # westeurope is added with the policy's ZRS: 3 x 94 x 0.07 = 19.74
    assert lines["westeurope"].storage_type == "Standard_ZRS"
    assert lines["westeurope"].delta == pytest.approx(19.74)
    assert delta.total == 24.44
    data = delta.to_json()
    assert data["prices_date"] == "2026-11-30" and data["currency"] == "USD"
    assert data["unpriced"] == []


def test_plan_cost_of_deleting_a_version_is_a_saving() -> None:
    v = sized(version("1.0.0", regions={"eastus": 2, "westeurope": 1}, storage="Standard_LRS"), 30)
    action = Action(ActionKind.DELETE, v.ref.id, "expired")
    delta = plan_cost([action], {v.ref.key(): v}, PRICES)
    # -(2 x 30 x 0.05) - (1 x 30 x 0.055) = -3.00 - 1.65
    assert delta.total == -4.65


def test_unknown_size_or_price_is_reported_not_counted_as_zero() -> None:
    v = version("1.0.0", regions={"eastus": 1})
    plan = plan_image(policy({"replication": {"regions": {"eastus": 1, "japaneast": 1}}}), image(v), T0)
    delta = plan_cost(plan.actions, {v.ref.key(): v}, PRICES)
    assert delta.total == 0.0
    assert delta.to_json()["unpriced"] == [f"{v.ref.id} in japaneast"]


def retail_item(**overrides: object) -> dict[str, object]:
    """One item shaped as the Retail Prices API documentation shows its `Items` entries."""
    item: dict[str, object] = {
        "currencyCode": "USD",
        "tierMinimumUnits": 0.0,
        "retailPrice": 0.05,
        "unitPrice": 0.05,
        "armRegionName": "eastus",
        "location": "US East",
        "effectiveStartDate": "2024-01-01T00:00:00Z",
        "meterId": "00000000-0000-0000-0000-000000000001",
        "meterName": "LRS Snapshots",
        "productId": "DZH318Z0BP04",
        "skuId": "DZH318Z0BP04/00B6",
        "productName": "Standard HDD Managed Disks",
        "skuName": "Snapshots LRS",
        "serviceName": "Storage",
        "serviceId": "DZH317F1HKN0",
        "serviceFamily": "Storage",
        "unitOfMeasure": "1 GB/Month",
        "type": "Consumption",
        "isPrimaryMeterRegion": True,
        "armSkuName": "",
    }
    item.update(overrides)
    return item


def test_retail_items_become_a_table() -> None:
    items = [
        retail_item(),
        retail_item(retailPrice=0.04, effectiveStartDate="2020-01-01T00:00:00Z"),  # older: ignored
        retail_item(meterName="ZRS Snapshots", skuName="Snapshots ZRS", retailPrice=0.0625),
        retail_item(armRegionName="westeurope", retailPrice=0.055),
        retail_item(
            productName="Premium SSD Managed Disks", meterName="Snapshots LRS Snapshots", retailPrice=0.12
        ),
        retail_item(meterName="LRS Disk Operations", skuName="S4 LRS", retailPrice=0.0005),  # not a snapshot
        retail_item(
            unitOfMeasure="100 GB/Month",
            meterName="LRS Snapshots",
            armRegionName="japaneast",
            retailPrice=6.0,
        ),
        retail_item(type="Reservation", retailPrice=0.01),
        retail_item(currencyCode="EUR", retailPrice=0.01),
    ]
    table = table_from_retail_items(items, date="2026-12-01", source="Retail Prices API")
    assert table.to_json()["prices"] == {
        "Premium_LRS": {"eastus": 0.12},
        "Standard_LRS": {"eastus": 0.05, "japaneast": 0.06, "westeurope": 0.055},
        "Standard_ZRS": {"eastus": 0.0625},
    }
    with pytest.raises(PriceTableError, match="no snapshot storage prices"):
        table_from_retail_items(
            [retail_item(meterName="Disk Operations", skuName="S4")], date="d", source="s"
        )
