"""The command line: the same engine the functions run, for ops and for tests.

Exit codes: 0 success; 1 some actions failed; 2 invalid policy or usage.
"""

from __future__ import annotations

import argparse
import json
import logging
import subprocess
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from lifecycle.cli_args import (
    CONFIG_HELP,
    EXIT_FAILED,
    EXIT_INVALID,
    EXIT_OK,
    Parser,
    Stop,
    add_at,
    add_config,
    add_json,
    add_prices,
    add_version,
    config_or_env,
    error,
    fail,
)
from lifecycle.model import InvalidResourceId, VersionRef, parse_resource_id, parse_time, parse_version_id
from lifecycle.policy import MAX_POLICY_BYTES, Policy, PolicyError, json_schema, parse_policy
from lifecycle.render import render_report, short_id
from lifecycle.settings import Settings, SettingsError
from lifecycle.smoke.command import add_arguments as add_smoke_arguments


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="python -m lifecycle", description="Azure Compute Gallery image lifecycle")
    parser.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    validate = commands.add_parser("validate", help="check a policy file")
    validate.add_argument("policy")

    commands.add_parser("schema", help="print the policy's JSON Schema")

    for name, text in (
        ("plan", "show what would be done; writes nothing"),
        ("apply", "do it (honours mode: dry-run)"),
    ):
        cmd = commands.add_parser(name, help=text)
        add_config(cmd)
        add_at(cmd)
        cmd.add_argument("--scope", help="a gallery, image or version resource id")
        add_json(cmd)
        add_prices(cmd)

    report = commands.add_parser("report", help="the fleet report: one self-contained HTML file")
    add_config(report)
    report.add_argument("--out", help="HTML file to write (default: report.html; with --json only if given)")
    add_json(report, "print the report's data as one JSON object")
    add_at(report)
    add_prices(report)

    consumers = commands.add_parser(
        "consumers", help="who runs which version, and who runs latest in production"
    )
    add_config(consumers)
    consumers.add_argument("--version", metavar="VERSION_ID", help="only this image version")
    add_json(consumers)
    add_at(consumers)

    prices = commands.add_parser("prices", help="the replica storage price table")
    price_commands = prices.add_subparsers(dest="prices_command", required=True, parser_class=Parser)
    show = price_commands.add_parser("show", help="print the price table in use")
    add_prices(show, "price table JSON")
    refresh = price_commands.add_parser("refresh", help="rebuild the table from the Azure Retail Prices API")
    refresh.add_argument("--endpoint", help="Retail Prices API URL (default: Azure's)")
    refresh.add_argument("--out", help="where to write the table (default: the shipped table)")
    refresh.add_argument("--currency", default="USD", help="ISO currency code (default: USD)")
    refresh.add_argument("--ca-bundle", help="extra CA bundle to trust for the endpoint")

    audit = commands.add_parser("audit", help="print the audit log of a day")
    add_config(audit, help=f"{CONFIG_HELP} (locates the state)")
    audit.add_argument("--day", help="YYYY-MM-DD (default: today, UTC)")
    add_json(audit, "print JSON lines")

    permissions = commands.add_parser(
        "permissions", help="the ARM permissions the app needs for a policy, at the narrowest scopes"
    )
    add_config(permissions, help="policy file path")
    add_json(permissions, 'print {"assignments": [...], ...}')

    approve = commands.add_parser("approve", help="approve a version held by approval.required")
    add_version(approve)
    approve.add_argument("--by", required=True, help="who approves (recorded as lifecycle.approver)")
    add_config(approve, required=False)
    add_json(approve)

    revoke = commands.add_parser("revoke", help="revoke a version, and what was built on it")
    add_version(revoke)
    revoke.add_argument("--reason", required=True, help="why (recorded as lifecycle.revoked-reason)")
    add_config(revoke, required=False)
    add_json(revoke)

    smoke_help = "the whole product against a scratch resource group of a real subscription"
    add_smoke_arguments(commands.add_parser("smoke", help=smoke_help))

    restore = commands.add_parser("restore", help="bring back a soft-deleted version")
    add_version(restore)
    add_config(restore, required=False)

    demo = commands.add_parser("demo", help="offline demo against the ARM emulator")
    demo.add_argument("--keep", action="store_true", help="leave the demo's working directory in place")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    command = COMMANDS.get(args.command)
    if command is None:
        return EXIT_INVALID
    try:
        return command(args)
    except Stop as stop:
        return stop.code


def _schema(args: argparse.Namespace) -> int:
    print(json.dumps(json_schema(), indent=2))
    return EXIT_OK


def _smoke(args: argparse.Namespace) -> int:
    from lifecycle.smoke import SmokeOptions, run

    return run(SmokeOptions.from_args(args))


def _demo(args: argparse.Namespace) -> int:
    """The demo needs the ARM emulator, which is not part of the deployable package: it lives beside it
    in a source checkout and runs as its own process."""
    checkout = Path(__file__).resolve().parents[1]
    if not (checkout / "demo" / "__main__.py").is_file() or not (checkout / "emulator").is_dir():
        return error("the demo runs from a source checkout: run `make demo`")
    command = [sys.executable, "-m", "demo", *(["--keep"] if args.keep else [])]
    return subprocess.call(command, cwd=checkout)


def _validate(args: argparse.Namespace) -> int:
    path = args.policy
    try:
        policy = _load_policy(path)
    except OSError as exc:
        return error(f"cannot read {path}: {exc.strerror}")
    except PolicyError as exc:
        print(f"{path} is invalid:", file=sys.stderr)
        for problem in exc.problems:
            print(f"  - {problem}", file=sys.stderr)
        return EXIT_INVALID
    images = sum(len(g.images) for g in policy.galleries)
    print(f"{path} is valid: mode {policy.mode}, {len(policy.galleries)} galleries, {images} image rules")
    return EXIT_OK


def _price_table(path: str | None) -> Any:
    """The price table to cost with (Stop, exit 2, when it cannot be read)."""
    from lifecycle.pricing import PriceTableError, load_prices

    try:
        return load_prices(path)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except (PriceTableError, ValueError) as exc:
        fail(f"{path}: {exc}")


def _plan_or_apply(args: argparse.Namespace) -> int:
    from lifecycle.reconcile import Trigger, reconcile

    apply = args.command == "apply"
    prices = _price_table(args.prices)
    at = _at(args.at)
    if args.scope:
        try:
            parse_resource_id(args.scope)
        except InvalidResourceId as exc:
            return error(f"--scope: {exc}")
    settings = _settings_for(args.config)
    report = reconcile(Trigger("cli", scope=args.scope), settings=settings, plan_only=not apply, at=at)
    report.prices = prices
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        print(render_report(report.to_json()))
    if report.no_policy or (
        report.policy_problem and args.config.startswith(("http://", "https://")) and not report.plans
    ):
        return EXIT_INVALID
    return EXIT_FAILED if report.failed else EXIT_OK


def _report(args: argparse.Namespace) -> int:
    from lifecycle.reconcile import Trigger, reconcile
    from lifecycle.report import render_html

    prices = _price_table(args.prices)
    at = _at(args.at)
    settings = _settings_for(args.config)
    run = reconcile(Trigger("cli"), settings=settings, plan_only=True, at=at)
    if run.no_policy:
        return error(run.errors[0] if run.errors else "no valid policy")
    run.prices = prices
    data = run.fleet_report()
    out = args.out or (None if args.json else "report.html")
    if out:
        try:
            Path(out).write_text(render_html(data), encoding="utf-8")
        except OSError as exc:
            return error(f"cannot write {out}: {exc.strerror}", EXIT_FAILED)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        s = data["summary"]
        print(
            f"{Path(out or '').resolve()}\n"
            f"{s['images']} images, {s['versions']} versions, {s['regions']} regions; "
            f"{data['cost']['total']:,.2f} {data['cost']['currency']}/month (prices of {prices.date}); "
            f"{s['rebakes_due']} rebakes due; {s['failures']} failures"
        )
    return EXIT_FAILED if run.errors else EXIT_OK


def _consumers(args: argparse.Namespace) -> int:
    from lifecycle.reconcile import Runtime
    from lifecycle.reconcile.who_runs import who_runs

    only: VersionRef | None = None
    if args.version:
        try:
            parsed = parse_resource_id(args.version)
        except InvalidResourceId as exc:
            return error(f"--version: {exc}")
        if not isinstance(parsed, VersionRef):
            return error(f"--version: {args.version!r} is not an image version id")
        only = parsed
    at = _at(args.at)
    settings = _settings_for(args.config)
    runtime = Runtime.from_settings(settings)
    found = who_runs(runtime, at or runtime.clock())
    if found.no_policy:
        return error(found.problems[0])
    for problem in found.problems:
        error(problem)
    if found.consumers is None:
        return EXIT_FAILED
    data = found.consumers.to_json(only)
    if args.json:
        print(json.dumps(data, indent=2))
    else:
        print(_render_consumers(data))
    return EXIT_FAILED if found.problems else EXIT_OK


def _machine(resource_id: str) -> str:
    """`<resource group>/<type>/<name>[/virtualMachines/<instance>]` of a VM, scale set or instance."""
    parts = resource_id.split("/")
    lowered = [p.lower() for p in parts]
    if "resourcegroups" in lowered and "microsoft.compute" in lowered:
        group = parts[lowered.index("resourcegroups") + 1]
        return f"{group}/" + "/".join(parts[lowered.index("microsoft.compute") + 1 :])
    return resource_id


def _render_consumers(data: dict[str, Any]) -> str:
    lines = []
    for entry in data["versions"]:
        lines.append(f"{short_id(entry['version'])}: {len(entry['consumers'])} consumers")
        for c in entry["consumers"]:
            tags = f" owner={c['owner']}" if c["owner"] else ""
            tags += " production" if c["production"] else ""
            where = f"{c['subscription']}  {c['region']}"
            lines.append(f"  {c['kind']:9} {_machine(c['id'])}  {where}  via {c['via']}{tags}")
    if not data["versions"]:
        lines.append("no machine runs a version of the policy's images")
    latest = data["latest_in_production"]
    lines.append(f"running latest in production: {len(latest)}")
    for m in latest:
        owner = f" owner={m['owner']}" if m["owner"] else ""
        lines.append(f"  {m['kind']:9} {_machine(m['id'])}  {m['region']}  {short_id(m['image'])}{owner}")
    return "\n".join(lines)


def _prices(args: argparse.Namespace) -> int:
    from lifecycle.pricing import PriceTableError, shipped_prices_path

    if args.prices_command == "show":
        table = _price_table(args.prices)
        print(table.label())
        for kind, regions in table.to_json()["prices"].items():
            values = sorted(set(regions.values()))
            span = f"{values[0]}" if len(values) == 1 else f"{values[0]}..{values[-1]}"
            print(f"  {kind:14} {len(regions):3} regions  {span} {table.currency}/GiB-month")
        return EXIT_OK
    from lifecycle.gateways.errors import GatewayError
    from lifecycle.gateways.retail_prices import DEFAULT_ENDPOINT, retail_items
    from lifecycle.pricing import RETAIL_FILTER, table_from_retail_items

    endpoint = args.endpoint or DEFAULT_ENDPOINT
    try:
        items = list(
            retail_items(RETAIL_FILTER, endpoint=endpoint, currency=args.currency, ca_file=args.ca_bundle)
        )
        table = table_from_retail_items(
            items,
            date=datetime.now(UTC).date().isoformat(),
            source=f"Azure Retail Prices API ({endpoint}), {len(items)} items",
            currency=args.currency,
        )
    except (GatewayError, PriceTableError) as exc:
        return error(str(exc), EXIT_FAILED)
    out = args.out or shipped_prices_path()
    try:
        Path(out).write_text(json.dumps(table.to_json(), indent=1) + "\n", encoding="utf-8")
    except OSError as exc:
        return error(f"cannot write {out}: {exc.strerror}", EXIT_FAILED)
    regions = {r for kinds in table.prices.values() for r in kinds}
    print(f"{out}: {table.label()}; {len(table.prices)} storage types, {len(regions)} regions")
    return EXIT_OK


def _permissions(args: argparse.Namespace) -> int:
    from lifecycle.permissions import derive, render

    policy = _read_policy(args.config)
    permissions = derive(policy)
    print(json.dumps(permissions.to_json(), indent=2) if args.json else render(permissions))
    return EXIT_OK


def _version_id(value: str) -> VersionRef:
    """VERSION_ID as an image version (Stop, exit 2, naming what is wrong with it)."""
    try:
        return parse_version_id(value)
    except InvalidResourceId as exc:
        fail(f"VERSION_ID: {exc}")


def _gate_request(args: argparse.Namespace) -> Any:
    """The GateRequest the arguments describe (Stop, exit 2, naming the bad value)."""
    from lifecycle.reconcile.trigger import GateRequest

    version = _version_id(args.version)
    if args.command == "approve":
        by = args.by.strip()
        if not by or len(by) > 256:
            fail(f"--by {args.by!r}: give a name of 1 to 256 characters")
        return GateRequest("approve", version, by=by)
    reason = args.reason.strip()
    if not reason or len(reason) > 256:
        fail(f"--reason {args.reason!r}: give a reason of 1 to 256 characters (Azure's tag value limit)")
    return GateRequest("revoke", version, reason=reason)


def _gate(args: argparse.Namespace) -> int:
    """`approve` / `revoke`: check the request, then run the image's reconcile with it (and, for a
    revocation, the reconciles of what was built on the version). A refusal writes nothing, exit 2."""
    from lifecycle.reconcile import Trigger, reconcile

    request = _gate_request(args)
    settings = _settings_for(config_or_env(args.config))
    report = reconcile(Trigger("cli", scope=request.version.id, gate=request), settings=settings)
    if report.refused or report.no_policy:
        for line in report.refused or report.errors:
            error(line)
        return EXIT_INVALID
    if args.json:
        print(json.dumps(report.to_json(), indent=2, default=str))
    else:
        verb = f"approved by {request.by}" if request.kind == "approve" else f"revoked: {request.reason}"
        print(f"{request.version.id} {verb}")
        print(render_report(report.to_json()))
    return EXIT_FAILED if report.failed else EXIT_OK


def _restore(args: argparse.Namespace) -> int:
    """`restore`: exit 0 once the version is back, 1 when the restore failed, 2 when refused."""
    from lifecycle.reconcile.restore import RestoreOutcome, restore
    from lifecycle.reconcile.runtime import Runtime

    version = _version_id(args.version)
    settings = _settings_for(config_or_env(args.config))
    result = restore(Runtime.from_settings(settings), version)
    if result.outcome is RestoreOutcome.RESTORED:
        print(result.message)
        return EXIT_OK
    return error(result.message, EXIT_INVALID if result.outcome is RestoreOutcome.REFUSED else EXIT_FAILED)


def _load_policy(path: str) -> Policy:
    """The policy in a local file (OSError when it cannot be read, PolicyError when it is invalid)."""
    with open(path, "rb") as handle:
        return parse_policy(handle.read(MAX_POLICY_BYTES + 1), source=path)


def _read_policy(path: str) -> Policy:
    """The policy in a local file (Stop, exit 2, after printing what is wrong with it)."""
    try:
        return _load_policy(path)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except PolicyError as exc:
        fail(str(exc))


def _settings_for(config: str) -> Settings:
    """Settings pointed at `config` (a local policy file is checked first, so a bad one is exit 2
    with its key path before anything is read from ARM); Stop, exit 2, after printing why not."""
    if not config.startswith(("http://", "https://")):
        _read_policy(config)
    try:
        return Settings.from_env(LIFECYCLE_CONFIG_URL=config)
    except SettingsError as exc:
        fail(str(exc))


def _at(value: str | None) -> datetime | None:
    """`--at` as a time, None when absent (Stop, exit 2, when it is not a time)."""
    try:
        return parse_time(value) if value else None
    except ValueError:
        fail(f"--at {value!r} is not an ISO 8601 time")


def _audit(args: argparse.Namespace) -> int:
    from lifecycle.gateways.errors import GatewayError
    from lifecycle.gateways.storage import state_store

    try:
        day = parse_time(args.day).date() if args.day else datetime.now(UTC).date()
        records = state_store(Settings.from_env(LIFECYCLE_CONFIG_URL=args.config)).read_audit(day)
    except (ValueError, SettingsError) as exc:
        return error(str(exc))
    except GatewayError as exc:
        return error(str(exc), EXIT_FAILED)
    for record in records:
        if args.json:
            print(json.dumps(record, sort_keys=True))
        else:
            target = short_id(record.get("target", ""))
            print(
                f"{record.get('time')}  {record.get('outcome', ''):9} {record.get('action', ''):20} "
                f"{target}  {record.get('reason') or ''}"
            )
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "validate": _validate,
    "schema": _schema,
    "plan": _plan_or_apply,
    "apply": _plan_or_apply,
    "report": _report,
    "prices": _prices,
    "consumers": _consumers,
    "audit": _audit,
    "permissions": _permissions,
    "approve": _gate,
    "revoke": _gate,
    "restore": _restore,
    "demo": _demo,
    "smoke": _smoke,
}
