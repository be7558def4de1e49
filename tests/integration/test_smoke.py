"""`python -m lifecycle smoke` against the ARM emulator, as a user runs it: a child process, the app's ARM
settings pointing at the emulator (only the endpoint and the credential differ from a run on Azure).

Covers a passing run and its cassette, the run without --yes, Ctrl-C (SIGINT) in the middle, and a step
refused by RBAC (403): each ends with nothing of the run left in the emulator.
"""

from __future__ import annotations

import base64
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from emulator.launcher import Emulator, start_emulator, stop_process
from lifecycle.smoke.blueprint import Blueprint

ROOT = Path(__file__).resolve().parents[2]
SUB = "3f2b8c1e-5d4a-4e6b-9a7c-1d2e3f4a5b6c"
TENANT = "9e8d7c6b-5a4f-4e3d-8c2b-1a0f9e8d7c6b"
OBJECT_ID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
USER = "smoke.user@contoso.example"
RG = "rg-smoke"


def _jwt(claims: dict[str, Any]) -> str:
    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}.c2lnbmF0dXJl"


# Shaped like an Entra ID access token, so the recording's scrubbing of token, tenant, object id and
# sign-in name is exercised; the emulator accepts any bearer token.
TOKEN = _jwt({"aud": "https://management.azure.com", "tid": TENANT, "oid": OBJECT_ID, "upn": USER})


@pytest.fixture(scope="module")
def emulator() -> Iterator[Emulator]:
    emu = start_emulator("--replication-seconds", "1")
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture()
def emu(emulator: Emulator) -> Emulator:
    emulator.reset()
    return emulator


def _env(emu: Emulator) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LIFECYCLE_", "AZURE_"))}
    env.update(
        LIFECYCLE_ARM_ENDPOINT=emu.endpoint,
        LIFECYCLE_ARM_CA_BUNDLE=emu.ca_bundle,
        LIFECYCLE_ARM_TOKEN=TOKEN,
        # Would receive the smoke's events if the smoke passed the environment on: it must not.
        LIFECYCLE_EVENTS_ENDPOINT=f"{emu.endpoint}/api/events",
        LIFECYCLE_EVENTS_KEY="not-for-smoke",
    )
    return env


def _command(*extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "lifecycle",
        "smoke",
        "--subscription",
        SUB,
        "--resource-group",
        RG,
        "--location",
        "westeurope",
        "--second-region",
        "northeurope",
        "--poll-seconds",
        "0.3",
        "--timeout-minutes",
        "2",
        *extra,
    ]


def _smoke(emu: Emulator, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        _command(*extra), cwd=ROOT, env=_env(emu), capture_output=True, text=True, timeout=240, check=False
    )


def _left_behind(emu: Emulator) -> list[str]:
    compute = emu.compute(SUB)
    found = []
    for listing in (
        compute.disks.list_by_resource_group(RG),
        compute.snapshots.list_by_resource_group(RG),
        compute.galleries.list_by_resource_group(RG),
    ):
        found.extend(str(item["id"]) for item in listing)
    return found


def _step_lines(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line.split(" ", 1)[0] in ("ok", "failed", "interrupted")]


def _access() -> list[dict[str, Any]]:
    """What the smoke says it needs (and docs/try-on-azure.md lists), as RBAC assignments."""
    blueprint = Blueprint(
        subscription=SUB, resource_group=RG, location="westeurope", second_region="x", run="x"
    )
    return blueprint.access()


@pytest.fixture(scope="module")
def recorded_run(emulator: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    emulator.reset()
    # The run holds exactly the access it documents: a call it does not declare is refused (403).
    emulator.set_rbac(_access(), principal=TOKEN)
    record = tmp_path_factory.mktemp("cassettes")
    result = _smoke(emulator, "--yes", "--record", str(record))
    denied = emulator.rbac()["denied"]
    emulator.set_rbac(None)
    return {
        "result": result,
        "cassettes": sorted(record.glob("*.yaml")),
        "left": _left_behind(emulator),
        "events": emulator.events(),
        "denied": denied,
    }


def test_smoke_passes_every_step_and_removes_everything(recorded_run: dict[str, Any]) -> None:
    result = recorded_run["result"]
    assert result.returncode == 0, result.stdout + result.stderr
    lines = _step_lines(result.stdout)
    names = [line.split("s  ", 1)[1] for line in lines]
    assert all(line.startswith("ok") for line in lines), result.stdout
    for expected in (
        "create managed disk",
        "create snapshot",
        "create gallery",
        "create image definition",
        "create image version 1.0.0",
        "create image version 1.1.0",
        "build event for 1.1.0",
        "replication to North Europe completed",
        "approval of 1.1.0",
        "expiry of 1.0.0",
        "revoke 1.1.0",
        "in-use check",
        "delete 1.1.0",
        "remove image versions",
        "remove image definition",
        "remove gallery",
        "remove snapshot",
        "remove managed disk",
    ):
        assert any(name.startswith(expected) for name in names), f"no step {expected!r}:\n{result.stdout}"
    # Removal runs in reverse order of creation.
    removals = [n.split()[1] for n in names if n.startswith("remove ")]
    assert removals == ["image", "image", "gallery", "snapshot", "managed"]
    assert recorded_run["left"] == []
    assert recorded_run["denied"] == 0
    assert "passed" in result.stdout.splitlines()[-1]
    assert recorded_run["events"] == [], "the smoke sent lifecycle events to the environment's topic"


def test_cassette_has_the_cli_recordings_shape(recorded_run: dict[str, Any]) -> None:
    (cassette,) = recorded_run["cassettes"]
    document = yaml.safe_load(cassette.read_text())
    assert set(document) == {"interactions", "version"} and document["version"] == 1
    interactions = document["interactions"]
    assert len(interactions) > 30
    methods = set()
    for item in interactions:
        assert set(item) == {"request", "response"}
        request, response = item["request"], item["response"]
        assert set(request) == {"body", "headers", "method", "uri"}
        assert set(response) == {"body", "headers", "status"}
        assert request["body"] is None or isinstance(request["body"], str)
        assert all(
            isinstance(v, list) and all(isinstance(s, str) for s in v) for v in request["headers"].values()
        )
        assert set(response["body"]) == {"string"} and isinstance(response["body"]["string"], str)
        assert all(name == name.lower() for name in response["headers"])
        assert isinstance(response["status"]["code"], int) and isinstance(response["status"]["message"], str)
        assert request["uri"].startswith("https://127.0.0.1:")
        methods.add(request["method"])
    assert {"PUT", "GET", "PATCH", "DELETE"} <= methods
    # Every write the run made is there, in order: the disk first, the disk's removal last.
    writes = [(i["request"]["method"], i["request"]["uri"].split("?")[0]) for i in interactions]
    assert writes[0][0] == "PUT" and writes[0][1].endswith("/disks/" + writes[0][1].rsplit("/", 1)[-1])
    deletes = [uri for method, uri in writes if method == "DELETE"]
    assert "/Microsoft.Compute/disks/" in deletes[-1]
    # Request bodies are the JSON the SDK sent.
    first = json.loads(interactions[0]["request"]["body"])
    assert first["properties"]["creationData"]["createOption"] == "Empty"


def test_cassette_is_scrubbed(recorded_run: dict[str, Any]) -> None:
    (cassette,) = recorded_run["cassettes"]
    text = cassette.read_text()
    for secret in (SUB, TENANT, OBJECT_ID, USER, TOKEN, TOKEN.split(".")[1]):
        assert secret.lower() not in text.lower(), f"{secret} left in the cassette"
    assert "authorization:" not in text.lower()
    assert "/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/rg-smoke/" in text
    document = yaml.safe_load(text)
    for item in document["interactions"]:
        assert "/subscriptions/00000000-0000-0000-0000-000000000000/" in item["request"]["uri"]
        for name in item["request"]["headers"]:
            assert name.lower() not in ("authorization", "x-ms-client-request-id")
        for name in item["response"]["headers"]:
            assert name not in ("x-ms-request-id", "x-ms-correlation-request-id", "retry-after")


def test_without_yes_prints_the_plan_and_cost_and_creates_nothing(emu: Emulator) -> None:
    before = emu.stats()["by_method"]
    result = _smoke(emu)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "smoke would create" in result.stdout
    assert "Estimated cost" in result.stdout and "USD" in result.stdout
    assert "--yes" in result.stdout
    assert emu.stats()["by_method"] == before, "a request was sent without --yes"


def test_bad_options_are_usage_errors_naming_the_option(emu: Emulator) -> None:
    command = _command("--yes")
    command[command.index("westeurope")] = "westeurpoe"
    result = subprocess.run(command, cwd=ROOT, env=_env(emu), capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "--location 'westeurpoe': unknown region (did you mean 'westeurope'?)" in result.stderr


def test_ctrl_c_cleans_up_and_exits_130(emu: Emulator) -> None:
    # Slow replication: the run is waiting for its first version when interrupted, and the cleanup has to
    # wait for that version's creation to end before Azure lets it be deleted (409 until then).
    emu.control("POST", "config", {"replication_seconds": 8})
    process = subprocess.Popen(
        _command("--yes"), cwd=ROOT, env=_env(emu), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: queue.Queue[str] = queue.Queue()
    threading.Thread(target=lambda: [lines.put(x) for x in process.stdout or ()], daemon=True).start()
    seen: list[str] = []
    try:
        while not (seen and seen[-1].startswith("ok") and "create image definition" in seen[-1]):
            seen.append(lines.get(timeout=60))
        time.sleep(1.5)  # inside the creation of version 1.0.0, which waits for its replication
        process.send_signal(signal.SIGINT)
        process.wait(timeout=120)
    finally:
        stop_process(process)
    time.sleep(0.2)
    while not lines.empty():
        seen.append(lines.get())
    output = "".join(seen)
    assert process.returncode == 130, output + (process.stderr.read() if process.stderr else "")
    steps = _step_lines(output)
    assert [line for line in steps if line.startswith("interrupted") and "1.0.0" in line], output
    removals = [line for line in steps if " remove " in line]
    assert len(removals) == 5 and all(line.startswith("ok") for line in removals), output
    assert "smoke" in output.splitlines()[-1] and "interrupted" in output.splitlines()[-1]
    assert _left_behind(emu) == []


def test_a_refused_step_is_named_cleaned_up_and_exits_1(emu: Emulator) -> None:
    # Everything the run needs except reading the subscription's VMs, which the in-use check does.
    access = _access()
    for assignment in access:
        assignment["actions"] = [
            a for a in assignment["actions"] if a != "Microsoft.Compute/virtualMachines/read"
        ]
    emu.set_rbac(access, principal=TOKEN)
    result = _smoke(emu, "--yes")
    output = result.stdout
    assert result.returncode == 1, output + result.stderr
    failed = [line for line in _step_lines(output) if line.startswith("failed")]
    assert len(failed) == 1, output
    assert "in-use check" in failed[0]
    assert "AuthorizationFailed" in failed[0] and "Microsoft.Compute/virtualMachines/read" in failed[0]
    assert "failed at step 'in-use check" in output.splitlines()[-1]
    assert all(line.startswith("ok") for line in _step_lines(output) if " remove " in line), output
    assert emu.rbac()["denied"] >= 1
    emu.set_rbac(None)
    assert _left_behind(emu) == []


def test_keep_leaves_everything_and_lists_it(emu: Emulator) -> None:
    result = _smoke(emu, "--yes", "--keep")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not [line for line in _step_lines(result.stdout) if " remove " in line]
    kept = next(line for line in result.stdout.splitlines() if line.startswith("kept (--keep): "))
    for kind in ("image versions", "image definition", "gallery", "snapshot", "managed disk"):
        assert kind in kept
    assert len(_left_behind(emu)) == 3  # disk, snapshot, gallery (the gallery still holds its image)


def test_cassette_replays_against_a_fresh_emulator(recorded_run: dict[str, Any]) -> None:
    """What `smoke --record` writes replays like the Azure CLI's recordings: `python -m emulator replay`
    follows the run's operations and timeline and finds every answer's keys and status again."""
    (cassette,) = recorded_run["cassettes"]
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "replay", str(cassette)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:]
    summary = done.stdout.splitlines()[-1]
    assert " 0 mismatches" in summary and "0 skipped" in summary, summary
