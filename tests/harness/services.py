"""Real local services for integration tests: the ARM emulator (`python -m emulator`) and Azurite.

Both run as child processes on free loopback ports and are stopped when the test session ends.
Nothing here fakes a service: if one cannot start, the tests fail with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from emulator.launcher import Emulator, start_emulator, stop_process

__all__ = ["Azurite", "Emulator", "start_azurite", "start_emulator"]

ROOT = Path(__file__).resolve().parents[2]
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Azurite:
    """A running Azurite (blob + queue) on free ports, in memory."""

    blob_port: int
    queue_port: int
    process: subprocess.Popen[bytes]
    workdir: str

    @property
    def connection_string(self) -> str:
        return (
            "DefaultEndpointsProtocol=http;"
            f"AccountName={AZURITE_ACCOUNT};AccountKey={AZURITE_KEY};"
            f"BlobEndpoint=http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT};"
            f"QueueEndpoint=http://127.0.0.1:{self.queue_port}/{AZURITE_ACCOUNT};"
        )

    @property
    def blob_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.blob_port}/{AZURITE_ACCOUNT}"

    def stop(self) -> None:
        stop_process(self.process)
        shutil.rmtree(self.workdir, ignore_errors=True)


def azurite_binary() -> Path:
    path = ROOT / "node_modules" / ".bin" / "azurite"
    if not path.exists():
        raise RuntimeError(f"{path} is missing: run `make setup` (npm ci installs the pinned Azurite)")
    return path


def start_azurite(timeout: float = 60.0) -> Azurite:
    blob_port, queue_port, table_port = free_port(), free_port(), free_port()
    workdir = tempfile.mkdtemp(prefix="azurite-")
    proc = subprocess.Popen(
        [
            str(azurite_binary()),
            "--silent",
            "--inMemoryPersistence",
            "--skipApiVersionCheck",
            "--disableProductStyleUrl",
            "--blobHost",
            "127.0.0.1",
            "--blobPort",
            str(blob_port),
            "--queueHost",
            "127.0.0.1",
            "--queuePort",
            str(queue_port),
            "--tableHost",
            "127.0.0.1",
            "--tablePort",
            str(table_port),
            "--debug",
            os.path.join(workdir, "debug.log"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "AZURITE_ACCEPT_EULA": "1"},
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise RuntimeError(f"azurite exited early ({proc.returncode}): {err[-2000:]}")
        try:
            with (
                socket.create_connection(("127.0.0.1", blob_port), timeout=0.5),
                socket.create_connection(("127.0.0.1", queue_port), timeout=0.5),
            ):
                return Azurite(blob_port, queue_port, proc, workdir)
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError("azurite did not open its ports in time")
