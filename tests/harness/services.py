"""Real local services for integration tests: the ARM emulator (`python -m emulator`) and Azurite.

Both run as child processes on free loopback ports and are stopped when the test session ends.
Nothing here fakes a service: if one cannot start, the tests fail with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Emulator:
    """A running `python -m emulator` process."""

    endpoint: str
    ca_bundle: str
    process: subprocess.Popen[str]

    def control(self, method: str, path: str, body: Any | None = None) -> Any:
        """Call a `/_emulator/` control endpoint and return its JSON answer."""
        import ssl

        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            f"{self.endpoint}/_emulator/{path.lstrip('/')}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Authorization": "Bearer test"},
        )
        ctx = ssl.create_default_context(cafile=self.ca_bundle)
        with urllib.request.urlopen(req, context=ctx, timeout=30) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def stats(self) -> dict[str, Any]:
        return dict(self.control("GET", "stats"))

    def reset(self) -> None:
        self.control("POST", "reset")

    def set_time(self, now: str) -> None:
        self.control("POST", "time", {"now": now})

    def events(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "events"))

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_emulator(*args: str, timeout: float = 30.0) -> Emulator:
    """Start the emulator with extra CLI args; wait for its first JSON line."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if line.strip() or proc.poll() is not None:
            break
    if not line.strip():
        err = proc.stderr.read() if proc.stderr else ""
        proc.kill()
        raise RuntimeError(f"emulator did not start: {err.strip()[-2000:]}")
    info = json.loads(line)
    return Emulator(endpoint=info["endpoint"], ca_bundle=info["ca_bundle"], process=proc)


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
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
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


@contextmanager
def running(service: Emulator | Azurite) -> Iterator[Emulator | Azurite]:
    try:
        yield service
    finally:
        service.stop()
