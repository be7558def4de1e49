"""`python -m lifecycle demo` (`python -m demo`): the whole product, offline, in one command.

Starts the ARM emulator with a realistic gallery built through the real SDK, delivers a BuildCompleted
event to the function handler, runs sweeps while replication progresses on the emulator's virtual clock,
and prints what happened. The policy and state live in a temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from emulator.launcher import start_emulator
from lifecycle.model import iso
from lifecycle.render import render_report, table

SUB = "00000000-0000-0000-0000-0000000000de"
RG = "rg-golden-images"
GALLERY = "contoso_golden"
GALLERY_ID = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/galleries/{GALLERY}"
SOURCE = f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/snapshots/packer-osdisk"
EVENTS_KEY = "demo-topic-key"
# The build system's own Event Grid-schema topic: Event Grid stamps its id on every event published to it.
BUILDS_TOPIC = f"/subscriptions/{SUB}/resourceGroups/rg-ci/providers/Microsoft.EventGrid/topics/builds-packer"

POLICY = f"""\
schema: 1
mode: enforce
defaults:
  replication:
    regions: {{eastus: 2, westeurope: 1, japaneast: 1}}
    storage_account_type: Standard_ZRS
  metadata:
    tags: {{owner: platform-team, cost-center: "4711"}}
  retention:
    lifetime_days: 60
    keep_latest: 2
    delete_after_days: 14
    max_deletes_per_run: 5
galleries:
  - id: {GALLERY_ID}
    build_sources: [{BUILDS_TOPIC}]
    images:
      ubuntu-*: {{}}
      windows-2025:
        replication: {{regions: {{eastus: 1, westeurope: 1}}}}
        rebake: {{max_age_days: 30, publish_event: true}}
      base-hardened:
        rebake: {{on_base_update: true, on_base_deprecation: true, publish_event: true}}
      app-web:
        approval: {{required: true}}
        ancestry: {{inherit_revocation: true}}
      app-api:
        approval: {{require_platform_validation: true}}
"""

# (image, version, days before "now" it was published)
HISTORY = [
    ("ubuntu-24.04", "1.0.0", 120),
    ("ubuntu-24.04", "1.1.0", 95),
    ("ubuntu-24.04", "1.2.0", 70),
    ("ubuntu-24.04", "1.3.0", 40),
    ("windows-2025", "2025.9.0", 75),
    ("windows-2025", "2025.10.0", 45),
    ("sandbox-test", "0.1.0", 10),
]


class Demo:
    def __init__(self) -> None:
        self.emulator = start_emulator("--replication-seconds", "1800")
        self.endpoint, self.ca = self.emulator.endpoint, self.emulator.ca_bundle
        self.compute = self.emulator.compute(SUB)

    def control(self, method: str, path: str, body: Any = None) -> Any:
        return self.emulator.control(method, path, body)

    def now(self) -> datetime:
        return self.emulator.now()

    def set_time(self, when: datetime) -> None:
        self.emulator.set_time(when)

    def stop(self) -> None:
        self.emulator.stop()

    def build_gallery(self, now: datetime) -> None:
        self.compute.galleries.begin_create_or_update(
            RG, GALLERY, {"location": "eastus", "properties": {}}
        ).result()
        # The build's OS disk snapshot: every version made from it reports 64 GiB, as Azure does.
        self.compute.snapshots.begin_create_or_update(
            RG,
            SOURCE.rsplit("/", 1)[-1],
            {
                "location": "eastus",
                "properties": {"creationData": {"createOption": "Import"}, "diskSizeGB": 64},
            },
        ).result()
        for image in sorted({i for i, _, _ in HISTORY}):
            body = {
                "location": "eastus",
                "properties": {
                    "osType": "Windows" if image.startswith("windows") else "Linux",
                    "osState": "Generalized",
                    "hyperVGeneration": "V2",
                    "identifier": {"publisher": "contoso", "offer": image, "sku": "hardened"},
                },
            }
            self.compute.gallery_images.begin_create_or_update(RG, GALLERY, image, body).result()
        for image, version, age in HISTORY:
            self.set_time(now - timedelta(days=age))
            self.publish(image, version)
            self.set_time(now - timedelta(days=age) + timedelta(hours=2))
        self.set_time(now)
        vmss = {
            "location": "eastus",
            "properties": {
                "virtualMachineProfile": {
                    "storageProfile": {
                        "imageReference": {"id": f"{GALLERY_ID}/images/ubuntu-24.04/versions/1.0.0"}
                    }
                }
            },
        }
        self.compute.virtual_machine_scale_sets.begin_create_or_update(RG, "vmss-legacy-app", vmss).result()

    def publish(self, image: str, version: str) -> None:
        body = {
            "location": "eastus",
            "properties": {
                "publishingProfile": {"targetRegions": [{"name": "East US", "regionalReplicaCount": 1}]},
                "storageProfile": {"osDiskImage": {"source": {"id": SOURCE}}},
            },
        }
        self.compute.gallery_image_versions.begin_create_or_update(
            RG, GALLERY, image, version, body, polling=False
        )

    def versions_table(self) -> str:
        rows = []
        for image in sorted({i for i, _, _ in HISTORY} | {"ubuntu-24.04"}):
            for item in self.compute.gallery_image_versions.list_by_gallery_image(RG, GALLERY, image):
                v = self.compute.gallery_image_versions.get(
                    RG, GALLERY, image, item["name"], expand="ReplicationStatus"
                )
                props = v["properties"]
                profile = props["publishingProfile"]
                regions = ", ".join(
                    f"{t['name'].replace(' ', '').lower()}x{t.get('regionalReplicaCount', 1)}"
                    for t in profile.get("targetRegions", [])
                )
                status = props.get("replicationStatus", {})
                progress = ", ".join(
                    f"{s['region'].replace(' ', '').lower()} {s.get('progress', 0)}%"
                    for s in status.get("summary", [])
                    if s.get("state") != "Completed"
                )
                rows.append(
                    [
                        image,
                        item["name"],
                        props.get("provisioningState"),
                        regions + (f" ({progress})" if progress else ""),
                        (profile.get("endOfLifeDate") or "")[:10],
                        "yes" if profile.get("excludeFromLatest") else "",
                        (v.get("tags") or {}).get("lifecycle.state", ""),
                        (v.get("tags") or {}).get("lifecycle.build-id", ""),
                    ]
                )
        return table(
            ["image", "version", "provisioning", "regions", "end of life", "excluded", "state", "build"], rows
        )


def _section(title: str) -> None:
    print(f"\n=== {title} ===")


def run_demo(*, keep: bool = False) -> int:
    workdir = Path(tempfile.mkdtemp(prefix="lifecycle-demo-"))
    demo = Demo()
    try:
        return _run(demo, workdir)
    finally:
        demo.stop()
        if keep:
            print(f"\n(working directory kept: {workdir})")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(demo: Demo, workdir: Path) -> int:
    from lifecycle.reconcile import Trigger, reconcile
    from lifecycle.triggers import handle_event

    policy = workdir / "policy.yaml"
    policy.write_text(POLICY)
    os.environ.update(
        {
            "LIFECYCLE_CONFIG_URL": str(policy),
            "LIFECYCLE_STATE_URL": str(workdir / "state"),
            "LIFECYCLE_ARM_ENDPOINT": demo.endpoint,
            "LIFECYCLE_ARM_CA_BUNDLE": demo.ca,
            "LIFECYCLE_ARM_TOKEN": "demo-token",
            "LIFECYCLE_EVENTS_ENDPOINT": f"{demo.endpoint}/api/events",
            "LIFECYCLE_EVENTS_KEY": EVENTS_KEY,
        }
    )
    # The app runs under exactly what `python -m lifecycle permissions --json` grants for this policy.
    from lifecycle.permissions import derive
    from lifecycle.policy import parse_policy

    demo.emulator.set_rbac(derive(parse_policy(POLICY)).to_json()["assignments"], principal="demo-token")
    now = datetime.now(UTC).replace(microsecond=0)
    _section("A gallery with four months of history (built through azure-mgmt-compute on the ARM emulator)")
    demo.build_gallery(now)
    print(demo.versions_table())
    print("\nvmss-legacy-app runs ubuntu-24.04 1.0.0. The policy:\n")
    print(POLICY)

    _section(
        "A build publishes ubuntu-24.04 1.4.0 in East US; its BuildCompleted event reconciles that image:\n"
        "regions, build tags, end-of-life, expiry (1.0.0 is in use by a scale set, 1.1.0 waits for its write)"
    )
    demo.publish("ubuntu-24.04", "1.4.0")
    demo.set_time(now + timedelta(hours=1))
    data = {
        "buildId": "20261123.7",
        "commit": "9f2c1e7",
        "pipelineRunUrl": "https://dev.azure.com/contoso/images/_build/results?buildId=4711",
        "sbomUri": "https://contosoartifacts.blob.core.windows.net/sbom/ubuntu-24.04-1.4.0.spdx.json",
        "approver": "alice@contoso.com",
        "baseImage": "Canonical:ubuntu-24_04-lts:server:24.04.202611010",
    }
    version_id = f"{GALLERY_ID}/images/ubuntu-24.04/versions/1.4.0"
    forged = {
        "specversion": "1.0",
        "id": "forged-demo",
        "source": BUILDS_TOPIC,  # a CloudEvents source is written by the sender: it vouches for nothing
        "type": "ImageLifecycle.BuildCompleted",
        "subject": version_id,
        "data": {**data, "buildId": "forged"},
    }
    refused = handle_event(forged)
    assert refused is not None and refused.rejected
    print(f"A CloudEvent naming the build topic as its source is refused: {refused.rejected[0]}\n")
    event = {
        "id": "b7d1c6a2-demo",
        "topic": BUILDS_TOPIC,  # stamped by Event Grid: the topic the build system published to
        "eventType": "ImageLifecycle.BuildCompleted",
        "subject": version_id,
        "eventTime": iso(now + timedelta(hours=1)),
        "data": data,
        "dataVersion": "1",
        "metadataVersion": "1",
    }
    report = handle_event(event)
    assert report is not None
    print(render_report(report.to_json()))

    _section(
        "The timer sweep takes every image in scope: 1.1.0 (end-of-life + 14 days, not in use) is deleted;\n"
        "windows-2025 is stale, so a rebake is requested; sandbox-test matches no rule and is never touched"
    )
    report = reconcile(Trigger("sweep"), at=demo.now())
    print(render_report(report.to_json()))

    _section("Replication runs on; sweeps every 15 minutes watch it until every region is done")
    for step in range(1, 9):
        at = now + timedelta(hours=1, minutes=15 * step)
        demo.set_time(at)
        report = reconcile(Trigger("sweep"), at=at)
        done = [n for n in report.notifications if n.type.value == "ImageLifecycle.VersionReplicated"]
        busy = [v for p in report.plans for v in p.versions if v.state in ("updating", "creating")]
        print(f"{iso(at)}  {len(busy)} versions replicating, {len(done)} reported replicated")
        if done and not busy:
            break

    _section("The gallery now")
    print(demo.versions_table())

    _section("A second sweep right away: nothing to do, no ARM write")
    stats_before = demo.control("GET", "stats")
    report = reconcile(Trigger("sweep"), at=demo.now())
    stats_after = demo.control("GET", "stats")
    writes = sum(
        stats_after["by_method"][m] - stats_before["by_method"][m] for m in ("PUT", "PATCH", "DELETE")
    )
    print(f"{report.summary()['actions']} actions, {writes} ARM writes")

    _release_gates(demo)
    _healing(demo)
    from demo.signals import platform_signals

    platform_signals(demo, _section, GALLERY_ID, MARKETPLACE, URN)
    _consumers(demo, workdir)

    _section("Lifecycle events received by the Event Grid topic")
    received = demo.control("GET", "events")
    counts: dict[str, int] = {}
    for item in received:
        counts[item.get("type", "?")] = counts.get(item.get("type", "?"), 0) + 1
    print(table(["event", "count"], sorted(counts.items())))

    _section("The audit log (python -m lifecycle audit --config <policy>)")
    from lifecycle.gateways.storage import LocalStateStore

    records = LocalStateStore(workdir / "state").read_audit(demo.now().date())
    records += LocalStateStore(workdir / "state").read_audit(now.date())
    unique = {json.dumps(r, sort_keys=True): r for r in records}
    print(f"{len(unique)} records; the last five:")
    for record in list(unique.values())[-5:]:
        target = record["target"].rsplit("/images/", 1)[-1]
        print(f"  {record['time']}  {record['outcome']:9} {record['action']:20} {target}")
    stats = demo.control("GET", "stats")
    print(f"\nARM calls served by the emulator: {json.dumps(stats['by_method'])}")

    _section(
        "What a policy edit costs: plan with southeastasia added (python -m lifecycle plan --config <edit>)"
    )
    from lifecycle.render import cost_summary
    from lifecycle.settings import Settings

    edited = workdir / "policy-southeastasia.yaml"
    edited.write_text(POLICY.replace("japaneast: 1}", "japaneast: 1, southeastasia: 1}"))
    plan = reconcile(
        Trigger("cli"),
        settings=Settings.from_env(LIFECYCLE_CONFIG_URL=str(edited)),
        plan_only=True,
        at=demo.now(),
    )
    print(cost_summary(plan.to_json()))

    _section("The fleet report (python -m lifecycle report --config <policy> --out report.html)")
    report = reconcile(Trigger("cli"), plan_only=True, at=demo.now())
    path = write_report(report.fleet_report())
    print("Each sweep also writes it to the state container as reports/latest.html and reports/latest.json.")
    print(f"Open it in a browser: {path}")
    return 0


# --- consumers ----------------------------------------------------------------------------------------------

CONSUMERS_POLICY = POLICY.replace(
    "      ubuntu-*: {}\n",
    "      ubuntu-*:\n"
    "        replication:\n"
    "          regions: {eastus: 2, westeurope: 1, japaneast: 1}\n"
    "          older: {after_newest: 1, regions: {eastus: 1}}\n",
).replace(
    "galleries:\n",
    "consumers:\n  owner_tag: owner\n  production_tags: {env: prod}\n  warn_days: 30\ngalleries:\n",
)


def _consumers(demo: Demo, workdir: Path) -> None:
    """Who runs what: a VM pinned to an old version, a production scale set on latest, the warning before
    end-of-life, and an older version shrinking everywhere but where its VM runs."""
    from lifecycle.cli import main as cli
    from lifecycle.reconcile import Trigger, reconcile

    _section(
        "The billing team pins a VM in West Europe to ubuntu-24.04 1.3.0; the web team runs a production\n"
        "scale set on ubuntu-24.04's latest (its instances report the version they got as exactVersion)"
    )
    image_id = f"{GALLERY_ID}/images/ubuntu-24.04"
    demo.compute.virtual_machines.begin_create_or_update(
        RG,
        "vm-billing",
        {
            "location": "westeurope",
            "tags": {"owner": "team-billing"},
            "properties": {"storageProfile": {"imageReference": {"id": f"{image_id}/versions/1.3.0"}}},
        },
    ).result()
    demo.compute.virtual_machine_scale_sets.begin_create_or_update(
        RG,
        "vmss-web-prod",
        {
            "location": "eastus",
            "tags": {"owner": "team-web", "env": "prod"},
            "sku": {"name": "Standard_D2s_v5", "capacity": 3},
            "properties": {"virtualMachineProfile": {"storageProfile": {"imageReference": {"id": image_id}}}},
        },
    ).result()
    # The publisher lets Azure remove replicated regions of 1.3.0 (safetyProfile).
    demo.compute.gallery_image_versions.begin_update(
        RG,
        GALLERY,
        "ubuntu-24.04",
        "1.3.0",
        {"properties": {"safetyProfile": {"allowDeletionOfReplicatedLocations": True}, "storageProfile": {}}},
    ).result()
    demo.set_time(demo.now() + timedelta(minutes=31))
    policy = workdir / "policy-consumers.yaml"
    policy.write_text(CONSUMERS_POLICY)
    os.environ["LIFECYCLE_CONFIG_URL"] = str(policy)
    print("The policy gains a consumers section and shrinks ubuntu versions past the newest one:\n")
    lines = CONSUMERS_POLICY.splitlines()
    start = lines.index("consumers:")
    print("\n".join(lines[start : start + 4]))
    start = lines.index("      ubuntu-*:")
    print("\n".join(["galleries: [...]", *lines[start : start + 4]]))

    _section("python -m lifecycle consumers --config <policy>")
    cli(["consumers", "--config", str(policy), "--at", iso(demo.now())])

    _section(
        "The next sweep warns team-billing that 1.3.0 reaches end-of-life within 30 days (VersionExpiring),\n"
        "and shrinks 1.3.0 to one replica in East US, keeping West Europe, where its VM runs"
    )
    report = reconcile(Trigger("sweep"), at=demo.now())
    for plan in report.plans:
        if plan.image.image != "ubuntu-24.04":
            continue
        for action in plan.actions:
            print(f"  {action.kind.value:10} {action.target.rsplit('/images/', 1)[-1]:22} {action.reason}")
        for version in plan.versions:
            for note in version.notes:
                if "kept" in note or "runs this version" in note:
                    print(f"  {'(note)':10} {'ubuntu-24.04/' + version.version:22} {note}")
    for event in demo.control("GET", "events"):
        if event.get("type") == "ImageLifecycle.VersionExpiring":
            data = event.get("data") or {}
            expiring = str(data.get("imageVersionId", "")).rsplit("/images/", 1)[-1]
            print(
                f"  ImageLifecycle.VersionExpiring {expiring}: "
                f"end-of-life {str(data.get('endOfLifeDate'))[:10]}, {data.get('consumers')} machine(s), "
                f"owners {', '.join(data.get('owners') or [])}"
            )
    demo.set_time(demo.now() + timedelta(hours=1))
    reconcile(Trigger("sweep"), at=demo.now())


# --- replication healing ------------------------------------------------------------------------------------


def _healing(demo: Demo) -> None:
    """A region that keeps failing is healed the way Azure's error text advises, one step per sweep."""
    from lifecycle.reconcile import Trigger, reconcile

    image, version = "windows-2025", "2025.11.0"
    version_id = f"{GALLERY_ID}/images/{image}/versions/{version}"
    _section(
        f"{image} {version} fails to replicate to West Europe, and retrying does not help (forced on the\n"
        "emulator): the app retries, then removes the region and adds it back, one step per 15-minute sweep"
    )
    demo.control(
        "POST",
        "replication",
        {"version_id": version_id, "region": "westeurope", "outcome": "Failed", "heals_by": "readd"},
    )
    demo.publish(image, version)
    start = demo.now()
    for step in range(1, 40):
        at = start + timedelta(minutes=15 * step)
        demo.set_time(at)
        report = reconcile(Trigger("sweep", scope=f"{GALLERY_ID}/images/{image}"), at=at)
        versions = [v for p in report.plans for v in p.versions if v.version == version]
        actions = [
            a.reason for p in report.plans for a in p.actions if a.target.lower() == version_id.lower()
        ]
        notes = [n for v in versions for n in v.notes if "fail" in n or "healed" in n]
        what = "; ".join(actions + notes)
        if what:
            print(f"{iso(at)}  {(versions[0].state if versions else ''):9} {what}")
        if any("healed" in n for n in notes):
            break


# --- release gates and provenance ---------------------------------------------------------------------------

MARKETPLACE = {"location": "eastus", "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server"}
URN = "Canonical:ubuntu-24_04-lts:server"


def _gate_lines(report: Any, images: tuple[str, ...]) -> str:
    """The actions and version states of `images` in a run, one line each."""
    lines = []
    for plan in report.plans:
        if plan.image.image not in images:
            continue
        for action in plan.actions:
            target = action.target.rsplit("/images/", 1)[-1]
            lines.append(f"  {action.kind.value:20} {target:28} {action.reason}")
        if plan.rebake is not None and plan.rebake.reason and not plan.rebake.due:
            lines.append(f"  {'(rebake)':20} {plan.image.image:28} {plan.rebake.reason}")
    return "\n".join(lines) or "  nothing to do"


def _family_table(demo: Demo) -> str:
    rows = []
    for image in ("base-hardened", "app-web"):
        for item in demo.compute.gallery_image_versions.list_by_gallery_image(RG, GALLERY, image):
            tags = item.get("tags") or {}
            profile = item["properties"]["publishingProfile"]
            rows.append(
                [
                    image,
                    item["name"],
                    tags.get("lifecycle.state", ""),
                    "yes" if profile.get("excludeFromLatest") else "",
                    tags.get("lifecycle.approver", ""),
                    tags.get("lifecycle.base-image", "").rsplit("/images/", 1)[-1],
                    tags.get("lifecycle.revoked-reason", "").replace(f"{GALLERY_ID}/images/", ""),
                ]
            )
    return table(["image", "version", "state", "excluded", "approver", "built on", "revoked because"], rows)


def _release_gates(demo: Demo) -> None:
    from lifecycle.cli import main as cli
    from lifecycle.reconcile import Trigger, reconcile

    def settle(minutes: int = 31) -> None:
        demo.set_time(demo.now() + timedelta(minutes=minutes))

    base_id = f"{GALLERY_ID}/images/base-hardened/versions/1.0.0"
    _section(
        "Release gates: base-hardened 1.0.0 is built on a Marketplace image, app-web on base-hardened;\n"
        "app-web needs an approval, and a revocation flows down to what was built on a version"
    )
    demo.control("POST", "marketplace", {**MARKETPLACE, "version": "24.04.202611010"})
    for image in ("base-hardened", "app-web"):
        body = {
            "location": "eastus",
            "properties": {
                "osType": "Linux",
                "osState": "Generalized",
                "hyperVGeneration": "V2",
                "identifier": {"publisher": "contoso", "offer": image, "sku": "hardened"},
            },
        }
        demo.compute.gallery_images.begin_create_or_update(RG, GALLERY, image, body).result()
    demo_publish_tagged(demo, "base-hardened", "1.0.0", {"lifecycle.base-image": f"{URN}:24.04.202611010"})
    demo_publish_tagged(demo, "app-web", "1.1.0", {"lifecycle.base-image": base_id})
    settle()
    report = reconcile(Trigger("sweep"), at=demo.now())
    print("app-web 1.1.0 was published into latest without an approval; the sweep takes it out at once:")
    print(_gate_lines(report, ("base-hardened", "app-web")))
    for warning in (w for p in report.plans for w in p.warnings):
        print(f"  reported: {warning}")
    settle()

    _section("python -m lifecycle approve .../app-web/versions/1.1.0 --by alice@contoso.com")
    cli(["approve", f"{GALLERY_ID}/images/app-web/versions/1.1.0", "--by", "alice@contoso.com"])
    settle()
    print(_family_table(demo))

    _section(
        "Canonical publishes 24.04.202611090 and 24.04.202611100 (string order would pick ...090):\n"
        "base-hardened is rebaked once, whatever the number of sweeps"
    )
    for version in ("24.04.202611090", "24.04.202611100"):
        demo.control("POST", "marketplace", {**MARKETPLACE, "version": version})
    for sweep in range(2):
        report = reconcile(Trigger("sweep"), at=demo.now())
        print(f"sweep {sweep + 1}:")
        print(_gate_lines(report, ("base-hardened",)))
        settle(15)

    _section(
        "python -m lifecycle revoke .../base-hardened/versions/1.0.0 --reason 'CVE-2026-1234 in openssl'"
    )
    cli(["revoke", base_id, "--reason", "CVE-2026-1234 in openssl"])
    settle()
    print(_family_table(demo))


def demo_publish_tagged(demo: Demo, image: str, version: str, tags: dict[str, str]) -> None:
    body = {
        "location": "eastus",
        "tags": tags,
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": "East US", "regionalReplicaCount": 1}]},
            "storageProfile": {"osDiskImage": {"source": {"id": SOURCE}}},
        },
    }
    demo.compute.gallery_image_versions.begin_create_or_update(
        RG, GALLERY, image, version, body, polling=False
    )


def write_report(data: dict[str, Any]) -> Path:
    """The report outlives the demo's working directory: it goes to the checkout (git-ignored)."""
    from lifecycle.report import render_html

    path = Path(__file__).resolve().parents[1] / "demo-report.html"
    path.write_text(render_html(data), encoding="utf-8")
    return path
