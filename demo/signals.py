"""The demo's chapter on Azure's own signals: a version held for the platform's validation then promoted, a
flagged version quarantined with `latest` moving back in every region, and a base scheduled for deprecation
triggering a rebake. Each signal is set on the emulator the way Azure would report it."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from lifecycle.model import iso
from lifecycle.render import table

if TYPE_CHECKING:
    from demo.story import Demo


def _latest(report: Any, image: str) -> str:
    plan = next(p for p in report.plans if p.image.image == image)
    return ", ".join(f"{region} {name or 'none'}" for region, name in plan.latest.items())


def _lines(report: Any, image: str) -> str:
    lines = []
    for plan in report.plans:
        if plan.image.image != image:
            continue
        for action in plan.actions:
            target = action.target.rsplit("/images/", 1)[-1]
            lines.append(f"  {action.kind.value:20} {target:28} {action.reason}")
        for version in plan.versions:
            lines += [f"  {'(note)':20} {image + ' ' + version.version:28} {n}" for n in version.notes]
    return "\n".join(lines) or "  nothing to do"


def platform_signals(demo: Demo, section: Any, gallery_id: str, market: dict[str, str], urn: str) -> None:
    from demo.story import GALLERY, RG, demo_publish_tagged
    from lifecycle.reconcile import Trigger, reconcile

    def settle(minutes: int = 31) -> None:
        demo.set_time(demo.now() + timedelta(minutes=minutes))

    def sweep(scope: str | None = None) -> Any:
        return reconcile(Trigger("sweep", scope=scope), at=demo.now())

    api = f"{gallery_id}/images/app-api"
    section(
        "Platform validation: app-api needs every validation Azure runs to succeed before it enters latest\n"
        "(approval.require_platform_validation); app-api 3.0.0 is published into latest before Azure ran any"
    )
    body = {
        "location": "eastus",
        "properties": {
            "osType": "Linux",
            "osState": "Generalized",
            "hyperVGeneration": "V2",
            "identifier": {"publisher": "contoso", "offer": "app-api", "sku": "hardened"},
        },
    }
    demo.compute.gallery_images.begin_create_or_update(RG, GALLERY, "app-api", body).result()
    demo_publish_tagged(demo, "app-api", "3.0.0", {})
    settle()
    print(_lines(sweep(api), "app-api"))
    settle()
    version_id = f"{api}/versions/3.0.0"
    validations = [{"type": "TrustedLaunch", "status": "Succeeded", "version": "1.0"}]
    demo.control("POST", "validation", {"version_id": version_id, "executedValidations": validations})
    print("\nAzure reports TrustedLaunch 1.0: Succeeded (POST /_emulator/validation); the next sweep:")
    print(_lines(sweep(api), "app-api"))
    settle()

    ubuntu = f"{gallery_id}/images/ubuntu-24.04"
    section(
        "Quarantine: Azure flags ubuntu-24.04 1.4.0 (safetyProfile.reportedForPolicyViolation,\n"
        "ImageFlaggedUnsafe); it leaves latest at once and latest moves back in every region"
    )
    before = sweep(ubuntu)
    print(f"latest before: {_latest(before, 'ubuntu-24.04')}")
    demo.control(
        "POST",
        "validation",
        {
            "version_id": f"{ubuntu}/versions/1.4.0",
            "reportedForPolicyViolation": True,
            "policyViolations": [
                {"category": "ImageFlaggedUnsafe", "details": "malware signature in /opt/agent"}
            ],
        },
    )
    report = sweep(ubuntu)
    print(_lines(report, "ubuntu-24.04"))
    print(f"latest after:  {_latest(report, 'ubuntu-24.04')}")
    quarantined = [
        n
        for a in report.plans[0].actions
        for n in a.notifications
        if n.type.value.endswith("VersionQuarantined")
    ]
    if quarantined:
        print(f"VersionQuarantined says where latest went: {quarantined[0].data.get('latest')}")
    settle()

    hardened = f"{gallery_id}/images/base-hardened"
    when = demo.now() + timedelta(days=45)
    section(
        f"Canonical schedules {urn}:24.04.202611010, the base of base-hardened 1.0.0, for deprecation\n"
        "(imageDeprecationStatus; rebake.on_base_deprecation): one rebake and one BaseImageDeprecated"
    )
    status = {
        "imageState": "ScheduledForDeprecation",
        "scheduledDeprecationTime": iso(when),
        "alternativeOption": {"type": "Offer", "value": "ubuntu-26_04-lts"},
    }
    demo.control(
        "POST", "marketplace", {**market, "version": "24.04.202611010", "imageDeprecationStatus": status}
    )
    rows = []
    for number in (1, 2):
        report = sweep(hardened)
        rebakes = [a.reason for p in report.plans for a in p.actions if a.kind.value == "rebake"]
        events = [n.type.value for n in report.notifications if n.type.value.endswith("BaseImageDeprecated")]
        rows.append([f"sweep {number}", "; ".join(rebakes) or "-", ", ".join(events) or "-"])
        settle(15)
    print(table(["run", "rebake", "event"], rows))
