"""Replica storage prices and the monthly cost of gallery image replicas. Pure: no I/O, no clock.

Owns the price table's shape (`PriceTable`), the shipped table (`prices.json`, read by `load_prices`),
the parsing of Azure Retail Prices API items into a table (`table_from_retail_items`), and the cost
arithmetic used by `plan` and the fleet report.

Azure bills each replica of a gallery image version as snapshot storage: the version's size times its
replicas times the region's per-GB-month price of the storage type. Sizes are the OS disk plus the data
disks (`storageProfile.osDiskImage.sizeInGB`, `dataDiskImages[].sizeInGB`), in GiB.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from importlib import resources
from types import MappingProxyType
from typing import Any

from lifecycle.actions import Action, ActionKind
from lifecycle.model import ObservedVersion, TargetRegion
from lifecycle.regions import normalize_region

# The storage types a gallery replica can have (GalleryRP `storageAccountType`).
STORAGE_TYPES = ("Standard_LRS", "Standard_ZRS", "Premium_LRS", "PremiumV2_LRS")
# Azure's version-level default when neither the region nor the version names a type.
DEFAULT_STORAGE_TYPE = "Standard_LRS"
# PremiumV2_LRS replicas are priced as Premium SSD snapshots: the Retail Prices API lists no separate
# snapshot meter for them that we could confirm, and the higher of the two readings is the safer estimate.
PRICED_AS = {"PremiumV2_LRS": "Premium_LRS"}


class PriceTableError(ValueError):
    """A price table document that does not have the expected shape."""


def money(value: float | Decimal) -> float:
    """Round to the cent, half up, as a bill shows it (from the float's shortest decimal form, so 5.875
    rounds to 5.88)."""
    return float(Decimal(repr(float(value))).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)) + 0.0


@dataclass(frozen=True)
class PriceTable:
    """Per-GiB-month prices of replica (snapshot) storage, by storage type and region."""

    date: str
    currency: str
    source: str
    prices: Mapping[str, Mapping[str, float]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        frozen = {
            kind: MappingProxyType({normalize_region(r): float(p) for r, p in regions.items()})
            for kind, regions in self.prices.items()
        }
        object.__setattr__(self, "prices", MappingProxyType(frozen))

    def price(self, region: str, storage_type: str | None) -> float | None:
        """Price per GiB-month, or None when the table has none for this region and type."""
        kind = storage_type or DEFAULT_STORAGE_TYPE
        table = self.prices.get(PRICED_AS.get(kind, kind), {})
        found = table.get(region)  # names from the model are already normalized: skip the lookup
        return found if found is not None else table.get(normalize_region(region))

    def label(self) -> str:
        return f"{self.currency} prices of {self.date} ({self.source})"

    def to_json(self) -> dict[str, Any]:
        return {
            "date": self.date,
            "currency": self.currency,
            "source": self.source,
            "prices": {k: dict(sorted(v.items())) for k, v in sorted(self.prices.items())},
        }

    @classmethod
    def from_json(cls, data: Any) -> PriceTable:
        if not isinstance(data, Mapping):
            raise PriceTableError("price table: expected a JSON object")
        problems = [k for k in ("date", "currency", "source", "prices") if k not in data]
        if problems:
            raise PriceTableError(f"price table: missing {', '.join(problems)}")
        prices = data["prices"]
        if not isinstance(prices, Mapping) or not all(isinstance(v, Mapping) for v in prices.values()):
            raise PriceTableError("price table: 'prices' must map storage type -> region -> price")
        for kind, regions in prices.items():
            if kind not in STORAGE_TYPES:
                raise PriceTableError(f"price table: unknown storage type {kind!r}")
            for region, value in regions.items():
                if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
                    raise PriceTableError(f"price table: {kind}.{region}: not a price: {value!r}")
        return cls(str(data["date"]), str(data["currency"]), str(data["source"]), prices)


def load_prices(path: str | None = None) -> PriceTable:
    """The price table at `path`, or the one shipped with the product."""
    if path:
        with open(path, encoding="utf-8") as handle:
            return PriceTable.from_json(json.load(handle))
    text = resources.files(__package__).joinpath("prices.json").read_text(encoding="utf-8")
    return PriceTable.from_json(json.loads(text))


def shipped_prices_path() -> str:
    return str(resources.files(__package__).joinpath("prices.json"))


# --------------------------------------------------------------------------------------------------
# Costs


def replica_cost(size_gb: float | None, replicas: int, price: float | None) -> float | None:
    """Monthly cost of `replicas` copies of a version of `size_gb` GiB; None when size or price is unknown."""
    if size_gb is None or price is None:
        return None
    # Floats: sizes and prices have few digits, and totals are rounded to the cent by `money` once.
    return float(size_gb) * replicas * float(price)


@dataclass(frozen=True)
class CostLine:
    """One version in one region: what changes and what it costs per month (negative: a saving)."""

    version: str
    region: str
    storage_type: str
    size_gb: float | None
    replicas_before: int
    replicas_after: int
    price: float | None
    reason: str

    @property
    def delta(self) -> float | None:
        return replica_cost(self.size_gb, self.replicas_after - self.replicas_before, self.price)

    def to_json(self) -> dict[str, Any]:
        delta = self.delta
        return {
            "version": self.version,
            "region": self.region,
            "storage_type": self.storage_type,
            "size_gb": self.size_gb,
            "replicas_before": self.replicas_before,
            "replicas_after": self.replicas_after,
            "price_per_gb_month": self.price,
            "delta_per_month": None if delta is None else money(delta),
            "reason": self.reason,
        }


@dataclass(frozen=True)
class CostDelta:
    """The monthly cost change of a plan, from a given price table."""

    lines: tuple[CostLine, ...]
    prices: PriceTable

    @property
    def unpriced(self) -> tuple[CostLine, ...]:
        return tuple(line for line in self.lines if line.delta is None)

    @property
    def total(self) -> float:
        return money(sum(line.delta for line in self.lines if line.delta is not None))

    def to_json(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "currency": self.prices.currency,
            "prices_date": self.prices.date,
            "prices_source": self.prices.source,
            "lines": [line.to_json() for line in self.lines],
            "unpriced": [f"{line.version} in {line.region}" for line in self.unpriced],
        }


def replicas_by_region(
    regions: Iterable[Mapping[str, Any]] | Mapping[str, int | None], default: int
) -> dict[str, int]:
    """Region -> replica count from a `{region: count}` mapping (None: the version's default count)."""
    items: Iterable[tuple[Any, Any]]
    if isinstance(regions, Mapping):
        items = regions.items()
    else:
        items = ((r["name"], r.get("replica_count")) for r in regions)
    return {normalize_region(str(name)): int(default if count is None else count) for name, count in items}


def change_lines(
    version: str,
    size_gb: float | None,
    before: Mapping[str, int],
    after: Mapping[str, int],
    storage_types: Mapping[str, str | None],
    prices: PriceTable,
    reason: str,
) -> list[CostLine]:
    """One line per region whose replica count changes between `before` and `after`."""
    lines = []
    for region in sorted(set(before) | set(after)):
        old, new = before.get(region, 0), after.get(region, 0)
        if old == new:
            continue
        kind = storage_types.get(region) or DEFAULT_STORAGE_TYPE
        lines.append(CostLine(version, region, kind, size_gb, old, new, prices.price(region, kind), reason))
    return lines


# --------------------------------------------------------------------------------------------------
# Azure Retail Prices API items -> table

# Which retail meters price which replica storage type: (product name, redundancy). The Retail Prices API
# lists managed-disk snapshots under the managed-disk products, with LRS/ZRS in the meter or SKU name
# (for example productName "Standard HDD Managed Disks", meterName "LRS Snapshots"). Matching is on
# words, not exact strings, because the spelling of snapshot meters varies between products
# ("LRS Snapshots", "Snapshots LRS").
_METERS = {
    "Standard_LRS": ("standard hdd managed disks", "lrs"),
    "Standard_ZRS": ("standard hdd managed disks", "zrs"),
    "Premium_LRS": ("premium ssd managed disks", "lrs"),
}
_UNIT = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(K|M|)?\s*GB/Month\s*$", re.IGNORECASE)
RETAIL_FILTER = (
    "serviceName eq 'Storage' and priceType eq 'Consumption' and "
    "(productName eq 'Standard HDD Managed Disks' or productName eq 'Premium SSD Managed Disks') and "
    "contains(meterName, 'Snapshots')"
)


def _per_gb(item: Mapping[str, Any]) -> float | None:
    match = _UNIT.match(str(item.get("unitOfMeasure", "")))
    price = item.get("retailPrice")
    if not match or not isinstance(price, int | float) or isinstance(price, bool):
        return None
    scale = float(match[1]) * {"": 1, "K": 1000, "M": 1_000_000}[(match[2] or "").upper()]
    return float(price) / scale if scale else None


def _storage_type(item: Mapping[str, Any]) -> str | None:
    product = str(item.get("productName", "")).lower()
    words = set(re.split(r"\W+", f"{item.get('meterName', '')} {item.get('skuName', '')}".lower()))
    if "snapshots" not in words and "snapshot" not in words:
        return None
    for kind, (want_product, redundancy) in _METERS.items():
        if product == want_product and redundancy in words:
            return kind
    return None


def table_from_retail_items(
    items: Iterable[Mapping[str, Any]], *, date: str, source: str, currency: str = "USD"
) -> PriceTable:
    """A price table from Retail Prices API `Items`: for each storage type and region, the price of the
    newest `effectiveStartDate` among consumption items of the wanted currency (tiered items: the
    lowest tier)."""
    chosen: dict[tuple[str, str], tuple[str, float, float]] = {}
    for item in items:
        if str(item.get("type", "Consumption")) != "Consumption":
            continue
        if str(item.get("currencyCode", currency)).upper() != currency.upper():
            continue
        region = str(item.get("armRegionName") or "").strip()
        kind = _storage_type(item)
        price = _per_gb(item)
        if not region or kind is None or price is None:
            continue
        tier = item.get("tierMinimumUnits") or 0
        tier = float(tier) if isinstance(tier, int | float) else 0.0
        start = str(item.get("effectiveStartDate") or "")
        key = (kind, normalize_region(region))
        best = chosen.get(key)
        if best is None or (start, -tier) > (best[0], -best[1]):
            chosen[key] = (start, tier, price)
    prices: dict[str, dict[str, float]] = {}
    for (kind, region), (_, _, price) in sorted(chosen.items()):
        prices.setdefault(kind, {})[region] = round(price, 6)
    if not prices:
        raise PriceTableError("the Retail Prices API answer held no snapshot storage prices")
    return PriceTable(date=date, currency=currency.upper(), source=source, prices=prices)


# --------------------------------------------------------------------------------------------------
# What a version costs now, and what a plan changes


def storage_types(version: ObservedVersion) -> dict[str, str]:
    """Region -> storage type of each replica region (the region's own, else the version's)."""
    fallback = version.storage_account_type or DEFAULT_STORAGE_TYPE
    regions = version.target_regions or (TargetRegion(version.location, version.replica_count or 1),)
    return {r.name: r.storage_account_type or fallback for r in regions}


def current_replicas(version: ObservedVersion) -> dict[str, int]:
    """Region -> replica count as ARM reports it (a version without targetRegions lives at home)."""
    default = version.replica_count or 1
    if not version.target_regions:
        return {version.location: default}
    return {
        r.name: r.replica_count if r.replica_count is not None else default for r in version.target_regions
    }


@dataclass(frozen=True)
class RegionCost:
    region: str
    storage_type: str
    replicas: int
    price: float | None
    monthly: float | None


def version_costs(version: ObservedVersion, prices: PriceTable) -> list[RegionCost]:
    """What each region of a version costs per month now (None where size or price is unknown)."""
    types = storage_types(version)
    out = []
    for region, replicas in sorted(current_replicas(version).items()):
        kind = types.get(region, DEFAULT_STORAGE_TYPE)
        price = prices.price(region, kind)
        out.append(RegionCost(region, kind, replicas, price, replica_cost(version.size_gb, replicas, price)))
    return out


def plan_cost(
    actions: Iterable[Action], versions: Mapping[str, ObservedVersion], prices: PriceTable
) -> CostDelta:
    """The monthly cost change of `actions`: added and removed replicas (replicate) and every replica of
    a deleted version (delete). `versions` maps lower-cased version ids to what ARM reported."""
    lines: list[CostLine] = []
    for action in actions:
        version = versions.get(action.target.lower())
        if version is None:
            continue
        if action.kind is ActionKind.REPLICATE:
            default = version.replica_count or 1
            after_regions = action.after.get("regions") or ()
            before = replicas_by_region(action.before.get("target_regions") or {}, default)
            after = replicas_by_region(action.after.get("target_regions") or {}, default)
            types: dict[str, str | None] = dict(storage_types(version))
            fallback = version.storage_account_type or DEFAULT_STORAGE_TYPE
            for entry in after_regions:
                name = normalize_region(str(entry["name"]))
                types[name] = entry.get("storage_account_type") or types.get(name) or fallback
            lines += change_lines(
                version.ref.id, version.size_gb, before, after, types, prices, action.reason
            )
        elif action.kind is ActionKind.DELETE:
            lines += change_lines(
                version.ref.id,
                version.size_gb,
                current_replicas(version),
                {},
                dict(storage_types(version)),
                prices,
                action.reason,
            )
    return CostDelta(tuple(lines), prices)
