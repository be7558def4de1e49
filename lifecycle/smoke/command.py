"""`python -m lifecycle smoke`: check the options, print the plan and cost (without --yes), or run the smoke
with the app's settings, local state, optional recording, and cleanup whatever happens.

Exit codes: 0 every step passed; 1 a step failed (named, with Azure's error) or a cleanup failed; 2 usage,
or no --yes (nothing created); 130 interrupted (after cleaning up).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TextIO

from lifecycle.cli_args import EXIT_FAILED, EXIT_OK, error
from lifecycle.cli_args import EXIT_INVALID as EXIT_USAGE
from lifecycle.settings import Settings, SettingsError
from lifecycle.smoke.blueprint import Blueprint, default_second_region, run_id
from lifecycle.smoke.runner import Runner, StepAborted

EXIT_INTERRUPTED = 130

# The app's ARM settings carry over; nothing else does (a topic endpoint in the environment must not
# receive the smoke's events, and the state is the run's own).
PASSED_SETTINGS = (
    "LIFECYCLE_ARM_ENDPOINT",
    "LIFECYCLE_ARM_TOKEN",
    "LIFECYCLE_ARM_CA_BUNDLE",
    "LIFECYCLE_RETRY_AFTER_MAX_SECONDS",
)
_GUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_RESOURCE_GROUP = re.compile(r"[-\w.()]{1,89}[-\w()]")


@dataclass(frozen=True)
class SmokeOptions:
    subscription: str
    resource_group: str
    location: str
    second_region: str | None = None
    record: str | None = None
    keep: bool = False
    yes: bool = False
    poll_seconds: float = 15.0
    timeout_minutes: float = 60.0

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> SmokeOptions:
        """The options `add_arguments` parsed."""
        return cls(**{field.name: getattr(args, field.name) for field in fields(cls)})


def add_arguments(smoke: argparse.ArgumentParser) -> None:
    """The `smoke` command's options, with the defaults SmokeOptions has."""
    smoke.add_argument("--subscription", required=True, help="subscription id")
    smoke.add_argument("--resource-group", required=True, help="an existing resource group to work in")
    smoke.add_argument("--location", required=True, help="home region of the scratch gallery")
    smoke.add_argument("--second-region", help="the region the app replicates to (default: eastus2)")
    smoke.add_argument("--record", metavar="DIR", help="write the run's ARM exchanges as a cassette here")
    smoke.add_argument("--keep", action="store_true", help="leave what was created in place")
    smoke.add_argument("--yes", action="store_true", help="go ahead (without it: print the plan and cost)")
    smoke.add_argument(
        "--poll-seconds",
        type=float,
        default=SmokeOptions.poll_seconds,
        help=f"polling interval (default {SmokeOptions.poll_seconds:g})",
    )
    smoke.add_argument(
        "--timeout-minutes",
        type=float,
        default=SmokeOptions.timeout_minutes,
        help="longest wait for replication or a delete",
    )


def problems(options: SmokeOptions) -> list[str]:
    """What is wrong with the options, each naming the option and the bad value."""
    from lifecycle.regions import is_known_region, normalize_region, suggest_region

    found = []
    if not _GUID.fullmatch(options.subscription):
        found.append(f"--subscription {options.subscription!r}: give the subscription id (a GUID)")
    if not _RESOURCE_GROUP.fullmatch(options.resource_group):
        found.append(f"--resource-group {options.resource_group!r}: not a resource group name")
    for flag, value in (("--location", options.location), ("--second-region", options.second_region)):
        if value is not None and not is_known_region(value):
            hint = suggest_region(value)
            found.append(f"{flag} {value!r}: unknown region" + (f" (did you mean {hint!r}?)" if hint else ""))
    if options.second_region is not None and normalize_region(options.second_region) == normalize_region(
        options.location
    ):
        found.append(f"--second-region {options.second_region!r}: must differ from --location")
    if options.poll_seconds < 0 or options.timeout_minutes <= 0:
        found.append("--poll-seconds must be >= 0 and --timeout-minutes > 0")
    if options.record is not None:
        record = Path(options.record)
        if record.exists() and not record.is_dir():
            found.append(f"--record {options.record!r}: not a directory")
        elif not os.access(record if record.exists() else _existing_parent(record), os.W_OK):
            found.append(f"--record {options.record!r}: cannot write there")
    return found


def _existing_parent(path: Path) -> Path:
    for parent in path.absolute().parents:
        if parent.exists():
            return parent
    return Path("/")


def run(options: SmokeOptions, out: TextIO | None = None) -> int:
    from lifecycle.pricing import load_prices
    from lifecycle.regions import normalize_region

    out = out or sys.stdout
    bad = problems(options)
    if bad:
        for problem in bad:
            error(problem)
        return EXIT_USAGE
    location = normalize_region(options.location)
    blueprint = Blueprint(
        subscription=options.subscription.lower(),
        resource_group=options.resource_group,
        location=location,
        second_region=normalize_region(options.second_region or default_second_region(location)),
        run=run_id(),
    )
    if not options.yes:
        print(blueprint.describe(load_prices()), file=out)
        return EXIT_USAGE
    workdir = Path(tempfile.mkdtemp(prefix=f"lifecycle-smoke-{blueprint.run}-"))
    try:
        return _run(options, blueprint, workdir, out)
    finally:
        if options.keep:
            print(f"kept: the policy and state in {workdir}", file=out)
        else:
            shutil.rmtree(workdir, ignore_errors=True)


def _run(options: SmokeOptions, blueprint: Blueprint, workdir: Path, out: TextIO) -> int:
    from lifecycle.gateways import recording
    from lifecycle.gateways.scratch import Scratch, ScratchGateway
    from lifecycle.reconcile import Runtime
    from lifecycle.smoke.scenario import Smoke

    policy = workdir / "policy.yaml"
    policy.write_text(blueprint.policy(), encoding="utf-8")
    env = {name: os.environ[name] for name in PASSED_SETTINGS if os.environ.get(name)}
    env.update(LIFECYCLE_CONFIG_URL=str(policy), LIFECYCLE_STATE_URL=str(workdir / "state"))
    try:
        settings = Settings.from_env(env)
    except SettingsError as exc:
        return error(str(exc), EXIT_USAGE)
    print(
        f"smoke {blueprint.run}: {blueprint.gallery_id} in {blueprint.location}, replicated to "
        f"{blueprint.second_region}, against {settings.arm_endpoint}",
        file=out,
        flush=True,
    )
    cassette = Path(options.record) / f"smoke_{blueprint.run}.yaml" if options.record else None
    if cassette is not None:
        recording.start(cassette, blueprint.subscription)
    runner = Runner(out=out)
    outcome = EXIT_OK
    failure = ""
    try:
        scratch = ScratchGateway(
            settings,
            Scratch(
                subscription=blueprint.subscription,
                resource_group=blueprint.resource_group,
                location=blueprint.location,
                disk=blueprint.disk,
                snapshot=blueprint.snapshot,
                gallery=blueprint.gallery,
                image=blueprint.image,
                tags=blueprint.tags,
            ),
            poll_seconds=options.poll_seconds,
        )
        smoke = Smoke(
            blueprint=blueprint,
            runtime=Runtime.from_settings(settings, env=env),
            scratch=scratch,
            runner=runner,
            poll_seconds=options.poll_seconds,
            timeout_seconds=options.timeout_minutes * 60,
        )
        smoke.run()
    except StepAborted as exc:
        outcome, failure = EXIT_FAILED, f"failed at step {exc.step!r}: {exc.error}"
    except KeyboardInterrupt:
        outcome, failure = EXIT_INTERRUPTED, "interrupted"
        print("interrupted: removing what was created", file=out, flush=True)
    finally:
        cleaned = _finish(runner, options.keep, out)
        if cassette is not None:
            written = recording.stop()
            print(f"recorded: {written}", file=out, flush=True)
    if outcome == EXIT_OK and not cleaned:
        outcome, failure = EXIT_FAILED, "cleanup failed: see the lines above; remove what is left by hand"
    print(f"smoke {blueprint.run}: {'passed' if outcome == EXIT_OK else failure}", file=out, flush=True)
    return outcome


def _finish(runner: Runner, keep: bool, out: TextIO) -> bool:
    if keep:
        left = runner.pending_cleanups()
        if left:
            print("kept (--keep): " + "; ".join(n.replace("remove ", "") for n in left), file=out, flush=True)
        return True
    return runner.cleanup()
