"""Fuzzed events and policies against the real services (the emulator and Azurite), fewer examples than
the pure suites since each one runs the handler or the CLI:

- a malformed or irrelevant event, or a version write outside the policy's galleries, makes no ARM call
  (counted by the emulator), whichever schema and whatever is broken in it;
- for a generated document uploaded as the policy blob, `validate`, the function (a BlobCreated event for
  that blob) and `plan --config <blob URL>` agree on whether it is accepted, and a rejected one leaves the
  last accepted policy in force.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from lifecycle.cli import main as cli_main
from lifecycle.events import Ignored, MalformedEvent, VersionWritten, parse_event
from lifecycle.policy_store import clear_cache
from lifecycle.triggers import EventNotProcessed, handle_event
from tests.integration.conftest import Env
from tests.reliability import figures
from tests.reliability.policies import FORMATS, broken_policies, render, valid_policies
from tests.reliability.strategies import EVENTS, GALLERY_ID, Case, envelope

pytestmark = pytest.mark.integration
SUITE_EVENTS = "fuzz: events"
SUITE_POLICIES = "fuzz: policies"


def arm_calls(env: Env) -> int:
    """ARM requests so far (posts of lifecycle events to the topic are not ARM calls)."""
    operations = env.emulator.stats()["by_operation"]
    return sum(n for key, n in operations.items() if "Microsoft.EventGrid" not in key)


def _no_work(payload: Any) -> bool:
    try:
        parsed = parse_event(payload)
    except MalformedEvent:
        return True
    if isinstance(parsed, Ignored):
        return True
    # A version write outside the policy's gallery: reconciled, found out of scope, nothing read from ARM.
    return isinstance(
        parsed, VersionWritten
    ) and not parsed.version.image_ref.gallery_ref.id.lower().startswith(GALLERY_ID.lower())


@settings(max_examples=figures.scale(25, 400))
@given(case=EVENTS.filter(lambda c: _no_work(c.payload)))
def test_events_that_mean_nothing_here_make_no_arm_call(case: Case, env: Env, policy_text: Any) -> None:
    if env.grants is None:  # the first example: one policy for all of them
        env.put_policy(policy_text())
    before = arm_calls(env)
    with contextlib.suppress(EventNotProcessed):
        handle_event(case.payload)
    failures: list[str] = []
    figures.add(SUITE_EVENTS, inputs=1)
    figures.check(SUITE_EVENTS, arm_calls(env) == before, f"ARM was called for {case.kind}", failures)
    assert not failures, failures


def _blob_created(env: Env) -> dict[str, Any]:
    return envelope(
        "eventgrid",
        "Microsoft.Storage.BlobCreated",
        "/blobServices/default/containers/c/blobs/p",
        {"url": env.config_url, "api": "PutBlob"},
    )


@settings(max_examples=figures.scale(8, 100))
@given(
    document=valid_policies().map(lambda d: ("valid", d))
    | broken_policies().map(lambda b: ("broken", b.document)),
    fmt=FORMATS,
)
def test_validate_the_function_and_plan_agree(
    document: tuple[str, dict[str, Any]], fmt: str, env: Env, policy_text: Any, tmp_path_factory: Any
) -> None:
    kind, body = document
    text = render(body, fmt)
    clear_cache()
    env.put_policy(policy_text())  # a known accepted policy before each document
    assert handle_event(_blob_created(env)) is not None
    container, blob = env.config_url.split("/")[-2:]
    env.blob_service.get_container_client(container).upload_blob(blob, text.encode(), overwrite=True)

    path = Path(tmp_path_factory.mktemp("doc")) / f"policy.{fmt}"
    path.write_text(text, encoding="utf-8")
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        validated = cli_main(["validate", str(path)]) == 0
    report = handle_event(_blob_created(env))
    function_accepted = report is not None and report.policy_problem is None
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        cli_main(["plan", "--config", env.config_url, "--json"])
    plan = json.loads(out.getvalue())
    plan_accepted = plan.get("policy_problem") is None

    failures: list[str] = []
    figures.add(SUITE_POLICIES, inputs=1)
    figures.check(
        SUITE_POLICIES, validated == (kind == "valid"), f"validate said {validated} of a {kind} one", failures
    )
    figures.check(
        SUITE_POLICIES,
        function_accepted == validated,
        f"function {function_accepted}, validate {validated}: {report and report.policy_problem}",
        failures,
    )
    figures.check(
        SUITE_POLICIES,
        plan_accepted == validated,
        f"plan {plan_accepted}, validate {validated}: {plan.get('policy_problem')}",
        failures,
    )
    if not validated:
        figures.check(
            SUITE_POLICIES,
            report is not None and not report.no_policy,
            "the last accepted policy is not in force after a rejection",
            failures,
        )
    assert not failures, failures
