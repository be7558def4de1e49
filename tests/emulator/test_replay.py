"""`python -m emulator replay`: the Azure CLI's recorded gallery traffic (../shared/reference/cli-recordings)
replays against a fresh emulator with no mismatch, and the replay itself reports what differs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.replay import Replayer, key_paths, load
from emulator.replay.compare import compare

pytestmark = pytest.mark.integration

SUB = "00000000-0000-0000-0000-000000000000"
GALLERY = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/galleries/gal"
DATE = "Tue, 19 Dec 2023 09:06:11 GMT"


@pytest.fixture(scope="module")
def recordings(reference_dir: Path) -> Path:
    folder = reference_dir / "cli-recordings"
    if not folder.is_dir():
        pytest.skip(f"the Azure CLI recordings are not at {folder}")
    return folder


def _interaction(
    method: str, path: str, status: int, body: Any = None, request: Any = None, **headers: str
) -> dict[str, Any]:
    return {
        "request": {
            "method": method,
            "uri": f"https://management.azure.com{path}",
            "body": json.dumps(request) if request is not None else None,
            "headers": {},
        },
        "response": {
            "status": {"code": status, "message": ""},
            "headers": {"date": [DATE], **{k.replace("_", "-"): [v] for k, v in headers.items()}},
            "body": {"string": json.dumps(body) if body is not None else ""},
        },
    }


def _cassette(tmp_path: Path, *interactions: dict[str, Any], name: str = "made") -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"interactions": list(interactions), "version": 1}))
    return path


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "emulator", "replay", *args], capture_output=True, text=True, timeout=300
    )


def test_the_cli_recordings_replay_with_no_mismatch(recordings: Path) -> None:
    outcomes = []
    for path in sorted(recordings.glob("*.yaml")):
        outcomes.extend(Replayer(load(path)).run())
    mismatches = [f"{o.cassette}#{o.index} {o.cause}: {o.detail}" for o in outcomes if o.mismatch]
    assert mismatches == []
    compared = [o for o in outcomes if o.kind == "compared"]
    assert len(compared) >= 400  # galleries, images, versions, sharing, disks, managed images, Image Builder
    skipped = {o.cause for o in outcomes if o.kind == "skipped"}
    assert any("deallocate" in reason for reason in skipped)  # listed, not served
    assert any("generalize" in reason for reason in skipped)


def test_the_command_exits_0_on_the_cli_recordings(recordings: Path) -> None:
    done = _run(str(recordings))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 mismatches" in done.stdout.splitlines()[-1]
    assert "VM action 'runCommand'" in done.stdout


def test_a_key_azure_returns_that_the_emulator_lacks_is_a_mismatch(tmp_path: Path) -> None:
    put = {"location": "westus"}
    answer = {
        "name": "gal",
        "id": GALLERY,
        "type": "Microsoft.Compute/galleries",
        "location": "westus",
        "properties": {"identifier": {"uniqueName": f"{SUB}-GAL"}, "futureField": {"nested": 1}},
    }
    path = _cassette(
        tmp_path,
        _interaction("PUT", f"{GALLERY}?api-version=2021-10-01", 201, answer, put),
        _interaction(
            "GET",
            f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus/nowhere/x?api-version=2021-10-01",
            200,
            {"value": []},
        ),
    )
    done = _run(str(path))
    assert done.returncode == 1
    assert "MISMATCH missing keys (1)" in done.stdout
    assert "properties.futureField, properties.futureField.nested" in done.stdout
    assert "MISMATCH route not served (1)" in done.stdout


def test_polls_follow_the_emulators_operation_and_names_azure_chose_are_mapped(tmp_path: Path) -> None:
    """A recorded poll of Azure's operation URL follows the emulator's; Azure's uniqueName, used later in a
    shared-gallery read, is mapped to the emulator's."""
    azure_op = f"https://management.azure.com/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus/capsOperations/abc?api-version=2021-10-01&t=1&c=2&s=3&h=4"
    unique = "11111111-2222-3333-4444-555555555555-GALXYZ"
    answer = {
        "name": "gal",
        "id": GALLERY,
        "type": "Microsoft.Compute/galleries",
        "location": "westus",
        "properties": {"identifier": {"uniqueName": unique}, "provisioningState": "Creating"},
    }
    status = {"startTime": "x", "endTime": "y", "status": "Succeeded", "name": "abc"}
    share = {"operationType": "Add", "groups": [{"type": "Subscriptions", "ids": [unique[:36]]}]}
    shared = f"/subscriptions/{SUB}/providers/Microsoft.Compute/locations/westus/sharedGalleries/{unique}"
    shared_body = {"properties": {}, "location": "westus", "name": unique, "identifier": {"uniqueId": "/x"}}
    path = _cassette(
        tmp_path,
        _interaction(
            "PUT",
            f"{GALLERY}?api-version=2021-10-01",
            201,
            answer,
            {"location": "westus"},
            azure_asyncoperation=azure_op,
        ),
        _interaction("GET", azure_op.replace("https://management.azure.com", ""), 200, status),
        _interaction("POST", f"{GALLERY}/share?api-version=2022-08-03", 202, None, share),
        _interaction("GET", f"{shared}?api-version=2022-01-03", 200, shared_body),
    )
    outcomes = Replayer(load(path)).run()
    assert [(o.kind, o.cause) for o in outcomes] == [("compared", "")] * 4, [o.detail for o in outcomes]


def test_vm_power_actions_are_listed_as_skipped(tmp_path: Path) -> None:
    vm = f"/subscriptions/{SUB}/resourceGroups/rg/providers/Microsoft.Compute/virtualMachines/vm1"
    path = _cassette(
        tmp_path,
        _interaction("POST", f"{vm}/deallocate?api-version=2022-11-01", 202),
        _interaction("POST", f"{vm}/generalize?api-version=2022-11-01", 200),
        _interaction("GET", f"/subscriptions/{SUB}/resourcegroups/rg?api-version=2022-09-01", 200, {}),
    )
    outcomes = Replayer(load(path)).run()
    assert [o.kind for o in outcomes] == ["skipped"] * 3
    assert "deallocate" in outcomes[0].cause and "resource groups" in outcomes[2].cause


def test_bad_input_is_refused_with_the_reason(tmp_path: Path) -> None:
    (tmp_path / "notes.yaml").write_text("just: text\n")
    done = _run(str(tmp_path / "notes.yaml"))
    assert done.returncode == 2 and "not a vcrpy cassette" in done.stderr
    done = _run(str(tmp_path / "missing.yaml"))
    assert done.returncode == 2 and "no such file or folder" in done.stderr


@pytest.mark.parametrize(
    ("body", "paths"),
    [
        ({"a": {"b": [{"c": 1}, {"d": 2}]}}, {"a", "a.b", "a.b[]", "a.b[].c", "a.b[].d"}),
        ({"tags": {"any": "x"}, "n": None}, {"tags", "n"}),
        ([1, 2], set()),
    ],
    ids=["nested-lists-merge", "tag-names-are-data", "scalar-list"],
)
def test_key_paths(body: Any, paths: set[str]) -> None:
    assert key_paths(body) == paths


def test_compare_reports_status_before_keys() -> None:
    diff = compare(200, {"a": 1}, 404, {"error": {"code": "NotFound", "message": "m"}})
    assert diff.status == (200, 404) and diff.mismatch
    diff = compare(200, {"a": 1}, 200, {"a": 1, "b": 2})
    assert not diff.mismatch and diff.extra == ["b"]
