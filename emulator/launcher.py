"""Start `python -m emulator` as a child process and talk to its control endpoints.

Used by the test harness, the demo and the benchmarks: one place that knows how the emulator announces
itself (its first stdout line) and how to stop it.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Emulator:
    """A running `python -m emulator` process."""

    endpoint: str
    ca_bundle: str
    process: subprocess.Popen[str]
    log_path: str | None = None

    def control(self, method: str, path: str, body: Any | None = None) -> Any:
        """Call a `/_emulator/` control endpoint and return its JSON answer."""
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

    def set_time(self, now: str | datetime) -> None:
        value = now if isinstance(now, str) else now.astimezone(UTC).isoformat().replace("+00:00", "Z")
        self.control("POST", "time", {"now": value})

    def now(self) -> datetime:
        """The emulator's virtual clock."""
        text = str(self.control("GET", "time")["now"]).replace("Z", "+00:00")
        return datetime.fromisoformat(text).astimezone(UTC)

    def compute(self, subscription: str) -> Any:
        """A real, unmodified ComputeManagementClient on this emulator (polling without delay)."""
        from azure.mgmt.compute import ComputeManagementClient

        return self._client(ComputeManagementClient, subscription)

    def imagebuilder(self, subscription: str) -> Any:
        """A real, unmodified ImageBuilderClient on this emulator (polling without delay)."""
        from azure.mgmt.imagebuilder import ImageBuilderClient

        return self._client(ImageBuilderClient, subscription)

    def rbac(self) -> dict[str, Any]:
        """The RBAC document in force and the count of denied requests."""
        return dict(self.control("GET", "rbac"))

    def set_rbac(self, assignments: list[dict[str, Any]] | None, principal: str | None = None) -> None:
        """Enforce these assignments (None: RBAC off) for requests bearing `principal` (None: every token)."""
        document: dict[str, Any] = {"assignments": assignments}
        if principal is not None:
            document["principal"] = principal
        self.control("POST", "rbac", document)

    def events(self) -> list[dict[str, Any]]:
        return list(self.control("GET", "events"))

    def event_requests(self) -> list[dict[str, Any]]:
        """The credentials each POST to the topic carried (Authorization, aeg-sas-key, aeg-sas-token)."""
        return list(self.control("GET", "event-requests"))

    def stop(self) -> None:
        stop_process(self.process)

    def _client(self, client_class: Any, subscription: str) -> Any:
        from azure.core.credentials import AccessToken

        class _Token:
            def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
                return AccessToken("emulator-token", 4102444800)

        return client_class(
            _Token(),
            subscription,
            base_url=self.endpoint,
            connection_verify=self.ca_bundle,
            credential_scopes=["https://management.azure.com/.default"],
            polling_interval=0,
        )


def stop_process(process: subprocess.Popen[Any]) -> None:
    """Terminate a child service, and kill it if it does not stop within 10 seconds."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def start_emulator(*args: str, timeout: float = 30.0) -> Emulator:
    """Start the emulator with extra CLI args and wait for its first JSON line.

    Its stderr goes to a temporary file, not a pipe: a pipe nobody reads would block a chatty emulator.
    """
    log = tempfile.NamedTemporaryFile(prefix="arm-emulator-", suffix=".log", delete=False)  # noqa: SIM115
    proc = subprocess.Popen(
        [sys.executable, "-m", "emulator", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
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
        proc.kill()
        err = Path(log.name).read_text(errors="replace")
        raise RuntimeError(f"emulator did not start: {err.strip()[-2000:]}")
    info = json.loads(line)
    return Emulator(endpoint=info["endpoint"], ca_bundle=info["ca_bundle"], process=proc, log_path=log.name)
