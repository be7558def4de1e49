"""Cost in `plan`, the `report` command and the report each sweep writes: the real SDKs against the ARM
emulator (versions sized from a real snapshot resource) and Azurite."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import pytest

from lifecycle.cli import main
from lifecycle.pricing import load_prices
from lifecycle.reconcile import Trigger, reconcile
from tests.integration.conftest import GALLERY_ID, RG, Env

pytestmark = pytest.mark.integration
IMAGE = "ubuntu-24.04"


def cli(*args: str) -> tuple[int, str]:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(args))
    return code, out.getvalue()


def sized_fleet(env: Env, policy_text: Callable[..., str], regions: dict[str, int], **policy: Any) -> None:
    """One image with two 64 GiB versions (made from a 64 GiB snapshot), settled under `regions`."""
    env.compute.snapshots.begin_create_or_update(
        RG,
        "os-disk",
        {"location": "eastus", "properties": {"creationData": {"createOption": "Import"}, "diskSizeGB": 64}},
    ).result()
    env.put_policy(policy_text(regions=regions, **policy))
    env.create_image(IMAGE)
    for name in ("1.0.0", "1.0.1"):
        env.create_version(IMAGE, name, regions)
    env.advance(hours=1)


def test_plan_json_carries_the_cost_of_adding_a_region(env: Env, policy_text: Callable[..., str]) -> None:
    sized_fleet(env, policy_text, {"eastus": 1})
    code, text = cli("plan", "--config", env.config_url, "--json")
    assert code == 0
    assert json.loads(text)["cost_delta_per_month"] == 0.0

    # The edit: westeurope with 2 ZRS replicas for both 64 GiB versions.
    edited = {"regions": {"eastus": 1, "westeurope": 2}, "storage_account_type": "Standard_ZRS"}
    env.put_policy(
        json.dumps({"schema": 1, "defaults": {"replication": edited}, "galleries": [{"id": GALLERY_ID}]})
    )
    code, text = cli("plan", "--config", env.config_url, "--json")
    assert code == 0
    plan = json.loads(text)
    prices = load_prices()
    each = 64 * 2 * prices.price("westeurope", "Standard_ZRS")  # type: ignore[operator]
    assert plan["cost_delta_per_month"] == round(2 * each, 2) == 16.0
    assert plan["cost"]["prices_date"] == prices.date
    lines = plan["cost"]["lines"]
    assert {(line["version"].rsplit("/", 1)[-1], line["region"], line["storage_type"]) for line in lines} == {
        ("1.0.0", "westeurope", "Standard_ZRS"),
        ("1.0.1", "westeurope", "Standard_ZRS"),
    }
    assert all(line["size_gb"] == 64 and line["replicas_after"] == 2 for line in lines)

    code, text = cli("plan", "--config", env.config_url)
    assert f"cost change: +16.00 USD/month (replica storage, prices of {prices.date})" in text


def test_report_command_writes_html_and_json_of_the_same_fleet(
    env: Env, policy_text: Callable[..., str], tmp_path: Path
) -> None:
    sized_fleet(env, policy_text, {"eastus": 2, "westeurope": 1})
    out = tmp_path / "fleet.html"
    code, text = cli("report", "--config", env.config_url, "--out", str(out))
    assert code == 0, text
    assert str(out.resolve()) in text
    html = out.read_text()
    assert 'data-image="ubuntu-24.04" data-region="westeurope" data-state="Completed"' in html
    assert "<script" not in html

    code, text = cli("report", "--config", env.config_url, "--json")
    data = json.loads(text)
    (image,) = data["images"]
    assert image["cells"]["eastus"]["replicas"] == 2 and image["cells"]["westeurope"]["wanted"] == 1
    # Every replica is costed (sizes from the snapshot, prices from the shipped table).
    cost = data["cost"]
    assert cost["prices_date"] == load_prices().date
    assert cost["total"] == pytest.approx(sum(cost["per_region"].values()), abs=0.011)
    assert cost["total"] > 0 and not cost["unpriced"]


def test_each_sweep_writes_the_report_to_the_state_container(
    env: Env, policy_text: Callable[..., str]
) -> None:
    sized_fleet(env, policy_text, {"eastus": 1, "westeurope": 1})
    report = reconcile(Trigger("sweep"))
    assert not report.failed, report.to_json()
    container = env.state_container()
    blob = container.get_blob_client("reports/latest.json")
    data = json.loads(blob.download_blob().readall())
    assert [i["image"] for i in data["images"]] == [IMAGE]
    html_blob = container.get_blob_client("reports/latest.html")
    assert html_blob.get_blob_properties().content_settings.content_type.startswith("text/html")
    assert b'id="replication-matrix"' in html_blob.download_blob().readall()
    # `plan` and CLI runs leave the sweep's report alone.
    before = blob.get_blob_properties().etag
    reconcile(Trigger("cli"), plan_only=True)
    assert blob.get_blob_properties().etag == before


def test_a_fanned_out_sweep_assembles_the_report_from_each_queue_run(
    env: Env, policy_text: Callable[..., str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uuid

    from lifecycle.triggers import handle_queue_message
    from tests.harness.host import drain_one_by_one, fanout_queue

    name = f"report-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("LIFECYCLE_FANOUT_QUEUE", name)
    sized_fleet(env, policy_text, {"eastus": 1, "westeurope": 1})
    env.create_image("windows")
    env.create_version("windows", "1.0.0", {"eastus": 1})
    env.advance(hours=1)
    container = env.state_container()

    def latest() -> dict[str, Any]:
        return json.loads(container.get_blob_client("reports/latest.json").download_blob().readall())

    # The first sweep only enqueues: no image has reported yet.
    assert not reconcile(Trigger("sweep"), at=env.now()).failed
    first = latest()
    assert first["images"] == [] and len(first["deferred"]) == 2
    with fanout_queue(env.azurite.connection_string, name) as queue:
        for _, result in drain_one_by_one(queue, handle_queue_message):
            assert result is not None
        # The next sweep assembles the parts the queue runs wrote.
        env.advance(minutes=15)
        assert not reconcile(Trigger("sweep"), at=env.now()).failed
        data = latest()
        assert [i["image"] for i in data["images"]] == [IMAGE, "windows"]
        assert data["regions"] == ["eastus", "westeurope"]
        assert data["summary"]["versions"] == 3
        assert data["cost"]["total"] == pytest.approx(sum(data["cost"]["per_region"].values()), abs=0.011)
        html = container.get_blob_client("reports/latest.html").download_blob().readall()
        assert b'data-image="windows" data-region="eastus"' in html
