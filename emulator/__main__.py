"""Command line: `python -m emulator replay PATH...` (see emulator/replay/), or
`python -m emulator [--host H] [--port P] [--replication-seconds S] [--latency-ms N]
[--throttle] [--faults SPEC] [--seed N] [--start-time ISO8601] [--page-size N] [--delete-seconds S]
[--rbac FILE]`.

Prints `{"endpoint": "https://127.0.0.1:PORT", "ca_bundle": "/path/to/ca.pem"}` as its first stdout line,
then serves until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from types import FrameType

from emulator.clock import VirtualClock, parse_iso
from emulator.errors import ArmError
from emulator.faults import FaultSpec
from emulator.rbac import parse_document
from emulator.server import Emulator, create_server
from emulator.state import Config, State
from emulator.tls import make_certificates


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m emulator", description="Local Azure Resource Manager emulator."
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind; 0 picks a free one (default)")
    parser.add_argument(
        "--replication-seconds",
        type=float,
        default=30.0,
        help="virtual seconds each target region (and an Image Builder run) takes (default 30)",
    )
    parser.add_argument(
        "--replication-lag-seconds",
        type=float,
        default=0.0,
        help="virtual seconds a region still reads Replicating after its operation succeeded (default 0)",
    )
    parser.add_argument(
        "--delete-seconds",
        type=float,
        default=0.0,
        help="virtual seconds an image version delete takes (default 0)",
    )
    parser.add_argument("--latency-ms", type=int, default=0, help="extra latency added to every ARM answer")
    parser.add_argument(
        "--throttle", action="store_true", help="enforce ARM's per-subscription token buckets"
    )
    parser.add_argument(
        "--faults",
        default="",
        help="e.g. 429=0.1,500=0.05,503=0.05,reset=0.02,lro-fail=0.05,region-fail=0.05",
    )
    parser.add_argument("--seed", type=int, default=None, help="seed for fault injection")
    parser.add_argument("--start-time", default=None, help="virtual clock start (ISO 8601); default real now")
    parser.add_argument("--page-size", type=int, default=50, help="items per list page (default 50)")
    parser.add_argument(
        "--rbac",
        default=None,
        help='RBAC document to enforce: {"assignments": [{"scope", "actions"}][, "principal": TOKEN]} '
        "(the output of `python -m lifecycle permissions --json`)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    args = parser.parse_args(argv)
    try:
        args.fault_spec = FaultSpec.parse(args.faults)
    except ValueError as exc:
        parser.error(f"--faults: {exc}")
    try:
        args.start = parse_iso(args.start_time) if args.start_time else None
    except ValueError:
        parser.error(f"--start-time: not an ISO 8601 instant: {args.start_time!r}")
    if args.page_size < 1:
        parser.error("--page-size must be at least 1")
    args.rbac_document = None
    if args.rbac:
        try:
            args.rbac_document = json.loads(Path(args.rbac).read_text(encoding="utf-8"))
            parse_document(args.rbac_document)
        except OSError as exc:
            parser.error(f"--rbac: cannot read {args.rbac}: {exc.strerror}")
        except ValueError as exc:
            parser.error(f"--rbac: {args.rbac} is not JSON: {exc}")
        except ArmError as exc:
            parser.error(f"--rbac: {exc.message}")
    return args


def main(argv: list[str] | None = None) -> int:
    given = sys.argv[1:] if argv is None else argv
    if given[:1] == ["replay"]:
        from emulator.replay.cli import main as replay

        return replay(given[1:])
    args = parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(name)s %(levelname)s %(message)s",
    )
    config = Config(
        replication_seconds=args.replication_seconds,
        replication_lag_seconds=max(0.0, args.replication_lag_seconds),
        delete_seconds=args.delete_seconds,
        page_size=args.page_size,
        latency_ms=args.latency_ms,
        throttle=args.throttle,
        seed=args.seed,
    )
    state = State(config, VirtualClock(args.start))
    emulator = Emulator(config, state, args.fault_spec, args.rbac_document)
    workdir = Path(tempfile.mkdtemp(prefix="arm-emulator-"))
    try:
        ca_path, cert_path, key_path = make_certificates(workdir, [args.host])
        server = create_server(args.host, args.port, emulator, str(cert_path), str(key_path))

        def stop(signum: int, frame: FrameType | None) -> None:
            threading.Thread(target=server.shutdown, daemon=True).start()

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        sys.stdout.write(json.dumps({"endpoint": server.endpoint, "ca_bundle": str(ca_path)}) + "\n")
        sys.stdout.flush()
        try:
            server.serve_forever(poll_interval=0.1)
        finally:
            server.server_close()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
