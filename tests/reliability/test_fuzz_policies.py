"""Fuzzed policy documents (YAML and JSON), with no service behind them.

Properties (PRODUCT.md section 4):
- no valid document is rejected, and what is accepted is what was written;
- every invalid document is rejected, with a problem line naming the key path that was broken;
- a rejected document never changes the policy in force, nor the record of the last accepted one;
- `validate` (the CLI) and the engine's policy loading agree on every document.
"""

from __future__ import annotations

import contextlib
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from lifecycle.cli import main as cli_main
from lifecycle.gateways.storage import LocalPolicySource, LocalStateStore
from lifecycle.policy import Policy, PolicyError, parse_policy
from lifecycle.policy_store import ACCEPTED, clear_cache, load_policy
from tests.reliability import figures
from tests.reliability.policies import FORMATS, Broken, broken_policies, render, valid_policies

SUITE = "fuzz: policies"
NOW = datetime(2026, 11, 23, tzinfo=UTC)


def _validate_cli(path: Path) -> tuple[int, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(["validate", str(path)])
    return code, out.getvalue() + err.getvalue()


@settings(max_examples=figures.scale(200, 1_000))
@given(document=valid_policies(), fmt=FORMATS)
def test_no_valid_policy_is_rejected(document: dict[str, Any], fmt: str) -> None:
    failures: list[str] = []
    figures.add(SUITE, inputs=1)
    try:
        policy: Policy | None = parse_policy(render(document, fmt))
    except PolicyError as exc:
        policy = None
        figures.check(SUITE, False, f"valid {fmt} policy rejected: {exc.problems}", failures)
    except Exception as exc:
        policy = None
        figures.check(SUITE, False, f"parse_policy raised {exc!r}", failures)
    if policy is not None:
        figures.check(
            SUITE,
            [g.id for g in policy.galleries] == [g["id"] for g in document["galleries"]],
            "galleries changed on the way in",
            failures,
        )
        # Every image a rule matches gets a complete, valid set of settings (the defaults merged in).
        for gallery in policy.galleries:
            for pattern in gallery.images:
                name = pattern.replace("*", "x").replace("?", "x").replace("[89]", "8")
                try:
                    resolved = policy.for_image(gallery.ref.image(name))
                except Exception as exc:
                    resolved = None
                    figures.check(SUITE, False, f"accepted policy fails for image {name}: {exc!r}", failures)
                else:
                    figures.check(SUITE, resolved is not None, f"image {name} out of scope", failures)
    assert not failures, failures


@settings(max_examples=figures.scale(200, 1_000))
@given(broken=broken_policies(), fmt=FORMATS)
def test_every_invalid_policy_is_rejected_with_its_key_path(broken: Broken, fmt: str) -> None:
    failures: list[str] = []
    figures.add(SUITE, inputs=1)
    try:
        parse_policy(render(broken.document, fmt))
    except PolicyError as exc:
        figures.check(
            SUITE,
            any(p.startswith(broken.path) for p in exc.problems),
            f"{broken.how}: no problem names {broken.path!r}: {exc.problems}",
            failures,
        )
        figures.check(
            SUITE, len(str(exc)) < 20_000, f"{broken.how}: a {len(str(exc))}-char message", failures
        )
    except Exception as exc:
        figures.check(SUITE, False, f"{broken.how}: parse_policy raised {exc!r}", failures)
    else:
        figures.check(SUITE, False, f"{broken.how}: accepted, expected a problem at {broken.path}", failures)
    assert not failures, failures


@settings(max_examples=figures.scale(40, 300))
@given(
    first=valid_policies(),
    then=st.lists(
        valid_policies().map(lambda d: ("valid", d))
        | broken_policies().map(lambda b: ("broken", b.document)),
        min_size=1,
        max_size=4,
    ),
    fmt=FORMATS,
)
def test_a_rejected_policy_never_changes_what_is_in_force_and_validate_agrees(
    first: dict[str, Any], then: list[tuple[str, dict[str, Any]]], fmt: str, tmp_path_factory: Any
) -> None:
    """A sequence of uploads through the engine's own loader (local file and state directory): after each
    one, the policy in force is the last valid document, and `validate` said the same about it."""
    root = tmp_path_factory.mktemp("policy")
    path, state = root / f"policy.{fmt}", LocalStateStore(root / "state")
    source = LocalPolicySource(str(path))
    clear_cache()
    failures: list[str] = []
    in_force: dict[str, Any] | None = None
    for kind, document in [("valid", first), *then]:
        figures.add(SUITE, inputs=1)
        path.write_text(render(document, fmt), encoding="utf-8")
        status = load_policy(source, state, NOW)
        code, output = _validate_cli(path)
        accepted = status.problem is None
        figures.check(
            SUITE, accepted == (kind == "valid"), f"{kind} document: problem {status.problem}", failures
        )
        figures.check(
            SUITE, (code == 0) == accepted, f"validate exit {code}, engine accepted={accepted}", failures
        )
        if not accepted:
            first_problem = (status.problem or "").split(" is invalid: ", 1)[-1].split("; ")[0]
            figures.check(
                SUITE, first_problem[:60] in output, f"validate does not say {first_problem!r}", failures
            )
        if accepted:
            in_force = document
        saved, _ = state.read_json(ACCEPTED)
        expected = parse_policy(render(in_force or {}, fmt)).model_dump() if in_force else None
        figures.check(
            SUITE,
            status.policy is not None and status.policy.model_dump() == expected,
            "the policy in force is not the last accepted document",
            failures,
        )
        figures.check(
            SUITE,
            saved is not None and parse_policy(saved["content"]).model_dump() == expected,
            "the recorded last accepted policy changed",
            failures,
        )
    clear_cache()
    assert not failures, failures


def test_examples_in_the_readme_and_schema_round_trip() -> None:
    """The schema the CLI prints is JSON and names every top-level key a generated document uses."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert cli_main(["schema"]) == 0
    schema = json.loads(out.getvalue())
    figures.add(SUITE, inputs=1)
    assert {"schema", "mode", "defaults", "galleries"} <= set(schema["properties"])
