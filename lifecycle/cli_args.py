"""What every `python -m lifecycle` command shares: the exit codes, the parser that makes a usage error
exit 2, the options several commands take (each defined here once), and the one way an error is reported.

Exit codes: 0 success; 1 some actions (or a step) failed; 2 invalid policy or usage.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, NoReturn

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2

CONFIG_HELP = "policy file path or blob URL"


class Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # usage errors exit 2 with the message, as documented
        self.print_usage(sys.stderr)
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


class Stop(Exception):
    """Ends a command with this exit code; what went wrong is printed already."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def error(message: str, code: int = EXIT_INVALID) -> int:
    """Print `error: <message>` on stderr and return the exit code to end with."""
    print(f"error: {message}", file=sys.stderr)
    return code


def fail(message: str, code: int = EXIT_INVALID) -> NoReturn:
    """Print `error: <message>` on stderr and end the command with the exit code (Stop)."""
    raise Stop(error(message, code))


def add_config(command: argparse.ArgumentParser, *, required: bool = True, help: str = CONFIG_HELP) -> None:
    """`--config`: the policy; where it is optional, LIFECYCLE_CONFIG_URL stands in."""
    if not required:
        help = f"{help} (default: LIFECYCLE_CONFIG_URL)"
    command.add_argument("--config", required=required, help=help)


def add_at(command: argparse.ArgumentParser) -> None:
    command.add_argument("--at", help="evaluate at this ISO 8601 time instead of now")


def add_json(command: argparse.ArgumentParser, help: str = "print one JSON object") -> None:
    command.add_argument("--json", action="store_true", help=help)


def add_prices(command: argparse.ArgumentParser, help: str = "price table JSON for costs") -> None:
    command.add_argument("--prices", help=f"{help} (default: the shipped table)")


def add_version(command: argparse.ArgumentParser) -> None:
    command.add_argument("version", metavar="VERSION_ID", help="the image version's resource id")


def config_or_env(config: str | None) -> str:
    """`--config`, else LIFECYCLE_CONFIG_URL (Stop, exit 2, when neither is there)."""
    found = config or os.environ.get("LIFECYCLE_CONFIG_URL")
    return found if found else fail("give --config or set LIFECYCLE_CONFIG_URL")
