"""What one smoke run creates, what it costs, and the policy it runs the product with (pure: no I/O).

Two versions are made from one snapshot so that every stage can be seen on its own: the newer one (the
"build") goes through the release gates and is revoked; the older one expires out of `latest` by date,
as a version does once a newer one exists (the newest version is never expired: `keep_latest` is at
least 1).
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass
from datetime import timedelta

from lifecycle.pricing import PriceTable, money
from lifecycle.regions import display_name, normalize_region

OLD_VERSION = "1.0.0"
NEW_VERSION = "1.1.0"
IMAGE = "smoke-linux"
TAG = "lifecycle.smoke"

# Retention of the generated policy: end-of-life one day after publishing, deletion a day after that.
LIFETIME_DAYS = 1
DELETE_AFTER_DAYS = 1
# The times the lifecycle steps evaluate at, relative to the run's start: past end-of-life but before the
# delete is due, then past both. The version is written with deletion before end-of-life allowed, so
# Azure's clock (which has not moved) does not refuse the delete.
EXPIRY_AFTER = timedelta(days=LIFETIME_DAYS, hours=12)
DELETE_AFTER = timedelta(days=LIFETIME_DAYS + DELETE_AFTER_DAYS, hours=12)

DISK_GB = 1
# A 1 GiB Standard HDD disk is billed as the smallest tier, S4 (32 GiB).
DISK_BILLED_GB = 32
STORAGE = "Standard_LRS"
HOURS_PER_MONTH = 730
EXPECTED_HOURS = 1.0


def run_id() -> str:
    """Six random lowercase letters and digits: unique enough for one resource group, valid in every name."""
    alphabet = string.ascii_lowercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(6))


def default_second_region(location: str) -> str:
    home = normalize_region(location)
    return "eastus" if home == "eastus2" else "eastus2"


@dataclass(frozen=True)
class Blueprint:
    subscription: str
    resource_group: str
    location: str
    second_region: str
    run: str

    @property
    def disk(self) -> str:
        return f"smoke-{self.run}-disk"

    @property
    def snapshot(self) -> str:
        return f"smoke-{self.run}-snapshot"

    @property
    def gallery(self) -> str:
        return f"smoke_{self.run}"  # gallery names allow letters, digits, dots and underscores only

    @property
    def image(self) -> str:
        return IMAGE

    @property
    def tags(self) -> dict[str, str]:
        return {TAG: self.run}

    @property
    def gallery_id(self) -> str:
        return (
            f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
            f"/providers/Microsoft.Compute/galleries/{self.gallery}"
        )

    def policy(self) -> str:
        """The generated policy: both regions, build tags, explicit end-of-life, the approval gate, expiry
        and deletion soon after; only this run's gallery is in scope."""
        home, second = normalize_region(self.location), normalize_region(self.second_region)
        return (
            "schema: 1\n"
            "mode: enforce\n"
            "defaults:\n"
            "  replication:\n"
            f"    regions: {{{home}: 1, {second}: 1}}\n"
            f"    storage_account_type: {STORAGE}\n"
            "  metadata:\n"
            "    tags: {owner: lifecycle-smoke}\n"
            "  retention:\n"
            f"    lifetime_days: {LIFETIME_DAYS}\n"
            "    keep_latest: 1\n"
            f"    delete_after_days: {DELETE_AFTER_DAYS}\n"
            "    max_deletes_per_run: 5\n"
            "  approval:\n"
            "    required: true\n"
            "galleries:\n"
            f"  - id: {self.gallery_id}\n"
            "    images:\n"
            f"      {self.image}: {{}}\n"
        )

    def access(self) -> list[dict[str, object]]:
        """The ARM actions a run needs, per scope, in the shape `permissions --json` prints: writes in the
        resource group, and at the subscription the reads of the in-use check (it lists every VM and scale
        set) and of operation status. Contributor on the resource group plus Reader on the subscription
        covers them."""
        group = f"/subscriptions/{self.subscription}/resourceGroups/{self.resource_group}"
        kinds = ("disks", "snapshots", "galleries", "galleries/images", "galleries/images/versions")
        return [
            {
                "scope": group,
                "actions": [
                    *(f"Microsoft.Compute/{k}/{verb}" for k in kinds for verb in ("read", "write", "delete")),
                    # The app merges its tags onto versions through ARM's Tags API.
                    "Microsoft.Resources/tags/write",
                ],
            },
            {
                "scope": f"/subscriptions/{self.subscription}",
                "actions": [
                    "Microsoft.Compute/virtualMachines/read",
                    "Microsoft.Compute/virtualMachineScaleSets/read",
                    "Microsoft.Compute/virtualMachineScaleSets/virtualMachines/read",
                    "Microsoft.Compute/locations/capsOperations/read",
                    "Microsoft.Compute/locations/DiskOperations/read",
                ],
            },
        ]

    def inventory(self) -> list[tuple[str, str, str]]:
        """(kind, name, what) of everything the run creates, in creation order."""
        home, second = display_name(self.location), display_name(self.second_region)
        return [
            ("managed disk", self.disk, f"{DISK_GB} GiB {STORAGE}, empty, in {home}"),
            ("snapshot", self.snapshot, f"full snapshot of that disk, {STORAGE}"),
            ("gallery", self.gallery, f"in {home}"),
            ("image definition", self.image, "Linux, generalized, Hyper-V Gen2, security type Standard"),
            (
                "image versions",
                f"{OLD_VERSION}, {NEW_VERSION}",
                f"from the snapshot in {home}; the app replicates them to {second}",
            ),
        ]

    def monthly_cost(self, prices: PriceTable) -> float | None:
        """The monthly list price of everything, were it kept: the disk at its billed tier, the snapshot,
        and one replica of each version per region, all at the per-GiB-month price of Standard_LRS
        snapshot storage in the home region. None when the table has no price there."""
        home = prices.price(normalize_region(self.location), STORAGE)
        second = prices.price(normalize_region(self.second_region), STORAGE)
        if home is None or second is None:
            return None
        versions = 2
        return (DISK_BILLED_GB + DISK_GB) * home + versions * DISK_GB * (home + second)

    def describe(self, prices: PriceTable) -> str:
        """What `smoke` without --yes prints."""
        lines = [
            f"smoke would create, in resource group {self.resource_group} of subscription "
            f"{self.subscription}, each tagged {TAG}={self.run}:",
        ]
        width = max(len(kind) for kind, _, _ in self.inventory())
        names = max(len(name) for _, name, _ in self.inventory())
        for kind, name, what in self.inventory():
            lines.append(f"  {kind:{width}}  {name:{names}}  {what}")
        lines.append(
            "then run the app's own reconcile over them (replication, build tags, end-of-life, approval, "
            "revoke, expiry, in-use check, delete) and remove everything it created, also after a failure "
            "or Ctrl-C (unless --keep)."
        )
        lines.append(
            f"Role needed: Contributor on resource group {self.resource_group} and Reader on the "
            "subscription (the in-use check lists its VMs and scale sets)."
        )
        monthly = self.monthly_cost(prices)
        if monthly is None:
            lines.append(f"Estimated cost: no price for {STORAGE} in these regions in the price table.")
        else:
            run = monthly * EXPECTED_HOURS / HOURS_PER_MONTH
            lines.append(
                f"Estimated cost: under {money(max(run, 0.01)):.2f} {prices.currency} for a run of about "
                f"{EXPECTED_HOURS:g} hour; {money(monthly):.2f} {prices.currency} per month if kept "
                f"(list prices of {prices.date}; the disk billed as S4, 32 GiB)."
            )
        lines.append("Nothing was created. Run again with --yes to go ahead.")
        return "\n".join(lines)
