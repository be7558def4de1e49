"""The public Azure region catalogue: programmatic name <-> display name, and availability-zone support.

ARM accepts either form ("westeurope" or "West Europe", any case, spaces ignored); gallery responses echo
target regions in display form. Zone support drives the `PreferStandard_ZRS` storage account strategy.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Region:
    name: str
    display_name: str
    zones: bool


_CATALOGUE: tuple[tuple[str, str, bool], ...] = (
    # Americas
    ("eastus", "East US", True),
    ("eastus2", "East US 2", True),
    ("centralus", "Central US", True),
    ("northcentralus", "North Central US", False),
    ("southcentralus", "South Central US", True),
    ("westcentralus", "West Central US", False),
    ("westus", "West US", False),
    ("westus2", "West US 2", True),
    ("westus3", "West US 3", True),
    ("canadacentral", "Canada Central", True),
    ("canadaeast", "Canada East", False),
    ("brazilsouth", "Brazil South", True),
    ("brazilsoutheast", "Brazil Southeast", False),
    ("mexicocentral", "Mexico Central", True),
    ("chilecentral", "Chile Central", True),
    ("eastus2euap", "East US 2 EUAP", True),
    ("centraluseuap", "Central US EUAP", True),
    # Europe
    ("northeurope", "North Europe", True),
    ("westeurope", "West Europe", True),
    ("uksouth", "UK South", True),
    ("ukwest", "UK West", False),
    ("francecentral", "France Central", True),
    ("francesouth", "France South", False),
    ("germanywestcentral", "Germany West Central", True),
    ("germanynorth", "Germany North", False),
    ("switzerlandnorth", "Switzerland North", True),
    ("switzerlandwest", "Switzerland West", False),
    ("norwayeast", "Norway East", True),
    ("norwaywest", "Norway West", False),
    ("swedencentral", "Sweden Central", True),
    ("swedensouth", "Sweden South", False),
    ("polandcentral", "Poland Central", True),
    ("italynorth", "Italy North", True),
    ("spaincentral", "Spain Central", True),
    ("austriaeast", "Austria East", True),
    ("belgiumcentral", "Belgium Central", True),
    ("denmarkeast", "Denmark East", True),
    # Asia Pacific
    ("eastasia", "East Asia", True),
    ("southeastasia", "Southeast Asia", True),
    ("japaneast", "Japan East", True),
    ("japanwest", "Japan West", True),
    ("koreacentral", "Korea Central", True),
    ("koreasouth", "Korea South", False),
    ("centralindia", "Central India", True),
    ("southindia", "South India", False),
    ("westindia", "West India", False),
    ("jioindiacentral", "Jio India Central", False),
    ("jioindiawest", "Jio India West", False),
    ("australiaeast", "Australia East", True),
    ("australiasoutheast", "Australia Southeast", False),
    ("australiacentral", "Australia Central", False),
    ("australiacentral2", "Australia Central 2", False),
    ("newzealandnorth", "New Zealand North", True),
    ("indonesiacentral", "Indonesia Central", True),
    ("malaysiawest", "Malaysia West", True),
    ("taiwannorth", "Taiwan North", False),
    # Middle East and Africa
    ("uaenorth", "UAE North", True),
    ("uaecentral", "UAE Central", False),
    ("qatarcentral", "Qatar Central", True),
    ("israelcentral", "Israel Central", True),
    ("southafricanorth", "South Africa North", True),
    ("southafricawest", "South Africa West", False),
)

REGIONS: tuple[Region, ...] = tuple(Region(n, d, z) for n, d, z in _CATALOGUE)
_BY_KEY: dict[str, Region] = {r.name: r for r in REGIONS}


def _key(value: str) -> str:
    return "".join(value.split()).lower()


def lookup(value: str | None) -> Region | None:
    """The region for a name or display name (case and spaces ignored), or None if unknown."""
    if not value:
        return None
    return _BY_KEY.get(_key(value))


def is_known(value: str | None) -> bool:
    return lookup(value) is not None


def normalize(value: str) -> str:
    """Programmatic name (`westeurope`) for a known region, else the input squeezed and lowercased."""
    region = lookup(value)
    return region.name if region else _key(value)


def display(value: str) -> str:
    """Display name (`West Europe`) for a known region, else the input unchanged."""
    region = lookup(value)
    return region.display_name if region else value
