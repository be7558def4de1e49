"""docs/permissions.md shows `permissions` output: its example is re-derived and must match."""

from __future__ import annotations

import re
from pathlib import Path

from lifecycle.permissions import derive, render
from lifecycle.policy import parse_policy

PAGE = Path(__file__).resolve().parents[2] / "docs" / "permissions.md"


def test_the_permissions_page_shows_what_permissions_prints_for_its_example_policy() -> None:
    section = PAGE.read_text(encoding="utf-8")
    policy = re.search(r"```yaml\n(.*?)```", section, re.DOTALL)
    shown = re.search(r"```text\n(.*?)```", section, re.DOTALL)
    assert policy and shown, "the Permissions page needs the example policy and its output"
    assert shown.group(1).rstrip() == render(derive(parse_policy(policy.group(1)))).rstrip()
