"""`python -m emulator replay PATH... [--extra] [--replication-seconds S]`: exit 0 only without
mismatches, 1 with mismatches, 2 on bad input."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from emulator.replay.cassette import CassetteError, discover, load
from emulator.replay.report import render
from emulator.replay.runner import Outcome, Replayer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m emulator replay",
        description="Replay vcrpy cassettes of Azure traffic against a fresh emulator and list mismatches.",
    )
    parser.add_argument("paths", nargs="+", type=Path, help="cassette files or folders of them")
    parser.add_argument(
        "--extra", action="store_true", help="also list keys the emulator returns that Azure did not"
    )
    parser.add_argument(
        "--replication-seconds",
        type=float,
        default=30.0,
        help="virtual seconds each target region takes to replicate (default 30)",
    )
    args = parser.parse_args(argv)
    try:
        files = discover(args.paths)
        if not files:
            raise CassetteError(f"no cassettes (*.yaml) under {', '.join(map(str, args.paths))}")
        cassettes = [load(path) for path in files]
    except CassetteError as exc:
        sys.stderr.write(f"replay: {exc}\n")
        return 2
    outcomes: list[Outcome] = []
    for cassette in cassettes:
        outcomes.extend(Replayer(cassette, replication_seconds=args.replication_seconds).run())
    sys.stdout.write(render(outcomes, show_extra=args.extra) + "\n")
    return 1 if any(o.mismatch for o in outcomes) else 0
