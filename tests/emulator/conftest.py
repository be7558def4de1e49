"""Fixtures for the emulator's own tests: a plain-HTTP ARM client, clock helpers, extra emulators."""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.harness.builders import gallery_image_body
from tests.harness.services import Emulator, start_emulator

SUB = "00000000-0000-0000-0000-000000000001"
RG = "rg-emulator"
API = "2026-03-03"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


class Arm:
    """Raw HTTPS calls to the emulator with urllib (no SDK in between)."""

    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator
        self.context = ssl.create_default_context(cafile=emulator.ca_bundle)

    def url(self, path: str, api_version: str | None = API, **params: str) -> str:
        if path.startswith("https://"):
            return path
        query = [f"api-version={api_version}"] if api_version else []
        query += [f"{k}={v}" for k, v in params.items()]
        return f"{self.emulator.endpoint}{path}" + (f"?{'&'.join(query)}" if query else "")

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        api_version: str | None = API,
        headers: dict[str, str] | None = None,
        auth: bool = True,
        **params: str,
    ) -> Answer:
        data = None if body is None else (body if isinstance(body, bytes) else json.dumps(body).encode())
        all_headers = {"Content-Type": "application/json"}
        if auth:
            all_headers["Authorization"] = "Bearer test-token"
        all_headers.update(headers or {})
        req = urllib.request.Request(
            self.url(path, api_version, **params), data=data, method=method, headers=all_headers
        )
        try:
            with urllib.request.urlopen(req, context=self.context, timeout=30) as resp:
                raw = resp.read()
                status = resp.status
                got = {k.lower(): v for k, v in resp.headers.items()}
        except urllib.error.HTTPError as err:
            raw = err.read()
            status = err.code
            got = {k.lower(): v for k, v in err.headers.items()}
        return Answer(status, got, json.loads(raw) if raw.strip() else None)

    def wait(self, answer: Answer, timeout_polls: int = 50) -> dict[str, Any]:
        """Follow the Azure-AsyncOperation of `answer` until it is no longer InProgress."""
        url = answer.headers["azure-asyncoperation"]
        for _ in range(timeout_polls):
            status = self.call("GET", url).body
            if status["status"] != "InProgress":
                return dict(status)
        raise AssertionError(f"operation {url} still in progress")


@pytest.fixture()
def arm(emulator: Emulator) -> Arm:
    return Arm(emulator)


def emulator_now(emulator: Emulator) -> datetime:
    return datetime.fromisoformat(emulator.control("GET", "time")["now"])


def advance(emulator: Emulator, seconds: float) -> datetime:
    """Jump the virtual clock forward with the harness's own `set_time`."""
    target = emulator_now(emulator) + timedelta(seconds=seconds)
    emulator.set_time(target.isoformat())
    return target


@pytest.fixture()
def extra_emulator() -> Iterator[Callable[..., Emulator]]:
    """Start separate emulators with their own command-line options; stopped after the test."""
    started: list[Emulator] = []

    def start(*args: str) -> Emulator:
        emu = start_emulator(*args)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.stop()


def gallery_path(gallery: str, rg: str = RG, sub: str = SUB) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.Compute/galleries/{gallery}"


def image_body(location: str = "westeurope") -> dict[str, Any]:
    return gallery_image_body("ubuntu", location=location)


def version_body(
    location: str = "westeurope", regions: list[str] | None = None, **safety: bool
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "location": location,
        "properties": {
            "publishingProfile": {"targetRegions": [{"name": r} for r in (regions or [location])]},
            "storageProfile": {
                "source": {
                    "id": f"/subscriptions/{SUB}/resourceGroups/{RG}/providers/Microsoft.Compute/images/src"
                }
            },
        },
    }
    if safety:
        body["properties"]["safetyProfile"] = safety
    return body


def make_image(arm: Arm, gallery: str = "gal", image: str = "img", location: str = "westeurope") -> str:
    """Create a gallery and an image definition over plain HTTP; return the image path."""
    answer = arm.call("PUT", gallery_path(gallery), {"location": location})
    assert answer.status in (200, 201), answer.body
    arm.wait(answer)
    path = f"{gallery_path(gallery)}/images/{image}"
    answer = arm.call("PUT", path, image_body(location))
    assert answer.status in (200, 201), answer.body
    arm.wait(answer)
    return path
