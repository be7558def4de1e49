"""vcrpy cassettes (the Azure CLI's recordings, and those `python -m lifecycle smoke --record` writes) read
into typed interactions.

A cassette is YAML: `interactions: [{request: {method, uri, body, headers: {name: [value]}}, response:
{status: {code, message}, headers: {name: [value]}, body: {string}}}]`. Bodies may be text, bytes or null.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import yaml


class CassetteError(ValueError):
    """A file that is not a vcrpy cassette, with the reason."""


@dataclass(frozen=True)
class Interaction:
    """One recorded exchange."""

    index: int
    method: str
    url: str
    host: str
    path: str  # percent-decoded
    query: dict[str, str]
    request_headers: dict[str, str]  # lower-cased names, first value
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_text: str
    date: datetime | None

    @property
    def api_version(self) -> str:
        return self.query.get("api-version", "")

    def response_json(self) -> Any:
        return parse_json(self.response_text)

    def request_json(self) -> Any:
        return parse_json(self.request_body.decode("utf-8", errors="replace"))

    def header(self, name: str) -> str:
        return self.response_headers.get(name.lower(), "")


@dataclass
class Cassette:
    path: Path
    interactions: list[Interaction] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def first_date(self) -> datetime | None:
        return next((i.date for i in self.interactions if i.date is not None), None)


def parse_json(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _first(value: Any) -> str:
    if isinstance(value, list):
        return str(value[0]) if value else ""
    return "" if value is None else str(value)


def _headers(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {str(k).lower(): _first(v) for k, v in raw.items()}


def _body_bytes(raw: Any) -> bytes:
    if raw is None:
        return b""
    if isinstance(raw, dict):  # vcrpy sometimes nests {string: ...}
        raw = raw.get("string")
    if isinstance(raw, bytes):
        return raw
    return str(raw or "").encode("utf-8")


def _date(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def load(path: Path) -> Cassette:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise CassetteError(f"{path}: cannot read: {exc}") from exc
    except yaml.YAMLError as exc:
        raise CassetteError(f"{path}: not YAML: {exc}") from exc
    if not isinstance(document, dict) or not isinstance(document.get("interactions"), list):
        raise CassetteError(f"{path}: not a vcrpy cassette (no 'interactions' list)")
    cassette = Cassette(path)
    for index, raw in enumerate(document["interactions"]):
        request = raw.get("request") if isinstance(raw, dict) else None
        response = raw.get("response") if isinstance(raw, dict) else None
        if not isinstance(request, dict) or not isinstance(response, dict):
            raise CassetteError(f"{path}: interaction {index} lacks a request or a response")
        url = str(request.get("uri") or "")
        parts = urlsplit(url)
        status = response.get("status") or {}
        response_headers = _headers(response.get("headers"))
        cassette.interactions.append(
            Interaction(
                index=index,
                method=str(request.get("method") or "GET").upper(),
                url=url,
                host=parts.netloc.lower(),
                path=unquote(parts.path),
                query=dict(parse_qsl(parts.query, keep_blank_values=True)),
                request_headers=_headers(request.get("headers")),
                request_body=_body_bytes(request.get("body")),
                status=int(status.get("code") or 0) if isinstance(status, dict) else 0,
                response_headers=response_headers,
                response_text=_body_bytes(response.get("body")).decode("utf-8", errors="replace"),
                date=_date(response_headers.get("date", "")),
            )
        )
    return cassette


def discover(paths: list[Path]) -> list[Path]:
    """The cassette files named, folders expanded to their `*.yaml`/`*.yml` files in name order."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file()))
        elif path.is_file():
            found.append(path)
        else:
            raise CassetteError(f"{path}: no such file or folder")
    return found
