"""One image's phases driven one at a time, with the real SDKs against the ARM emulator and Azurite: each
phase is a function of the ImageUnit alone (`lifecycle/reconcile/phases/`), so it runs without the rest
of the unit, the lease, or the trigger's own path through `reconcile`."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lifecycle.gateways.storage import policy_source
from lifecycle.model import VersionRef
from lifecycle.policy_store import load_policy
from lifecycle.reconcile import ImageResult, RunContext, Runtime, Trigger
from lifecycle.reconcile.frame import RunFrame
from lifecycle.reconcile.notes import Kind
from lifecycle.reconcile.phases.gate_requests import take_gate
from lifecycle.reconcile.phases.plan import plan
from lifecycle.reconcile.phases.read import read
from lifecycle.reconcile.phases.unit import ImageUnit
from lifecycle.reconcile.results import RunReport
from lifecycle.reconcile.scope import targets
from lifecycle.reconcile.trigger import GateRequest
from lifecycle.settings import Settings
from tests.integration.conftest import Env

pytestmark = pytest.mark.integration
REGIONS = {"eastus": 2, "westeurope": 1}


def unit_for(env: Env, trigger: Trigger) -> ImageUnit:
    """The unit of the sample gallery's one image, as a run would hand it to the phases."""
    runtime = Runtime.from_settings(Settings.from_env())
    now = env.now()
    policy = load_policy(policy_source(runtime.settings), runtime.store, now, remember=False).policy
    assert policy is not None
    (target,) = targets(RunFrame(runtime, RunReport(at=now, trigger=trigger)), policy, trigger.scope)
    ctx = RunContext(runtime, policy, now, plan_only=False, deletes_blocked=None)
    return ImageUnit(ctx, target, trigger, ImageResult(image_id=target.image.id), index=0)


def published(env: Env, policy_text: Callable[..., str]) -> None:
    env.put_policy(policy_text(regions=REGIONS))
    env.create_image("ubuntu-24.04")
    env.create_version("ubuntu-24.04", "1.0.0")
    env.advance(hours=1)


def test_read_and_plan_alone_plan_the_writes_and_make_none(env: Env, policy_text: Callable[..., str]) -> None:
    published(env, policy_text)
    unit = unit_for(env, Trigger("sweep"))
    writes = env.writes()
    read(unit)
    plan(unit)
    assert [a.kind.value for a in unit.plan.actions] == ["replicate", "tag"]
    assert unit.result.observed is unit.found.observed  # what the plan was made from, for the report
    assert env.writes() == writes
    assert unit.ctx.rt.store.read_json(unit.state_name) == (None, None)


def test_a_phase_reads_only_what_earlier_phases_produced(env: Env, policy_text: Callable[..., str]) -> None:
    published(env, policy_text)
    unit = unit_for(env, Trigger("sweep"))
    with pytest.raises(AttributeError):
        plan(unit)  # nothing read yet


def test_the_gate_phase_alone_refuses_an_unknown_version(env: Env, policy_text: Callable[..., str]) -> None:
    published(env, policy_text)
    sweep = unit_for(env, Trigger("sweep"))
    request = GateRequest("approve", VersionRef(sweep.image, "9.9.9"), by="bob")
    unit = unit_for(env, Trigger("cli", scope=request.version.id, gate=request))
    read(unit)
    refused = take_gate(unit)
    assert refused is not None and refused.kind is Kind.REFUSED
    assert unit.result.refused == [refused]
    assert str(refused) == f"{request.version.id}: no such version (unknown)"
