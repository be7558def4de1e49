"""The Azure region catalogue: canonical names, display names, and suggestions for misspellings."""

from __future__ import annotations

import difflib

# (name, display name) for Azure public cloud regions, sovereign clouds and common US government regions.
REGIONS: tuple[tuple[str, str], ...] = (
    ("eastus", "East US"),
    ("eastus2", "East US 2"),
    ("southcentralus", "South Central US"),
    ("westus", "West US"),
    ("westus2", "West US 2"),
    ("westus3", "West US 3"),
    ("centralus", "Central US"),
    ("northcentralus", "North Central US"),
    ("westcentralus", "West Central US"),
    ("canadacentral", "Canada Central"),
    ("canadaeast", "Canada East"),
    ("brazilsouth", "Brazil South"),
    ("brazilsoutheast", "Brazil Southeast"),
    ("mexicocentral", "Mexico Central"),
    ("chilecentral", "Chile Central"),
    ("northeurope", "North Europe"),
    ("westeurope", "West Europe"),
    ("uksouth", "UK South"),
    ("ukwest", "UK West"),
    ("francecentral", "France Central"),
    ("francesouth", "France South"),
    ("germanywestcentral", "Germany West Central"),
    ("germanynorth", "Germany North"),
    ("switzerlandnorth", "Switzerland North"),
    ("switzerlandwest", "Switzerland West"),
    ("norwayeast", "Norway East"),
    ("norwaywest", "Norway West"),
    ("swedencentral", "Sweden Central"),
    ("swedensouth", "Sweden South"),
    ("polandcentral", "Poland Central"),
    ("italynorth", "Italy North"),
    ("spaincentral", "Spain Central"),
    ("austriaeast", "Austria East"),
    ("belgiumcentral", "Belgium Central"),
    ("denmarkeast", "Denmark East"),
    ("eastasia", "East Asia"),
    ("southeastasia", "Southeast Asia"),
    ("japaneast", "Japan East"),
    ("japanwest", "Japan West"),
    ("koreacentral", "Korea Central"),
    ("koreasouth", "Korea South"),
    ("australiaeast", "Australia East"),
    ("australiasoutheast", "Australia Southeast"),
    ("australiacentral", "Australia Central"),
    ("australiacentral2", "Australia Central 2"),
    ("newzealandnorth", "New Zealand North"),
    ("centralindia", "Central India"),
    ("southindia", "South India"),
    ("westindia", "West India"),
    ("jioindiawest", "Jio India West"),
    ("jioindiacentral", "Jio India Central"),
    ("indonesiacentral", "Indonesia Central"),
    ("malaysiawest", "Malaysia West"),
    ("uaenorth", "UAE North"),
    ("uaecentral", "UAE Central"),
    ("qatarcentral", "Qatar Central"),
    ("israelcentral", "Israel Central"),
    ("southafricanorth", "South Africa North"),
    ("southafricawest", "South Africa West"),
    ("usgovvirginia", "USGov Virginia"),
    ("usgovarizona", "USGov Arizona"),
    ("usgovtexas", "USGov Texas"),
    ("chinanorth3", "China North 3"),
    ("chinaeast3", "China East 3"),
)

_BY_KEY: dict[str, str] = {}
for _name, _display in REGIONS:
    _BY_KEY[_name] = _name
    _BY_KEY[_display.replace(" ", "").lower()] = _name
DISPLAY_NAMES: dict[str, str] = dict(REGIONS)


def normalize_region(value: str) -> str:
    """`"West Europe"`, `"westeurope"` and `"WestEurope"` all become `"westeurope"`.

    Unknown names are lower-cased with spaces removed, so comparisons still line up; use
    `is_known_region` to validate.
    """
    key = value.replace(" ", "").replace("-", "").lower()
    return _BY_KEY.get(key, key)


def is_known_region(value: str) -> bool:
    return value.replace(" ", "").replace("-", "").lower() in _BY_KEY


def display_name(region: str) -> str:
    name = normalize_region(region)
    return DISPLAY_NAMES.get(name, region)


def suggest_region(value: str) -> str | None:
    """The closest known region name, for an error message about a misspelt one."""
    key = value.replace(" ", "").replace("-", "").lower()
    matches = difflib.get_close_matches(key, [name for name, _ in REGIONS], n=1, cutoff=0.6)
    return matches[0] if matches else None
