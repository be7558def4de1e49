"""What "the emulator answered as Azure did" means for one request (cli-recordings/README.md): the same
status code, every JSON key path of Azure's body present in the emulator's, and the same `error.code`.
Keys the emulator returns that Azure did not are listed too (code reading them passes here and finds
nothing on Azure), as `extra`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Maps whose keys are data, not schema: a tag name or an identity's resource id is not a key path.
_DATA_MAPS = ("tags", "userAssignedIdentities")


def key_paths(value: Any, prefix: str = "") -> set[str]:
    """`{"a": {"b": [{"c": 1}]}}` -> {"a", "a.b", "a.b[]", "a.b[].c"}; list items are merged."""
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            paths.add(path)
            if str(key) not in _DATA_MAPS:
                paths |= key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            if isinstance(item, dict | list):
                paths.add(f"{prefix}[]")
                paths |= key_paths(item, f"{prefix}[]")
    return paths


def error_code(body: Any) -> str:
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            return str(error.get("code") or "")
        if "code" in body and "message" in body and "status" not in body:
            return str(body.get("code") or "")
    return ""


@dataclass
class Difference:
    """How one emulator answer differs from Azure's."""

    status: tuple[int, int] | None = None  # (Azure, emulator)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    error: tuple[str, str] | None = None

    @property
    def mismatch(self) -> bool:
        return bool(self.status or self.missing or self.error)


def compare(azure_status: int, azure_body: Any, status: int, body: Any) -> Difference:
    diff = Difference()
    if azure_status != status:
        diff.status = (azure_status, status)
        return diff
    want, got = error_code(azure_body), error_code(body)
    if want != got:
        diff.error = (want, got)
    azure_keys, keys = key_paths(azure_body), key_paths(body)
    diff.missing = sorted(azure_keys - keys)
    diff.extra = sorted(keys - azure_keys)
    return diff
