"""Hostile policy documents, each through the function (a BlobCreated event for the policy blob on Azurite)
and through `validate`: refused with a clear message, within bounds the product enforces itself (size,
nesting, alias expansion), and the last accepted policy stays in force.

The time and memory each refusal took are printed with the figures (no wall-clock assertion: the machine is
shared); the bounds that make them small are the product's own limits, asserted here by their messages.
"""

from __future__ import annotations

import contextlib
import io
import json
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from lifecycle.cli import main as cli_main
from lifecycle.gateways.storage import BlobStateStore, policy_source
from lifecycle.policy import parse_policy
from lifecycle.policy_store import ACCEPTED, load_policy
from lifecycle.settings import Settings
from lifecycle.triggers import handle_event
from tests.integration.conftest import GALLERY_ID, Env
from tests.reliability import figures
from tests.reliability.strategies import envelope

pytestmark = pytest.mark.integration
SUITE = "hostile documents"


def billion_laughs(levels: int = 10) -> str:
    lines = ['lol0: &lol0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"lol{i}: &lol{i} [" + ", ".join([f"*lol{i - 1}"] * 10) + "]")
    # Where a validator would walk it: under a mapping the schema reads key by key.
    lines += [
        "schema: 1",
        f"defaults: {{metadata: {{tags: *lol{levels - 1}}}}}",
        f"galleries: [{{id: {GALLERY_ID}}}]",
    ]
    return "\n".join(lines)


def injected(gallery_id: str) -> str:
    return json.dumps({"schema": 1, "galleries": [{"id": gallery_id}]})


HOSTILE: dict[str, tuple[Callable[[], bytes], str]] = {
    "billion laughs (YAML aliases)": (lambda: billion_laughs().encode(), "expands to more than"),
    "alias bomb as the galleries list": (
        lambda: billion_laughs().replace("galleries: [", "x: [").encode() + b"\ngalleries: *lol9\n",
        "expands to more than",
    ),
    "YAML nested 100,000 deep": (
        lambda: b"schema: 1\ngalleries: " + b"[" * 100_000 + b"]" * 100_000,
        "nested more",
    ),
    "JSON nested 100,000 deep": (
        lambda: b'{"schema": 1, "galleries": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "nested more",
    ),
    "50 MB blob": (lambda: b"schema: 1\n#" + b"x" * (50 * 1024 * 1024), "at most 1048576 bytes"),
    "non-UTF-8 blob": (lambda: b"schema: 1\ngalleries: [{id: \xff\xfe\xfa}]\n", "not UTF-8"),
    "UTF-16 blob": (lambda: "schema: 1\n".encode("utf-16"), "not UTF-8"),
    "gallery id with ../": (lambda: injected(GALLERY_ID + "/../../other").encode(), "galleries.0.id"),
    "gallery name with a query string": (
        lambda: injected(GALLERY_ID + "?api-version=2019-01-01&x=1").encode(),
        "galleries.0.id: gallery name",
    ),
    "gallery name with an encoded slash": (
        lambda: injected(GALLERY_ID.replace("golden", "golden%2F..%2Fx")).encode(),
        "galleries.0.id: gallery name",
    ),
    "resource group with a path": (
        lambda: injected(GALLERY_ID.replace("rg-images", "rg-images/../rg-x")).encode(),
        "galleries.0.id",
    ),
    "gallery name ..": (
        lambda: injected(GALLERY_ID.replace("/golden", "/..")).encode(),
        "galleries.0.id: gallery name",
    ),
    "image template with a query": (
        lambda: json.dumps(
            {
                "schema": 1,
                "defaults": {
                    "rebake": {
                        "max_age_days": 1,
                        "image_template": (
                            "/subscriptions/00000000-0000-0000-0000-000000000001/resourceGroups/rg/providers/"
                            "Microsoft.VirtualMachineImages/imageTemplates/t?x=1"
                        ),
                    }
                },
                "galleries": [{"id": GALLERY_ID}],
            }
        ).encode(),
        "defaults.rebake.image_template",
    ),
    "10,000 unknown keys": (
        lambda: json.dumps(
            {"schema": 1, "galleries": [{"id": GALLERY_ID}], **{f"k{i}": i for i in range(10_000)}}
        ).encode(),
        "more problems",
    ),
}


def _state(env: Env) -> BlobStateStore:
    return BlobStateStore(Settings.from_env(), env.state_url)


def _blob_created(env: Env, n: int) -> dict[str, object]:
    return envelope(
        "eventgrid",
        "Microsoft.Storage.BlobCreated",
        "/blobServices/default/containers/x/blobs/p",
        {"url": env.config_url, "api": "PutBlob"},
        event_id=f"policy-{n}",
    )


def _timed(call: Callable[[], object]) -> tuple[object, float]:
    started = time.perf_counter()
    result = call()
    return result, time.perf_counter() - started


def _peak_memory(call: Callable[[], object]) -> tuple[object, int]:
    tracemalloc.start()
    try:
        result = call()
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_hostile_documents_are_refused_and_the_last_accepted_policy_stays(
    env: Env, policy_text: Callable[..., str], tmp_path: Path
) -> None:
    good = policy_text(regions={"eastus": 1, "westeurope": 1})
    env.put_policy(good)
    accepted = handle_event(_blob_created(env, 0))
    assert accepted is not None and accepted.policy_problem is None
    saved_before, _ = _state(env).read_json(ACCEPTED)
    good_policy = parse_policy(good)
    failures: list[str] = []
    for n, (name, (build, expected)) in enumerate(HOSTILE.items(), start=1):
        content = build()
        figures.add(SUITE, inputs=1)
        container, blob = env.config_url.split("/")[-2:]
        env.blob_service.get_container_client(container).upload_blob(blob, content, overwrite=True)
        del content
        report, seconds = _timed(lambda n=n: handle_event(_blob_created(env, n)))
        figures.peak(SUITE, "slowest refusal by the function ms", round(seconds * 1000))
        problem = getattr(report, "policy_problem", None) or ""
        figures.check(SUITE, expected in problem, f"{name}: function said {problem[:300]!r}", failures)
        figures.check(SUITE, len(problem) < 20_000, f"{name}: a {len(problem)}-char message", failures)
        saved, _ = _state(env).read_json(ACCEPTED)
        figures.check(SUITE, saved == saved_before, f"{name}: the recorded accepted policy changed", failures)
        status = load_policy(policy_source(Settings.from_env()), _state(env), env.now(), remember=False)
        figures.check(
            SUITE,
            status.policy is not None and status.policy == good_policy and status.problem is not None,
            f"{name}: the last accepted policy is not in force",
            failures,
        )
        # The same document through `validate`, read from a file.
        path = tmp_path / f"hostile-{n}.yaml"
        path.write_bytes(build())
        err = io.StringIO()
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            code, seconds = _timed(lambda path=path: cli_main(["validate", str(path)]))
            _, peak = _peak_memory(lambda path=path: cli_main(["validate", str(path)]))
        figures.peak(SUITE, "slowest refusal by validate ms", round(seconds * 1000))
        figures.peak(SUITE, "largest refusal peak KB", peak // 1024)
        said = err.getvalue()
        figures.check(
            SUITE, code == 2 and expected in said, f"{name}: validate said {said[:300]!r}", failures
        )
        path.unlink()
    rejections = [e for e in env.emulator.events() if e.get("type") == "ImageLifecycle.ConfigRejected"]
    figures.check(
        SUITE, len(rejections) == len(HOSTILE), f"{len(rejections)} ConfigRejected events", failures
    )
    assert not failures, failures
