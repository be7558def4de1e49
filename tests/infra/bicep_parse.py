"""Parse every .bicep file under a directory with pycep and print one JSON report on stdout.

Run with the interpreter of `.venv-infra` (where pycep lives), not the app's environment:
    .venv-infra/bin/python tests/infra/bicep_parse.py infra
Output: {"files": {"<path relative to the directory>": {"ok": true, "template": {...}}
                                                    | {"ok": false, "error": "<parser message>"}}}
The exit status is 0 whenever the report was written; the tests decide what a failure is.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def main(argv: list[str]) -> int:
    from pycep import BicepParser

    root = Path(argv[1]).resolve()
    parser = BicepParser()
    files: dict[str, dict[str, object]] = {}
    for path in sorted(root.rglob("*.bicep")):
        key = path.relative_to(root).as_posix()
        try:
            template = parser.parse(text=path.read_text(encoding="utf-8"))
        except Exception as exc:  # pycep raises lark errors and ValueError alike
            files[key] = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
        else:
            files[key] = {"ok": True, "template": template}
    json.dump({"files": files}, sys.stdout, default=str)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
